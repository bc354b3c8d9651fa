"""Segment assignment inside Spark (issue 22): every customer placed by the fitted pipeline on
the executors, the model fitted on the driver as on DuckDB.

The pipeline (preprocessing, then the ranked clusterer) travels to the executors with the task
(cloudpickle, as Spark ships Python functions); each partition of the features arrives there as
an Arrow batch and gets exactly what `sweep.assign_with` gives on one machine: segment,
runner-up, distance to its centre and (mixtures) probability. Every registered algorithm keeps
its centres, so a row's placement does not depend on the rows beside it, and the engines agree
row for row.
"""

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from seg_platform.segmentation.sweep import assign_with

PLACEMENT_SCHEMA = (
    "profile_id STRING, segment BIGINT, runner_up BIGINT, distance DOUBLE, probability DOUBLE"
)


def assign_on_spark(pipeline: Any, features: Any, columns: Sequence[str]) -> Any:
    """A Spark DataFrame of every row of `features` (a Spark DataFrame with `profile_id` and
    the numeric `columns` the pipeline was fitted on, in that order) placed by `pipeline`."""
    import pandas as pd

    names = list(columns)

    def place(batches: Iterator[Any]) -> Iterator[Any]:
        for batch in batches:
            if batch.empty:
                continue
            X = batch[names].to_numpy(dtype=np.float64, na_value=np.nan)
            segment, runner_up, distance, probability = assign_with(pipeline, X)
            yield pd.DataFrame(
                {
                    "profile_id": batch["profile_id"].to_numpy(),
                    "segment": segment.astype(np.int64),
                    "runner_up": runner_up.astype(np.int64),
                    "distance": np.asarray(distance, dtype=np.float64),
                    # Null, not NaN, where the clusterer has no probabilities (as on DuckDB).
                    "probability": pd.Series(
                        probability if probability is not None else [None] * len(batch),
                        dtype="Float64",
                    ),
                }
            )

    return features.select("profile_id", *names).mapInPandas(place, PLACEMENT_SCHEMA)


def placement_on_spark(spark: Any, pipeline: Any, frame: Any, columns: Sequence[str]) -> tuple:
    """`sweep.assign_with(pipeline, X)` for the rows of the polars `frame` (with `profile_id`
    and `columns`), computed on the executors: (segment, runner_up, distance, probability),
    arrays in the frame's row order; probability None where the clusterer has none."""
    import polars as pl

    names = list(columns)
    features = spark.createDataFrame(frame.select(["profile_id", *names]).to_arrow())
    placed = pl.from_arrow(assign_on_spark(pipeline, features, names).toArrow())
    assert isinstance(placed, pl.DataFrame)
    placed = frame.select("profile_id").join(
        placed, on="profile_id", how="left", maintain_order="left"
    )
    probability = placed["probability"]
    return (
        placed["segment"].to_numpy(),
        placed["runner_up"].to_numpy(),
        placed["distance"].to_numpy(),
        None if probability.null_count() == len(probability) else probability.to_numpy(),
    )
