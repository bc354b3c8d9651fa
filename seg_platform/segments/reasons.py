"""Why a customer is in their segment, in words a marketer reads: the features on which the
customer sits furthest from the segment's centre in the model's scaled space, each with the
customer's value and the segment's average ("pricing page views in the last 7 days: 6 against
0.4 on average in the segment").

Plain functions over NumPy arrays; `segments.assets` writes `segments.assignment_reasons` (the
month's assignment) and daily scoring `predictions.daily_assignment_reasons` (customers it
placed in the month's segments, measured against the month's members).
"""

import datetime as dt
import math
import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl

REASONS_TABLE = "segments.assignment_reasons"
TOP_REASONS = 3
# What `segments.assignment_reasons` holds, in order (the profile service reads it).
REASON_SCHEMA = {
    "month": pl.Date,
    "profile_id": pl.String,
    "rank": pl.Int32,
    "feature": pl.String,
    "customer_value": pl.Float64,
    "segment_average": pl.Float64,
    "reason": pl.String,
}


def scaled_features(pipeline, X: np.ndarray, columns: list[str]) -> tuple[np.ndarray, list[str]]:
    """The segmentation pipeline's scaled features of `X` (its steps up to `scale`, before any
    PCA, without the missing-value indicator columns), and the columns they are.

    `pipeline` is the registered model (or its preprocessing); features of sources absent when
    it was fitted (its `drop_empty` step) are not in its space.
    """
    names = [name for name, _ in pipeline.steps]
    if "scale" not in names:
        raise ValueError(f"the segmentation pipeline has no 'scale' step (steps: {names})")
    Z = np.asarray(X, dtype=np.float64)
    kept = list(columns)
    for name, step in pipeline.steps[: names.index("scale") + 1]:
        Z = step.transform(Z)
        if name == "drop_empty":
            kept = [c for c, keep in zip(columns, step.keep_, strict=True) if keep]
    return Z[:, : len(kept)], kept


def segment_centres(Z: np.ndarray, segment_id: np.ndarray) -> dict[int, np.ndarray]:
    """Each segment's centre in the scaled space: the mean of its members."""
    return {int(s): Z[segment_id == s].mean(axis=0) for s in np.unique(segment_id)}


@dataclass(frozen=True)
class SegmentReference:
    """What a customer's reasons are measured against: each segment's centre in the scaled
    space and its members' average of each feature in the feature's own units, over the
    columns `scaled_columns`."""

    centres: dict[int, np.ndarray]
    averages: dict[int, np.ndarray]
    scaled_columns: list[str]


def segment_reference(
    X: np.ndarray, columns: list[str], segment_id: np.ndarray, Z: np.ndarray,
    scaled_columns: list[str],
) -> SegmentReference:  # fmt: skip
    """The centres and averages of the segments of the members `X` (raw, `columns`) / `Z`
    (scaled, `scaled_columns`) assigned `segment_id`; averages over the members who have a
    value."""
    raw = _raw(X, columns, scaled_columns)
    centres = segment_centres(Z, segment_id)
    with warnings.catch_warnings():  # a feature nobody in a segment has: no average
        warnings.simplefilter("ignore", RuntimeWarning)
        averages = {s: np.nanmean(raw[segment_id == s], axis=0) for s in centres}
    return SegmentReference(centres, averages, list(scaled_columns))


def _raw(X: np.ndarray, columns: list[str], scaled_columns: list[str]) -> np.ndarray:
    position = [columns.index(c) for c in scaled_columns]
    return np.asarray(X, dtype=np.float64)[:, position]


def fmt_value(x: float) -> str:
    """A number as a marketer reads it: whole numbers plain, others to a sensible precision."""
    if not math.isfinite(x):
        return "none"
    if abs(x - round(x)) < 1e-9:
        return f"{round(x):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:.1f}"
    return f"{x:.2f}"


def reason_text(label: str, value: float, average: float) -> str:
    return f"{label}: {fmt_value(value)} against {fmt_value(average)} on average in the segment"


