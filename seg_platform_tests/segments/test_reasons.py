"""Why this segment (issue 24 point 3): each assignment's top 3 reasons, how far the customer
sits from the segment's centre on each scaled feature, in words with the catalog's labels; in
`segments.assignment_reasons`, the assignments' `reasons` and the feeds."""

import datetime as dt
import warnings

import duckdb
import mlflow
import numpy as np
import polars as pl
import pytest

from seg_platform.features.catalog import human_label
from seg_platform.segmentation.data import feature_columns, load_features
from seg_platform.segments import reasons as why

DECEMBER = dt.date(2025, 12, 31)


@pytest.mark.parametrize(
    ("meaning", "label"),
    [
        ("Pricing page views in the last 7 days.", "pricing page views in the last 7 days"),
        ("Days since the last completed order; empty if the customer never bought.",
         "days since the last completed order"),
        ("Completed orders ever.", "completed orders ever"),
    ],
)  # fmt: skip
def test_a_feature_label_is_the_first_clause_of_its_catalog_meaning(meaning, label):
    assert human_label(meaning) == label


def test_reasons_rank_features_by_distance_from_the_segment_centre_in_scaled_space():
    # Segment 0: three customers; the first sits far from the centre on `b` (scaled), a bit on
    # `a`, and has no value for `c` (no reason from it, however far its imputed value is).
    X = np.array([[1.0, 9.0, np.nan], [2.0, 1.0, 5.0], [3.0, 2.0, 5.0], [10.0, 10.0, 1.0]])
    Z = np.array([[0.0, 3.0, 9.0], [0.5, 0.0, 0.0], [1.0, 0.0, 0.0], [5.0, 5.0, 5.0]])
    frame = why.assignment_reasons(
        DECEMBER, pl.Series(["p1", "p2", "p3", "p4"]), X, ["a", "b", "c"],
        np.array([0, 0, 0, 1]), Z, ["a", "b", "c"],
        {"a": "orders ever", "b": "pricing page views in the last 7 days"},
    )  # fmt: skip
    first = frame.filter(pl.col("profile_id") == "p1").sort("rank")
    assert first["feature"].to_list() == ["b", "a"]  # c: no value
    assert first["customer_value"].to_list() == [9.0, 1.0]
    assert first["segment_average"].to_list() == pytest.approx([4.0, 2.0])
    assert first["reason"][0] == (
        "pricing page views in the last 7 days: 9 against 4 on average in the segment"
    )
    assert frame.columns == ["month", "profile_id", "rank", "feature", "customer_value",
                             "segment_average", "reason"]  # fmt: skip
    assert frame.group_by("profile_id").len()["len"].max() <= 3
    # A feature without a label keeps its column name.
    assert frame.filter(pl.col("feature") == "c")["reason"][0].startswith("c: ")


def test_reason_text_reads_like_a_marketer_would_say_it():
    assert why.reason_text("pricing page views in the last 7 days", 6.0, 0.4) == (
        "pricing page views in the last 7 days: 6 against 0.40 on average in the segment"
    )
    assert why.reason_text("money spent", 1234.4, 87.24) == (
        "money spent: 1,234 against 87.2 on average in the segment"
    )


@pytest.fixture(scope="module")
def december(demo_december):
    """The demo's stored reasons, assignments and feeds, and the features and champion model
    they must be explained by."""
    home, _ = demo_december
    mlflow.set_tracking_uri(home.mlflow_tracking_uri)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        described = con.sql("DESCRIBE segments.assignment_reasons").fetchall()
        reasons = con.sql(
            "SELECT * FROM segments.assignment_reasons WHERE month = DATE '2025-12-31' "
            "ORDER BY profile_id, rank"
        ).pl()
        assignments = con.sql(
            "SELECT * FROM segments.segment_assignments WHERE as_of_date = DATE '2025-12-31' "
            "ORDER BY profile_id"
        ).pl()
        features = load_features(con, DECEMBER)
        feeds = con.sql(
            "SELECT f.destination, f.audience_kind, f.profile_id, f.reasons, a.reasons AS "
            "assigned FROM activation.feed_members f JOIN segments.segment_assignments a "
            "USING (profile_id, as_of_date) WHERE f.as_of_date = DATE '2025-12-31'"
        ).pl()
    champion = mlflow.MlflowClient().get_model_version_by_alias("customer_segmentation",
                                                                "champion")  # fmt: skip
    model = mlflow.sklearn.load_model(f"models:/customer_segmentation/{champion.version}")
    return home, described, reasons, assignments, features, feeds, champion, model


