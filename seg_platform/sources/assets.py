"""Raw assets (group `raw`): one typed, deduplicated DuckDB table per source, with quarantine.

Each asset is gated by a blocking check that runs the source's Great Expectations suite, compares
the table's schema with the contract and holds the quarantine share under its limit.
"""

import datetime as dt
import re
from typing import Any

import dagster as dg
import polars as pl

from seg_platform.core.identifiers import fill_phone_table
from seg_platform.core.layers import in_layer, layer_key
from seg_platform.core.metadata import column_schema, markdown
from seg_platform.core.quality import can_push_down, max_gx_rows, validate_frame, validate_relation
from seg_platform.core.resources import EngineResource, WarehouseResource
from seg_platform.core.warehouse import fetch_one, quote
from seg_platform.sources.config import SourceConfigError, SourcesConfig
from seg_platform.sources.contract import LINEAGE_COLUMNS, SOURCES, Column, Source
from seg_platform.sources.ingest import (
    FILES_TABLE,
    QUARANTINE_TABLE,
    IngestResult,
    ingest_source,
    rule_counts,
    rule_fix,
    table_name,
)
from seg_platform.sources.resources import IdentityConfig, SourcesResource
from seg_platform.sources.span import record_data_span
from seg_platform.sources.suites import raw_suite, suite_columns
from seg_platform.sources.suppression import (
    ensure_privacy_tables,
    salted_identifier_sql,
    suppression_condition,
    suppression_state,
)

CHECK_NAME = "meets_source_contract"
# Advisory checks each raw asset answers while loading (severity WARN: nothing is blocked).
CONFLICTS_CHECK = "no_conflicting_duplicates"
COLUMNS_CHECK = "files_have_the_same_columns"
EMPTY_CHECK = "no_empty_files"
FILE_CHECKS = {
    CONFLICTS_CHECK: "Warns when one record id arrives with different content (the latest "
    "delivery is kept); names the files. Counts per file in raw.source_files.key_conflicts.",
    COLUMNS_CHECK: "Warns when a file lacks an optional column the source's other files "
    "have (its rows load with the column empty); names the file and column.",
    EMPTY_CHECK: "Warns when a file has no rows (0 bytes or a header only).",
}
_GX_EXAMPLES = re.compile(r" \(e\.g\. .*\)$")


def _column_schema(source: Source) -> dg.TableSchema:
    return column_schema((c.name, c.type, c.meaning) for c in (*source.columns, *LINEAGE_COLUMNS))


def _placeholder(column: Column) -> str:
    """What a value of the column is shown as in the UI: its kind, never the value."""
    if column.identifier:
        return f"<{column.identifier}>"
    return {"TIMESTAMP": "<timestamp>", "DOUBLE": "<number>", "BIGINT": "<number>"}.get(
        column.type, "<text>"
    )


def masked_preview_sql(source: Source, limit: int = 5) -> str:
    """A few rows of the raw table with every value replaced by its kind (`<email>`, `<text>`,
    `<number>`), so a person sees which columns are filled; only the file name and position
    are shown as they are. Dagster's event log is not a place an erasure can reach."""
    cells = ", ".join(
        f"CASE WHEN {quote(c.name)} IS NOT NULL THEN '{_placeholder(c)}' END AS {quote(c.name)}"
        for c in source.columns
    )
    lineage = ", ".join(c.name for c in LINEAGE_COLUMNS)
    return f"SELECT {cells}, {lineage} FROM {table_name(source)} LIMIT {int(limit)}"


def _fix_table(source_name: str, rules: list[tuple[str, int]]) -> dg.MetadataValue:
    return markdown(
        pl.DataFrame(
            [(rule, n, rule_fix(source_name, rule)) for rule, n in rules],
            schema=["rule", "rows", "setting that fixes it"],
            orient="row",
        )
    )


