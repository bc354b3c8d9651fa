"""Pure logic of the predictions: the time-based split, the metrics, the value models' handling
of each kind of customer, and the overlay rules' validation."""

import datetime as dt

import duckdb
import numpy as np
import polars as pl
import pytest

from seg_platform.predictions.clv import NotEnoughBuyers, fit_clv, predict_clv, rfm_summary
from seg_platform.predictions.overlays import (
    DEFAULT_OVERLAYS,
    OverlayError,
    check_columns,
    evaluate,
    load_overlays,
)
from seg_platform.predictions.propensity import (
    MAX_TREES,
    RecencyBaseline,
    classification_metrics,
    evaluation_figures,
    fit_propensity,
    lift_curve,
    split_months,
    top_decile_lift,
)

pytestmark = pytest.mark.unit


def test_split_is_point_in_time():
    # Churn (90 days) for December: evaluated on September, whose labels end with December;
    # trained on months whose labels were known by the end of September.
    evaluation, training = split_months("2025-12", 3, 6)
    assert evaluation == "2025-09"
    assert training == ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06"]
    # Purchase (30 days) across a year boundary.
    assert split_months("2026-01", 1, 2) == ("2025-12", ["2025-10", "2025-11"])


def test_metrics():
    y = np.array([1] * 10 + [0] * 90)
    perfect = np.linspace(1, 0, 100)  # the 10 positives score highest
    assert top_decile_lift(y, perfect) == pytest.approx(10.0)
    assert top_decile_lift(y, np.full(100, 0.5)) == pytest.approx(1.0)  # ties: no lift
    m = classification_metrics(y, perfect)
    assert m["roc_auc"] == 1.0 and m["pr_auc"] == pytest.approx(1.0) and m["base_rate"] == 0.1
    constant = classification_metrics(y, np.full(100, 0.1))
    assert constant["roc_auc"] == 0.5
    assert constant["brier"] == pytest.approx(0.09)  # 0.1 * 0.81 + 0.9 * 0.01
    assert np.isnan(classification_metrics(np.zeros(5), np.zeros(5))["roc_auc"])


def test_lift_curve_agrees_with_top_decile_lift():
    y = np.array([1] * 10 + [0] * 90)
    perfect = np.linspace(1, 0, 100)
    share, lift = lift_curve(y, perfect)
    assert share[9] == pytest.approx(0.1) and lift[9] == pytest.approx(10.0)
    assert lift[-1] == pytest.approx(1.0)  # everyone targeted: the base rate
    assert lift[19] == pytest.approx(5.0)  # top 20% holds all 10 positives


def test_evaluation_figures_draw_the_confusion_matrix_at_the_threshold():
    import matplotlib.pyplot as plt

    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    model = np.array([0.9, 0.6, 0.3, 0.55, 0.2, 0.1, 0.1, 0.05])
    figures = evaluation_figures(y, {"model": model, "baseline": model[::-1]}, "t", 0.5)
    try:
        assert set(figures) == {"roc_curve.png", "precision_recall_curve.png", "lift_curve.png",
                                "confusion_matrix.png"}  # fmt: skip
        # Cells of the matrix, row = true label, column = predicted at p >= 0.5.
        texts = [t.get_text() for t in figures["confusion_matrix.png"].axes[0].texts]
        assert texts == ["4", "1", "1", "2"]
        assert len(figures["roc_curve.png"].axes[0].get_lines()) == 3  # two models + chance
    finally:
        for fig in figures.values():
            plt.close(fig)


def test_recency_baseline_ranks_the_long_silent_higher_and_takes_never():
    days = np.array([1, 2, 3, 5, 40, 60, 80, 100, np.nan, np.nan], dtype=float)
    churned = np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 1])
    p = RecencyBaseline().fit(days, churned).predict_proba(np.array([1.0, 200.0, np.nan]))
    assert p[0] < 0.5 < p[1] <= p[2]


def _transactions():
    rows = [
        ("repeat", "2025-01-05", 10.0), ("repeat", "2025-02-05", 20.0),
        ("repeat", "2025-03-05", 30.0), ("once", "2025-02-10", 50.0),
        ("late", "2025-04-01", 5.0),  # after the calibration end: not a buyer yet
    ]  # fmt: skip
    frame = pl.DataFrame(rows, schema=["profile_id", "day", "value"], orient="row")
    return frame.with_columns(pl.col("day").str.to_date())


