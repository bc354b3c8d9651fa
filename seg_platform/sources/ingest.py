"""Load one source's landing files into its typed raw table; rows that break the contract go to
quarantine with their file, position and reason.

Plain DuckDB, no Dagster: each file is staged as text with its position, every value is parsed
and checked in one SQL pass, valid rows are deduplicated on the source's key, and the table, its
quarantine rows and its per-file counts are replaced in one transaction.
"""

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from seg_platform.sources.config import SourceConfig, SourceConfigError, SourcesConfig
from seg_platform.sources.contract import LINEAGE_COLUMNS, Column, Source
from seg_platform.warehouse import fetch_one, quote, replace_tables

SCHEMA = "raw"
QUARANTINE_TABLE = "raw.quarantine"
FILES_TABLE = "raw.source_files"
_TYPE_WORDS = {"TIMESTAMP": "timestamp", "DOUBLE": "number", "BIGINT": "whole number"}


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
    top_reasons: list[tuple[str, int]] = field(default_factory=list)

    @property
    def quarantine_share(self) -> float:
        considered = self.rows_read - self.rows_filtered
        return self.rows_quarantined / considered if considered else 0.0


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema and its shared bookkeeping tables if missing."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {QUARANTINE_TABLE} (source VARCHAR, source_file VARCHAR, "
        "source_row BIGINT, reason VARCHAR, record VARCHAR)"
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {FILES_TABLE} (source VARCHAR, source_file VARCHAR, "
        "rows_read BIGINT, rows_filtered BIGINT, rows_quarantined BIGINT, rows_kept BIGINT)"
    )


def table_name(source: Source) -> str:
    return f"{SCHEMA}.{source.name}"


def ingest_source(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    config: SourcesConfig | None,
    now: dt.datetime | None = None,
    hashed: dict[str, str] | None = None,
    before_final=None,
) -> IngestResult:
    """Rebuild `raw.<source>` from its configured files (an empty table when not configured).

    `hashed` maps columns to an SQL expression (with `{column}` for the typed value) stored
    instead of the value: a pseudonymised source's identifiers never reach the warehouse raw,
    and its quarantined rows keep their position and reason but not the record's text.
    `before_final(con)` runs once the typed rows are in the temp table `_checked`.
    """
    ensure_raw_schema(con)
    source_config = config.sources.get(source.name) if config else None
    if source_config is None:
        _replace(con, source, _empty_table_sql(source), None)
        return IngestResult(source=source.name, configured=False)

    files = source_config.files()
    con.execute("DROP TABLE IF EXISTS _stage; DROP TABLE IF EXISTS _rejects")
    staged_cols = ", ".join(f"{quote(c.name)} VARCHAR" for c in source.columns)
    con.execute(
        f"CREATE TEMP TABLE _stage (file_idx INTEGER, ord BIGINT, keep BOOLEAN, {staged_cols})"
    )
    con.execute(
        "CREATE TEMP TABLE _rejects (file_idx INTEGER, line BIGINT, reason VARCHAR, record VARCHAR)"
    )
    header_lines = {}
    for idx, path in enumerate(files):
        header_lines[idx] = _stage_file(con, source_config, idx, path)

    names = {idx: source_config.display_name(p) for idx, p in enumerate(files)}
    con.execute("DROP TABLE IF EXISTS _files")
    con.execute("CREATE TEMP TABLE _files (file_idx INTEGER, source_file VARCHAR, header INTEGER)")
    con.executemany(
        "INSERT INTO _files VALUES (?, ?, ?)",
        [(idx, names[idx], header_lines[idx]) for idx in names],
    )
    bounds = _timestamp_bounds(config, now)
    # Parsed and checked once into a table, not a view: the typed table, the quarantine and the
    # per-file counts all read it, and re-parsing every text value for each was most of a load.
    con.execute("DROP TABLE IF EXISTS _checked")
    con.execute(f"CREATE TEMP TABLE _checked AS {_checked_sql(source, source_config, bounds)}")
    con.execute("DROP TABLE _stage")  # the text copy is no longer needed: free its memory
    if before_final is not None:
        before_final(con)
    if hashed and not fetch_one(con, "SELECT count(*) FROM _checked")[0]:
        # No rows, nothing to hash; DuckDB 2.0 also fails to bind the email expression over
        # an empty view ("BindBuiltinScalarFunction did not return a BoundFunctionExpression").
        hashed = None
    _replace(
        con,
        source,
        _final_table_sql(source, hashed or {}),
        _quarantine_sql(source, keep_record=not hashed),
    )
    return _result(con, source, [names[i] for i in sorted(names)])


