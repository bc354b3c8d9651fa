"""Build a SQL model's table on Spark, in the lake: whole tables, or one month of a snapshot
table; the Spark counterpart of `run.py`, with the same results and the same atomicity.

The model's SQL (DuckDB dialect) is compiled by `portability.to_spark` with the types of the
tables it reads, as the Spark catalog has them. A whole table is written as a new version and
switched in; a month is written with the table's other months as a new version and switched
in (`core.spark.write_table`): readers see the old table or the new one, never half of either.
"""

import time
from pathlib import Path
from typing import Any

from sqlglot import exp

from seg_platform.core.calendar import month_parameters
from seg_platform.core.spark import current_location, register, write_table
from seg_platform.sql_models.portability import Schemas, to_spark
from seg_platform.sql_models.project import PARTITION_COLUMN, Model, SqlModelError
from seg_platform.sql_models.run import BuildResult


def _duckdb_type(spark_type: str) -> str:
    """A Spark column type (`simpleString`) as the DuckDB type the portability pass reads."""
    if spark_type == "timestamp_ntz":
        return "TIMESTAMP"
    return exp.DataType.build(spark_type, dialect="spark").sql(dialect="duckdb")


def catalog_schemas(spark: Any, tables: tuple[str, ...]) -> Schemas:
    """The column types of `tables` (registered in the session), keyed as `to_spark` wants."""
    schemas: dict[str, dict[str, dict[str, str]]] = {}
    for table in tables:
        schema, name = table.split(".")
        columns = {
            f.name: _duckdb_type(f.dataType.simpleString()) for f in spark.table(table).schema
        }
        schemas.setdefault(schema, {})[name] = columns
    return schemas


def build_model_on_spark(
    spark: Any, model: Model, lake: Path, month: str | None = None
) -> BuildResult:
    """Build `model`'s table in the lake, or for a snapshot model the rows of `month`.
    The tables it reads must be registered in the session (`core.spark.register`)."""
    started = time.perf_counter()
    schemas = catalog_schemas(spark, model.reads)
    if not model.partitioned:
        if month is not None:
            raise ValueError(f"{model.table} is not a monthly snapshot; build it without a month")
        frame = spark.sql(to_spark(model.sql, {}, schemas))
        write_table(spark, frame, lake, model.table)
        rows = spark.table(model.table).count()
        return BuildResult(model.table, rows, rows, round(time.perf_counter() - started, 3))

    if month is None:
        raise ValueError(f"{model.table} is a monthly snapshot: give the month to build")
    every = month_parameters(month)
    as_of_date = every["as_of_date"]
    params = {k: v for k, v in every.items() if k in model.parameters}
    new = spark.sql(to_spark(model.sql, params, schemas)).cache()
    try:
        rows = new.count()
        partition = new[PARTITION_COLUMN]
        if new.filter(partition.isNull() | (partition != as_of_date)).count():
            raise SqlModelError(
                model.path,
                f"rows have {PARTITION_COLUMN} other than {as_of_date}: a snapshot model "
                f"selects `$as_of_date AS {PARTITION_COLUMN}`",
            )
        if current_location(lake, model.table) is not None:
            register(spark, lake, model.table)
            others = spark.table(model.table).filter(f"{PARTITION_COLUMN} <> DATE'{as_of_date}'")
            write_table(spark, new.unionByName(others, allowMissingColumns=True), lake, model.table)
        else:
            write_table(spark, new, lake, model.table)
        total = spark.table(model.table).count()
    finally:
        new.unpersist()
    return BuildResult(
        model.table, rows, total, round(time.perf_counter() - started, 3), str(as_of_date)
    )
