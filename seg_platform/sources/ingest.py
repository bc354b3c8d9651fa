"""Load one source's landing files into its typed raw table; rows that break the contract go to
quarantine with their file, position and reason.

Plain DuckDB, no Dagster: each file is staged as text with its position, every value is parsed
and checked in one SQL pass, valid rows are deduplicated on the source's key, and the table, its
quarantine rows and its per-file counts are replaced in one transaction. An incremental load
(`incremental=True`) reads only the files the ledger (`sources.ledger`) finds new or changed and
changes the same tables in place, in one transaction, to what a full load would write.

Each quarantined row has two explanations: `reason` quotes the offending values (it stays in the
warehouse, next to the record) and `rule` names only the column and the rule broken. Whatever
leaves the warehouse for Dagster's event log (metadata, check descriptions, failure messages)
uses rules, counts and column names only.
"""

import codecs
import datetime as dt
import gzip
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from seg_platform.core.warehouse import fetch_one, quote, replace_tables, table_exists
from seg_platform.sources.aligned_text import FIELDS_TABLE as TEXT_FIELDS_TABLE
from seg_platform.sources.aligned_text import POSITION as TEXT_POSITION
from seg_platform.sources.aligned_text import split_aligned_text
from seg_platform.sources.config import SourceConfig, SourceConfigError, SourcesConfig
from seg_platform.sources.contract import LINEAGE_COLUMNS, Column, Source
from seg_platform.sources.ledger import (
    LEDGER_COLUMNS,
    LOADS_COLUMNS,
    LOADS_TABLE,
    ROWS_COLUMNS,
    ROWS_TABLE,
    FileState,
    LoadPlan,
    file_states,
    plan_load,
    settings_fingerprint,
)

SCHEMA = "raw"
QUARANTINE_TABLE = "raw.quarantine"
FILES_TABLE = "raw.source_files"
_TYPE_WORDS = {"TIMESTAMP": "timestamp", "DOUBLE": "number", "BIGINT": "whole number"}
_SNIFF_BYTES = 1 << 20  # how much of a CSV file is read to judge its encoding and line endings
# What a header's column name looks like; a "header" that is really a data row (no header, or
# a UTF-16 file read as UTF-8) fails it and is then never quoted in a message.
_HEADER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ]{0,39}$")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


@dataclass
class IngestResult:
    """What one load did, for asset metadata, checks and evaluation."""

    source: str
    configured: bool
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_filtered: int = 0
    rows_quarantined: int = 0
    duplicates_removed: int = 0
    rows_kept: int = 0
    rows_suppressed: int = 0  # rows of erased people, dropped before anything is stored
    key_conflicts: int = 0  # rows whose record id also came with other content
    # Rows without a record id kept although identical to another kept row (the source's
    # `exact_duplicates: keep`): counted, so a doubled export is visible, not silently summed.
    identical_rows_kept: int = 0
    # Value-free quarantine rules (e.g. "amount is above 10000000") and their row counts.
    top_reasons: list[tuple[str, int]] = field(default_factory=list)
    # Per file: the rows of conflicting duplicates, the columns it lacks that other files of
    # the source have, and the files without any row.
    conflicts_by_file: dict[str, int] = field(default_factory=dict)
    missing_columns: dict[str, list[str]] = field(default_factory=dict)
    empty_files: list[str] = field(default_factory=list)
    # What the ledger (`sources.ledger`) decided: "full" (every file read; `reload_reason`
    # says why) or "incremental", and how many files were read, skipped, re-read, dropped.
    mode: str = "full"
    reload_reason: str = ""
    files_loaded: int = 0
    files_unchanged: int = 0
    files_changed: int = 0
    files_removed: int = 0

    @property
    def quarantine_share(self) -> float:
        considered = self.rows_read - self.rows_filtered
        return self.rows_quarantined / considered if considered else 0.0


QUARANTINE_COLUMNS = (
    ("source", "VARCHAR"),
    ("source_file", "VARCHAR"),
    ("source_row", "BIGINT"),
    ("reason", "VARCHAR"),  # with the offending values; stays in the warehouse
    ("record", "VARCHAR"),  # the row's text (NULL for pseudonymised sources)
    ("rule", "VARCHAR"),  # the same without values ("; "-separated), for logs and the UI
)
FILES_COLUMNS = (
    ("source", "VARCHAR"),
    ("source_file", "VARCHAR"),
    ("rows_read", "BIGINT"),
    ("rows_filtered", "BIGINT"),
    ("rows_quarantined", "BIGINT"),
    ("rows_kept", "BIGINT"),
    ("rows_suppressed", "BIGINT"),
    ("key_conflicts", "BIGINT"),
    ("missing_columns", "VARCHAR[]"),
    *LEDGER_COLUMNS,
)


# Another engine's reader of a load's files (`sources.spark_ingest.SparkReader`): given the
# connection, source, its configuration, the files and the timestamp bounds, it fills the temp
# tables `_checked` (`_checked_sql`'s columns and rows) and `_rejects` (unreadable lines) as
# DuckDB's reader does, and returns per file index its header lines and the optional columns
# it provides (`_stage_file`'s answer). Everything after (suppression, deduplication, the
# quarantine, the ledger) stays one DuckDB definition for both.
Reader = Callable[
    [duckdb.DuckDBPyConnection, Source, SourceConfig, list[FileState], tuple[str, str]],
    dict[int, tuple[int, set[str] | None]],
]


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema and its shared bookkeeping tables if missing; add the columns
    newer versions track to tables an older version created."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for table, columns in (
        (QUARANTINE_TABLE, QUARANTINE_COLUMNS),
        (FILES_TABLE, FILES_COLUMNS),
        (ROWS_TABLE, ROWS_COLUMNS),
        (LOADS_TABLE, LOADS_COLUMNS),
    ):
        typed = ", ".join(f"{name} {type_}" for name, type_ in columns)
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({typed})")
        for name, type_ in columns:
            con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name} {type_}")


def table_name(source: Source) -> str:
    return f"{SCHEMA}.{source.name}"


def ingest_source(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    config: SourcesConfig | None,
    now: dt.datetime | None = None,
    hashed: dict[str, str] | None = None,
    before_final: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    suppress: Callable[[duckdb.DuckDBPyConnection], str | None] | None = None,
    incremental: bool = False,
    suppression_state: str | None = None,
    reader: Reader | None = None,
) -> IngestResult:
    """Load `raw.<source>` from its configured files (an empty table when not configured).

    By default the table is rebuilt from every file. With `incremental`, only the files the
    ledger (`sources.ledger`) does not know, or knows with other bytes, are read; the rows of
    changed and deleted files are removed first; the result equals a full rebuild (same rows,
    quarantine and per-file counts). `suppression_state` fingerprints the erased-identifier
    list `suppress` uses (`sources.suppression.suppression_state`): when it changed since the
    last load, or is not given, the source is rebuilt in full.

    `hashed` maps columns to an SQL expression (with `{column}` for the typed value) stored
    instead of the value: a pseudonymised source's identifiers never reach the warehouse raw,
    and its quarantined rows keep their position and value-free rule but not the record's text.
    `before_final(con)` runs once the typed rows are in the temp table `_checked`.
    `suppress(con)`, called next, returns an SQL condition over `_checked`'s columns (or None):
    rows for which it is true (erased people) go neither to the table nor to quarantine, and
    are only counted, per file, as `rows_suppressed`.
    `reader` reads and checks the files on another engine (`Reader`; default DuckDB).
    """
    ensure_raw_schema(con)
    source_config = config.sources.get(source.name) if config else None
    if config is None or source_config is None:
        rows = f"DELETE FROM {ROWS_TABLE} WHERE source = {_literal(source.name)}"
        _replace(con, source, _empty_table_sql(source), [rows])
        return IngestResult(source=source.name, configured=False)

    bounds = _timestamp_bounds(config, source.name, now)
    files = file_states(source_config)
    settings = settings_fingerprint(source, source_config, bounds[0])
    # Without a suppression callback nothing is suppressed: a state of its own.
    suppression = suppression_state if suppress is not None else "none"
    state = {"load_settings": settings, "suppression": suppression, "timestamp_max": bounds[1]}
    plan = plan_load(
        con, source, files, settings, suppression, bounds[1], full_reload=not incremental
    )
    if not plan.full and not table_exists(con, SCHEMA, source.name):
        plan.full, plan.reason = True, "raw table missing"
    if plan.full:
        result = _load_full(
            con,
            source,
            source_config,
            files,
            bounds,
            state,
            hashed,
            before_final,
            suppress,
            reader,
        )
    else:
        result = _load_changes(con, source, source_config, plan, bounds, state, suppress, reader)
    result.mode = "full" if plan.full else "incremental"
    result.reload_reason = plan.reason
    result.files_loaded = len(plan.to_load)
    result.files_unchanged = 0 if plan.full else len(plan.unchanged)
    result.files_changed = 0 if plan.full else len(plan.changed) + len(plan.expired)
    result.files_removed = 0 if plan.full else len(plan.removed)
    con.execute(
        f"INSERT INTO {LOADS_TABLE} VALUES (?, current_localtimestamp(), ?, ?, ?, ?, ?, ?)",
        [
            source.name,
            result.mode,
            result.reload_reason,
            result.files_loaded,
            result.files_unchanged,
            result.files_changed,
            result.files_removed,
        ],
    )
    return result


