"""Fairness audit (issue 24 point 5): segment membership and mean scores by sensitive or proxy
attribute, a WARN check on disparities beyond the configured ratio, small groups suppressed."""

import datetime as dt

import dagster as dg
import duckdb
import polars as pl
import pytest

from seg_platform.predictions.fairness import audit
from seg_platform.segments.resources import SegmentsConfig
from seg_platform.segments.settings import DEFAULTS

DECEMBER = dt.date(2025, 12, 31)


def _members(groups: dict[str, tuple[int, int]], tiny: int = 0) -> pl.DataFrame:
    """Per group: (customers, of whom in segment 0); the rest in segment 1. Churn 0.2 for all.
    `tiny` customers of a group 'ZZ' too small to show, all in segment 0."""
    rows = []
    for group, (n, in_zero) in groups.items():
        rows += [(f"{group}{i}", 0 if i < in_zero else 1, group) for i in range(n)]
    rows += [(f"ZZ{i}", 0, "ZZ") for i in range(tiny)]
    rows += [(f"none{i}", 1, None) for i in range(40)]  # no value on record: `unknown`
    frame = pl.DataFrame(rows, schema=["profile_id", "segment_id", "country"], orient="row")
    return frame.with_columns(churn_probability=pl.lit(0.2), purchase_probability=pl.lit(0.5))


def _check(table, suppressed):
    from seg_platform.predictions.assets import fairness_check

    return fairness_check(table, ["country"], suppressed, SegmentsConfig())


def test_a_planted_disparity_warns_and_names_the_group():
    # 50% of US customers in segment 0 against 20% of Canadians (ratio 0.4 < 0.8); so in
    # segment 1, 50% of US customers against 80% of Canadians (0.625).
    table, suppressed = audit(DECEMBER, _members({"US": (100, 50), "CA": (100, 20)}),
                              ["country"], 30, 0.8)  # fmt: skip
    flagged = table.filter(pl.col("disparity"))
    assert flagged.select("group_value", "metric", "segment_id").rows() == [
        ("CA", "share_in_segment", 0), ("US", "share_in_segment", 1),
    ]  # fmt: skip
    assert flagged["ratio_to_best"].to_list() == pytest.approx([0.4, 0.625])
    result = _check(table, suppressed)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["disparities"].value == 2


def test_a_balanced_population_passes():
    table, suppressed = audit(DECEMBER, _members({"US": (100, 50), "CA": (100, 45)}),
                              ["country"], 30, 0.8)  # fmt: skip
    assert not table["disparity"].any()
    assert _check(table, suppressed).passed


def test_groups_too_small_are_suppressed_not_shown():
    # 5 customers of ZZ all in segment 0: shown, they would be a disparity and single people
    # out; suppressed, they leave no row and no count.
    table, suppressed = audit(DECEMBER, _members({"US": (100, 50), "CA": (100, 45)}, tiny=5),
                              ["country"], 30, 0.8)  # fmt: skip
    assert "ZZ" not in table["group_value"].to_list()
    assert suppressed == {"country": 1}
    assert table.filter(pl.col("customers") < 30).is_empty()
    assert not table["disparity"].any()
    # `unknown` is shown (40 customers) but never the reference nor flagged.
    unknown = table.filter(pl.col("group_value") == "unknown")
    assert unknown.height and not unknown["disparity"].any()


def test_the_ratio_is_configured_with_the_segments_and_defaults_to_four_fifths():
    assert DEFAULTS.fairness_min_ratio == SegmentsConfig().fairness_min_ratio == 0.8
    members = _members({"US": (100, 50), "CA": (100, 35)})  # ratio 0.7
    assert audit(DECEMBER, members, ["country"], 30, 0.8)[0]["disparity"].any()
    assert not audit(DECEMBER, members, ["country"], 30, 0.6)[0]["disparity"].any()


def test_the_demo_audits_country_from_the_crm(demo_december):
    home, _ = demo_december
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        table = con.sql(
            "SELECT * FROM predictions.fairness_audit WHERE as_of_date = DATE '2025-12-31'"
        ).pl()
    assert set(table["attribute"]) == {"country"}  # the demo CRM has no date of birth
    assert {"US", "CA"} <= set(table["group_value"])  # "USA", "U.S.", "united states": US
    assert table["customers"].min() >= DEFAULTS.fairness_min_group
    assert {"share_in_segment", "mean_churn_probability"} <= set(table["metric"])
