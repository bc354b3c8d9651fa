"""Candidates of a month side by side, from MLflow (`seg-platform candidates`)."""

from typing import Any

import polars as pl

from seg_platform.core.calendar import month_key

COLUMNS = {
    "tags.candidate": "candidate",
    "metrics.n_segments": "segments",
    "metrics.silhouette": "silhouette",
    "metrics.davies_bouldin": "davies_bouldin",
    "metrics.calinski_harabasz": "calinski_h",
    "metrics.inertia": "inertia",
    "metrics.bic": "bic",
    "metrics.smallest_segment_share": "smallest_share",
    "metrics.bootstrap_stability": "stability",
    "metrics.outlier_share": "outliers",
    "tags.eligible": "meets_rule",
}


def candidates_frame(month: str | None, tracking: Any) -> pl.DataFrame:
    """One row per candidate of the month's latest parent run (latest month if none given).
    `tracking`: the MLflow resource (`core.tracking.MlflowResource`) whose experiment is read."""
    import mlflow

    experiment_id = tracking.setup()
    parents = mlflow.search_runs(
        [experiment_id],
        filter_string=f"tags.partition LIKE '{month}%'" if month else "",
        order_by=["attributes.start_time DESC"],
    )
    parents = parents[parents["tags.mlflow.parentRunId"].isna()] if len(parents) else parents
    if not len(parents):
        raise LookupError(f"no segmentation run{' for ' + month if month else ''} in MLflow")
    parent = parents.iloc[0]
    children = mlflow.search_runs(
        [experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent['run_id']}'"
    )
    present = [c for c in COLUMNS if c in children.columns]
    frame = pl.from_pandas(children[present]).rename({c: COLUMNS[c] for c in present})
    chosen = parent.get("tags.chosen_candidate")
    frame = frame.with_columns((pl.col("candidate") == chosen).alias("chosen"))
    return frame.sort(["segments", "candidate"]).with_columns(
        pl.lit(month_key(parent.get("tags.partition", ""))).alias("month"),
        pl.lit(parent["run_id"]).alias("parent_run_id"),
    )