def _stage(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    source_config: SourceConfig,
    files: list[FileState],
    bounds: tuple[str, str],
    reader: Reader | None = None,
) -> dict[int, set[str] | None]:
    """Read `files` into the temp table `_checked` (typed rows and their reasons), `_rejects`
    (unreadable lines) and `_files`; returns the optional columns each file provides."""
    layout = (reader or read_on_duckdb)(con, source, source_config, files, bounds)
    found = {idx: provided for idx, (_, provided) in layout.items()}
    _files_table(con, files, {idx: header for idx, (header, _) in layout.items()}, found)
    return found


def read_on_duckdb(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    source_config: SourceConfig,
    files: list[FileState],
    bounds: tuple[str, str],
) -> dict[int, tuple[int, set[str] | None]]:
    """DuckDB's `Reader`: `files` staged as text, then parsed and checked into `_checked`."""
    con.execute("DROP TABLE IF EXISTS _stage; DROP TABLE IF EXISTS _rejects")
    staged_cols = ", ".join(f"{quote(c.name)} VARCHAR" for c in source.columns)
    con.execute(
        f"CREATE TEMP TABLE _stage (file_idx INTEGER, ord BIGINT, keep BOOLEAN, {staged_cols})"
    )
    con.execute(
        "CREATE TEMP TABLE _rejects (file_idx INTEGER, line BIGINT, reason VARCHAR, "
        "record VARCHAR, rule VARCHAR)"
    )
    layout = {f.index: _stage_file(con, source_config, f.index, f.path) for f in files}
    # `_checked_sql` reads each file's header lines from `_files`.
    _files_table(
        con,
        files,
        {idx: header for idx, (header, _) in layout.items()},
        {idx: provided for idx, (_, provided) in layout.items()},
    )
    # Parsed and checked once into a table, not a view: the typed table, the quarantine and the
    # per-file counts all read it, and re-parsing every text value for each was most of a load.
    con.execute("DROP TABLE IF EXISTS _checked")
    con.execute(f"CREATE TEMP TABLE _checked AS {_checked_sql(source, source_config, bounds)}")
    con.execute("DROP TABLE _stage")  # the text copy is no longer needed: free its memory
    return layout


def _files_table(
    con: duckdb.DuckDBPyConnection,
    files: list[FileState],
    header_lines: dict[int, int],
    found: dict[int, set[str] | None],
) -> None:
    """The temp table `_files`: each staged file's name, header lines and columns."""
    missing = _missing_columns(found)
    con.execute("DROP TABLE IF EXISTS _files")
    con.execute(
        "CREATE TEMP TABLE _files (file_idx INTEGER, source_file VARCHAR, header INTEGER, "
        "missing_columns VARCHAR[], file_size BIGINT, fingerprint VARCHAR, "
        "provided_columns VARCHAR[])"
    )
    con.executemany(
        "INSERT INTO _files VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                f.index,
                f.name,
                header_lines[f.index],
                missing[f.index],
                f.size,
                f.fingerprint,
                _sorted_or_none(found[f.index]),
            )
            for f in files
        ],
    )


def _sorted_or_none(columns: set[str] | None) -> list[str] | None:
    return sorted(columns) if columns is not None else None


def _load_full(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    source_config: SourceConfig,
    files: list[FileState],
    bounds: tuple[str, str],
    state: dict,
    hashed: dict[str, str] | None,
    before_final: Callable[[duckdb.DuckDBPyConnection], None] | None,
    suppress: Callable[[duckdb.DuckDBPyConnection], str | None] | None,
    reader: Reader | None = None,
) -> IngestResult:
    """Rebuild the table, its quarantine rows, ledger rows and row index from every file."""
    _stage(con, source, source_config, files, bounds, reader)
    if before_final is not None:
        before_final(con)
    _suppress(con, suppress(con) if suppress is not None else None)
    _index_rows(con, source, source_config.exact_duplicates, "TRUE")
    _mark_conflicts(con, "_new_rows", "TRUE")
    identical = _identical_rows_kept(con, source, source_config.exact_duplicates)
    if hashed and not fetch_one(con, "SELECT count(*) FROM _checked")[0]:
        # No rows, nothing to hash; DuckDB 2.0 also fails to bind the email expression over
        # an empty view ("BindBuiltinScalarFunction did not return a BoundFunctionExpression").
        hashed = None
    _future_min(con, source, bounds)
    con.execute(_LEDGER_TEMP)
    _ledger_rows(con, "TRUE")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _missing AS "
        "SELECT source_file, missing_columns AS m FROM _files"
    )
    name = _literal(source.name)
    rows_columns = ", ".join(column for column, _ in ROWS_COLUMNS)
    _replace(
        con,
        source,
        _final_table_sql(source, hashed or {}, source_config.exact_duplicates),
        [
            f"DELETE FROM {ROWS_TABLE} WHERE source = {name}",
            f"INSERT INTO {ROWS_TABLE} ({rows_columns}) SELECT {name}, source_file, source_row, "
            "part, version, content, conflict FROM _new_rows ORDER BY source_file, source_row",
            # A pseudonymised source never stores a record's text, even when no row needs
            # hashing.
            *_quarantine_sql(source, keep_record=not source.pseudonymised, state=state),
        ],
    )
    result = _result(con, source, [f.name for f in files])
    result.identical_rows_kept = identical
    return result


def _part_sql(source: Source, exact_duplicates: str) -> str:
    """SQL over `_checked`'s columns: the row's dedup group (NULL: the row is never
    deduplicated, a keyless row kept with `exact_duplicates: keep`)."""
    key = quote(source.key)
    if source.key_optional and exact_duplicates == "drop":
        record = ", ".join(f"{quote(c.name)} := {quote(c.name)}" for c in source.columns)
        keyless = f"md5_number('r' || to_json(struct_pack({record}))::VARCHAR)"
    else:
        keyless = "NULL"
    return f"CASE WHEN {key} IS NOT NULL THEN md5_number('k' || {key}::VARCHAR) ELSE {keyless} END"


