"""Activation lift: a planted effect is recovered, 95% intervals cover the truth about 95% of
the time, an A/A test finds nothing, edge cases give notes instead of NaN, and the intervals
match a published worked example and scipy."""

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from scipy import stats

from seg_platform.activation.lift import (
    METRICS,
    OUTPUT_COLUMNS,
    lift_table,
    newcombe_interval,
    pooled_z_pvalue,
    welch_interval,
    welch_pvalue,
    wilson_interval,
)

# Four segments: base conversion, base churn and mean revenue of an untreated customer.
BASE_CONVERSION = np.array([0.05, 0.10, 0.15, 0.25])
BASE_CHURN = np.array([0.20, 0.15, 0.10, 0.30])
BASE_REVENUE = np.array([40.0, 60.0, 90.0, 150.0])
SIGMA = 0.8  # lognormal shape of revenue: skewed, sd about 0.95 x mean
EFFECT = {"conversion": 0.04, "churn": -0.03, "revenue": 12.0}
NO_EFFECT = dict.fromkeys(METRICS, 0.0)


def simulate(rng, n, control_share, effect, segment=None, segment_probs=None) -> pl.DataFrame:
    """Customers of the four segments (or the given segment ids), a random control holdout and
    an additive treatment effect: +effect on the conversion and churn probabilities and on
    revenue (a lognormal with the segment's mean), identical in every segment."""
    if segment is None:
        segment = rng.choice(len(BASE_CONVERSION), size=n, p=segment_probs)
        ids = np.array([f"s{k}" for k in range(len(BASE_CONVERSION))])[segment]
        kind = segment
    else:
        ids = np.asarray(segment).astype(str)
        kind = np.asarray(segment) % len(BASE_CONVERSION)
    treated = rng.random(n) >= control_share
    conversion = BASE_CONVERSION[kind] + treated * effect["conversion"]
    churn = BASE_CHURN[kind] + treated * effect["churn"]
    mu = np.log(BASE_REVENUE[kind]) - SIGMA**2 / 2  # so that E[revenue] = BASE_REVENUE
    revenue = rng.lognormal(mu, SIGMA) + treated * effect["revenue"]
    return pl.DataFrame(
        {
            "segment_id": ids,
            "segment_name": np.char.add("Segment ", ids),
            "group": np.where(treated, "treatment", "control"),
            "converted": rng.random(n) < conversion,
            "churned": rng.random(n) < churn,
            "revenue": revenue,
        }
    )


def replications(seed, reps, n_per_rep, effect, control_share=0.4) -> pl.DataFrame:
    """`reps` independent experiments in one frame, replication r as segment r, so that a
    single lift_table call analyses them all."""
    rng = np.random.default_rng(seed)
    rep = np.repeat(np.arange(reps), n_per_rep)
    return simulate(rng, reps * n_per_rep, control_share, effect, segment=rep)


def row(table: pl.DataFrame, segment_id: str, metric: str) -> dict:
    rows = table.filter((pl.col("segment_id") == segment_id) & (pl.col("metric") == metric))
    assert rows.height == 1
    return rows.row(0, named=True)


def test_planted_effect_is_recovered():
    rng = np.random.default_rng(20240611)
    frame = simulate(rng, 20_000, control_share=0.10, effect=EFFECT)
    table = lift_table(frame)

    assert table.columns == list(OUTPUT_COLUMNS)
    assert table["segment_id"].to_list() == [
        s for s in ("s0", "s1", "s2", "s3", "all") for _ in METRICS
    ]
    assert table["metric"].to_list() == list(METRICS) * 5
    assert table["note"].null_count() == table.height  # every group is large enough

    tolerance = {"conversion": 0.025, "churn": 0.025, "revenue": 6.0}  # about 3 standard errors
    for metric, truth in EFFECT.items():
        overall = row(table, "all", metric)
        assert overall["segment_name"] == "All segments"
        assert overall["treated_n"] + overall["control_n"] == 20_000
        assert 0.08 < overall["control_n"] / 20_000 < 0.12
        assert overall["ci_low"] < truth < overall["ci_high"], (metric, overall)
        assert abs(overall["lift"] - truth) < tolerance[metric], (metric, overall)
        assert overall["lift"] == pytest.approx(overall["treated_mean"] - overall["control_mean"])
        assert overall["relative_lift"] == pytest.approx(overall["lift"] / overall["control_mean"])

    conversion = row(table, "all", "conversion")
    assert conversion["ci_low"] > 0 and conversion["p_value"] < 0.001
    assert conversion["method"] == "newcombe_hybrid_score"
    assert row(table, "all", "revenue")["method"] == "welch_t"

    # Per segment, the control group shows the segment's base rates (about 500 customers each).
    for k in range(4):
        assert abs(row(table, f"s{k}", "conversion")["control_mean"] - BASE_CONVERSION[k]) < 0.05
        assert abs(row(table, f"s{k}", "churn")["control_mean"] - BASE_CHURN[k]) < 0.06