def test_the_boosters_stop_early_the_same_way_every_time():
    """Each calibration fold's booster stops once more trees no longer lower its held-out loss,
    well before the cap on a signal this simple, and the same data gives the same model."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 6))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.8, size=3000) > 1).astype(int)
    first, second = (fit_propensity(X, y, seed=42) for _ in range(2))
    trees = [c.estimator.n_iter_ for c in first.calibrated_classifiers_]
    assert len(trees) == 3 and all(0 < n < MAX_TREES for n in trees), trees
    assert trees == [c.estimator.n_iter_ for c in second.calibrated_classifiers_]
    assert np.array_equal(first.predict_proba(X), second.predict_proba(X))
    held_out = rng.normal(size=(2000, 6))
    truth = (held_out[:, 0] + 0.5 * held_out[:, 1] > 1).astype(int)
    assert classification_metrics(truth, first.predict_proba(held_out)[:, 1])["roc_auc"] > 0.9


def test_rfm_summary_follows_the_btyd_convention():
    summary = rfm_summary(_transactions(), dt.date(2025, 3, 31)).sort("profile_id")
    rows = {r["profile_id"]: r for r in summary.to_dicts()}
    assert set(rows) == {"repeat", "once"}
    assert rows["repeat"]["frequency"] == 2  # repeat purchases: the first one does not count
    assert rows["repeat"]["recency"] == pytest.approx(59 / 7)  # first to last, in weeks
    assert rows["repeat"]["T"] == pytest.approx(85 / 7)
    assert rows["repeat"]["monetary"] == 25.0  # mean of the repeat purchases only
    assert rows["once"]["frequency"] == 0 and rows["once"]["monetary"] is None


def test_value_models_need_enough_buyers_and_handle_one_time_buyers():
    with pytest.raises(NotEnoughBuyers, match="at least 50"):
        fit_clv(rfm_summary(_transactions(), dt.date(2025, 3, 31)))
    rng = np.random.default_rng(0)
    rows = []
    for i in range(400):
        rate = rng.gamma(2.0, 1 / 20)  # purchases per day
        days = np.cumsum(rng.exponential(1 / rate, size=8)).astype(int)
        for d in days[days < 300]:
            rows.append(
                (f"c{i}", dt.date(2025, 1, 1) + dt.timedelta(days=int(d)), rng.gamma(4, 10))
            )
    tx = pl.DataFrame(rows, schema=["profile_id", "day", "value"], orient="row").unique(
        ["profile_id", "day"]
    )
    summary = rfm_summary(tx, dt.date(2025, 10, 27))
    model = fit_clv(summary)
    out = predict_clv(model, summary, 52.0).join(summary, on="profile_id")
    once = out.filter(pl.col("frequency") == 0)
    assert once.height > 0 and (once["clv_basis"] == "one_time").all()
    # P(alive) is 1 for them by the model's assumption: not published, so no reader takes it
    # for "certainly still a customer".
    assert once["p_alive"].null_count() == once.height
    assert once["expected_order_value"].n_unique() == 1
    assert once["expected_order_value"][0] == pytest.approx(model.population_order_value)
    repeat = out.filter(pl.col("frequency") > 0)
    assert (repeat["clv_basis"] == "repeat").all()
    assert repeat["p_alive"].null_count() == 0 and repeat["p_alive"].is_between(0, 1).all()
    assert (out["predicted_value"] >= 0).all() and out["predicted_value"].is_finite().all()
    # Same age, last purchase just now: more repeat purchases, more expected purchases.
    frequencies = np.array([0.0, 1.0, 3.0, 6.0])
    expected = model.bgnbd.expected_purchases(52.0, frequencies, np.full(4, 40.0), np.full(4, 40.0))
    expected[0] = model.bgnbd.expected_purchases(52.0, 0.0, 0.0, 40.0)
    assert np.all(np.diff(expected) > 0)


def _signals():
    return pl.DataFrame(
        {
            "profile_id": ["a", "b", "c"],
            "tenure_days": [5, 400, 400],
            "days_since_last_activity": [1, 3, 200],
            "churn_probability": [0.1, 0.7, 0.9],
            "orders_lifetime": [0, 5, 1],
            "days_since_last_purchase": [None, 10, 300],
            "active_days_30d": [1, 3, 0],
            "pricing_views_7d": [4, 0, 0],
            "compare_views_7d": [0, 3, 0],
            "checkouts_abandoned_30d": [0, 0, 0],
        }
    )


def test_default_overlays_side_by_side():
    families = load_overlays()
    signals = _signals()
    check_columns(families, signals.columns)
    con = duckdb.connect()
    con.register("signals", signals)
    got = set(evaluate(con, families, "signals").rows())
    assert got == {
        ("a", "lifecycle", "new"), ("a", "intent", "pricing_interest"),
        ("b", "lifecycle", "at_risk"), ("b", "intent", "comparing_options"),
        ("c", "lifecycle", "dormant"),  # the exclusive family's `otherwise`
    }  # fmt: skip


RULE = "families:\n  x:\n    rules:\n      - {name: a, when: %s}"
STOLEN = "' || (SELECT content FROM read_text('/etc/passwd')) || '"
STOLEN_YAML = STOLEN.replace("'", "''")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("families: {}", "families: must not be empty"),
        ("families:\n  x:\n    rules: []", "families.x.rules: must not be empty"),
        ("families:\n  x:\n    rules:\n      - name: Hot\n        when: a > 1",
         r"families.x.rules\[0\].name: 'Hot' is not a lower_case name"),
        ("families:\n  x:\n    otherwise: y\n    rules:\n      - {name: a, when: 'x > 1'}",
         "families.x: `otherwise` only applies to an exclusive family"),
        ("families:\n  x:\n    rules:\n      - {name: a, when: 'x > 1', colour: red}",
         r"families.x.rules\[0\].colour: unknown setting; the settings here are: name, when"),
        ("", "top level: the overlays file must be a mapping with `families:`"),
        ("families: [\n", "line 2, column 1: not valid YAML"),
        # Names become SQL strings: only lower_case identifiers, no trailing newline either.
        (f"families:\n  x:\n    exclusive: true\n    otherwise: '{STOLEN_YAML}'\n    rules:\n"
         "      - {name: a, when: 'x > 1'}",
         "families.x.otherwise: .* is not a lower_case name"),
        ('families:\n  x:\n    rules:\n      - {name: "a\\n", when: "x > 1"}',
         r"families.x.rules\[0\].name: 'a\\n' is not a lower_case name"),
        ('families:\n  "x\' OR true --":\n    rules:\n      - {name: a, when: "x > 1"}',
         "families.x' OR true --: the name .* is not a lower_case name"),
        ("families:\n  " + "x" * 64 + ":\n    rules:\n      - {name: a, when: 'x > 1'}",
         "at most 63 characters"),
        # Conditions are scalar expressions over columns, nothing that reads or lists anything.
        (RULE % "\"x = 'abc\"", r"rules\[0\].when: is not a SQL condition: unbalanced quote"),
        (RULE % "'country /* '", "is not a SQL condition: unbalanced quote or unclosed comment"),
        (RULE % "'(SHOW DATABASES)'", "is not allowed"),
        (RULE % "'(DESCRIBE signals)'", "`DESCRIBE signals` is not allowed"),
        (RULE % "'(SUMMARIZE signals)'", "is not allowed"),
        (RULE % "'(PRAGMA version)'", "is not allowed"),
        (RULE % "\"length(read_text('/etc/passwd')) > 0\"", r"function read_text\(\) is not"),
        (RULE % "\"getenv('HOME') = 'x'\"", r"function getenv\(\) is not allowed"),
        (RULE % "'x > (FROM glob(''/*''))'", "must be a condition .*, not a query"),
        (RULE % "'x IN (SELECT 1)'", "not a query"),
        (RULE % "'x > 1; DROP TABLE t'", "is not allowed"),
        (RULE % "'s.x > 1'", "unqualified"),
    ],
)  # fmt: skip
def test_overlay_files_are_checked(tmp_path, text, message):
    path = tmp_path / "overlays.yaml"
    path.write_text(text)
    with pytest.raises(OverlayError, match=message) as error:
        load_overlays(path)
    # One line per mistake, `<file>: <dotted.path>: <what is wrong>`, no pydantic URL.
    assert str(error.value).startswith(f"{path}: ")
    assert "pydantic" not in str(error.value) and "Traceback" not in str(error.value)


def test_a_crafted_overlay_cannot_read_a_file_through_sql(tmp_path):
    """Before names were checked, `otherwise` went into the SQL as it was: this file put the
    first line of a file on disk into every customer's overlay."""
    secret = tmp_path / "secret.txt"
    secret.write_text("the-secret-line\n")
    path = tmp_path / "overlays.yaml"
    stolen = f"' || (SELECT content FROM read_text('{secret}')) || '"
    path.write_text(
        "families:\n  x:\n    exclusive: true\n"
        f'    otherwise: "{stolen}"\n'
        "    rules:\n      - {name: a, when: 'tenure_days < 0'}\n"
    )
    with pytest.raises(OverlayError, match="families.x.otherwise: .*lower_case name"):
        families = load_overlays(path)
        con = duckdb.connect()
        con.register("signals", _signals())
        leaked = evaluate(con, families, "signals")
        assert "the-secret-line" not in str(leaked.rows())  # what the old code returned