def _index_rows(con: duckdb.DuckDBPyConnection, source: Source, policy: str, where: str) -> None:
    """Temp table `_new_rows`: the row index entries (`ROWS_TABLE`) of `_checked`'s valid rows
    that match `where`; `conflict` is filled by `_mark_conflicts`."""
    key = quote(source.key)
    versions = [quote(order.split()[0]) for order in source.dedup_order]
    version = f"list_value({', '.join(versions)})::VARCHAR" if versions else "NULL::VARCHAR"
    content = ", ".join(quote(c.name) for c in source.columns)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _new_rows AS
        SELECT * FROM (
            SELECT file_idx, source_file, source_row, {_part_sql(source, policy)} AS part,
                   CASE WHEN {key} IS NOT NULL THEN {version} END AS version,
                   CASE WHEN {key} IS NOT NULL THEN hash({content}) END AS content,
                   false AS conflict
            FROM _checked WHERE keep AND reason IS NULL AND ({where}))
        WHERE part IS NOT NULL
    """)


def _mark_conflicts(con: duckdb.DuckDBPyConnection, table: str, where: str) -> None:
    con.execute(_mark_conflicts_sql(table, where))


def _mark_conflicts_sql(table: str, where: str) -> str:
    """Set `conflict` on the index rows of `table` matching `where`: true when another valid
    row of the same record id and version (`dedup_order`) has other content. Rows that differ
    only in the version columns (a CRM contact's `updated_at`) are updates, not conflicts."""
    return f"""
        UPDATE {table} AS t SET conflict = x.conflict
        FROM (
            SELECT source_file, source_row,
                   min(content) OVER w <> max(content) OVER w AS conflict
            FROM {table}
            WHERE content IS NOT NULL AND ({where}) AND part IN (
                SELECT part FROM {table} WHERE content IS NOT NULL AND ({where})
                GROUP BY part HAVING count(*) > 1)
            WINDOW w AS (PARTITION BY part, version)
        ) x
        WHERE t.source_file = x.source_file AND t.source_row = x.source_row AND ({where})
    """


def _future_min(con: duckdb.DuckDBPyConnection, source: Source, bounds: tuple[str, str]) -> None:
    """Temp table `_future`: per staged file, the earliest value quarantined for being in the
    future. A later run whose bound has passed it reloads that file."""
    later = [
        f"min({quote(c.name)}) FILTER ({quote(c.name)} > TIMESTAMP '{bounds[1]}')"
        for c in source.columns
        if c.type == "TIMESTAMP"
    ]
    earliest = f"least({', '.join(later)})" if later else "NULL::TIMESTAMP"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _future AS SELECT file_idx, {earliest} AS future_min "
        "FROM _checked WHERE keep AND reason IS NOT NULL GROUP BY file_idx"
    )


def _load_changes(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    source_config: SourceConfig,
    plan: LoadPlan,
    bounds: tuple[str, str],
    state: dict,
    suppress: Callable[[duckdb.DuckDBPyConnection], str | None] | None,
    reader: Reader | None = None,
) -> IngestResult:
    """Read only the new and changed files into the table, after removing the rows of the
    changed and deleted ones; the outcome equals `_load_full`'s.

    Dedup: the table holds each group's winner (record id, or whole row for keyless dedup)
    over every file. A new row competes with that winner only. When a dropped file held a
    group's winner, the group's other rows are not stored: the files holding them (found in
    the row index) are read again, and only those groups' rows of them compete."""
    name = _literal(source.name)
    table = table_name(source)
    by_name = {f.name: f for f in plan.files}
    load, drop = plan.to_load, plan.to_drop
    policy = source_config.exact_duplicates
    if not load and not drop:
        # Nothing to read: only the bound the quarantine quotes and the ledger's state move.
        bound = f"UPDATE {FILES_TABLE} SET timestamp_max = ? WHERE source = ?"
        replace_tables(con, _retext_statements(plan, name))
        con.execute(bound, [plan.timestamp_max, source.name])
        result = _result(con, source, [f.name for f in plan.files])
        result.identical_rows_kept = _identical_in_table(con, source, policy)
        return result
    con.execute("CREATE OR REPLACE TEMP TABLE _drop (source_file VARCHAR)")
    con.execute("INSERT INTO _drop SELECT unnest(?::VARCHAR[])", [drop])
    con.execute("CREATE OR REPLACE TEMP TABLE _rank (file_idx INTEGER, source_file VARCHAR)")
    con.executemany("INSERT INTO _rank VALUES (?, ?)", [(f.index, f.name) for f in plan.files])
    own_rows = f"SELECT * FROM {ROWS_TABLE} WHERE source = {name}"
    # Groups whose stored winner came from a dropped file, and the files holding their rows.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _lost AS
        SELECT DISTINCT i.part FROM ({own_rows}) i
        JOIN {table} t ON t.source_file = i.source_file AND t.source_row = i.source_row
        WHERE i.source_file IN (SELECT source_file FROM _drop)
    """)
    holders = set()
    if drop:
        holders = {
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT source_file FROM ({own_rows}) "
                "WHERE part IN (SELECT part FROM _lost)"
            ).fetchall()
        }
    again = sorted(holders - set(drop) - set(load))
    staged = [by_name[n] for n in sorted({*load, *again}, key=lambda n: by_name[n].index)]
    load_idx = ", ".join(str(by_name[n].index) for n in load) or "NULL"
    again_idx = ", ".join(str(by_name[n].index) for n in again) or "NULL"

    found = _stage(con, source, source_config, staged, bounds, reader)
    _suppress(con, suppress(con) if suppress is not None else None)
    _future_min(con, source, bounds)
    _index_rows(con, source, policy, f"file_idx IN ({load_idx})")
    # Groups to decide again: those of the new rows, and those that lost their winner.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _affected AS "
        "SELECT part FROM _new_rows UNION SELECT part FROM _lost"
    )
    # Conflict counts change for the groups of new rows and of the dropped files' rows.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _conflict_parts AS
        SELECT part FROM _new_rows WHERE content IS NOT NULL
        UNION SELECT part FROM ({own_rows})
        WHERE content IS NOT NULL AND source_file IN (SELECT source_file FROM _drop)
    """)
    cols = ", ".join(quote(c.name) for c in source.columns)
    lineage = ", ".join(c.name for c in LINEAGE_COLUMNS)
    # The contenders: stored winners of the affected groups, the new files' valid rows, and
    # the re-read files' rows of the groups whose winner was dropped.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _held AS
        SELECT t.source_file, t.source_row FROM {table} t
        SEMI JOIN (SELECT source_file, source_row FROM ({own_rows})
                   WHERE part IN (SELECT part FROM _affected)) i
             ON t.source_file = i.source_file AND t.source_row = i.source_row
        WHERE t.source_file NOT IN (SELECT source_file FROM _drop)
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _pool AS
        SELECT r.file_idx, t.source_file, t.source_row, true AS keep, NULL::VARCHAR AS reason,
               {", ".join(f"t.{quote(c.name)}" for c in source.columns)}
        FROM {table} t SEMI JOIN _held h
             ON t.source_file = h.source_file AND t.source_row = h.source_row
        JOIN _rank r ON r.source_file = t.source_file
        UNION ALL
        SELECT file_idx, source_file, source_row, keep, reason, {cols} FROM _checked
        WHERE keep AND reason IS NULL AND (
            file_idx IN ({load_idx})
            OR (file_idx IN ({again_idx})
                AND {_part_sql(source, policy)} IN (SELECT part FROM _lost)))
    """)
    # In place: the rows of dropped files and the affected groups' stored winners leave, the
    # new winners come in (sorted as a full load sorts; the file's row order may differ from
    # a full load's, which rewrites the table: rewriting it here was most of the cost).
    table_sql = [
        f"DELETE FROM {table} WHERE source_file IN (SELECT source_file FROM _drop)",
        f"DELETE FROM {table} AS t USING _held h "
        "WHERE t.source_file = h.source_file AND t.source_row = h.source_row",
        f"""INSERT INTO {table} SELECT {cols}, {lineage}
            FROM ({_dedup_rows_sql(source, policy, "_pool")})
            ORDER BY {quote(source.timestamp)}, {quote(source.key)}, source_file, source_row""",
    ]

    # The ledger rows: unchanged files keep their load's counts, loaded files get new ones;
    # rows kept, conflicts and missing columns are counted again for every file below.
    provided = {
        r[0]: r[1]
        for r in con.execute(
            "SELECT source_file, provided_columns FROM raw.source_files WHERE source = ?",
            [source.name],
        ).fetchall()
        if r[0] not in drop and r[0] not in load
    }
    for f in staged:
        if f.name in load:
            provided[f.name] = _sorted_or_none(found[f.index])
    anywhere = set().union(*(set(p) for p in provided.values() if p is not None))
    missing = {n: sorted(anywhere - set(p)) if p is not None else [] for n, p in provided.items()}
    con.execute("CREATE OR REPLACE TEMP TABLE _missing (source_file VARCHAR, m VARCHAR[])")
    if missing:
        con.executemany("INSERT INTO _missing VALUES (?, ?)", list(missing.items()))
    con.execute(_LEDGER_TEMP)
    con.execute(
        f"""INSERT INTO _ledger
        SELECT source_file, rows_read, rows_filtered, rows_quarantined, rows_suppressed,
               file_size, fingerprint, loaded_at, future_min, provided_columns
        FROM {FILES_TABLE}
        WHERE source = {name} AND source_file NOT IN (SELECT source_file FROM _drop)
          AND NOT list_contains(?, source_file)""",
        [load],
    )
    _ledger_rows(con, f"file_idx IN ({load_idx})")

    rows_columns = ", ".join(column for column, _ in ROWS_COLUMNS)
    in_drop = "source_file IN (SELECT source_file FROM _drop)"
    statements = [
        *((table, sql) for sql in table_sql),
        (QUARANTINE_TABLE, f"DELETE FROM {QUARANTINE_TABLE} WHERE source = {name} AND {in_drop}"),
        (ROWS_TABLE, f"DELETE FROM {ROWS_TABLE} WHERE source = {name} AND {in_drop}"),
        (
            ROWS_TABLE,
            f"INSERT INTO {ROWS_TABLE} ({rows_columns}) SELECT {name}, source_file, "
            "source_row, part, version, content, conflict FROM _new_rows "
            "ORDER BY source_file, source_row",
        ),
    ]
    conflict_where = f"source = {name} AND part IN (SELECT part FROM _conflict_parts)"
    statements += [
        (ROWS_TABLE, f"UPDATE {ROWS_TABLE} SET conflict = false WHERE {conflict_where}"),
        (ROWS_TABLE, _mark_conflicts_sql(ROWS_TABLE, conflict_where)),
    ]
    statements += [
        (QUARANTINE_TABLE, sql)
        for sql in _quarantine_inserts(
            source, not source.pseudonymised, f"file_idx IN ({load_idx})"
        )
    ]
    retext = _retext_statements(plan, name)
    ledger = [
        (FILES_TABLE, f"DELETE FROM {FILES_TABLE} WHERE source = {name}"),
        (FILES_TABLE, _ledger_insert_sql(source, state)),
    ]
    replace_tables(con, statements + retext + ledger)
    result = _result(con, source, [f.name for f in plan.files])
    result.identical_rows_kept = _identical_in_table(con, source, policy)
    return result


def _retext_statements(plan: LoadPlan, name: str) -> list[tuple[str, str]]:
    """The quarantine quotes the bound a row was judged against; rows still in the future
    (else their file is reloaded) are quoted against today's, as a full load would."""
    if not plan.previous_timestamp_max:
        return []
    old, new = (
        _literal(f" is in the future (after {day})")
        for day in (plan.previous_timestamp_max, plan.timestamp_max)
    )
    return [
        (
            QUARANTINE_TABLE,
            f"UPDATE {QUARANTINE_TABLE} SET reason = replace(reason, {old}, {new}), "
            f"rule = replace(rule, {old}, {new}) WHERE source = {name} AND contains(rule, {old})",
        )
    ]


