"""Raw ingestion on Apache Spark (issue 22): with the spark engine a source's landing files are
read, parsed and checked on Spark, and the checked rows come back to the warehouse, where the
deduplication, the quarantine and the ledger are the DuckDB statements of `sources.ingest`
(one definition for both engines: same raw table, same quarantine rows and reasons).

`SparkReader` is an `ingest.Reader`: it fills `_checked` and `_rejects` as DuckDB's reader
does. Each file's header and the source's mapping are checked by DuckDB's own discovery
(`ingest._discover`: the same configuration errors, the same column names, from the first
lines only); Spark reads every line: CSV lines are split on the executors (Python's csv
module) with their line numbers, each broken line gets DuckDB's reason, positions follow
DuckDB's rule (`_positions`, since Spark has no ASOF join), and the checks are
`ingest._checked_sql` itself, compiled for Spark by sqlglot with the rewrites below. The
checked rows cross to DuckDB as Parquet in the lake (`<lake>/_ingest/`, removed after).

- `try_cast(x AS DOUBLE)`: DuckDB reads `1_000` and refuses `5d`, Spark the other way round:
  a number's shape is checked first and `_` removed.
- `isfinite(x)`, unknown to Spark: `NOT isnan(x) AND abs(x) <> inf`.
- `try_cast(x AS TIMESTAMPTZ)`: sqlglot's Spark form drops the offset (TIMESTAMP_NTZ) and
  refuses `2025/01/02`: read as TIMESTAMP_LTZ (the session is in UTC), `/` as `-`, after an
  ISO shape check (DuckDB reads a few more spellings: "not a timestamp" on Spark).
- `try_strptime(x, [formats])`, unknown to Spark: `coalesce(try_to_timestamp(x, f), ...)`.
- `to_json(struct)` drops NULL fields on Spark: `ignoreNullFields` false.
- a DOUBLE quoted in a reason: DuckDB writes `12000000.0`, Spark `1.2E7`: whole numbers below
  1e16 are written as DuckDB writes them.

Read on DuckDB instead, with the reason in the asset's metadata (`SparkReader.fallbacks`):
`format: text` and Parquet files, `.zst` files, pseudonymised sources (their raw identifiers
would be written to the lake), CSV read options other than `header`, `skip`, `delim`/`sep`
and `quote`, and a quoted value spanning lines. Needs a classic Spark session (lines are
numbered with the RDD API), not Spark Connect.
"""

import csv
import gzip
import shutil
import uuid
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify

from seg_platform.core.warehouse import quote
from seg_platform.core.yaml_files import sql_string
from seg_platform.sources.config import SourceConfig
from seg_platform.sources.contract import Source
from seg_platform.sources.ingest import (
    _checked_sql,
    _discover,
    read_on_duckdb,
    reject_thresholds_sql,
)
from seg_platform.sources.ledger import FileState

_CSV_OPTIONS = {"header", "skip", "delim", "sep", "quote"}
# The text shapes both engines read as numbers and as timestamps; anything else is NULL on
# both (DuckDB reads a few more timestamp spellings: those rows are "not a timestamp" here).
_NUMBER = (
    r"^[+-]?([0-9]+(_[0-9]+)*([.]([0-9]+(_[0-9]+)*)?)?|[.][0-9]+(_[0-9]+)*)([eE][+-]?[0-9]+)?$"
)
_TIMESTAMP = (
    r"^[0-9]{4}[-/][0-9]{1,2}[-/][0-9]{1,2}"
    r"([T ][0-9]{1,2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?)?"
    r"( ?(Z|UTC|[+-][0-9]{2}(:?[0-9]{2})?))?$"
)


class SparkIngestUnsupported(ValueError):
    """A source or file this reader does not read as DuckDB does: read it on DuckDB."""


def unsupported_reason(source: Source, cfg: SourceConfig, files: list[FileState]) -> str | None:
    """Why `files` of `source` cannot be read on Spark with DuckDB's outcome (None: they can)."""
    if source.pseudonymised:
        return "pseudonymised source (its raw identifiers would be written to the lake)"
    formats = {cfg.file_format(f.path) for f in files}
    if formats - {"csv"}:
        return f"format: {', '.join(sorted(formats - {'csv'}))}"
    if any(f.path.name.lower().endswith(".zst") for f in files):
        return "zstd-compressed files"
    other = sorted(set(cfg.read_options) - _CSV_OPTIONS)
    if other:
        return f"read_options {', '.join(other)}"
    return None