def _stage_file(con: duckdb.DuckDBPyConnection, cfg: SourceConfig, idx: int, path: Path) -> int:
    """Append one file's rows, as text with their position, to _stage; returns header lines."""
    fmt = cfg.file_format(path)
    reader = _reader_sql(cfg, path, fmt, full_read=False)
    try:
        file_columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
    except duckdb.Error as exc:
        raise SourceConfigError(
            f"Source '{cfg.name}': cannot read {path} as {fmt.upper()}: {_first_line(exc)}. "
            f"Check that the file is complete and that `format`/`read_options` under "
            f"sources.{cfg.name} in sources.yaml match it."
        ) from exc
    selects = _column_selects(cfg, path, file_columns)
    keep = f"coalesce(CAST(({cfg.where}) AS BOOLEAN), false)" if cfg.where else "true"
    _bind_or_explain(con, cfg, path, fmt, reader, selects, keep)

    if fmt == "csv":
        position = "ordinality"
        source = f"{_reader_sql(cfg, path, fmt, full_read=True)} WITH ORDINALITY"
    else:
        position = "file_row_number + 1"
        source = _reader_sql(cfg, path, fmt, full_read=True)
    values = ", ".join(f"CAST(({expr}) AS VARCHAR)" for expr in selects.values())
    try:
        con.execute("DROP TABLE IF EXISTS _rej; DROP TABLE IF EXISTS _rej_scan")
        con.execute(f"INSERT INTO _stage SELECT {idx}, {position}, {keep}, {values} FROM {source}")
    except duckdb.Error as exc:
        raise SourceConfigError(
            f"Source '{cfg.name}': reading {path} failed: {_first_line(exc)}. Check the file "
            f"and the column mapping under sources.{cfg.name} in sources.yaml."
        ) from exc
    if fmt != "csv":
        return 0
    con.execute(
        # DuckDB reports one error per missing column of a short line: keep one per line.
        f"INSERT INTO _rejects SELECT {idx}, line, arg_min('unreadable line (' || "
        "lower(error_type::VARCHAR) || '): ' || error_message, column_idx), any_value(csv_line) "
        "FROM _rej GROUP BY line"
    )
    header = cfg.read_options.get("header", True)
    return int(bool(header)) + int(cfg.read_options.get("skip", 0))


def _reader_sql(cfg: SourceConfig, path: Path, fmt: str, full_read: bool) -> str:
    """The DuckDB table function for one file: schema discovery, or the full positioned read."""
    options = dict(cfg.read_options)
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


def _column_selects(cfg: SourceConfig, path: Path, file_columns: list[str]) -> dict[str, str]:
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
            raise SourceConfigError(
                f"Source '{cfg.name}': required column '{column.name}' ({column.meaning}) is "
                f"neither mapped nor present in {path.name}, whose columns are: "
                f"{', '.join(file_columns)}. Add `{column.name}: <your column or SQL expression>` "
                f"under sources.{cfg.name}.columns in sources.yaml."
            )
        else:
            selects[column.name] = "NULL"
    return selects


def _bind_or_explain(
    con, cfg: SourceConfig, path: Path, fmt: str, reader: str, selects: dict[str, str], keep: str
) -> None:
    """Check the mapping against the file's columns; on error, name the setting at fault."""
    try:
        con.execute(f"SELECT {', '.join(selects.values())}, {keep} FROM {reader} LIMIT 0")
        return
    except duckdb.Error:
        pass
    hint = (
        " CSV columns are read as text: cast them, e.g. TRY_CAST(Quantity AS DOUBLE)."
        if fmt == "csv"
        else ""
    )
    candidates = [(f"columns.{name}", expr) for name, expr in selects.items()]
    if cfg.where:
        candidates.append(("where", cfg.where))
    for setting, expr in candidates:
        try:
            con.execute(f"SELECT {expr} FROM {reader} LIMIT 0")
        except duckdb.Error as exc:
            raise SourceConfigError(
                f"Source '{cfg.name}': sources.{cfg.name}.{setting} = {expr!r} does not work on "
                f"{path.name}: {_first_line(exc)}.{hint} Fix it in sources.yaml."
            ) from exc
    raise SourceConfigError(f"Source '{cfg.name}': the column mapping does not fit {path.name}.")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0].rstrip(".")


def _timestamp_bounds(config: SourcesConfig, now: dt.datetime | None) -> tuple[str, str]:
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    upper = (now + dt.timedelta(days=config.timestamp_max_days_ahead)).date()
    return str(dt.date.fromisoformat(config.timestamp_min)), str(upper)


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