def _suppress(con: duckdb.DuckDBPyConnection, condition: str | None) -> None:
    """Count per file, then drop, the rows of `_checked` for which `condition` is true."""
    con.execute("DROP TABLE IF EXISTS _suppressed")
    if condition is None:
        con.execute("CREATE TEMP TABLE _suppressed (file_idx INTEGER, n BIGINT)")
        return
    matched = f"coalesce(CAST(({condition}) AS BOOLEAN), false)"
    con.execute(
        "CREATE TEMP TABLE _suppressed AS SELECT file_idx, count(*) AS n FROM _checked "
        f"WHERE {matched} GROUP BY file_idx"
    )
    con.execute(f"DELETE FROM _checked WHERE {matched}")


def _missing_columns(found: dict[int, set[str] | None]) -> dict[int, list[str]]:
    """Per file, the optional contract columns it lacks that another file of the source has."""
    anywhere = set().union(*(f for f in found.values() if f is not None))
    return {
        idx: sorted(anywhere - columns) if columns is not None else []
        for idx, columns in found.items()
    }


@dataclass
class Discovered:
    """What reading one file's header and binding its mapping found (`_discover`)."""

    fmt: str
    reader: str  # the DuckDB table function reading the file (schema discovery)
    extra: dict  # reader options the file itself needs (`_sniff_csv`)
    file_columns: list[str]
    selects: dict[str, str]  # contract column -> DuckDB SQL over the file's columns
    keep: str  # the source's `where`, as a condition
    provided: set[str]  # the optional contract columns the file provides


def _discover(
    con: duckdb.DuckDBPyConnection, cfg: SourceConfig, idx: int, path: Path
) -> Discovered | None:
    """Read one file's columns and check the source's mapping against them; a configuration
    mistake is a SourceConfigError naming the setting. None for a file with no rows to read
    (empty, or blank lines only). Shared by both engines' readers."""
    fmt = cfg.file_format(path)
    if path.stat().st_size == 0:
        return None  # an empty file is zero rows; the asset warns about it
    extra = {}
    if fmt == "text":
        _check_text_file(cfg, path)
        reader = split_aligned_text(
            con,
            path,
            idx,
            cfg.name,
            header=bool(cfg.read_options.get("header", False)),
            skip=int(cfg.read_options.get("skip", 0)),
        )
        if reader is None:
            return None  # blank lines only: zero rows, like an empty file
    else:
        if fmt == "csv":
            extra = _sniff_csv(cfg, path)
        reader = _reader_sql(cfg, path, fmt, full_read=False, extra=extra)
    try:
        file_columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
    except duckdb.Error as exc:
        raise SourceConfigError(
            f"Source '{cfg.name}': cannot read {path} as {fmt.upper()}: {_safe_error(exc)}. "
            f"Check that the file is complete and that `format`/`read_options` under "
            f"sources.{cfg.name} in sources.yaml match it."
        ) from None
    header_ok = _looks_like_header(file_columns)
    selects = _column_selects(cfg, path, file_columns, header_ok)
    keep = f"coalesce(CAST(({cfg.where}) AS BOOLEAN), false)" if cfg.where else "true"
    _bind_or_explain(con, cfg, path, fmt, reader, selects, keep, header_ok)
    provided = {
        c.name
        for c in cfg.contract.columns
        if not c.required and c.name not in cfg.columns and selects[c.name] != "NULL"
    }
    return Discovered(fmt, reader, extra, file_columns, selects, keep, provided)