def assignment_reasons(
    month: dt.date,
    profile_ids: pl.Series,
    X: np.ndarray,
    columns: list[str],
    segment_id: np.ndarray,
    Z: np.ndarray,
    scaled_columns: list[str],
    labels: dict[str, str],
    top: int = TOP_REASONS,
    reference: SegmentReference | None = None,
) -> pl.DataFrame:
    """The top `top` reasons per customer (rows of `X` and `Z`, same order as `profile_ids`).

    A feature ranks by how far the customer sits from their segment's centre on it in the
    scaled space `Z` (columns `scaled_columns`); ties keep the catalog's column order. A feature
    the customer has no value for (imputed) gives no reason. `customer_value` and
    `segment_average` are in the feature's own units (the average over the segment's members
    who have a value). The segments' centres and averages are those of the rows themselves (a
    month's assignment), or `reference` (customers placed later in a month's segments: the
    month's members, `segment_reference`).
    """
    raw = _raw(X, columns, scaled_columns)
    if reference is None:
        reference = segment_reference(X, columns, segment_id, Z, scaled_columns)
    elif reference.scaled_columns != list(scaled_columns):
        raise ValueError("the reference segments were measured on other features")
    centres, averages = reference.centres, reference.averages
    missing = sorted({int(s) for s in segment_id} - set(centres))
    if missing:
        raise ValueError(f"no reference for segments {missing}")
    centre = np.vstack([centres[int(s)] for s in segment_id]) if len(segment_id) else Z
    average = np.vstack([averages[int(s)] for s in segment_id]) if len(segment_id) else raw
    gap = np.abs(Z - centre)
    gap[np.isnan(raw) | np.isnan(average)] = -np.inf  # no value: no reason
    # Stable sort on the negated gap: the largest first, ties in column order.
    order = np.argsort(-gap, axis=1, kind="stable")[:, :top]
    rows: dict[str, list] = {k: [] for k in REASON_SCHEMA}
    for i, pid in enumerate(profile_ids.to_list()):
        for rank, j in enumerate(order[i].tolist(), start=1):
            if not np.isfinite(gap[i, j]):
                break
            feature = scaled_columns[j]
            value, avg = float(raw[i, j]), float(average[i, j])
            rows["month"].append(month)
            rows["profile_id"].append(pid)
            rows["rank"].append(rank)
            rows["feature"].append(feature)
            rows["customer_value"].append(value)
            rows["segment_average"].append(avg)
            rows["reason"].append(reason_text(labels.get(feature, feature), value, avg))
    return pl.DataFrame(rows, schema=REASON_SCHEMA)


def model_reasons(
    month: dt.date,
    profile_ids: pl.Series,
    X: np.ndarray,
    columns: list[str],
    segment_id: np.ndarray,
    model,
    labels: dict[str, str],
    reference: SegmentReference | None = None,
) -> pl.DataFrame:
    """`assignment_reasons` in the scaled space of `model` (the segmentation pipeline that
    assigned the segments): what the monthly segment tables and daily scoring both write."""
    Z, scaled = scaled_features(model, X, columns)
    return assignment_reasons(
        month, profile_ids, X, columns, segment_id, Z, scaled, labels, reference=reference
    )


def model_reference(model, X: np.ndarray, columns: list[str], segment_id: np.ndarray):
    """`segment_reference` of a month's members in the scaled space of `model`."""
    Z, scaled = scaled_features(model, X, columns)
    return segment_reference(X, columns, segment_id, Z, scaled)


def feature_meanings() -> dict[str, str]:
    """Each feature's meaning, from the features catalog of the SQL models."""
    from seg_platform.core.paths import SQL_ROOT
    from seg_platform.features.catalog import catalog_frame
    from seg_platform.sql_models.project import load_project

    return {r["feature"]: r["meaning"] for r in catalog_frame(load_project(SQL_ROOT)).to_dicts()}


def feature_labels(meanings: dict[str, str] | None = None) -> dict[str, str]:
    """Each feature's label in words (from its catalog meaning), as reasons name it."""
    from seg_platform.features.catalog import human_label

    meanings = feature_meanings() if meanings is None else meanings
    return {feature: human_label(meaning) for feature, meaning in meanings.items()}


def reasons_by_customer(reasons: pl.DataFrame) -> pl.DataFrame:
    """profile_id, reasons: each customer's reasons in rank order, joined by '; '."""
    return (
        reasons.sort("profile_id", "rank")
        .group_by("profile_id", maintain_order=True)
        .agg(pl.col("reason").str.join("; ").alias("reasons"))
    )