def _checked_sql(source: Source, cfg: SourceConfig, bounds: tuple[str, str]) -> str:
    """One row per staged row: typed values, position and every contract violation found.

    In layers, so each value is trimmed, parsed and judged once: `texts` holds the trimmed
    text, `typed` the parsed values, `judged` the reasons. Positions come from a narrow ASOF
    join of (file, ordinal) alone: carrying every column through the ASOF join cost more than
    the parsing."""
    trimmed = {c.name: quote(f"_text_{c.name}") for c in source.columns}
    parsed = {c.name: quote(f"_value_{c.name}") for c in source.columns}
    texts, typed, outputs, reasons = [], [], [], []
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
            reasons.append(f"CASE WHEN {raw} IS NULL THEN '{column.name} is missing' END")
        if column.type != "VARCHAR":
            word = _TYPE_WORDS[column.type]
            reasons.append(
                f"CASE WHEN {raw} IS NOT NULL AND {value} IS NULL "
                f"THEN '{column.name} ' || {shown} || ' is not a {word}' END"
            )
        if column.type == "TIMESTAMP":
            low, high = bounds
            reasons.append(
                f"CASE WHEN {value} < TIMESTAMP '{low}' OR {value} > TIMESTAMP '{high}' "
                f"THEN '{column.name} ' || {value}::VARCHAR || ' is outside {low} .. {high}' END"
            )
        if column.accepted:
            allowed = ", ".join(_literal(a) for a in column.accepted)
            reasons.append(
                f"CASE WHEN {value} IS NOT NULL AND {value} NOT IN ({allowed}) THEN "
                f"'{column.name} ' || {shown} || ' is not one of {', '.join(column.accepted)}' END"
            )
        for bound, op, word in ((column.minimum, "<", "below"), (column.maximum, ">", "above")):
            if bound is not None:
                reasons.append(
                    f"CASE WHEN {value} {op} {bound} "
                    f"THEN '{column.name} ' || {value}::VARCHAR || ' is {word} {bound:g}' END"
                )
    for group in source.any_of:
        missing = " AND ".join(f"{trimmed[c]} IS NULL" for c in group)
        reasons.append(f"CASE WHEN {missing} THEN 'needs at least one of {', '.join(group)}' END")
    for earlier, later in source.ordered:
        reasons.append(
            f"CASE WHEN {parsed[later]} < {parsed[earlier]} THEN '{later} is before {earlier}' END"
        )

    raw_record = ", ".join(f"{quote(c.name)} := {quote(c.name)}" for c in source.columns)
    return f"""
        WITH thresholds AS (
            SELECT file_idx, max(k) AS k, thr FROM (
                SELECT r.file_idx, r.line - f.header
                         - row_number() OVER (PARTITION BY r.file_idx ORDER BY r.line) AS thr,
                       row_number() OVER (PARTITION BY r.file_idx ORDER BY r.line) AS k
                FROM _rejects r JOIN _files f USING (file_idx)
            ) GROUP BY file_idx, thr
        ),
        positions AS (
            SELECT s.file_idx, s.ord, f.source_file,
                   s.ord + f.header + coalesce(t.k, 0) AS source_row
            FROM (SELECT file_idx, ord FROM _stage) s
            JOIN _files f USING (file_idx)
            ASOF LEFT JOIN thresholds t ON s.file_idx = t.file_idx AND s.ord > t.thr
        ),
        texts AS (SELECT s.file_idx, s.ord, s.keep, {", ".join(texts)} FROM _stage s),
        typed AS (SELECT *, {", ".join(typed)} FROM texts),
        judged AS (SELECT *, nullif(concat_ws('; ', {", ".join(reasons)}), '') AS reason FROM typed)
        SELECT j.file_idx, p.source_file, p.source_row, j.keep,
               {", ".join(outputs)},
               reason,
               -- the original text, kept only for the rows that will be quarantined
               CASE WHEN j.keep AND reason IS NOT NULL
                    THEN to_json(struct_pack({raw_record}))::VARCHAR END AS record
        FROM judged j
        JOIN positions p ON p.file_idx = j.file_idx AND p.ord = j.ord
    """


