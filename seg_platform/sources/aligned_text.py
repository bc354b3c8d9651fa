"""Text files whose columns are separated by runs of whitespace (`format: text`), such as the
CDNOW master file (`00001 19970101  1  11.77`): each line is split in DuckDB, and a line with
another number of fields than the file's is quarantined with its position, never dropped.

No CSV reader fits such files: the number of spaces between two columns varies from line to
line (alignment), so a one-character delimiter yields empty fields and shifted columns.
"""

import re
from pathlib import Path

import duckdb

from seg_platform.core.warehouse import fetch_one, quote
from seg_platform.sources.config import SourceConfigError

FIELDS_TABLE = "_text_fields"
POSITION = "_ord"  # an ordinal `ingest._checked_sql` turns back into the line number
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")


def split_aligned_text(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    file_idx: int,
    source: str,
    header: bool = False,
    skip: int = 0,
) -> str | None:
    """Stage one file's lines as fields in the temp table `_text_fields` and its broken lines
    in `_rejects`; return the SQL of a table with one text column per field (named by the
    header line, or column0, column1, ...), or None when the file holds only blank lines.

    The file's number of fields is its header's, or else the most common one among its lines
    (the earliest on a tie). `_ord` is chosen so that `ingest._checked_sql`, which adds back
    the rejected lines before each row, finds each row's line number in the file."""
    _read_lines(con, path, skip, source)
    first = fetch_one(con, "SELECT min(line) FROM _text_lines")[0]
    if first is None:
        return None
    if header:
        names = _header_names(con, path, first, source)
        con.execute("DELETE FROM _text_lines WHERE line = ?", [first])
    else:
        common = fetch_one(
            con,
            "SELECT len(fields) FROM _text_lines GROUP BY len(fields) "
            "ORDER BY count(*) DESC, min(line) LIMIT 1",
        )
        names = [f"column{i}" for i in range(common[0] if common else 0)]
    width = len(names)
    rule = f"'unreadable line (' || len(fields) || ' fields, expected {width})'"
    con.execute(
        f"INSERT INTO _rejects SELECT {int(file_idx)}, line, {rule}, raw, {rule} "
        f"FROM _text_lines WHERE len(fields) <> {width}"
    )
    columns = ", ".join(f"fields[{i + 1}] AS {quote(name)}" for i, name in enumerate(names))
    con.execute(f"DROP TABLE IF EXISTS {FIELDS_TABLE}")
    con.execute(f"""
        CREATE TEMP TABLE {FIELDS_TABLE} AS
        SELECT {POSITION}, {columns} FROM (
            SELECT fields, line - sum(CASE WHEN len(fields) <> {width} THEN 1 ELSE 0 END)
                   OVER (ORDER BY line ROWS UNBOUNDED PRECEDING) AS {POSITION}
            FROM _text_lines
        ) WHERE len(fields) = {width}
    """)
    return f"(SELECT {', '.join(quote(n) for n in names)} FROM {FIELDS_TABLE})"


def _read_lines(con: duckdb.DuckDBPyConnection, path: Path, skip: int, source: str) -> None:
    """`_text_lines`: every non-blank line after the first `skip`, with its line number, its
    text (without a CR) and its fields."""
    literal = "'" + str(path).replace("'", "''") + "'"
    con.execute("DROP TABLE IF EXISTS _text_lines")
    try:
        con.execute(rf"""
            CREATE TEMP TABLE _text_lines AS
            SELECT line, raw, string_split_regex(trimmed, '\s+') AS fields FROM (
                SELECT line, raw, regexp_replace(raw, '^\s+|\s+$', '', 'g') AS trimmed FROM (
                    SELECT generate_subscripts(l, 1) AS line, rtrim(unnest(l), chr(13)) AS raw
                    FROM (SELECT string_split(content, chr(10)) AS l FROM read_text({literal}))
                )
            ) WHERE line > {int(skip)} AND trimmed <> ''
        """)
    except duckdb.Error as exc:
        # DuckDB's first line, with any quoted part (it could be the file's content) blanked.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        detail = re.sub(r"'[^']*'", "'…'", first).rstrip(".")
        raise SourceConfigError(
            f"Source '{source}': cannot read {path} as text: {detail}. Check that the file is "
            f"complete, uncompressed UTF-8 text."
        ) from None


def _header_names(con: duckdb.DuckDBPyConnection, path: Path, line: int, source: str) -> list:
    names = fetch_one(con, "SELECT fields FROM _text_lines WHERE line = ?", [line])[0]
    lowered = [n.lower() for n in names]
    if not all(_NAME.match(n) for n in names) or len(set(lowered)) != len(lowered):
        # A data line taken for a header: never quoted, it holds customer values.
        raise SourceConfigError(
            f"Source '{source}': the first line of {path.name} ({len(names)} fields) does not "
            f"look like column names (letters, digits and _, each once). If the file has no "
            f"header, remove `header: true` from sources.{source}.read_options and map "
            f"column0, column1, ..."
        )
    return list(names)