@pytest.fixture(scope="module")
def coverage_runs() -> pl.DataFrame:
    """300 experiments of 500 customers (about 300 treated, 200 control) with the planted
    effect, analysed in one lift_table call."""
    return lift_table(replications(seed=7, reps=300, n_per_rep=500, effect=EFFECT))


@pytest.mark.parametrize("metric", METRICS)
def test_95_percent_intervals_cover_the_truth(coverage_runs, metric):
    """The 95% interval covers the planted effect in 92-98% of 300 experiments (measured:
    conversion 96.0%, churn 94.0%, revenue 95.0%)."""
    reps = coverage_runs.filter((pl.col("metric") == metric) & (pl.col("segment_id") != "all"))
    assert reps.height == 300 and reps["ci_low"].null_count() == 0
    truth = EFFECT[metric]
    coverage = ((reps["ci_low"] <= truth) & (truth <= reps["ci_high"])).mean()
    assert 0.92 <= coverage <= 0.98, f"{metric}: coverage {coverage:.1%}"


def test_newcombe_keeps_coverage_where_wald_does_not():
    """Helpers directly, 4000 vectorised experiments of 30 vs 30 customers with a rare outcome
    (8% vs 2%): Newcombe stays at or above 95% (measured 98.9%, it is conservative here), the
    textbook Wald interval falls short (measured 91.0%)."""
    rng = np.random.default_rng(11)
    n, p1, p2, reps = 30, 0.08, 0.02, 4000
    x1, x2 = rng.binomial(n, p1, reps), rng.binomial(n, p2, reps)
    low, high = newcombe_interval(x1, n, x2, n)
    coverage = ((low <= p1 - p2) & (p1 - p2 <= high)).mean()
    d = x1 / n - x2 / n
    wald_half = 1.96 * np.sqrt((x1 / n) * (1 - x1 / n) / n + (x2 / n) * (1 - x2 / n) / n)
    wald = ((d - wald_half <= p1 - p2) & (p1 - p2 <= d + wald_half)).mean()
    assert coverage >= 0.95 and wald <= 0.925, (coverage, wald)


def test_a_a_test_finds_no_effect():
    table = lift_table(replications(seed=3, reps=300, n_per_rep=500, effect=NO_EFFECT))
    for metric in METRICS:
        reps = table.filter((pl.col("metric") == metric) & (pl.col("segment_id") != "all"))
        significant = (reps["p_value"] < 0.05).mean()  # measured 6.0%, 5.0%, 5.3%
        assert significant <= 0.08, f"A/A {metric}: {significant:.1%} of runs with p < 0.05"
        assert 0.35 < reps["p_value"].mean() < 0.65  # roughly uniform, not piled up near 0
        overall = row(table, "all", metric)  # 150,000 customers pooled
        assert overall["ci_low"] < 0 < overall["ci_high"], (metric, overall)
        assert overall["p_value"] > 0.05


SCHEMA = {
    "segment_id": pl.Utf8,
    "segment_name": pl.Utf8,
    "group": pl.Utf8,
    "converted": pl.Boolean,
    "churned": pl.Boolean,
    "revenue": pl.Float64,
}


def customers(segment_id, group, n, converted=False, churned=False, revenue=0.0) -> list[dict]:
    """n identical customers; an outcome may be a list of n values."""

    def values(v):
        return v if isinstance(v, list) else [v] * n

    return [
        dict(segment_id=segment_id, segment_name=segment_id.upper(), group=group, converted=c,
             churned=h, revenue=r)
        for c, h, r in zip(values(converted), values(churned), values(revenue), strict=True)
    ]  # fmt: skip


def _no_nan(table: pl.DataFrame) -> bool:
    floats = [c for c, t in table.schema.items() if t == pl.Float64]
    return all(table[c].is_nan().sum() == 0 for c in floats)


