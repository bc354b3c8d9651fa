"""Scoring customers with the registered propensity models: which version scores a month,
the feature matrix it reads, and the scores table's columns. Used by the monthly predictions
and by the daily scoring."""

import json
from typing import Any

import numpy as np
import polars as pl

from seg_platform.core.mlflow_registry import (
    CHAMPION,
    alias_version,
    is_registered,
    load_registered,
    versions,
)
from seg_platform.features.labels import LABEL_COLUMNS
from seg_platform.predictions.propensity import TARGETS, Target

PREDICTIONS = "predictions.customer_predictions"
NON_FEATURES = {"profile_id", "as_of_date", "label_month"}


def registered_name(target: Target) -> str:
    """The MLflow registered model of a propensity target."""
    return f"{target.name}_propensity"


def model_columns(frame: pl.DataFrame) -> list[str]:
    """The numeric feature columns a propensity model uses (labels excluded)."""
    skip = NON_FEATURES | set(LABEL_COLUMNS) | {"horizon_complete_30d", "horizon_complete_90d"}
    return [c for c, t in frame.schema.items() if t.is_numeric() and c not in skip]


def feature_matrix(frame: pl.DataFrame, columns: list[str]) -> np.ndarray:
    """`columns` of `frame` as a float matrix, the model's input."""
    return frame.select(columns).to_numpy().astype(np.float64)


def active_mask(frame: pl.DataFrame, days: int) -> np.ndarray:
    """Customers with activity within `days` of the as-of date."""
    recency = frame["days_since_last_activity"]
    return (recency.is_not_null() & (recency <= days)).to_numpy()


def load_version(tracking: Any, name: str, version) -> tuple[object, list[str]]:
    """A registered version and its feature columns (`tracking`: the MLflow resource)."""
    return load_registered(tracking.uri(), version), json.loads(version.tags["features"])


def scoring_model(client, tracking, target: Target, month: str):
    """The model that scores `month`: the champion, unless it was trained for a later month
    (a backfill), then the newest version trained for this month or before that beat the
    baseline. (model, columns, version) or None."""
    name = registered_name(target)
    current = alias_version(client, name, CHAMPION)
    if current is not None and current.tags.get("month", "") <= month:
        return (*load_version(tracking, name, current), int(current.version))
    if not is_registered(client, name):
        return None
    earlier = [
        v for v in versions(client, name)
        if v.tags.get("month", "") <= month and v.tags.get("beats_baseline") == "True"
    ]  # fmt: skip
    if not earlier:
        return None
    chosen = max(earlier, key=lambda v: (v.tags["month"], int(v.version)))
    return (*load_version(tracking, name, chosen), int(chosen.version))


def percentile(column: str) -> pl.Expr:
    """Share of scored customers (in %) whose value is at most this one's."""
    return (
        (pl.col(column).rank("max") / pl.col(column).count() * 100)
        .round(2)
        .alias(column.replace("_probability", "").replace("_12m", "") + "_percentile")
    )


def score_customers(features: pl.DataFrame, models: dict, active_days: int) -> pl.DataFrame:
    """Churn and purchase probabilities (NULL where no model exists) for every row of
    `features`, with the model version that produced them."""
    out = features.select("profile_id").with_columns(
        active=pl.Series(active_mask(features, active_days))
    )
    for target in TARGETS:
        found = models.get(target.name)
        if found is None or features.is_empty():
            p = pl.Series([None] * features.height, dtype=pl.Float64)
            version = found[2] if found else None
        else:
            model, columns, version = found
            p = pl.Series(model.predict_proba(feature_matrix(features, columns))[:, 1])
        out = out.with_columns(
            p.alias(f"{target.name}_probability"),
            pl.lit(version, dtype=pl.Int64).alias(f"{target.name}_model_version"),
        )
    return out