def test_reasons_table_has_the_columns_the_profile_service_reads(december):
    _, described, reasons, assignments, *_ = december
    assert [(r[0], r[1]) for r in described] == [
        ("month", "DATE"), ("profile_id", "VARCHAR"), ("rank", "INTEGER"),
        ("feature", "VARCHAR"), ("customer_value", "DOUBLE"), ("segment_average", "DOUBLE"),
        ("reason", "VARCHAR"),
    ]  # fmt: skip
    per_customer = reasons.group_by("profile_id").agg(pl.col("rank").sort())
    assert per_customer.height == assignments.height > 1000
    assert all(r == [1, 2, 3] for r in per_customer["rank"].to_list())


def test_reasons_match_the_stored_assignment_recomputed_from_the_champion_pipeline(december):
    """Recomputed here from the features, the champion's scaling and the segment centres
    (members' means in the scaled space), not through seg_platform.segments.reasons."""
    _, _, reasons, assignments, features, _, champion, model = december
    assert set(assignments["model_version"].to_list()) == {int(champion.version)}
    columns = feature_columns(features)
    X = (
        assignments.select("profile_id")
        .join(features, on="profile_id", how="left", maintain_order="left")
        .select(columns).to_numpy().astype(np.float64)
    )  # fmt: skip
    names = [n for n, _ in model.steps]
    scaling = model[: names.index("scale") + 1]
    kept = [c for c, k in zip(columns, scaling.named_steps["drop_empty"].keep_, strict=True) if k]
    Z = scaling.transform(X)[:, : len(kept)]
    raw = X[:, [columns.index(c) for c in kept]]
    segment = assignments["segment_id"].to_numpy()
    expected = {}
    for s in np.unique(segment):
        rows = np.flatnonzero(segment == s)
        centre = Z[rows].mean(axis=0)
        with warnings.catch_warnings():  # a feature no member has: no average, no reason
            warnings.simplefilter("ignore", RuntimeWarning)
            average = np.nanmean(raw[rows], axis=0)
        for i in rows:
            gap = np.abs(Z[i] - centre)
            gap[np.isnan(raw[i])] = -np.inf
            top = np.argsort(-gap, kind="stable")[:3]
            expected[assignments["profile_id"][int(i)]] = [
                (kept[j], raw[i, j], average[j]) for j in top
            ]
    stored = {
        pid: list(zip(g["feature"], g["customer_value"], g["segment_average"], strict=True))
        for (pid,), g in reasons.group_by("profile_id", maintain_order=True)
    }
    assert stored.keys() == expected.keys()
    wrong = [p for p in expected if [f for f, _, _ in stored[p]] != [f for f, _, _ in expected[p]]]
    assert not wrong, f"{len(wrong)} customers' reasons differ, e.g. {wrong[:3]}"
    for pid, rows in expected.items():
        for (_, value, avg), (_, got_value, got_avg) in zip(rows, stored[pid], strict=True):
            assert got_value == pytest.approx(value) and got_avg == pytest.approx(avg)


def test_reasons_are_in_words_in_the_assignments_and_the_feeds(december):
    home, _, reasons, assignments, _, feeds, _, _ = december
    joined = reasons.group_by("profile_id", maintain_order=True).agg(
        pl.col("reason").str.join("; ")
    )
    assert dict(zip(assignments["profile_id"], assignments["reasons"], strict=True)) == dict(
        zip(joined["profile_id"], joined["reason"], strict=True)
    )
    sample = reasons["reason"][0]
    assert " against " in sample and sample.endswith("on average in the segment")
    assert not any(r.split(":")[0] in {"orders_90d", "pricing_views_7d"} for r in reasons["reason"])
    segment_rows = feeds.filter(
        (pl.col("audience_kind") == "segment") & (pl.col("destination") != "ads_audience")
    )
    assert segment_rows.height > 100
    assert (segment_rows["reasons"] == segment_rows["assigned"]).all()
    # Ad audiences (hashed only) receive no behaviour.
    assert feeds.filter(pl.col("destination") == "ads_audience")["reasons"].null_count() == (
        feeds.filter(pl.col("destination") == "ads_audience").height
    )
    crm = pl.read_csv(home.root / "activation" / "crm" / "crm_2025-12_members.csv")
    assert crm["reasons"].null_count() < crm.height
    ads = pl.read_csv(
        home.root / "activation" / "ads_audience" / "ads_audience_2025-12_members.csv"
    )
    assert "reasons" not in ads.columns