# -- compiling DuckDB statements for Spark ---------------------------------------------------


def _q(name: str) -> str:
    """A column name quoted for Spark SQL."""
    return "`" + name.replace("`", "``") + "`"


def _spark_expr(sql: str) -> exp.Expr:
    return sqlglot.parse_one(sql, read="spark")


def _duck_double_text(value: exp.Expr) -> exp.Expr:
    v = value.sql(dialect="spark")
    return _spark_expr(
        f"CASE WHEN {v} = floor({v}) AND abs({v}) < 1e16 "
        f"THEN concat(CAST(CAST({v} AS BIGINT) AS STRING), '.0') ELSE CAST({v} AS STRING) END"
    )


def _rewrite(node: exp.Expr, doubles: set[str]) -> exp.Expr:
    """The Spark form of one DuckDB node whose value would differ (the table above)."""
    name = node.name.lower() if isinstance(node, exp.Anonymous) else ""
    if isinstance(node, exp.TryCast) and isinstance(node.this, exp.Column):
        raw = node.this.sql(dialect="spark")
        if node.to.this == exp.DataType.Type.DOUBLE:
            return _spark_expr(
                f"CASE WHEN {raw} RLIKE '{_NUMBER}' "
                f"THEN TRY_CAST(replace({raw}, '_', '') AS DOUBLE) END"
            )
        if node.to.this == exp.DataType.Type.TIMESTAMPTZ:
            return _spark_expr(
                f"CASE WHEN {raw} RLIKE '{_TIMESTAMP}' "
                f"THEN TRY_CAST(regexp_replace({raw}, '/', '-') AS TIMESTAMP_LTZ) END"
            )
    if name == "isfinite":
        v = node.expressions[0].sql(dialect="spark")
        return _spark_expr(f"(NOT isnan({v}) AND abs({v}) <> CAST('Infinity' AS DOUBLE))")
    if name == "try_strptime":
        value, formats = node.expressions
        tries = [
            exp.StrToTime(this=value.copy(), format=f.copy()).sql(dialect="spark")
            for f in formats.expressions
        ]
        tries = [t.replace("TO_TIMESTAMP(", "TRY_TO_TIMESTAMP(", 1) for t in tries]
        return _spark_expr(f"CAST(COALESCE({', '.join(tries)}) AS TIMESTAMP_NTZ)")
    if name == "to_json" and len(node.expressions) == 1:
        struct = node.expressions[0].sql(dialect="spark")
        return _spark_expr(f"TO_JSON({struct}, map('ignoreNullFields', 'false'))")
    if (
        isinstance(node, exp.Cast)
        and node.to.is_type(exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT)
        and isinstance(node.this, exp.Column)
        and node.this.name in doubles
    ):
        return _duck_double_text(node.this)
    return node


