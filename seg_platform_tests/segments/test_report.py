"""The segment report over time: size trends, membership flows, churn and value, shares in
percent (issue 21 point 7), on small frames."""

import re

import polars as pl

from seg_platform.segments.report import flow_table, report_html, trend_table

PROFILES = pl.DataFrame(
    {
        "segment_id": [0, 1],
        "name": ["Loyal Regulars", "Lapsing Browsers"],
        "customers": [60, 40],
        "share": [0.6, 0.4],
        "lineage": ["continues", "new"],
        "action_type": ["nurture", "win_back"],
        "description": ["Buy often.", "Used to buy."],
        "distinguishing_features": [["recency_days"], ["orders_90d"]],
        "feature_zscores": [{"recency_days": -1.0, "orders_90d": 1.0},
                            {"recency_days": 1.0, "orders_90d": -1.0}],
    }
)  # fmt: skip
TREND = pl.DataFrame(
    {
        "month": ["2025-10", "2025-10", "2025-11", "2025-11", "2025-12", "2025-12"],
        "name": ["Loyal Regulars", "Lapsing Browsers"] * 3,
        "customers": [50, 50, 55, 45, 60, 40],
        "share": [0.5, 0.5, 0.55, 0.45, 0.6, 0.4],
    }
)
MIGRATION = pl.DataFrame(
    {
        "from_segment_id": [0, 1, 1, None, 0],
        "to_segment_id": [0, 1, 0, 1, None],
        "movement": ["stayed", "stayed", "moved", "new", "departed"],
        "customers": [50, 30, 8, 10, 3],
    },
    schema_overrides={"from_segment_id": pl.Int64, "to_segment_id": pl.Int64},
)
OUTLOOK = pl.DataFrame(
    {
        "segment_id": [0, 1],
        "mean_churn_probability": [0.1234, 0.6],
        "mean_predicted_value_12m": [420.5, 35.0],
    }
)


def test_trend_table_has_each_month_with_size_and_share_in_percent():
    table = trend_table(TREND)
    assert table.columns == ["name", "2025-10", "2025-11", "2025-12"]
    row = table.filter(pl.col("name") == "Loyal Regulars").row(0, named=True)
    assert (row["2025-10"], row["2025-11"], row["2025-12"]) == ("50 (50.0%)", "55 (55.0%)",
                                                                 "60 (60.0%)")  # fmt: skip


def test_flows_list_every_change_of_segment_largest_first():
    flows = flow_table(MIGRATION, PROFILES)
    assert flows["customers"].to_list() == [10, 8, 3]
    assert flows["from"].to_list() == ["(new)", "1 Lapsing Browsers", "0 Loyal Regulars"]
    assert (
        flows["customers"].sum()
        == MIGRATION.filter(pl.col("movement") != "stayed")["customers"].sum()
    )
    assert flows.row(0, named=True) == {"movement": "new", "from": "(new)",
                                        "to": "1 Lapsing Browsers", "customers": 10}  # fmt: skip


def test_report_shows_trends_flows_churn_and_value_with_shares_in_percent():
    page = report_html("2025-12", PROFILES, MIGRATION, TREND, OUTLOOK)
    assert 'alt="size trends"' in page and 'alt="migration"' in page
    assert "60 (60.0%)" in page and "50 (50.0%)" in page
    assert "<th>share_pct</th>" in page and "<td>60.0</td>" in page  # the profile table in percent
    assert "<td>0.6</td>" not in page  # no share left as a fraction
    # Churn in percent and predicted value, per segment.
    assert re.search(r"<td>Loyal Regulars</td><td>12\.3</td><td>420\.5</td>", page)
    assert re.search(r"<td>Lapsing Browsers</td><td>60\.0</td><td>35\.0</td>", page)


def test_report_without_history_or_predictions_says_so():
    page = report_html("2025-12", PROFILES, MIGRATION.head(0), TREND.tail(2), None)
    assert "no trend yet" in page
    assert "no migration yet" in page
    assert "No predictions for this month yet" in page


def test_an_outlook_without_any_prediction_is_said_not_shown_as_blanks():
    empty = OUTLOOK.with_columns(pl.lit(None, pl.Float64).alias(c) for c in OUTLOOK.columns[1:])
    assert "No predictions for this month yet" in report_html(
        "2025-12", PROFILES, MIGRATION, TREND, empty
    )