def test_conditions_run_as_checked():
    """What runs is regenerated from the checked tree: quoted columns, nothing else."""
    from seg_platform.predictions.overlays import condition_sql

    assert condition_sql("orders_90d >= 2 AND name = 'o''k'") == (
        "\"orders_90d\" >= 2 AND \"name\" = 'o''k'"
    )
    assert condition_sql("a > 1", "s") == '"s"."a" > 1'
    con = duckdb.connect()
    con.register("signals", _signals())
    family = load_overlays()[0]
    got = evaluate(con, [family], "signals")
    assert set(got["overlay"]) == {"new", "at_risk", "dormant"}


def test_overlay_conditions_are_parsed_before_anything_runs(tmp_path):
    path = tmp_path / "overlays.yaml"
    path.write_text(
        "families:\n  intent:\n    rules:\n      - {name: hot, when: 'pricing_vews_7d >= 3'}\n"
    )
    with pytest.raises(
        OverlayError, match=r"families.intent.rules\[0\].when: unknown column.*pricing_vews_7d"
    ) as error:
        check_columns(load_overlays(path), _signals().columns, path)
    assert "pricing_views_7d" in str(error.value)  # the columns there are, to pick from
    path.write_text("families:\n  intent:\n    rules:\n      - {name: hot, when: 'SELECT 1'}\n")
    with pytest.raises(OverlayError, match="must be a condition"):
        check_columns(load_overlays(path), _signals().columns, path)
    assert DEFAULT_OVERLAYS.exists()