def test_small_groups_get_a_note_and_no_interval():
    rows = customers("a", "treatment", 40, converted=[True] * 10 + [False] * 30)
    rows += customers("a", "control", 12, converted=[True] * 2 + [False] * 10)
    table = lift_table(pl.DataFrame(rows, schema=SCHEMA))
    small = row(table, "a", "conversion")
    assert (small["treated_n"], small["control_n"]) == (40, 12)
    assert small["lift"] == pytest.approx(10 / 40 - 2 / 12)  # the estimate is still given
    assert small["relative_lift"] == pytest.approx((10 / 40 - 2 / 12) / (2 / 12))
    assert small["ci_low"] is None and small["ci_high"] is None and small["p_value"] is None
    assert (
        small["note"] == "control has 12 customers with a known outcome, fewer than 30: no interval"
    )
    assert row(table, "all", "conversion")["note"] == small["note"]  # also too few overall
    # A lower threshold gives the interval.
    assert (
        row(lift_table(pl.DataFrame(rows, schema=SCHEMA), min_group=10), "a", "conversion")[
            "ci_low"
        ]
        is not None
    )


def test_null_outcomes_are_left_out_of_that_metric_only():
    treated = customers(
        "a", "treatment", 60,
        converted=[True] * 20 + [False] * 30 + [None] * 10,
        churned=[True] * 6 + [False] * 54,
        revenue=[10.0] * 30 + [30.0] * 25 + [None] * 5,
    )  # fmt: skip
    control = customers(
        "a", "control", 50,
        converted=[True] * 10 + [False] * 40,
        churned=[True] * 10 + [False] * 35 + [None] * 5,
        revenue=[10.0] * 25 + [20.0] * 25,
    )  # fmt: skip
    table = lift_table(pl.DataFrame(treated + control, schema=SCHEMA))
    conversion, churn, revenue = (row(table, "a", m) for m in METRICS)
    assert (conversion["treated_n"], conversion["control_n"]) == (50, 50)
    assert conversion["treated_mean"] == pytest.approx(20 / 50)
    assert (churn["treated_n"], churn["control_n"]) == (60, 45)
    assert churn["control_mean"] == pytest.approx(10 / 45)
    assert (revenue["treated_n"], revenue["control_n"]) == (55, 50)
    assert revenue["treated_mean"] == pytest.approx((30 * 10 + 25 * 30) / 55)
    assert revenue["lift"] == pytest.approx((30 * 10 + 25 * 30) / 55 - 15.0)
    assert table["note"].null_count() == table.height and _no_nan(table)


def test_no_variation_gives_numbers_not_nan():
    # Nobody spends, everybody converts, nobody churns, in both groups.
    rows = customers("a", "treatment", 50, converted=True, churned=False, revenue=0.0)
    rows += customers("a", "control", 40, converted=True, churned=False, revenue=0.0)
    # Constant but different revenue: the difference is known exactly.
    rows += customers("b", "treatment", 50, converted=True, churned=False, revenue=5.0)
    rows += customers("b", "control", 40, converted=True, churned=False, revenue=2.0)
    table = lift_table(pl.DataFrame(rows, schema=SCHEMA))
    assert _no_nan(table)

    revenue = row(table, "a", "revenue")
    assert (revenue["lift"], revenue["ci_low"], revenue["ci_high"]) == (0.0, 0.0, 0.0)
    assert revenue["p_value"] == 1.0 and revenue["relative_lift"] is None  # control mean is 0
    assert revenue["note"] == "no variation in either group: interval is the point estimate"
    revenue_b = row(table, "b", "revenue")
    assert (revenue_b["lift"], revenue_b["ci_low"], revenue_b["ci_high"]) == (3.0, 3.0, 3.0)
    assert revenue_b["p_value"] == 0.0 and revenue_b["relative_lift"] == pytest.approx(1.5)

    for metric in ("conversion", "churn"):
        r = row(table, "a", metric)
        assert r["lift"] == 0.0 and r["p_value"] == 1.0
        assert -0.15 < r["ci_low"] < 0 < r["ci_high"] < 0.15  # Wilson never collapses at 0/100%
        assert r["note"] == f"every customer has the same {metric} outcome: p-value 1"
    assert row(table, "a", "churn")["relative_lift"] is None  # control churn is 0


def test_a_group_with_nobody_and_bad_input():
    rows = customers("a", "treatment", 40) + customers("b", "treatment", 40)
    rows += customers("b", "control", 40)
    table = lift_table(pl.DataFrame(rows, schema=SCHEMA))
    only_treated = row(table, "a", "revenue")
    assert only_treated["control_n"] == 0 and only_treated["control_mean"] is None
    assert only_treated["lift"] is None and only_treated["ci_low"] is None
    assert only_treated["note"].startswith("control has 0 customers")
    assert _no_nan(table)

    frame = pl.DataFrame(rows, schema=SCHEMA)
    with pytest.raises(ValueError, match="treatment"):
        lift_table(frame.with_columns(group=pl.lit("holdout")))
    with pytest.raises(ValueError, match="reserved"):
        lift_table(frame.with_columns(segment_id=pl.lit("all")))
    with pytest.raises(ValueError, match="missing"):
        lift_table(frame.drop("revenue"))


