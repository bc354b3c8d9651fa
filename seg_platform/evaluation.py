"""`seg-platform evaluate`: compare the platform's tables with the generator's ground truth.

Prints one JSON object; each layer adds its own key (`raw` here). The truth folder is read only
by this command, never by the pipeline.
"""

from pathlib import Path

import duckdb

from seg_platform.settings import PlatformHome
from seg_platform.sources.contract import SOURCES
from seg_platform.warehouse import connect


def evaluate(home: PlatformHome, truth: Path) -> dict:
    """All metrics available for the tables that exist in the home's warehouse."""
    truth = Path(truth).resolve()
    with connect(home.warehouse) as con:
        return {"raw": raw_metrics(con, truth)}


def raw_metrics(con: duckdb.DuckDBPyConnection, truth: Path) -> dict:
    """Rows read / kept / quarantined per source, and planted malformed rows caught."""
    malformed = truth / "malformed.parquet"
    records = truth / "records.parquet"
    con.execute(f"CREATE OR REPLACE TEMP VIEW _truth_malformed AS SELECT * FROM '{malformed}'")
    per_source = {}
    for name in SOURCES:
        loaded = con.execute(
            "SELECT count(*) > 0, coalesce(sum(rows_read), 0), coalesce(sum(rows_filtered), 0),"
            " coalesce(sum(rows_quarantined), 0), coalesce(sum(rows_kept), 0) "
            "FROM raw.source_files WHERE source = ?",
            [name],
        ).fetchone()
        if not loaded[0]:
            continue
        _, read, filtered, quarantined, kept = (int(v) for v in loaded)
        planted, caught, wrongly = con.execute(
            """
            WITH q AS (
                SELECT regexp_extract(source_file, '[^/]+$') AS file, source_row
                FROM raw.quarantine WHERE source = $1
            ), t AS (SELECT DISTINCT file, source_row FROM _truth_malformed WHERE source = $1)
            SELECT (SELECT count(*) FROM t),
                   (SELECT count(*) FROM t SEMI JOIN q USING (file, source_row)),
                   (SELECT count(*) FROM q ANTI JOIN t USING (file, source_row))
            """,
            [name],
        ).fetchone()
        # Every valid record key in the files must survive exactly once.
        expected_kept = con.execute(
            f"""SELECT count(DISTINCT record_key) FROM '{records}'
                WHERE source = $1 AND coalesce(record_key, '') <> ''
                  AND record_key NOT IN (
                      SELECT record_key FROM _truth_malformed
                      WHERE source = $1 AND record_key IS NOT NULL)""",
            [name],
        ).fetchone()[0]
        planted_duplicates = con.execute(
            f"SELECT coalesce(sum(copies), 0) FROM '{truth / 'duplicates.parquet'}' "
            "WHERE source = $1",
            [name],
        ).fetchone()[0]
        per_source[name] = {
            "rows_read": read,
            "rows_filtered": filtered,
            "rows_quarantined": quarantined,
            "duplicates_removed": read - filtered - quarantined - kept,
            "rows_kept": kept,
            "planted_malformed": planted,
            "malformed_caught": caught,
            "malformed_recall": round(caught / planted, 6) if planted else 1.0,
            "valid_rows_quarantined": wrongly,
            "planted_duplicates": int(planted_duplicates),
            "expected_rows_kept": expected_kept,
        }
    totals = {
        key: sum(s[key] for s in per_source.values())
        for key in (
            "rows_read",
            "rows_quarantined",
            "duplicates_removed",
            "rows_kept",
            "planted_malformed",
            "malformed_caught",
            "valid_rows_quarantined",
            "expected_rows_kept",
        )
    }
    totals["malformed_recall"] = (
        round(totals["malformed_caught"] / totals["planted_malformed"], 6)
        if totals["planted_malformed"]
        else 1.0
    )
    return {"sources": per_source, "totals": totals}
