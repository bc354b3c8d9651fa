"""Scoring inside Spark (issue 22): the registered propensity models score every customer on
the executors, each partition exactly as `scoring.score_customers` scores a table on one
machine.

The models (and their feature columns) travel to the executors with the task; each partition
of the features arrives as Arrow record batches (`mapInArrow`), read by polars with its nulls
and types intact, so a batch is scored by the very function the DuckDB engine uses. Scores
of one customer never depend on the others; the percentiles, which do, are ranked afterwards
over the whole table.
"""

from collections.abc import Iterator
from typing import Any

import polars as pl

from seg_platform.predictions.propensity import TARGETS
from seg_platform.predictions.scoring import score_customers

SCORES_SCHEMA = "profile_id STRING, active BOOLEAN, " + ", ".join(
    f"{t.name}_probability DOUBLE, {t.name}_model_version BIGINT" for t in TARGETS
)


def score_on_spark(features: Any, models: dict, active_days: int) -> Any:
    """A Spark DataFrame of `score_customers(features, models, active_days)` for every row of
    `features` (a Spark DataFrame of the month's features, as `data.known_features` reads
    them), computed partition by partition on the executors."""
    import pyarrow as pa

    # Spark wants these exact Arrow types back (polars writes large or view strings).
    arrow_schema = pa.schema(
        [("profile_id", pa.string()), ("active", pa.bool_())]
        + [
            field
            for t in TARGETS
            for field in (
                (f"{t.name}_probability", pa.float64()),
                (f"{t.name}_model_version", pa.int64()),
            )
        ]
    )

    def score(batches: Iterator[Any]) -> Iterator[Any]:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            frame = pl.from_arrow(pa.Table.from_batches([batch]))
            assert isinstance(frame, pl.DataFrame)
            scored = score_customers(frame, models, active_days).to_arrow()
            yield from scored.select(arrow_schema.names).cast(arrow_schema).to_batches()

    return features.mapInArrow(score, SCORES_SCHEMA)


def scores_on_spark(spark: Any, features: pl.DataFrame, models: dict, active_days: int):
    """`score_customers(features, models, active_days)` computed on the executors: the same
    polars frame, in the features' row order."""
    scored = pl.from_arrow(score_on_spark(spark.createDataFrame(features.to_arrow()), models,
                                          active_days).toArrow())  # fmt: skip
    assert isinstance(scored, pl.DataFrame)
    return features.select("profile_id").join(
        scored, on="profile_id", how="left", maintain_order="left"
    )