def _stage_file(
    con: duckdb.DuckDBPyConnection, cfg: SourceConfig, idx: int, path: Path
) -> tuple[int, set[str] | None]:
    """Append one file's rows, as text with their position, to _stage.

    Returns the number of header lines and the optional contract columns the file itself
    provides (None for an empty file, which has no columns to compare)."""
    found = _discover(con, cfg, idx, path)
    if found is None:
        return 0, None
    fmt, extra, selects, keep, provided = (
        found.fmt,
        found.extra,
        found.selects,
        found.keep,
        found.provided,
    )
    if fmt == "text":
        # Broken lines are already in _rejects; positions work as for CSV (header lines: 0).
        position, source = TEXT_POSITION, TEXT_FIELDS_TABLE
    elif fmt == "csv":
        position = "ordinality"
        source = f"{_reader_sql(cfg, path, fmt, full_read=True, extra=extra)} WITH ORDINALITY"
    else:
        position = "file_row_number + 1"
        source = _reader_sql(cfg, path, fmt, full_read=True)
    # Each mapping in parentheses: it was checked as one expression and must stay one.
    values = ", ".join(f"CAST(({expr}) AS VARCHAR)" for expr in selects.values())
    try:
        con.execute("DROP TABLE IF EXISTS _rej; DROP TABLE IF EXISTS _rej_scan")
        con.execute(f"INSERT INTO _stage SELECT {idx}, {position}, {keep}, {values} FROM {source}")
    except duckdb.Error as exc:
        raise SourceConfigError(
            f"Source '{cfg.name}': reading {path} failed: {_safe_error(exc)}. Check the file "
            f"and the column mapping under sources.{cfg.name} in sources.yaml."
        ) from None
    if fmt != "csv":
        return 0, provided  # text: positions are line numbers already (no header offset)
    con.execute(
        # DuckDB reports one error per missing column of a short line: keep one per line.
        f"INSERT INTO _rejects SELECT {idx}, line, arg_min('unreadable line (' || "
        "lower(error_type::VARCHAR) || '): ' || error_message, column_idx), any_value(csv_line), "
        "arg_min('unreadable line (' || lower(error_type::VARCHAR) || ')', column_idx) "
        "FROM _rej GROUP BY line"
    )
    header = cfg.read_options.get("header", True)
    return int(bool(header)) + int(cfg.read_options.get("skip", 0)), provided


def _sniff_csv(cfg: SourceConfig, path: Path) -> dict:
    """Judge a CSV file's encoding and line endings from its first megabyte.

    A file that is not UTF-8 (UTF-16 from Excel, Latin-1) and has no `encoding` read option is
    a configuration error naming the encoding, so no garbled "header" is ever quoted. Mixed
    CRLF/LF line endings, which DuckDB's sniffer rejects, are read in its non-strict mode.
    Returns extra reader options."""
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                head = fh.read(_SNIFF_BYTES)
        elif path.name.lower().endswith(".zst"):
            return {}
        else:
            with path.open("rb") as fh:
                head = fh.read(_SNIFF_BYTES)
    except (OSError, EOFError):
        return {}  # DuckDB's reader says what is wrong with the file
    extra = {}
    if "encoding" not in cfg.read_options:
        encoding = _detect_encoding(head)
        if encoding is not None:
            suggestion = "utf-16" if encoding.startswith("UTF-16") else "latin-1"
            raise SourceConfigError(
                f"Source '{cfg.name}': {path.name} is not UTF-8: it looks like {encoding}. "
                f"Add `read_options: {{encoding: {suggestion}}}` under sources.{cfg.name} in "
                f"sources.yaml, or save the file again as UTF-8 (CSV UTF-8 in Excel)."
            )
    crlf = head.count(b"\r\n")
    if crlf and head.count(b"\n") > crlf and "strict_mode" not in cfg.read_options:
        extra["strict_mode"] = False
    return extra


def _check_text_file(cfg: SourceConfig, path: Path) -> None:
    """`format: text` reads plain UTF-8 files: say so, naming the file, for anything else."""
    if path.name.lower().endswith((".gz", ".zst", ".zip", ".bz2", ".xz")):
        raise SourceConfigError(
            f"Source '{cfg.name}': {path.name} is compressed; `format: text` reads plain "
            f"text files only. Decompress it into the landing folder."
        )
    try:
        with path.open("rb") as fh:
            encoding = _detect_encoding(fh.read(_SNIFF_BYTES))
    except OSError:
        return  # DuckDB's reader says what is wrong with the file
    if encoding is not None:
        raise SourceConfigError(
            f"Source '{cfg.name}': {path.name} is not UTF-8: it looks like {encoding}. Save "
            f"it again as UTF-8 (format: text reads UTF-8 only)."
        )


def _detect_encoding(head: bytes) -> str | None:
    """None for UTF-8 (or plain ASCII); otherwise a name for the encoding the bytes look like."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32"
    if head.startswith(b"\xff\xfe"):
        return "UTF-16 (little-endian, with a byte-order mark)"
    if head.startswith(b"\xfe\xff"):
        return "UTF-16 (big-endian, with a byte-order mark)"
    sample = head[:4096]
    if sample and sample.count(b"\x00") * 4 >= len(sample):
        even_zeros = sample[0::2].count(b"\x00")
        odd_zeros = sample[1::2].count(b"\x00")
        return "UTF-16 (big-endian)" if even_zeros > odd_zeros else "UTF-16 (little-endian)"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "a single-byte encoding such as Latin-1 or Windows-1252, or binary data"
    if b"\x00" in sample:
        return "binary data, not text"
    return None


def _looks_like_header(columns: list[str]) -> bool:
    """True when every name looks like a column name, so the list can be quoted in messages."""
    return bool(columns) and all(_HEADER_NAME.match(c) for c in columns)


def _safe_error(exc: Exception) -> str:
    """DuckDB's first error line with every quoted part blanked: errors about a file's content
    can quote its values ("Could not convert string 'ann@x.com' ...")."""
    return _QUOTED.sub("'…'", _first_line(exc))


def _reader_sql(
    cfg: SourceConfig, path: Path, fmt: str, full_read: bool, extra: dict | None = None
) -> str:
    """The DuckDB table function for one file: schema discovery, or the full positioned read."""
    options = {**cfg.read_options, **(extra or {})}
    if fmt == "csv":
        options.setdefault("header", True)
        # Explicit defaults: DuckDB's sniffer can misjudge a file whose sample holds broken lines.
        if "sep" not in options:
            options.setdefault("delim", ",")
        options.setdefault("quote", '"')
        options["all_varchar"] = True
        if full_read:
            options.update(store_rejects=True, rejects_table="_rej", rejects_scan="_rej_scan")
        else:
            # Schema discovery only: broken lines must not stop us from seeing the header.
            options.setdefault("ignore_errors", True)
        function = "read_csv"
    else:
        if full_read:
            options["file_row_number"] = True
        function = "read_parquet"
    rendered = "".join(f", {k}={_literal(v)}" for k, v in options.items())
    return f"{function}({_literal(str(path))}{rendered})"


def _literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _column_selects(
    cfg: SourceConfig, path: Path, file_columns: list[str], header_ok: bool = True
) -> dict[str, str]:
    """The SQL feeding each contract column: its mapping, a same-named column, or NULL."""
    by_lower = {c.lower(): c for c in file_columns}
    selects = {}
    for column in cfg.contract.columns:
        if column.name in cfg.columns:
            selects[column.name] = cfg.columns[column.name]
        elif column.name.lower() in by_lower:
            selects[column.name] = quote(by_lower[column.name.lower()])
        elif column.required and not (
            column.name == cfg.contract.key and cfg.contract.key_optional
        ):
            if header_ok:
                seen = f"whose columns are: {', '.join(file_columns)}"
            else:  # the first line is data, not names: never quote it
                seen = (
                    f"whose first line ({len(file_columns)} fields) does not look like a header "
                    f"(if the file has none, set `read_options: {{header: false}}` and map "
                    f"column0, column1, ...)"
                )
            raise SourceConfigError(
                f"Source '{cfg.name}': required column '{column.name}' ({column.meaning}) is "
                f"neither mapped nor present in {path.name}, {seen}. Add `{column.name}: <your "
                f"column or SQL expression>` under sources.{cfg.name}.columns in sources.yaml."
            )
        else:
            selects[column.name] = "NULL"
    return selects


def _bind_or_explain(
    con,
    cfg: SourceConfig,
    path: Path,
    fmt: str,
    reader: str,
    selects: dict[str, str],
    keep: str,
    header_ok: bool = True,
) -> None:
    """Check the mapping against the file's columns; on error, name the setting at fault."""
    try:
        con.execute(f"SELECT {', '.join(selects.values())}, {keep} FROM {reader} LIMIT 0")
        return
    except duckdb.Error:
        pass
    hint = (
        " CSV and text columns are read as text: cast them, e.g. TRY_CAST(Quantity AS DOUBLE)."
        if fmt in ("csv", "text")
        else ""
    )
    candidates = [(f"columns.{name}", expr) for name, expr in selects.items()]
    if cfg.where:
        candidates.append(("where", cfg.where))
    for setting, expr in candidates:
        try:
            con.execute(f"SELECT ({expr}) FROM {reader} LIMIT 0")
        except duckdb.Error as exc:
            # Binder errors name the file's columns ("Candidate bindings"): only worth showing,
            # and only safe, when they are a real header's names.
            detail = _first_line(exc) if header_ok else _safe_error(exc).split(" Candidate")[0]
            raise SourceConfigError(
                f"Source '{cfg.name}': sources.{cfg.name}.{setting} = {expr!r} does not work on "
                f"{path.name}: {detail}.{hint} Fix it in sources.yaml."
            ) from None
    raise SourceConfigError(f"Source '{cfg.name}': the column mapping does not fit {path.name}.")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0].rstrip(".")