def compile_for_spark(
    sql: str, schema: dict[str, dict[str, str]], doubles: set[str] | None = None
) -> str:
    """A DuckDB statement of the loader compiled for Spark SQL: its columns resolved against
    `schema` (view -> column -> DuckDB type; `SELECT *` expanded, so a QUALIFY becomes a
    subquery with the same columns) and the rewrites of the module's table applied.
    `doubles`: the DOUBLE columns whose text is quoted in reasons."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    if isinstance(tree, exp.Insert | exp.Create):
        tree = tree.expression
    plain: dict[str, object] = {view: dict(columns) for view, columns in schema.items()}
    tree = qualify(
        tree,
        schema=plain,
        dialect="duckdb",
        validate_qualify_columns=False,
        quote_identifiers=False,
        expand_stars=True,
    )
    # Collected first, replaced deepest first: a replacement is never visited again.
    nodes = [n for n in tree.walk() if isinstance(n, exp.TryCast | exp.Cast | exp.Anonymous)]
    for node in sorted(nodes, key=_depth, reverse=True):
        replacement = _rewrite(node, doubles or set())
        if replacement is not node:
            node.replace(replacement)
    return tree.sql(dialect="spark")


def _depth(node: exp.Expr) -> int:
    depth = 0
    while node.parent is not None:
        node, depth = node.parent, depth + 1
    return depth


# -- reading the files ------------------------------------------------------------------------


def _split_lines(idx: int, header: int, delim: str, quotechar: str, expected: int):
    """The per-partition reader: (line text, line index) -> one row per line (not empty):
    (file_idx, line, fields or None, reject kind, reject fields found, the line's text)."""

    def split(part):
        blanks = ""
        for text, index in part:
            line = index + 1
            if line <= header:
                continue
            text = text.rstrip("\r")
            if text == "":
                blanks += "\n"  # DuckDB quotes a broken line with the empty lines before it
                continue
            try:
                fields = next(csv.reader([text], delimiter=delim, quotechar=quotechar, strict=True))
            except csv.Error:
                yield (idx, line, None, "quote", 0, text)
                blanks = ""
                continue
            if len(fields) != expected:
                kind = "missing" if len(fields) < expected else "too many"
                found = len(fields) if len(fields) < expected else expected + 1
                yield (idx, line, None, kind, found, blanks + text)
            else:
                yield (idx, line, [f if f != "" else None for f in fields], None, 0, text)
            blanks = ""

    return split


def _first_lines(path: Path, n: int) -> list[str]:
    """The first `n` lines of a (possibly gzipped) UTF-8 file, read on the driver."""
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    lines = []
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        for line in handle:
            lines.append(line.rstrip("\r\n"))
            if len(lines) >= n:
                break
    return lines


def _stage_csv(
    spark: Any, cfg: SourceConfig, idx: int, path: Path, columns: list[str]
) -> tuple[Any, Any, int]:
    """One CSV file's lines split on the executors: (rows of its own `columns`, all text, with
    their line numbers; its broken lines with DuckDB's reasons; its header lines)."""
    from pyspark.sql import types as T

    options = cfg.read_options
    skip = int(options.get("skip", 0))
    header = skip + int(bool(options.get("header", True)))
    delim = str(options.get("delim", options.get("sep", ",")))
    quotechar = str(options.get("quote", '"'))
    first = _first_lines(path, skip + 1)
    if len(first) > skip:
        width = len(next(csv.reader([first[skip]], delimiter=delim, quotechar=quotechar)))
        if width != len(columns):
            raise SparkIngestUnsupported(f"{path.name}: its first line is not read as DuckDB's")
    lines = spark.sparkContext.textFile(str(path)).zipWithIndex()
    split = lines.mapPartitions(_split_lines(idx, header, delim, quotechar, len(columns)))
    schema = T.StructType(
        [
            T.StructField("file_idx", T.IntegerType()),
            T.StructField("line", T.LongType()),
            T.StructField("fields", T.ArrayType(T.StringType())),
            T.StructField("kind", T.StringType()),
            T.StructField("found", T.IntegerType()),
            T.StructField("text", T.StringType()),
        ]
    )
    frame = spark.createDataFrame(split, schema)
    good = frame.where("kind IS NULL").selectExpr(
        "file_idx", "line", *(f"fields[{i}] AS {_q(c)}" for i, c in enumerate(columns))
    )
    n = len(columns)
    # A quoted value spanning lines keeps rule 'quote': the reader then reads on DuckDB.
    rejects = frame.where("kind IS NOT NULL").selectExpr(
        "file_idx",
        "line",
        f"concat('unreadable line (', kind, ' columns): Expected Number of Columns: {n} Found: ', "
        "CAST(found AS STRING)) AS reason",
        "text AS record",
        "CASE WHEN kind = 'quote' THEN 'quote' "
        "ELSE concat('unreadable line (', kind, ' columns)') END AS rule",
    )
    return good, rejects, header


def _mapped(frame: Any, selects: dict[str, str], keep: str) -> Any:
    """The staged text of the contract's columns from one file's own columns (the source's
    `columns` mappings and `where`, DuckDB SQL, compiled for Spark)."""

    def spark_sql(expr: str) -> str:
        return sqlglot.transpile(expr, read="duckdb", write="spark")[0]

    values = [
        f"CAST(({spark_sql(expr)}) AS STRING) AS {_q(name)}" for name, expr in selects.items()
    ]
    return frame.selectExpr("file_idx", "line", f"{spark_sql(keep)} AS keep", *values)


def _positions(spark: Any) -> Any:
    """`_positions` (file_idx, ord, source_file, source_row) as DuckDB computes them:
    `ord` counts a file's readable rows, and a row's position is `ord + header + k`, k the
    number of broken lines ranked at or before it by DuckDB's thresholds (`_checked_sql`)."""
    return spark.sql(f"""
        WITH thresholds AS ({reject_thresholds_sql("_spark_rejects", "_spark_files")}),
        events AS (
            SELECT file_idx, ord AS at, 1 AS kind, NULL AS k FROM _stage
            UNION ALL
            SELECT file_idx, thr AS at, 2 AS kind, k FROM thresholds
        ),
        ranked AS (
            SELECT file_idx, at, kind, max(k) OVER (
                PARTITION BY file_idx ORDER BY at, kind
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS k
            FROM events
        )
        SELECT r.file_idx, r.at AS ord, f.source_file,
               r.at + f.header + coalesce(r.k, 0) AS source_row
        FROM ranked r JOIN _spark_files f USING (file_idx)
        WHERE r.kind = 1
    """)


def checked_on_spark(
    spark: Any,
    con: duckdb.DuckDBPyConnection,
    source: Source,
    cfg: SourceConfig,
    files: list[FileState],
    bounds: tuple[str, str],
) -> tuple[Any, Any, dict[int, tuple[int, set[str] | None]]]:
    """The DataFrames of `_checked` (typed rows, their positions and reasons) and `_rejects`
    (unreadable lines) for `files`, and per file index its header lines and provided optional
    columns. `con` only reads each file's first lines (DuckDB's discovery)."""
    reason = unsupported_reason(source, cfg, files)
    if reason is not None:
        raise SparkIngestUnsupported(reason)
    names = [c.name for c in source.columns]
    text_cols = ", ".join(f"{_q(n)} STRING" for n in names)
    stage = spark.createDataFrame([], f"file_idx INT, line BIGINT, keep BOOLEAN, {text_cols}")
    rejects = spark.createDataFrame(
        [], "file_idx INT, line BIGINT, reason STRING, record STRING, rule STRING"
    )
    layout: dict[int, tuple[int, set[str] | None]] = {}
    headers = []
    for f in files:
        found = _discover(con, cfg, f.index, f.path)
        if found is None:
            layout[f.index] = (0, None)
            headers.append((f.index, f.name, 0))
            continue
        rows, broken, header = _stage_csv(spark, cfg, f.index, f.path, found.file_columns)
        stage = stage.unionByName(_mapped(rows, found.selects, found.keep))
        rejects = rejects.unionByName(broken)
        layout[f.index] = (header, found.provided)
        headers.append((f.index, f.name, header))
    stage.createOrReplaceTempView("_stage_lines")
    # DuckDB's `ord`: a file's readable rows, numbered in line order.
    spark.sql(
        "SELECT file_idx, row_number() OVER (PARTITION BY file_idx ORDER BY line) AS ord, "
        f"keep, {', '.join(_q(n) for n in names)} FROM _stage_lines"
    ).createOrReplaceTempView("_stage")
    rejects.createOrReplaceTempView("_spark_rejects")
    spark.createDataFrame(
        headers, "file_idx INT, source_file STRING, header INT"
    ).createOrReplaceTempView("_spark_files")
    _positions(spark).createOrReplaceTempView("_positions")
    schema = {
        "_stage": {
            "file_idx": "INTEGER",
            "ord": "BIGINT",
            "keep": "BOOLEAN",
            **dict.fromkeys(names, "VARCHAR"),
        },
        "_positions": {
            "file_idx": "INTEGER",
            "ord": "BIGINT",
            "source_file": "VARCHAR",
            "source_row": "BIGINT",
        },
    }
    doubles = {f"_value_{c.name}" for c in source.columns if c.type == "DOUBLE"}
    positions = "SELECT file_idx, ord, source_file, source_row FROM _positions"
    sql = _checked_sql(source, cfg, bounds, positions=positions)
    checked = spark.sql(compile_for_spark(sql, schema, doubles))
    return checked, rejects, layout


def checked_types(source: Source) -> list[tuple[str, str]]:
    """`_checked`'s columns and DuckDB types, in order (`ingest._checked_sql`)."""
    return [
        ("file_idx", "INTEGER"),
        ("source_file", "VARCHAR"),
        ("source_row", "BIGINT"),
        ("keep", "BOOLEAN"),
        *((c.name, c.type) for c in source.columns),
        ("reason", "VARCHAR"),
        ("rule", "VARCHAR"),
        ("record", "VARCHAR"),
    ]


_REJECT_TYPES = [
    ("file_idx", "INTEGER"),
    ("line", "BIGINT"),
    ("reason", "VARCHAR"),
    ("record", "VARCHAR"),
    ("rule", "VARCHAR"),
]


def _temp_from_parquet(
    con: duckdb.DuckDBPyConnection, name: str, folder: Path, types: list[tuple[str, str]]
) -> None:
    files = sql_string(str(folder.resolve() / "*.parquet"))
    columns = ", ".join(f"CAST({quote(c)} AS {t}) AS {quote(c)}" for c, t in types)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {columns} FROM read_parquet({files})"
    )


