"""Which engine runs the heavy steps (issue 22), and how tables cross between DuckDB and the
Spark lake.

`SEG_PLATFORM_ENGINE` picks the engine: `duckdb` (the default: everything in the warehouse
file) or `spark` (the reading and checks of raw ingestion, the identity graph's resolution
and the scoring of duplicate contacts, SQL models, segment assignment, scoring, activation
feeds and erasure on Spark, in the lake). With Spark the DuckDB warehouse stays the catalog
that the checks and the steps not ported yet (the rest of identity, raw ingestion's
deduplication and ledger) read: what those steps write is handed to the lake (`to_lake`)
before a Spark step reads it, and what a Spark step writes in the lake is copied back
(`from_lake`) with the types DuckDB would have given it.

Both crossings are atomic: a lake table gets a new version and then its pointer
(`core.spark.switch_to`); a DuckDB table is replaced inside one transaction.
"""

import fcntl
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb

from seg_platform.core.spark import current_location, new_version, switch_to, table_path
from seg_platform.core.warehouse import quote, replace_tables
from seg_platform.core.yaml_files import sql_string

ENGINE_ENV = "SEG_PLATFORM_ENGINE"
MASTER_ENV = "SEG_PLATFORM_SPARK_MASTER"
LAKE_ENV = "SEG_PLATFORM_LAKE"
ENGINES = ("duckdb", "spark")


class EngineError(ValueError):
    """An engine name that is not one of ENGINES."""


def engine_name(value: str | None = None) -> str:
    """The engine `value` names (unset: `$SEG_PLATFORM_ENGINE`, else duckdb), checked."""
    raw = os.environ.get(ENGINE_ENV, "") if value is None else value
    name = raw.strip().lower() or "duckdb"
    if name not in ENGINES:
        raise EngineError(
            f"{ENGINE_ENV}={raw!r} is not an engine: use duckdb (the default) or spark"
        )
    return name


@contextmanager
def _locked(lake: Path, table: str) -> Iterator[None]:
    # Parallel steps (the multiprocess executor) may hand the same table over at once; a
    # version one of them is still writing must not be removed by the other's switch.
    folder = table_path(lake, table)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def to_lake(
    con: duckdb.DuckDBPyConnection,
    lake: Path,
    table: str,
    source: str = "",
    keep_previous: bool = True,
) -> Path:
    """Hand DuckDB's `source` (a table, view or temp table; default `table` itself) to the lake
    as `table`: written as a new version, then switched in (every older version removed unless
    `keep_previous`, as erasure needs). Returns the version's folder."""
    with _locked(lake, table):
        version = new_version(lake, table)
        version.mkdir()
        target = sql_string(str(version.resolve() / "part-0.parquet"))
        con.execute(f"COPY (FROM {source or table}) TO {target} (FORMAT parquet)")
        switch_to(lake, table, version, keep_previous)
    return version


def lake_select(lake: Path, table: str, types: Sequence[tuple[str, str]] = ()) -> str:
    """A DuckDB SELECT of the current rows of lake `table`, its columns cast to `types`
    ((column, DuckDB type) pairs, in order) when given."""
    location = current_location(lake, table)
    if location is None:
        raise FileNotFoundError(f"no table {table} in the lake")
    files = sql_string(str(location.resolve() / "*.parquet"))
    columns = ", ".join(f"CAST({quote(c)} AS {t}) AS {quote(c)}" for c, t in types) or "*"
    return f"SELECT {columns} FROM read_parquet({files})"


def from_lake(
    con: duckdb.DuckDBPyConnection,
    lake: Path,
    table: str,
    types: Sequence[tuple[str, str]] = (),
    into: str = "",
    where: str = "",
) -> None:
    """Replace DuckDB's `into` (default `table`; a name starting with `_` is a temp table) with
    the rows of lake `table` (those matching `where`, an SQL condition), cast to `types`."""
    into = into or table
    select = lake_select(lake, table, types) + (f" WHERE {where}" if where else "")
    if into.startswith("_"):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {into} AS {select}")
        return
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {into.split('.')[0]}")
    replace_tables(con, [(into, f"CREATE OR REPLACE TABLE {into} AS {select}")])
