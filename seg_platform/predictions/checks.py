"""Checks every scores table passes, the monthly predictions and the daily scores alike."""

import dagster as dg
import polars as pl

from seg_platform.predictions.propensity import TARGETS


def prediction_checks(table: pl.DataFrame, expected_rows: int, models: dict, asset=None):
    """The three checks every scores table passes (monthly and daily)."""
    key = {"asset_key": asset} if asset else {}
    columns = [
        c for c in ("churn_probability", "purchase_probability", "p_alive") if c in table.columns
    ]
    outside = {
        c: table.filter(~pl.col(c).is_between(0.0, 1.0) | pl.col(c).is_nan()).height
        for c in columns
    }
    yield dg.AssetCheckResult(
        **key, check_name="probabilities_in_unit_interval", passed=not any(outside.values()),
        metadata={**{f"{c}_outside": n for c, n in outside.items()}, "threshold": "0 <= p <= 1"},
        description=None if not any(outside.values()) else f"Out of [0, 1]: {outside}",
    )  # fmt: skip
    duplicates = table.height - table["profile_id"].n_unique()
    passed = duplicates == 0 and table.height == expected_rows
    yield dg.AssetCheckResult(
        **key, check_name="one_row_per_profile", passed=passed,
        metadata={"rows": table.height, "distinct_profiles": table["profile_id"].n_unique(),
                  "known_customers": expected_rows},
        description=None if passed else (
            f"{table.height} rows, {duplicates} duplicates, {expected_rows} known customers"),
    )  # fmt: skip
    active = table.filter(pl.col("active"))
    missing, notes = {}, {}
    for target in TARGETS:
        column = f"{target.name}_probability"
        if models.get(target.name) is None:
            notes[target.name] = "no model yet"
            continue
        missing[target.name] = active[column].null_count()
    bad = {k: v for k, v in missing.items() if v}
    yield dg.AssetCheckResult(
        **key, check_name="no_missing_scores_for_active_profiles", passed=not bad,
        metadata={"active_profiles": active.height,
                  **{f"{k}_missing": v for k, v in missing.items()},
                  **{f"{k}_not_evaluated": v for k, v in notes.items()}},
        description=(f"Active customers without a score: {bad}" if bad else (
            f"Not evaluated for {', '.join(notes)}: no model trained yet (too little "
            "labelled history)." if notes else None)),
    )  # fmt: skip