def test_sorted_and_deterministic():
    rng = np.random.default_rng(5)
    frame = simulate(rng, 3000, control_share=0.2, effect=EFFECT)
    table = lift_table(frame)
    assert table.equals(lift_table(frame))
    # The input's row order changes nothing but float rounding in the sums.
    shuffled = lift_table(frame.sample(fraction=1.0, shuffle=True, seed=1))
    assert_frame_equal(table, shuffled, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)
    assert table["segment_id"].to_list()[-3:] == ["all"] * 3


def test_newcombe_published_example():
    """Newcombe (1998), Statistics in Medicine 17:873-890, worked example: 56/70 - 48/80,
    method 10 (hybrid score) 95% interval 0.0524 to 0.3339."""
    low, high = newcombe_interval(56, 70, 48, 80)
    assert low == pytest.approx(0.0524, abs=5e-5) and high == pytest.approx(0.3339, abs=5e-5)

    rows = customers("a", "treatment", 70, converted=[True] * 56 + [False] * 14)
    rows += customers("a", "control", 80, converted=[True] * 48 + [False] * 32)
    r = row(lift_table(pl.DataFrame(rows, schema=SCHEMA)), "a", "conversion")
    assert r["lift"] == pytest.approx(0.2)
    assert round(r["ci_low"], 4) == 0.0524 and round(r["ci_high"], 4) == 0.3339
    # Pooled z-test = chi-square test of the 2x2 table without continuity correction.
    chi2 = stats.chi2_contingency([[56, 14], [48, 32]], correction=False)
    assert r["p_value"] == pytest.approx(chi2.pvalue, rel=1e-9)
    assert pooled_z_pvalue(56, 70, 48, 80) == pytest.approx(chi2.pvalue, rel=1e-9)


@pytest.mark.parametrize("x,n", [(0, 10), (3, 10), (56, 70), (80, 80), (1, 1000)])
def test_wilson_matches_scipy(x, n):
    low, high = wilson_interval(x, n)
    ci = stats.binomtest(x, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert (low, high) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_welch_matches_scipy():
    rng = np.random.default_rng(2)
    a, b = rng.lognormal(3.0, 1.0, 80), rng.lognormal(3.2, 0.5, 35)
    test = stats.ttest_ind(a, b, equal_var=False)
    ci = test.confidence_interval(confidence_level=0.9)
    args = (a.mean(), a.var(ddof=1), a.size, b.mean(), b.var(ddof=1), b.size)
    assert welch_interval(*args, confidence=0.9) == pytest.approx((ci.low, ci.high), rel=1e-10)
    assert welch_pvalue(*args) == pytest.approx(test.pvalue, rel=1e-10)


def test_lift_over_the_members_sent_and_intent_to_treat_apart():
    """Only 60% of the treated can be reached (an email with consent); sending converts 20
    points more. `sent` (the sent against the reachable held out) recovers the effect of
    sending; intent to treat is diluted by the reach, and says so by its label."""
    from seg_platform.activation.assets import lift_analyses

    rng = np.random.default_rng(3)
    n = 20_000
    group = np.where(rng.random(n) < 0.2, "control", "treatment")
    reachable = rng.random(n) < 0.6
    sent = (group == "treatment") & reachable
    converted = rng.random(n) < np.where(sent, 0.30, 0.10)
    frame = pl.DataFrame({
        "segment_id": ["7"] * n, "segment_name": ["Lapsed Buyers"] * n, "group": group,
        "sent": sent, "reachable": reachable, "converted": converted, "churned": converted,
        "revenue": converted * 40.0,
    })  # fmt: skip
    table = lift_analyses(frame, 0.95, 30).filter(
        (pl.col("segment_id") == "all") & (pl.col("metric") == "conversion")
    )
    by = {r["analysis"]: r for r in table.iter_rows(named=True)}
    assert set(by) == {"sent", "intent_to_treat"}
    assert by["sent"]["treated_n"] == int(sent.sum())
    assert by["sent"]["control_n"] == int(((group == "control") & reachable).sum())
    assert by["sent"]["ci_low"] <= 0.20 <= by["sent"]["ci_high"]
    assert by["intent_to_treat"]["treated_n"] == int((group == "treatment").sum())
    assert by["intent_to_treat"]["ci_low"] <= 0.12 <= by["intent_to_treat"]["ci_high"]
    assert by["intent_to_treat"]["ci_high"] < 0.20  # diluted: not the effect of sending