def _timestamp_bounds(
    config: SourcesConfig, source: str, now: dt.datetime | None
) -> tuple[str, str]:
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    upper = (now + dt.timedelta(days=config.timestamp_max_days_ahead)).date()
    return str(dt.date.fromisoformat(config.timestamp_min_of(source))), str(upper)


def _typed(column: Column, raw: str, cfg: SourceConfig) -> str:
    """SQL turning the staged text of one column into its contract type (NULL if it fails)."""
    if column.type == "TIMESTAMP":
        if cfg.timestamp_format:
            formats = ", ".join(_literal(f) for f in cfg.timestamp_format)
            return f"try_strptime({raw}, [{formats}])"
        return f"try_cast({raw} AS TIMESTAMPTZ)::TIMESTAMP"
    if column.type == "DOUBLE":
        return f"CASE WHEN isfinite(try_cast({raw} AS DOUBLE)) THEN try_cast({raw} AS DOUBLE) END"
    if column.type == "BIGINT":
        number = f"try_cast({raw} AS DOUBLE)"
        return f"CASE WHEN {number} = floor({number}) THEN try_cast({number} AS BIGINT) END"
    if column.accepted:
        return f"lower({raw})"
    return raw


def reject_thresholds_sql(rejects: str, files: str) -> str:
    """Per file of `files` (file_idx, header), the unreadable lines of `rejects` (file_idx,
    line) as thresholds: `k` lines were broken before the readable row numbered above `thr`
    in its file, so that row's line is `ord + header + k`. The same SQL on DuckDB
    (`_checked_sql`) and on Spark (`spark_ingest._positions`)."""
    return f"""
            SELECT file_idx, max(k) AS k, thr FROM (
                SELECT r.file_idx, r.line - f.header
                         - row_number() OVER (PARTITION BY r.file_idx ORDER BY r.line) AS thr,
                       row_number() OVER (PARTITION BY r.file_idx ORDER BY r.line) AS k
                FROM {rejects} r JOIN {files} f USING (file_idx)
            ) GROUP BY file_idx, thr"""


def _checked_sql(
    source: Source, cfg: SourceConfig, bounds: tuple[str, str], positions: str | None = None
) -> str:
    """One row per staged row: typed values, position and every contract violation found.

    In layers, so each value is trimmed, parsed and judged once: `texts` holds the trimmed
    text, `typed` the parsed values, `judged` the reasons. Positions come from a narrow ASOF
    join of (file, ordinal) alone: carrying every column through the ASOF join cost more than
    the parsing. `positions` replaces that join with a relation of (file_idx, ord,
    source_file, source_row) computed elsewhere (Spark, which has no ASOF join:
    `sources.spark_ingest`); the checks themselves are this one definition on both engines."""
    trimmed = {c.name: quote(f"_text_{c.name}") for c in source.columns}
    parsed = {c.name: quote(f"_value_{c.name}") for c in source.columns}
    texts, typed, outputs, reasons, rules = [], [], [], [], []

    def check(condition: str, rule: str, quoted: str | None = None) -> None:
        """One contract rule. `rule` is its value-free text; `quoted`, SQL giving the offending
        value as text, makes the stored reason `<column> <value> <rest of the rule>`."""
        rules.append(f"CASE WHEN {condition} THEN {_literal(rule)} END")
        if quoted is None or source.pseudonymised:  # a pseudonymised source never quotes
            reason = _literal(rule)
        else:
            column, rest = rule.split(" ", 1)
            reason = f"{_literal(column + ' ')} || {quoted} || {_literal(' ' + rest)}"
        reasons.append(f"CASE WHEN {condition} THEN {reason} END")

    for column in source.columns:
        col, raw, value = quote(column.name), trimmed[column.name], parsed[column.name]
        texts.append(f"s.{col}, nullif(trim(s.{col}), '') AS {raw}")
        typed.append(f"{_typed(column, raw, cfg)} AS {value}")
        # Free text keeps its original spelling (the identity layer normalises identifiers).
        keep_original = column.type == "VARCHAR" and not column.accepted
        outputs.append(
            f"{f'CASE WHEN {raw} IS NOT NULL THEN {col} END' if keep_original else value} AS {col}"
        )
        shown = f"'''' || left({raw}, 40) || ''''"
        if column.required and not (column.name == source.key and source.key_optional):
            check(f"{raw} IS NULL", f"{column.name} is missing")
        if column.type != "VARCHAR":
            check(
                f"{raw} IS NOT NULL AND {value} IS NULL",
                f"{column.name} is not a {_TYPE_WORDS[column.type]}",
                shown,
            )
        if column.type == "TIMESTAMP":
            # One rule per side: an old history and a clock or timezone error have different
            # fixes (`rule_fix`), and a message must name the right one.
            low, high = bounds
            check(
                f"{value} < TIMESTAMP '{low}'",
                f"{column.name} is before timestamp_min {low}",
                f"{value}::VARCHAR",
            )
            check(
                f"{value} > TIMESTAMP '{high}'",
                f"{column.name} is in the future (after {high})",
                f"{value}::VARCHAR",
            )
        if column.accepted:
            allowed = ", ".join(_literal(a) for a in column.accepted)
            check(
                f"{value} IS NOT NULL AND {value} NOT IN ({allowed})",
                f"{column.name} is not one of {', '.join(column.accepted)}",
                shown,
            )
        least, most = cfg.ranges.get(column.name, (column.minimum, column.maximum))
        for bound, op, word in ((least, "<", "below"), (most, ">", "above")):
            if bound is not None:
                check(
                    f"{value} {op} {float(bound)!r}",
                    f"{column.name} is {word} {format_bound(bound)}",
                    f"{value}::VARCHAR",
                )
    for group in source.any_of:
        missing = " AND ".join(f"{trimmed[c]} IS NULL" for c in group)
        check(missing, f"needs at least one of {', '.join(group)}")
    for earlier, later in source.ordered:
        check(f"{parsed[later]} < {parsed[earlier]}", f"{later} is before {earlier}")

    raw_record = ", ".join(f"{quote(c.name)} := {quote(c.name)}" for c in source.columns)
    if positions is not None:
        located = f"positions AS ({positions}),"
    else:
        located = f"""thresholds AS ({reject_thresholds_sql("_rejects", "_files")}),
        positions AS (
            SELECT s.file_idx, s.ord, f.source_file,
                   s.ord + f.header + coalesce(t.k, 0) AS source_row
            FROM (SELECT file_idx, ord FROM _stage) s
            JOIN _files f USING (file_idx)
            ASOF LEFT JOIN thresholds t ON s.file_idx = t.file_idx AND s.ord > t.thr
        ),"""
    return f"""
        WITH {located}
        texts AS (SELECT s.file_idx, s.ord, s.keep, {", ".join(texts)} FROM _stage s),
        typed AS (SELECT *, {", ".join(typed)} FROM texts),
        judged AS (
            SELECT *, nullif(concat_ws('; ', {", ".join(reasons)}), '') AS reason,
                   nullif(concat_ws('; ', {", ".join(rules)}), '') AS rule
            FROM typed
        )
        SELECT j.file_idx, p.source_file, p.source_row, j.keep,
               {", ".join(outputs)},
               reason, rule,
               -- the original text, kept only for the rows that will be quarantined
               CASE WHEN j.keep AND reason IS NOT NULL
                    THEN to_json(struct_pack({raw_record}))::VARCHAR END AS record
        FROM judged j
        JOIN positions p ON p.file_idx = j.file_idx AND p.ord = j.ord
    """