def _metadata(con, source: Source, result: IngestResult, exact_duplicates: str = "keep") -> dict:
    name = source.name
    metadata = {
        "dagster/table_name": table_name(source),
        "dagster/row_count": dg.MetadataValue.int(result.rows_kept),
        "dagster/column_schema": _column_schema(source),
        "configured": result.configured,
        "files": dg.MetadataValue.int(len(result.files)),
        "rows_read": dg.MetadataValue.int(result.rows_read),
        "rows_filtered": dg.MetadataValue.int(result.rows_filtered),
        "rows_quarantined": dg.MetadataValue.int(result.rows_quarantined),
        "rows_suppressed": dg.MetadataValue.int(result.rows_suppressed),
        "duplicates_removed": dg.MetadataValue.int(result.duplicates_removed),
        "key_conflicts": dg.MetadataValue.int(result.key_conflicts),
        "quarantine_share": dg.MetadataValue.float(round(result.quarantine_share, 6)),
    }
    if not result.configured:
        metadata["note"] = f"Source '{name}' is not in sources.yaml: empty table, skipped."
        return metadata
    # What the ledger decided (docs/sources.md, "Incremental loads"); counts are the table's.
    metadata["load_mode"] = result.mode
    if result.reload_reason:
        metadata["full_load_reason"] = result.reload_reason
    metadata["files_loaded"] = dg.MetadataValue.int(result.files_loaded)
    metadata["files_unchanged"] = dg.MetadataValue.int(result.files_unchanged)
    metadata["files_changed"] = dg.MetadataValue.int(result.files_changed)
    metadata["files_removed"] = dg.MetadataValue.int(result.files_removed)
    if source.key_optional:
        # Never a silent choice: what happened to identical rows without a record id.
        metadata["exact_duplicates"] = exact_duplicates
        metadata["identical_rows_kept"] = dg.MetadataValue.int(result.identical_rows_kept)
    # Rules, not reasons: a reason quotes the offending value; it stays in raw.quarantine.
    metadata["quarantine_reasons"] = _fix_table(name, result.top_reasons)
    metadata["quarantine_sample"] = markdown(
        con.sql(
            f"SELECT source_file, source_row, rule FROM {QUARANTINE_TABLE} "
            f"WHERE source = '{name}' ORDER BY source_file, source_row LIMIT 10"
        ).pl()
    )
    files = con.sql(
        f"SELECT source_file, rows_read, rows_filtered, rows_quarantined, rows_suppressed, "
        f"rows_kept, key_conflicts, array_to_string(missing_columns, ', ') AS missing_columns, "
        f"loaded_at FROM {FILES_TABLE} WHERE source = '{name}' ORDER BY source_file LIMIT 50"
    ).pl()
    metadata["files_table"] = markdown(files)
    if result.missing_columns:
        metadata["files_missing_columns"] = dg.MetadataValue.json(result.missing_columns)
    if result.empty_files:
        metadata["empty_files"] = dg.MetadataValue.json(result.empty_files)
    if result.conflicts_by_file:
        metadata["conflicts_by_file"] = dg.MetadataValue.json(result.conflicts_by_file)
    metadata["preview"] = markdown(con.sql(masked_preview_sql(source)).pl())
    return metadata