def _final_table_sql(source: Source, hashed: dict[str, str]) -> str:
    cols = [quote(c.name) for c in source.columns]
    stored = [
        f"{hashed[c.name].format(column=quote(c.name))} AS {quote(c.name)}"
        if c.name in hashed
        else quote(c.name)
        for c in source.columns
    ]
    key = quote(source.key)
    if source.key_optional:
        # Without a key, only rows identical in every column are duplicates.
        partition = [key] + [f"CASE WHEN {key} IS NULL THEN {c} END" for c in cols if c != key]
    else:
        partition = [key]
    order = [*source.dedup_order, "file_idx DESC", "source_row DESC"]
    lineage = ", ".join(c.name for c in LINEAGE_COLUMNS)
    latest = (
        f"QUALIFY row_number() OVER (PARTITION BY {', '.join(partition)} "
        f"ORDER BY {', '.join(order)}) = 1"
    )
    if source.key_optional:
        rows = f"SELECT * FROM _checked WHERE keep AND reason IS NULL {latest}"
    else:
        # Repeated keys are few: rank only their rows, not every row of the source.
        rows = f"""
            WITH valid AS (SELECT * FROM _checked WHERE keep AND reason IS NULL),
            repeated AS (SELECT {key} FROM valid GROUP BY {key} HAVING count(*) > 1)
            SELECT * FROM valid ANTI JOIN repeated USING ({key})
            UNION ALL
            (SELECT * FROM valid SEMI JOIN repeated USING ({key}) {latest})"""
    return f"""
        CREATE OR REPLACE TABLE {table_name(source)} AS
        SELECT {", ".join(stored)}, {lineage} FROM ({rows})
        ORDER BY {quote(source.timestamp)}, {key}, source_file, source_row
    """


def _empty_table_sql(source: Source) -> str:
    cols = [*source.columns, *LINEAGE_COLUMNS]
    return (
        f"CREATE OR REPLACE TABLE {table_name(source)} "
        f"({', '.join(f'{quote(c.name)} {c.type}' for c in cols)})"
    )


def _quarantine_sql(source: Source, keep_record: bool = True) -> list[str]:
    name = _literal(source.name)
    record = "record" if keep_record else "NULL"
    rejected = "r.record" if keep_record else "NULL"
    return [
        f"""INSERT INTO {QUARANTINE_TABLE}
            SELECT {name}, source_file, source_row, reason, record FROM (
                SELECT source_file, source_row, reason, {record} AS record FROM _checked
                WHERE keep AND reason IS NOT NULL
                UNION ALL
                SELECT f.source_file, r.line, r.reason, {rejected}
                FROM _rejects r JOIN _files f USING (file_idx)
            ) ORDER BY source_file, source_row""",
        f"""INSERT INTO {FILES_TABLE}
            SELECT {name}, f.source_file,
                   coalesce(c.n, 0) + coalesce(r.n, 0),
                   coalesce(c.filtered, 0),
                   coalesce(c.quarantined, 0) + coalesce(r.n, 0),
                   coalesce(k.n, 0)
            FROM _files f
            LEFT JOIN (SELECT file_idx, count(*) AS n, count(*) FILTER (NOT keep) AS filtered,
                              count(*) FILTER (keep AND reason IS NOT NULL) AS quarantined
                       FROM _checked GROUP BY file_idx) c USING (file_idx)
            LEFT JOIN (SELECT file_idx, count(*) AS n FROM _rejects GROUP BY file_idx) r
                USING (file_idx)
            LEFT JOIN (SELECT source_file, count(*) AS n FROM {table_name(source)}
                       GROUP BY source_file) k USING (source_file)
            ORDER BY f.source_file""",
    ]


def _replace(con, source: Source, table_sql: str, bookkeeping: list[str] | None) -> None:
    name = _literal(source.name)
    statements = [
        (table_name(source), table_sql),
        (QUARANTINE_TABLE, f"DELETE FROM {QUARANTINE_TABLE} WHERE source = {name}"),
        (FILES_TABLE, f"DELETE FROM {FILES_TABLE} WHERE source = {name}"),
    ]
    statements += [(QUARANTINE_TABLE, sql) for sql in bookkeeping or []]
    replace_tables(con, statements)


def _result(con, source: Source, files: list[str]) -> IngestResult:
    name = _literal(source.name)
    read, filtered, quarantined, kept = fetch_one(
        con,
        f"SELECT coalesce(sum(rows_read), 0), coalesce(sum(rows_filtered), 0), "
        f"coalesce(sum(rows_quarantined), 0), coalesce(sum(rows_kept), 0) "
        f"FROM {FILES_TABLE} WHERE source = {name}",
    )
    reasons = con.execute(
        f"SELECT reason, count(*) AS n FROM {QUARANTINE_TABLE} WHERE source = {name} "
        "GROUP BY reason ORDER BY n DESC, reason LIMIT 10"
    ).fetchall()
    return IngestResult(
        source=source.name,
        configured=True,
        files=files,
        rows_read=int(read),
        rows_filtered=int(filtered),
        rows_quarantined=int(quarantined),
        duplicates_removed=int(read - filtered - quarantined - kept),
        rows_kept=int(kept),
        top_reasons=[(r, int(n)) for r, n in reasons],
    )
