"""DuckDB access for every asset: one connection recipe, and atomic replacement of tables.

A table is only ever replaced inside one transaction, so a run that fails or is killed midway
leaves the previous version readable (DuckDB's WAL only replays committed transactions).
"""

import datetime as dt
import json
import os
import signal
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from seg_platform.core.settings import DATA_SPAN_FILE

# Test hook: a comma-separated list of table names; the process kills itself (SIGKILL) right
# before committing the replacement of one of them, to prove that a killed run keeps old tables.
KILL_BEFORE_COMMIT_ENV = "SEG_PLATFORM_KILL_BEFORE_COMMIT"
# DuckDB's memory limit (e.g. "6GB"); unset, DuckDB takes 80% of the machine's memory. Above the
# limit, sorts, joins and aggregations spill to `<warehouse>.tmp/` next to the file.
MEMORY_LIMIT_ENV = "SEG_PLATFORM_DUCKDB_MEMORY_LIMIT"


class WarehouseLockedError(RuntimeError):
    """Another process holds the warehouse's write lock."""


@contextmanager
def connect(
    database: Path | str, read_only: bool = False, wait: float = 0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse with the platform's session settings (UTC), failing fast on a lock.

    DuckDB allows one writing process per file. Dagster's DuckDBResource retries a locked file
    silently for about 100 s, which looks like a hang; we say at once who holds it instead.
    `wait` (seconds): steps of one run that go side by side (the Spark engine's multiprocess
    executor) wait their turn for the file instead, then fail the same way.
    """
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise WarehouseLockedError(
                f"The warehouse {path} is in use by another process ({exc}). "
                "Only one run may write at a time: wait for it to finish or stop it."
            ) from exc
    try:
        con.execute("SET TimeZone = 'UTC'")
        # Long loads would otherwise draw a progress bar into Dagster's logs.
        con.execute("SET enable_progress_bar = false")
        limit = os.environ.get(MEMORY_LIMIT_ENV)
        if limit:
            con.execute("SET memory_limit = ?", [limit])
        yield con
    finally:
        con.close()


def memory_connection(temp_dir: str | None = None) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB connection, for checking SQL a user wrote and for Splink's
    work (spilling only into `temp_dir` when given). The caller closes it (or uses `with`).
    The one other place a connection is opened, so a second engine has one module to replace.
    """
    con = duckdb.connect(":memory:")
    if temp_dir is not None:
        con.execute(f"SET temp_directory = {_string(temp_dir)}")
    con.execute("SET enable_progress_bar = false")
    return con


def quote(identifier: str) -> str:
    """Quote an SQL identifier for DuckDB."""
    return '"' + identifier.replace('"', '""') + '"'


def kill_before_commit(tables: Iterable[str]) -> None:
    """Test hook: SIGKILL this process when one of `tables` is listed (comma-separated) in
    SEG_PLATFORM_KILL_BEFORE_COMMIT, just before its new rows would become current. Proves a
    killed run leaves the previous tables, in the warehouse and in the Spark lake alike."""
    listed = {t for t in os.environ.get(KILL_BEFORE_COMMIT_ENV, "").split(",") if t}
    if listed & set(tables):
        os.kill(os.getpid(), signal.SIGKILL)


def replace_tables(
    con: duckdb.DuckDBPyConnection,
    statements: Sequence[tuple[str, str]],
) -> None:
    """Run (table, SQL) statements that rebuild tables, all in one transaction.

    Each SQL is executed as given (e.g. `CREATE OR REPLACE TABLE raw.x AS ...`); the table names
    only serve the kill-before-commit test hook. Any error rolls everything back.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        for _table, sql in statements:
            con.execute(sql)
        kill_before_commit(table for table, _ in statements)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> tuple:
    """The first row of a query, with the result fully consumed.

    DuckDB 2.0 keeps a result open after `fetchone()`, and the next `con.sql()` on the
    connection then fails with ResourceInUseException; fetching everything closes it.
    """
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else ()


def fetch_frame(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> pl.DataFrame:
    """A parameterised query's result as a Polars frame (`con.execute` returns the connection,
    whose Arrow output copies the rows; a relation with parameters does not)."""
    return con.sql(sql, params=params or None).pl()


def frame_to_temp_table(con: duckdb.DuckDBPyConnection, name: str, frame) -> None:
    """Copy a Polars/Arrow frame into a temporary table (explicit, not a replacement scan)."""
    con.register(f"{name}__frame", frame)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}__frame")
    finally:
        con.unregister(f"{name}__frame")


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether `schema.table` exists in the warehouse."""
    return bool(
        fetch_one(
            con,
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
            "AND table_name = ?",
            [schema, table],
        )[0]
    )