def _file_list(counts: dict[str, object], limit: int = 10) -> str:
    shown = [f"{name} ({value})" for name, value in list(counts.items())[:limit]]
    more = len(counts) - limit
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def file_check_results(source: Source, result: IngestResult) -> list[dg.AssetCheckResult]:
    """The advisory (WARN) checks a load answers by itself: files that conflict on record ids,
    files lacking a column their siblings have, and files without rows."""
    warn = dg.AssetCheckSeverity.WARN
    conflicts = result.conflicts_by_file
    missing = result.missing_columns
    empty = [] if source.empty_is_normal else result.empty_files
    return [
        dg.AssetCheckResult(
            check_name=CONFLICTS_CHECK,
            asset_key=layer_key("raw", source.name),
            passed=not conflicts,
            severity=warn,
            description=(
                f"No {source.key} was delivered twice with different content."
                if not conflicts
                else f"{result.key_conflicts:,} rows share a {source.key} with a row of "
                f"different content; the latest delivery was kept. Files (rows): "
                f"{_file_list(conflicts)}. Ask the source which version is right."
            ),
            metadata={
                "observed": dg.MetadataValue.int(result.key_conflicts),
                "threshold": dg.MetadataValue.int(0),
                "files": dg.MetadataValue.json(conflicts),
            },
        ),
        dg.AssetCheckResult(
            check_name=COLUMNS_CHECK,
            asset_key=layer_key("raw", source.name),
            passed=not missing,
            severity=warn,
            description=(
                "Every file has the optional columns the others have."
                if not missing
                else "Some files lack a column the source's other files have (loaded as "
                "empty; identity links from it are lost for those rows): "
                + _file_list({f: ", ".join(c) for f, c in missing.items()})
                + f". Fix the export, or map the column under sources.{source.name}.columns."
            ),
            metadata={
                "observed": dg.MetadataValue.int(len(missing)),
                "threshold": dg.MetadataValue.int(0),
                "files": dg.MetadataValue.json(missing),
            },
        ),
        dg.AssetCheckResult(
            check_name=EMPTY_CHECK,
            asset_key=layer_key("raw", source.name),
            passed=not empty,
            severity=warn,
            description=(
                (
                    f"{len(result.empty_files)} file(s) have only a header, which is normal "
                    f"for {source.name} (a delivery with nothing to report)."
                    if result.empty_files
                    else "Every file has rows."
                )
                if not empty
                else f"{len(empty)} file(s) have no rows (empty, or a header only): "
                f"{', '.join(empty[:10])}{' ...' if len(empty) > 10 else ''}. Check that the "
                f"export finished."
            ),
            metadata={
                "observed": dg.MetadataValue.int(len(empty)),
                "threshold": dg.MetadataValue.int(0),
                "files": dg.MetadataValue.json(empty),
            },
        ),
    ]


def pseudonymising(
    source: Source, identity: IdentityConfig | None, config: SourcesConfig | None = None
) -> dict:
    """For a pseudonymised source, the `ingest_source` arguments that store each identifier
    as its salted SHA-256 (`sources.suppression.salted_identifier_sql`), so raw values are
    never stored, and the hashes cannot be matched against a list of emails hashed elsewhere.
    Identifiers are normalised with the rules identity_graph uses (`config`'s `identity:`
    section included), so an erasure request finds the person's normalised identifiers."""
    if not source.pseudonymised:
        return {}

    rules = (identity or IdentityConfig()).rules(config)
    phones = [quote(c.name) for c in source.columns if c.identifier == "phone"]

    def prepare(con) -> None:
        ensure_privacy_tables(con)
        union = " UNION ALL ".join(f"SELECT {c} FROM _checked" for c in phones) or (
            "SELECT NULL::VARCHAR"
        )
        fill_phone_table(con, rules, union)

    hashed = {
        c.name: salted_identifier_sql(rules, c.identifier, "{column}")
        for c in source.columns
        if c.identifier
    }
    return {"hashed": hashed, "before_final": prepare}


def _engine_reader(engine: EngineResource) -> Any:
    """Spark's reader of landing files when the `engine` resource is Spark (set in the
    resource, or `SEG_PLATFORM_ENGINE=spark` when it is unset): the files are read and checked
    on Spark (`sources.spark_ingest`), the rest of the load stays in the warehouse. None
    (DuckDB's reader) otherwise."""
    if not engine.is_spark:
        return None
    from seg_platform.sources.spark_ingest import SparkReader

    return SparkReader(*engine.session())


def _read_on(reader: Any, source: Source) -> str:
    """Which engine read the files ("spark"; "duckdb", with Spark's reason to pass; or
    "nothing to read": no file with rows to read)."""
    if reader is None:
        return "duckdb"
    if source.name in reader.fallbacks:
        return f"duckdb (not on Spark: {reader.fallbacks[source.name]})"
    return "spark" if source.name in reader.on_spark else "nothing to read"


