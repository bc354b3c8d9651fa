"""Build a SQL model's table on Spark, in the lake: whole tables, or one month of a snapshot
table; the Spark counterpart of `run.py`, with the same results and the same atomicity.

The model's SQL (DuckDB dialect) is compiled by `portability.to_spark` with the types of the
tables it reads, as the Spark catalog has them. A whole table is written as a new version and
switched in; a month is written with the table's other months as a new version and switched
in (`core.spark.write_table`): readers see the old table or the new one, never half of either.
"""

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from seg_platform.core.calendar import month_parameters
from seg_platform.core.engine import from_lake, to_lake
from seg_platform.core.spark import current_location, register, write_table
from seg_platform.core.warehouse import fetch_one, replace_partition
from seg_platform.sql_models.portability import PortabilityError, Schemas, to_spark
from seg_platform.sql_models.project import PARTITION_COLUMN, Model, SqlModelError
from seg_platform.sql_models.run import STAGING, BuildResult


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


def duckdb_types(
    con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, object] | None = None
) -> list[tuple[str, str]]:
    """The (column, type) pairs DuckDB gives the result of `sql` (bound, not run)."""
    return [(r[0], r[1]) for r in con.execute(f"DESCRIBE {sql}", params or None).fetchall()]


def build_model_with_warehouse(
    spark: Any, con: duckdb.DuckDBPyConnection, model: Model, lake: Path, month: str | None = None
) -> BuildResult:
    """Build `model` on Spark from the warehouse's tables, and keep the warehouse's copy equal.

    Each table the model reads is handed from DuckDB to the lake (the warehouse is the catalog
    of record while raw and identity steps run on DuckDB); the model is built in the lake
    (`build_model_on_spark`); its new rows (the month's, for a snapshot) are copied back with
    the types DuckDB gives the model's SQL, as atomically as `run.build_model` writes them."""
    started = time.perf_counter()
    for table in model.reads:
        to_lake(con, lake, table)
        register(spark, lake, table)
    result = build_model_on_spark(spark, model, lake, month)
    params = {}
    if model.partitioned:
        every = month_parameters(month or "")
        params = {k: v for k, v in every.items() if k in model.parameters}
    types = duckdb_types(con, model.sql, params)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {model.layer}")
    note = ""
    if not model.partitioned:
        from_lake(con, lake, model.table, types)
    else:
        from_lake(
            con, lake, model.table, types, into=STAGING,
            where=f"{PARTITION_COLUMN} = DATE '{result.month}'",
        )  # fmt: skip
        try:
            note = replace_partition(con, model.table, STAGING, PARTITION_COLUMN, result.month)
        finally:
            con.execute(f"DROP TABLE IF EXISTS {STAGING}")
    total = fetch_one(con, f"SELECT count(*) FROM {model.table}")[0]
    seconds = round(time.perf_counter() - started, 3)
    return BuildResult(model.table, result.rows, total, seconds, result.month, note)


def run_statement_on_spark(
    spark: Any,
    con: duckdb.DuckDBPyConnection,
    lake: Path,
    sql: str,
    inputs: Mapping[str, str],
    output: str,
    into: str,
) -> int:
    """Run an embedded DuckDB statement on Spark: the DuckDB tables `inputs` names (keys, temp
    tables too) are handed to the lake under the names it maps them to, the statement reads
    them there (compiled by `portability.to_spark`), its rows become lake table `output` and
    are copied back into DuckDB's `into` (a temp table when it starts with `_`) with the
    types DuckDB gives the statement. Returns the rows written."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    if tree is None:
        raise PortabilityError("empty statement")
    types = duckdb_types(con, sql)
    for source, table in inputs.items():
        to_lake(con, lake, table, source)
        register(spark, lake, table)
    renamed = {s.lower(): exp.to_table(t) for s, t in inputs.items()}

    def rename(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and not node.db and node.name.lower() in renamed:
            return exp.Table(
                this=renamed[node.name.lower()].this.copy(),
                db=renamed[node.name.lower()].args["db"].copy(),
                alias=node.args.get("alias"),
            )
        return node

    on_lake = tree.transform(rename).sql(dialect="duckdb")
    schemas = catalog_schemas(spark, tuple(inputs.values()))
    write_table(spark, spark.sql(to_spark(on_lake, {}, schemas)), lake, output)
    from_lake(con, lake, output, types, into=into)
    return fetch_one(con, f"SELECT count(*) FROM {into}")[0]
