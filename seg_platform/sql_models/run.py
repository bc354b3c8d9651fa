"""Build a SQL model's table in DuckDB: whole tables, or one month of a snapshot table.

Both are atomic. A whole table is replaced inside one transaction. A month is computed into a
temporary table first, then swapped in (delete that month, insert the new rows) in one
transaction, so readers see the old month or the new one, never half of it.
"""

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb

from seg_platform.core.calendar import month_parameters
from seg_platform.core.warehouse import fetch_one, replace_partition, replace_tables
from seg_platform.sql_models.project import PARTITION_COLUMN, Model, SqlModelError

_LINE = re.compile(r"LINE (\d+):")
STAGING = "_model_new"


@dataclass
class BuildResult:
    table: str
    rows: int  # rows written (the month's rows for a snapshot)
    total_rows: int
    seconds: float
    month: str | None = None
    note: str = ""


def _sql_error(model: Model, exc: duckdb.Error) -> SqlModelError:
    """DuckDB's error, located in the model's file (the SQL is run with its lines unchanged)."""
    text = str(exc)
    match = _LINE.search(text)
    first = text.split("\n\nLINE")[0].strip()
    return SqlModelError(model.path, first, int(match.group(1)) if match else None)


def _execute(con: duckdb.DuckDBPyConnection, model: Model, prefix: str, params=None) -> None:
    # The prefix goes on the file's first line, so DuckDB's line numbers are the file's.
    try:
        con.execute(prefix + model.sql, params or None)
    except duckdb.Error as exc:
        raise _sql_error(model, exc) from None


def compute_snapshot(
    con: duckdb.DuckDBPyConnection, model: Model, params: Mapping[str, object], into: str
) -> None:
    """Compute a snapshot model as of any instant into the temporary table `into`, without
    touching its stored table (daily scoring, and past months a table does not hold yet).
    `params` holds the as-of parameters (`month_parameters`, or a day's)."""
    _execute(
        con,
        model,
        f"CREATE OR REPLACE TEMP TABLE {into} AS ",
        {k: v for k, v in params.items() if k in model.parameters},
    )


def build_model(
    con: duckdb.DuckDBPyConnection, model: Model, month: str | None = None
) -> BuildResult:
    """Build `model`'s table, or for a snapshot model the rows of `month` ('YYYY-MM...')."""
    started = time.perf_counter()
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {model.layer}")
    if not model.partitioned:
        if month is not None:
            raise ValueError(f"{model.table} is not a monthly snapshot; build it without a month")
        try:
            replace_tables(
                con, [(model.table, f"CREATE OR REPLACE TABLE {model.table} AS {model.sql}")]
            )
        except duckdb.Error as exc:
            raise _sql_error(model, exc) from None
        rows = fetch_one(con, f"SELECT count(*) FROM {model.table}")[0]
        return BuildResult(model.table, rows, rows, round(time.perf_counter() - started, 3))

    if month is None:
        raise ValueError(f"{model.table} is a monthly snapshot: give the month to build")
    every = month_parameters(month)
    params = {k: v for k, v in every.items() if k in model.parameters}
    as_of_date = every["as_of_date"]
    _execute(con, model, f"CREATE OR REPLACE TEMP TABLE {STAGING} AS ", params)
    try:
        rows, outside = fetch_one(
            con,
            f"SELECT count(*), count(*) FILTER ({PARTITION_COLUMN} IS DISTINCT FROM ?) "
            f"FROM {STAGING}",
            [as_of_date],
        )
        if outside:
            raise SqlModelError(
                model.path,
                f"{outside:,} rows have {PARTITION_COLUMN} other than {as_of_date}: a snapshot "
                f"model selects `$as_of_date AS {PARTITION_COLUMN}`",
            )
        note = replace_partition(con, model.table, STAGING, PARTITION_COLUMN, as_of_date)
        total = fetch_one(con, f"SELECT count(*) FROM {model.table}")[0]
    finally:
        con.execute(f"DROP TABLE IF EXISTS {STAGING}")
    return BuildResult(
        model.table, rows, total, round(time.perf_counter() - started, 3), str(as_of_date), note
    )