def build_raw_asset(source: Source) -> dg.AssetsDefinition:
    @dg.asset(
        name=source.name,
        **in_layer("raw"),
        kinds={"duckdb"},
        description=(
            f"{source.meaning} Typed and deduplicated on `{source.key}`; each row keeps its "
            f"source file and position. Rows that break the contract are in `raw.quarantine` "
            f"with a reason; rows of erased people are dropped before anything is stored. "
            f"Table `{table_name(source)}`."
        ),
        metadata={
            "dagster/table_name": table_name(source),
            "dagster/column_schema": _column_schema(source),
        },
        check_specs=[
            dg.AssetCheckSpec(name, asset=layer_key("raw", source.name), description=description)
            for name, description in FILE_CHECKS.items()
        ],
    )
    def _raw_asset(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        sources: SourcesResource,
        identity: IdentityConfig,
        engine: EngineResource,
    ) -> dg.MaterializeResult:
        try:
            config = sources.load()
            # The identity layer's rules (sources.yaml, then launchpad): identifiers of erased
            # people are normalised as identity_graph normalises them.
            rules = identity.rules(config)
            reader = _engine_reader(engine)
            with warehouse.get_connection() as con:
                result = ingest_source(
                    con,
                    source,
                    config,
                    suppress=lambda c: suppression_condition(c, source, rules),
                    incremental=not sources.full_reload,
                    suppression_state=suppression_state(con, rules),
                    reader=reader,
                    **pseudonymising(source, identity, config),
                )
                own = config.sources.get(source.name)
                metadata = _metadata(con, source, result, own.exact_duplicates if own else "keep")
                metadata["read_on"] = _read_on(reader, source)
                # The monthly and daily partitions follow the data (core/partitions.py).
                record_data_span(con, warehouse.path)
        except SourceConfigError as exc:
            # A user mistake: one clear message in the UI and CLI, no stack trace to read.
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        context.log.info(
            f"{source.name}: {result.mode} load, {result.files_loaded} file(s) read, "
            f"{result.files_unchanged} unchanged, {result.files_changed} changed, "
            f"{result.files_removed} removed; "
            f"{result.rows_read:,} read, {result.rows_kept:,} kept, "
            f"{result.rows_quarantined:,} quarantined, {result.duplicates_removed:,} duplicates, "
            f"{result.rows_suppressed:,} suppressed (erased people)"
        )
        return dg.MaterializeResult(
            metadata=metadata, check_results=file_check_results(source, result)
        )

    return _raw_asset


def build_raw_check(source: Source) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=layer_key("raw", source.name),
        name=CHECK_NAME,
        blocking=True,
        description=(
            "Blocks everything downstream unless the table matches the contract's schema, its "
            "key is unique and required columns are filled, timestamps are in the sane range "
            "(Great Expectations), and the quarantined share is at or below the source's limit."
        ),
    )
    def _raw_check(warehouse: WarehouseResource, sources: SourcesResource) -> dg.AssetCheckResult:
        config = sources.load()
        source_config = config.sources.get(source.name)
        with warehouse.get_connection() as con:
            return evaluate_raw_table(con, source, config, source_config)

    return _raw_check