def replace_partition(
    con: duckdb.DuckDBPyConnection, table: str, source: str, column: str, value
) -> str:
    """Make `table`'s rows with `column` = `value` exactly those of the table `source`.

    One transaction: delete and insert when the columns match; when they changed, rebuild the
    table with the other partitions aligned to the new columns (empty where new). Returns a
    note when that happened.
    """
    schema, name = table.split(".")
    literal = f"'{value}'"
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")

    def columns(t: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in con.execute(f"DESCRIBE {t}").fetchall()]

    note = ""
    if not table_exists(con, schema, name):
        statements = [(table, f"CREATE TABLE {table} AS FROM {source}")]
    elif columns(table) == columns(source):
        statements = [
            (table, f"DELETE FROM {table} WHERE {quote(column)} = {literal}"),
            (table, f"INSERT INTO {table} FROM {source}"),
        ]
    else:
        select = ", ".join(f"CAST({quote(c)} AS {t}) AS {quote(c)}" for c, t in columns(source))
        statements = [
            (
                table,
                f"CREATE OR REPLACE TABLE {table} AS SELECT {select} FROM (FROM {source} "
                f"UNION ALL BY NAME FROM {table} WHERE {quote(column)} <> {literal})",
            )
        ]
        note = (
            "Columns changed since the table was last built; other months keep their rows "
            "with the new columns empty until they are built again."
        )
    replace_tables(con, statements)
    return note


def write_data_span(database: Path | str, first: dt.date | None, last: dt.date | None) -> bool:
    """Record beside the warehouse how far its data reaches (first and last day with events,
    and their months), which the partitions follow; no events removes the record. Returns
    whether the record changed. Written aside and renamed: a reader never sees half a file."""
    path = Path(database).with_name(DATA_SPAN_FILE)
    before = path.read_text() if path.exists() else None
    if first is None or last is None:
        path.unlink(missing_ok=True)
        return before is not None
    text = json.dumps(
        {
            "first_day": first.isoformat(),
            "last_day": last.isoformat(),
            "first_month": f"{first:%Y-%m}",
            "last_month": f"{last:%Y-%m}",
        },
        indent=2,
    )
    if text == before:
        return False
    partial = path.with_name(f".{DATA_SPAN_FILE}.{os.getpid()}")
    partial.write_text(text)
    partial.replace(path)
    return True


def rewrite_without_free_blocks(database: Path | str) -> int:
    """Rewrite the warehouse file so that no byte of a deleted row is left in it; its new size.

    DuckDB leaves deleted rows in freed blocks of the file until they happen to be reused. A
    fresh file filled with `COPY FROM DATABASE` holds only live rows; it replaces the old one
    with an atomic rename, so a run killed midway leaves the old file whole. The caller must
    hold the only connection to the file (the platform's single writer) and have closed it.
    """
    path = Path(database)
    fresh = path.with_name(path.name + ".rewrite")
    for leftover in (fresh, fresh.with_name(fresh.name + ".wal")):
        leftover.unlink(missing_ok=True)
    with connect(path) as con:  # replays and folds any WAL into the file first
        con.execute("CHECKPOINT")
    con = duckdb.connect()
    try:
        limit = os.environ.get(MEMORY_LIMIT_ENV)
        if limit:
            con.execute("SET memory_limit = ?", [limit])
        con.execute("SET enable_progress_bar = false")
        # Spill next to the warehouse (as its own connections do), never into the cwd.
        con.execute(f"SET temp_directory = {_string(str(path) + '.tmp')}")
        con.execute(f"ATTACH {_string(str(path))} AS old_warehouse (READ_ONLY)")
        con.execute(f"ATTACH {_string(str(fresh))} AS new_warehouse")
        con.execute("COPY FROM DATABASE old_warehouse TO new_warehouse")
        con.execute("DETACH new_warehouse")
        con.execute("DETACH old_warehouse")
    except BaseException:
        con.close()
        fresh.unlink(missing_ok=True)
        raise
    con.close()
    with open(fresh, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(fresh, path)
    path.with_name(path.name + ".wal").unlink(missing_ok=True)
    return path.stat().st_size


def _string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