class SparkReader:
    """An `ingest.Reader` on Spark: `ingest_source(..., reader=SparkReader(spark, lake))`.

    Sources and files it does not read as DuckDB does (see the module) are read by DuckDB's
    reader; `fallbacks` maps each such source to the reason, `on_spark` lists the others."""

    def __init__(self, spark: Any, lake: Path) -> None:
        self.spark = spark
        self.lake = Path(lake)
        self.fallbacks: dict[str, str] = {}
        self.on_spark: list[str] = []

    def __call__(
        self,
        con: duckdb.DuckDBPyConnection,
        source: Source,
        cfg: SourceConfig,
        files: list[FileState],
        bounds: tuple[str, str],
    ) -> dict[int, tuple[int, set[str] | None]]:
        if not any(f.path.stat().st_size for f in files):
            # Nothing to read (no file, or empty ones): DuckDB's reader writes the empty tables.
            return read_on_duckdb(con, source, cfg, files, bounds)
        try:
            layout = self._read(con, source, cfg, files, bounds)
        except SparkIngestUnsupported as exc:
            self.fallbacks[source.name] = str(exc)
            return read_on_duckdb(con, source, cfg, files, bounds)
        self.on_spark.append(source.name)
        return layout

    def _read(
        self,
        con: duckdb.DuckDBPyConnection,
        source: Source,
        cfg: SourceConfig,
        files: list[FileState],
        bounds: tuple[str, str],
    ) -> dict[int, tuple[int, set[str] | None]]:
        checked, rejects, layout = checked_on_spark(self.spark, con, source, cfg, files, bounds)
        # Spark's timestamps leave as the session's (UTC) wall time: DuckDB's are naive.
        stamps = {f.name for f in checked.schema.fields if f.dataType.typeName() == "timestamp"}
        checked = checked.selectExpr(
            *(
                f"CAST({_q(c)} AS TIMESTAMP_NTZ) AS {_q(c)}" if c in stamps else _q(c)
                for c in checked.columns
            )
        )
        scratch = self.lake / "_ingest" / f"{source.name}-{uuid.uuid4().hex}"
        try:
            rejects.write.parquet((scratch / "rejects").resolve().as_posix())
            _temp_from_parquet(con, "_rejects", scratch / "rejects", _REJECT_TYPES)
            quoted = con.execute("SELECT count(*) FROM _rejects WHERE rule = 'quote'").fetchone()
            if quoted and quoted[0]:
                raise SparkIngestUnsupported("a quoted value that does not close on its line")
            checked.write.parquet((scratch / "checked").resolve().as_posix())
            _temp_from_parquet(con, "_checked", scratch / "checked", checked_types(source))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return layout