def evaluate_raw_table(con, source: Source, config, source_config) -> dg.AssetCheckResult:
    """Run the raw suite on `raw.<source>` and turn the outcome into a check result."""
    table = table_name(source)
    problems, rows = [], []
    expected = [(c.name, c.type) for c in (*source.columns, *LINEAGE_COLUMNS)]
    actual = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {table}").fetchall()]
    schema_ok = actual == expected
    rows.append(("schema matches contract", schema_ok, "as expected" if schema_ok else str(actual)))
    if not schema_ok:
        problems.append(f"its columns {actual} differ from the contract {expected}")

    earliest = dt.datetime.fromisoformat(config.timestamp_min_of(source.name))
    latest = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(
        days=config.timestamp_max_days_ahead
    )
    suite = raw_suite(source, earliest, latest)
    (n_rows,) = fetch_one(con, f"SELECT count(*) FROM {table}")
    if n_rows > max_gx_rows() and can_push_down(suite):
        engine = "duckdb (pushed down: more rows than Great Expectations is given in memory)"
        outcomes = validate_relation(con, table, suite)
    else:
        engine = "great_expectations"
        frame = con.sql(f"SELECT {', '.join(suite_columns(suite))} FROM {table}").pl()
        outcomes = validate_frame(frame, suite)
    for outcome in outcomes:
        # GX and the push-down show a few unexpected values ("e.g. 'K1'"): not in the UI.
        observed = _GX_EXAMPLES.sub("", outcome.observed)
        rows.append((outcome.expectation.label, outcome.success, observed))
        if not outcome.success:
            problems.append(f"{outcome.expectation.label}: {observed}")

    limit = source_config.max_quarantine_share if source_config else 0.0
    read, filtered, quarantined = fetch_one(
        con,
        f"SELECT coalesce(sum(rows_read), 0), coalesce(sum(rows_filtered), 0), "
        f"coalesce(sum(rows_quarantined), 0) FROM {FILES_TABLE} WHERE source = ?",
        [source.name],
    )
    considered = read - filtered
    share = quarantined / considered if considered else 0.0
    share_ok = share <= limit
    rows.append(
        (
            "quarantine share at or below limit",
            share_ok,
            f"{share:.2%} ({quarantined:,} of {considered:,} rows), limit {limit:.2%}",
        )
    )
    rules = rule_counts(con, source.name, limit=10)
    if not share_ok:
        problems.append(
            _quarantine_problem(source.name, share, quarantined, considered, limit, rules)
        )
    passed = not problems
    description = (
        f"{table} meets its contract."
        if passed
        else f"{table} breaks its contract: " + "; ".join(problems)
    )
    return dg.AssetCheckResult(
        passed=passed,
        description=description,
        metadata={
            "observed_quarantine_share": dg.MetadataValue.float(round(share, 6)),
            "threshold_quarantine_share": dg.MetadataValue.float(limit),
            "rows": dg.MetadataValue.int(n_rows),
            "expectations_engine": engine,
            "quarantine_rules": _fix_table(source.name, rules),
            "quarantine_by_rule": dg.MetadataValue.json(dict(rules)),
            "expectations": markdown(
                pl.DataFrame(rows, schema=["expectation", "passed", "observed"], orient="row")
            ),
        },
    )


def _quarantine_problem(
    name: str, share: float, quarantined: int, considered: int, limit: float, rules
) -> str:
    """Why too many rows were quarantined: one line per value-free rule with its row count and
    the setting that fixes it. Raising the limit is offered last, and only when the rows are a
    minority of the table and no single rule explains all of them: otherwise a setting is
    wrong, and a higher limit would pass a table emptied by it."""
    lines = [
        f"{share:.1%} of its rows were quarantined ({quarantined:,} of {considered:,}), above "
        f"the limit of {limit:.1%}. By rule:",
        *(f"{_rows(n)}: {rule}; {rule_fix(name, rule)}" for rule, n in rules),
    ]
    if share < 0.5 and not any(n >= quarantined for _, n in rules):
        lines.append(
            f"Inspect the rows with SELECT * FROM {QUARANTINE_TABLE} WHERE source = '{name}'; "
            f"only if they are expected to be bad, raise max_quarantine_share under "
            f"sources.{name}."
        )
    return "\n".join(lines)


def _rows(n: int) -> str:
    return f"{n:,} row" if n == 1 else f"{n:,} rows"


RAW_ASSETS = [build_raw_asset(s) for s in SOURCES.values()]
RAW_CHECKS = [build_raw_check(s) for s in SOURCES.values()]