def _identical_rows_kept(con: duckdb.DuckDBPyConnection, source: Source, policy: str) -> int:
    """Valid rows without a record id that repeat another such row in every column and are
    kept (`exact_duplicates: keep`)."""
    if not source.key_optional or policy != "keep":
        return 0
    key = quote(source.key)
    cols = ", ".join(quote(c.name) for c in source.columns)
    return int(
        fetch_one(
            con,
            f"SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT {cols} FROM _checked "
            f"WHERE keep AND reason IS NULL AND {key} IS NULL)) "
            f"FROM _checked WHERE keep AND reason IS NULL AND {key} IS NULL",
        )[0]
    )


def _final_table_sql(source: Source, hashed: dict[str, str], exact_duplicates: str = "keep") -> str:
    """The typed table: valid rows, one per record id (the latest delivery). Rows without an
    id (optional keys) are all kept, or, with `exact_duplicates: drop`, one per identical row."""
    stored = [
        f"{hashed[c.name].format(column=quote(c.name))} AS {quote(c.name)}"
        if c.name in hashed
        else quote(c.name)
        for c in source.columns
    ]
    lineage = ", ".join(c.name for c in LINEAGE_COLUMNS)
    return f"""
        CREATE OR REPLACE TABLE {table_name(source)} AS
        SELECT {", ".join(stored)}, {lineage}
        FROM ({_dedup_rows_sql(source, exact_duplicates, "_checked")})
        ORDER BY {quote(source.timestamp)}, {quote(source.key)}, source_file, source_row
    """


def _dedup_rows_sql(source: Source, exact_duplicates: str, relation: str) -> str:
    """The valid rows of `relation` (columns of `_checked`) that survive deduplication: the
    first by `dedup_order`, then the latest file (`file_idx`) and the latest row."""
    cols = [quote(c.name) for c in source.columns]
    key = quote(source.key)
    if source.key_optional:
        # Without a key, only rows identical in every column are duplicates.
        partition = [key] + [f"CASE WHEN {key} IS NULL THEN {c} END" for c in cols if c != key]
    else:
        partition = [key]
    order = [*source.dedup_order, "file_idx DESC", "source_row DESC"]
    latest = (
        f"QUALIFY row_number() OVER (PARTITION BY {', '.join(partition)} "
        f"ORDER BY {', '.join(order)}) = 1"
    )
    valid = f"SELECT * FROM {relation} WHERE keep AND reason IS NULL"
    if source.key_optional and exact_duplicates == "drop":
        return f"{valid} {latest}"
    if source.key_optional:
        # Identical lines of a transaction log can be real (two of one CD on two lines).
        return f"""
            {valid} AND {key} IS NULL
            UNION ALL
            ({valid} AND {key} IS NOT NULL {latest})"""
    # Repeated keys are few: rank only their rows, not every row of the source.
    return f"""
        WITH valid AS ({valid}),
        repeated AS (SELECT {key} FROM valid GROUP BY {key} HAVING count(*) > 1)
        SELECT * FROM valid ANTI JOIN repeated USING ({key})
        UNION ALL
        (SELECT * FROM valid SEMI JOIN repeated USING ({key}) {latest})"""


def _identical_in_table(con: duckdb.DuckDBPyConnection, source: Source, policy: str) -> int:
    """`_identical_rows_kept` counted on the stored table (which keeps every such row)."""
    if not source.key_optional or policy != "keep":
        return 0
    key = quote(source.key)
    cols = ", ".join(quote(c.name) for c in source.columns)
    table = table_name(source)
    return int(
        fetch_one(
            con,
            f"SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT {cols} FROM {table} "
            f"WHERE {key} IS NULL)) FROM {table} WHERE {key} IS NULL",
        )[0]
    )


def _empty_table_sql(source: Source) -> str:
    cols = [*source.columns, *LINEAGE_COLUMNS]
    return (
        f"CREATE OR REPLACE TABLE {table_name(source)} "
        f"({', '.join(f'{quote(c.name)} {c.type}' for c in cols)})"
    )


def _quarantine_sql(
    source: Source, keep_record: bool = True, state: dict | None = None
) -> list[str]:
    """The statements writing the loaded files' quarantine rows and every file's ledger row
    (temp tables `_checked`, `_rejects`, `_files`, `_ledger`, `_missing`)."""
    return [
        *_quarantine_inserts(source, keep_record, "TRUE"),
        _ledger_insert_sql(source, state or {}),
    ]


def _quarantine_inserts(source: Source, keep_record: bool, where: str) -> list[str]:
    """Insert the quarantined rows of the staged files matching `where` (over `file_idx`)."""
    name = _literal(source.name)
    record = "record" if keep_record else "NULL"
    rejected = "r.record" if keep_record else "NULL"
    # DuckDB's own message for an unreadable line is kept only where records are kept.
    rejected_reason = "r.reason" if keep_record else "r.rule"
    quarantine_columns = ", ".join(column for column, _ in QUARANTINE_COLUMNS)
    return [
        f"""INSERT INTO {QUARANTINE_TABLE} ({quarantine_columns})
            SELECT {name}, source_file, source_row, reason, record, rule FROM (
                SELECT source_file, source_row, reason, {record} AS record, rule FROM _checked
                WHERE keep AND reason IS NOT NULL AND ({where})
                UNION ALL
                SELECT f.source_file, r.line, {rejected_reason}, {rejected}, r.rule
                FROM _rejects r JOIN _files f USING (file_idx) WHERE ({where})
            ) ORDER BY source_file, source_row"""
    ]


def _ledger_rows(con: duckdb.DuckDBPyConnection, where: str) -> None:
    """Add to the temp table `_ledger` the read counts and file facts of the staged files
    matching `where` (over `file_idx`)."""
    con.execute(f"""
        INSERT INTO _ledger
        SELECT f.source_file,
               coalesce(c.n, 0) + coalesce(r.n, 0) + coalesce(s.n, 0),
               coalesce(c.filtered, 0),
               coalesce(c.quarantined, 0) + coalesce(r.n, 0),
               coalesce(s.n, 0),
               f.file_size, f.fingerprint, current_localtimestamp(), u.future_min,
               f.provided_columns
        FROM _files f
        LEFT JOIN (SELECT file_idx, count(*) AS n, count(*) FILTER (NOT keep) AS filtered,
                          count(*) FILTER (keep AND reason IS NOT NULL) AS quarantined
                   FROM _checked GROUP BY file_idx) c USING (file_idx)
        LEFT JOIN (SELECT file_idx, count(*) AS n FROM _rejects GROUP BY file_idx) r
            USING (file_idx)
        LEFT JOIN _suppressed s USING (file_idx)
        LEFT JOIN _future u USING (file_idx)
        WHERE ({where})
    """)


_LEDGER_TEMP = (
    "CREATE OR REPLACE TEMP TABLE _ledger (source_file VARCHAR, rows_read BIGINT, "
    "rows_filtered BIGINT, rows_quarantined BIGINT, rows_suppressed BIGINT, file_size BIGINT, "
    "fingerprint VARCHAR, loaded_at TIMESTAMP, future_min TIMESTAMP, "
    "provided_columns VARCHAR[])"
)


def _ledger_insert_sql(source: Source, state: dict) -> str:
    """Every file's ledger row from `_ledger` and `_missing`, with the rows kept counted on
    the new table and the conflicts on the row index (both change as later files arrive)."""
    name = _literal(source.name)
    files_columns = ", ".join(column for column, _ in FILES_COLUMNS)
    settings, suppression, bound = (
        _literal(state[k]) if state.get(k) is not None else "NULL"
        for k in ("load_settings", "suppression", "timestamp_max")
    )
    return f"""INSERT INTO {FILES_TABLE} ({files_columns})
        SELECT {name}, l.source_file, l.rows_read, l.rows_filtered, l.rows_quarantined,
               coalesce(k.n, 0), l.rows_suppressed, coalesce(x.n, 0),
               coalesce(m.m, []::VARCHAR[]), l.file_size, l.fingerprint, l.loaded_at,
               {settings}, {suppression}, CAST({bound} AS DATE), l.future_min,
               l.provided_columns
        FROM _ledger l
        LEFT JOIN (SELECT source_file, count(*) AS n FROM {table_name(source)}
                   GROUP BY source_file) k USING (source_file)
        LEFT JOIN (SELECT source_file, count(*) AS n FROM {ROWS_TABLE}
                   WHERE source = {name} AND conflict GROUP BY source_file) x
            USING (source_file)
        LEFT JOIN _missing m USING (source_file)
        ORDER BY l.source_file"""


def _replace(con, source: Source, table_sql: str, bookkeeping: list[str] | None) -> None:
    name = _literal(source.name)
    statements = [
        (table_name(source), table_sql),
        (QUARANTINE_TABLE, f"DELETE FROM {QUARANTINE_TABLE} WHERE source = {name}"),
        (FILES_TABLE, f"DELETE FROM {FILES_TABLE} WHERE source = {name}"),
    ]
    statements += [(QUARANTINE_TABLE, sql) for sql in bookkeeping or []]
    replace_tables(con, statements)


def rule_counts(con, source_name: str, limit: int = 10) -> list[tuple[str, int]]:
    """The source's quarantined rows per value-free rule, most frequent first."""
    return [
        (str(rule), int(n))
        for rule, n in con.execute(
            f"SELECT r.rule, count(*) AS n FROM {QUARANTINE_TABLE} q, "
            "unnest(string_split(q.rule, '; ')) AS r(rule) WHERE q.source = ? "
            "GROUP BY r.rule ORDER BY n DESC, r.rule LIMIT ?",
            [source_name, limit],
        ).fetchall()
    ]


def rule_fix(source_name: str, rule: str) -> str:
    """The setting (or action) that addresses a quarantine rule, for people reading the UI."""
    where = f"sources.{source_name}"
    column = rule.split(" ", 1)[0]
    if rule.startswith("unreadable line") and " fields, expected " in rule:
        # `format: text`: a value holding a space, or a missing value, shifts the fields.
        return "the line in the file (a value with a space in it, or a missing value)"
    if rule.startswith("unreadable line"):
        return f"the file, or `read_options` (delim, quote, ...) under {where}"
    if " is before timestamp_min " in rule:
        return (
            f"set `timestamp_min` under {where} (or `defaults:`) to a date on or before the "
            f"earliest {column} you want to keep"
        )
    if " is in the future " in rule:
        return (
            "check the clock and timezone of the export (timestamps without an offset are read "
            "as UTC) and `timestamp_format`; rows dated ahead on purpose need "
            "`timestamp_max_days_ahead` under `defaults:`"
        )
    if rule.endswith(" is not a timestamp"):
        return f"`timestamp_format` or `columns.{column}` under {where}"
    if " is below " in rule or " is above " in rule:
        return f"`ranges: {{{column}: {{min: .., max: ..}}}}` under {where}"
    if rule.endswith(" is missing") or rule.startswith("needs at least one of"):
        return f"`columns` under {where} (map the column), or the feed"
    if " is not one of " in rule:
        return f"`columns.{column}` under {where} (e.g. a CASE expression), or the feed"
    if " is not a " in rule:
        return f"`columns.{column}` under {where} (e.g. a TRY_CAST), or the feed"
    return "the feed (its values contradict each other)"


def format_bound(value: float) -> str:
    """A range bound as people write it: 0, 10000000, 1.5, 1e+30."""
    number = float(value)
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return f"{number:g}"


def _result(con, source: Source, files: list[str]) -> IngestResult:
    rows = con.execute(
        f"SELECT source_file, rows_read, rows_filtered, rows_quarantined, rows_kept, "
        f"rows_suppressed, key_conflicts, missing_columns FROM {FILES_TABLE} "
        "WHERE source = ? ORDER BY source_file",
        [source.name],
    ).fetchall()
    read, filtered, quarantined, kept, suppressed, conflicts = (
        sum(int(r[i] or 0) for r in rows) for i in range(1, 7)
    )
    return IngestResult(
        source=source.name,
        configured=True,
        files=files,
        rows_read=read,
        rows_filtered=filtered,
        rows_quarantined=quarantined,
        duplicates_removed=read - filtered - quarantined - kept - suppressed,
        rows_kept=kept,
        rows_suppressed=suppressed,
        key_conflicts=conflicts,
        top_reasons=rule_counts(con, source.name),
        conflicts_by_file={r[0]: int(r[6]) for r in rows if r[6]},
        missing_columns={r[0]: list(r[7]) for r in rows if r[7]},
        empty_files=[r[0] for r in rows if not r[1]],
    )


def check_records(
    con: duckdb.DuckDBPyConnection,
    config: SourcesConfig,
    source: str,
    records: list[dict[str, str | None]],
    now: dt.datetime | None = None,
) -> list[tuple[dict[str, object], str | None]]:
    """Judge `records` (contract column -> text) exactly as a landing row of `source` is judged
    at load (`_checked_sql`: types, required columns, accepted values, ranges, timestamp
    bounds): one (typed values, value-free rules broken or None) per record, in order.

    `con` is a private connection (in-memory) this uses for temp tables of its own."""
    source_config = config.sources[source]
    contract = source_config.contract
    bounds = _timestamp_bounds(config, source, now)
    names = [c.name for c in contract.columns]
    con.execute("DROP TABLE IF EXISTS _stage; DROP TABLE IF EXISTS _rejects")
    con.execute("DROP TABLE IF EXISTS _files")
    staged_cols = ", ".join(f"{quote(n)} VARCHAR" for n in names)
    con.execute(
        f"CREATE TEMP TABLE _stage (file_idx INTEGER, ord BIGINT, keep BOOLEAN, {staged_cols})"
    )
    con.execute(
        "CREATE TEMP TABLE _rejects (file_idx INTEGER, line BIGINT, reason VARCHAR, "
        "record VARCHAR, rule VARCHAR)"
    )
    con.execute("CREATE TEMP TABLE _files (file_idx INTEGER, source_file VARCHAR, header INTEGER)")
    con.execute("INSERT INTO _files VALUES (0, 'request', 0)")
    con.executemany(
        f"INSERT INTO _stage VALUES (0, ?, true, {', '.join('?' for _ in names)})",
        [[i + 1, *(r.get(n) for n in names)] for i, r in enumerate(records)],
    )
    rows = con.execute(
        f"SELECT {', '.join(quote(n) for n in names)}, rule "
        f"FROM ({_checked_sql(contract, source_config, bounds)}) ORDER BY source_row"
    ).fetchall()
    con.execute("DROP TABLE _stage; DROP TABLE _rejects; DROP TABLE _files")
    return [(dict(zip(names, row[:-1], strict=True)), row[-1]) for row in rows]
