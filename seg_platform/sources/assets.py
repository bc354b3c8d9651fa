"""Raw assets (group `raw`): one typed, deduplicated DuckDB table per source, with quarantine.

Each asset is gated by a blocking check that runs the source's Great Expectations suite, compares
the table's schema with the contract and holds the quarantine share under its limit.
"""

import datetime as dt

import dagster as dg
import polars as pl

from seg_platform.quality import can_push_down, max_gx_rows, validate_frame, validate_relation
from seg_platform.resources import IdentityConfig, SourcesResource, WarehouseResource
from seg_platform.sources.config import SourceConfigError
from seg_platform.sources.contract import LINEAGE_COLUMNS, SOURCES, Source
from seg_platform.sources.ingest import (
    FILES_TABLE,
    QUARANTINE_TABLE,
    IngestResult,
    ingest_source,
    table_name,
)
from seg_platform.sources.suites import raw_suite, suite_columns
from seg_platform.warehouse import fetch_one, quote

CHECK_NAME = "meets_source_contract"


def markdown(frame: pl.DataFrame) -> dg.MetadataValue:
    """A frame as a Markdown table for the Dagster UI."""
    with pl.Config(
        tbl_formatting="MARKDOWN",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_rows=-1,
        tbl_cols=-1,
        fmt_str_lengths=80,
    ):
        return dg.MetadataValue.md(str(frame))


def _column_schema(source: Source) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(c.name, c.type.lower(), description=c.meaning)
            for c in (*source.columns, *LINEAGE_COLUMNS)
        ]
    )


def _metadata(con, source: Source, result: IngestResult) -> dict:
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
        "duplicates_removed": dg.MetadataValue.int(result.duplicates_removed),
        "quarantine_share": dg.MetadataValue.float(round(result.quarantine_share, 6)),
    }
    if not result.configured:
        metadata["note"] = f"Source '{name}' is not in sources.yaml: empty table, skipped."
        return metadata
    metadata["quarantine_reasons"] = markdown(
        pl.DataFrame(result.top_reasons, schema=["reason", "rows"], orient="row")
    )
    metadata["quarantine_sample"] = markdown(
        con.sql(
            f"SELECT source_file, source_row, reason FROM {QUARANTINE_TABLE} "
            f"WHERE source = '{name}' ORDER BY source_file, source_row LIMIT 10"
        ).pl()
    )
    # Identifiers are masked: Dagster's event log is not a place an erasure can reach.
    masked = ", ".join(
        f"CASE WHEN {quote(c.name)} IS NOT NULL THEN '<{c.identifier}>' END AS {quote(c.name)}"
        for c in source.columns
        if c.identifier
    )
    replace = f" REPLACE ({masked})" if masked else ""
    metadata["preview"] = markdown(
        con.sql(f"SELECT *{replace} FROM {table_name(source)} LIMIT 5").pl()
    )
    return metadata


def pseudonymising(source: Source, identity: IdentityConfig | None) -> dict:
    """For a pseudonymised source, the `ingest_source` arguments that store each identifier
    as its SHA-256 (`identity.build.identifier_hash_sql`), so raw values are never stored."""
    if not source.pseudonymised:
        return {}
    from seg_platform.identity.build import fill_phone_table, identifier_hash_sql

    rules = (identity or IdentityConfig()).rules()
    phones = [quote(c.name) for c in source.columns if c.identifier == "phone"]

    def prepare(con) -> None:
        union = " UNION ALL ".join(f"SELECT {c} FROM _checked" for c in phones) or (
            "SELECT NULL::VARCHAR"
        )
        fill_phone_table(con, rules, union)

    hashed = {
        c.name: identifier_hash_sql(rules, c.identifier, "{column}")
        for c in source.columns
        if c.identifier
    }
    return {"hashed": hashed, "before_final": prepare}


def build_raw_asset(source: Source) -> dg.AssetsDefinition:
    asset = dg.asset(
        name=source.name,
        group_name="raw",
        kinds={"duckdb"},
        description=(
            f"{source.meaning} Typed and deduplicated on `{source.key}`; each row keeps its "
            f"source file and position. Rows that break the contract are in `raw.quarantine` "
            f"with a reason. Table `{table_name(source)}`."
        ),
    )

    def load(context, warehouse: WarehouseResource, sources: SourcesResource, identity=None):
        try:
            config = sources.load()
            with warehouse.get_connection() as con:
                result = ingest_source(con, source, config, **pseudonymising(source, identity))
                metadata = _metadata(con, source, result)
        except SourceConfigError as exc:
            # A user mistake: one clear message in the UI and CLI, no stack trace to read.
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        context.log.info(
            f"{source.name}: {result.rows_read:,} read, {result.rows_kept:,} kept, "
            f"{result.rows_quarantined:,} quarantined, {result.duplicates_removed:,} duplicates"
        )
        return dg.MaterializeResult(metadata=metadata)

    if source.pseudonymised:  # hashing follows the identity rules' normalisation

        @asset
        def _raw_asset(
            context: dg.AssetExecutionContext,
            warehouse: WarehouseResource,
            sources: SourcesResource,
            identity: IdentityConfig,
        ) -> dg.MaterializeResult:
            return load(context, warehouse, sources, identity)

    else:

        @asset
        def _raw_asset(
            context: dg.AssetExecutionContext,
            warehouse: WarehouseResource,
            sources: SourcesResource,
        ) -> dg.MaterializeResult:
            return load(context, warehouse, sources)

    return _raw_asset


def build_raw_check(source: Source) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=source.name,
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

    earliest = dt.datetime.fromisoformat(config.timestamp_min)
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
        rows.append((outcome.expectation.label, outcome.success, outcome.observed))
        if not outcome.success:
            problems.append(f"{outcome.expectation.label}: {outcome.observed}")

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
    if not share_ok:
        top = fetch_one(
            con,
            f"SELECT reason, count(*) n FROM {QUARANTINE_TABLE} WHERE source = ? "
            "GROUP BY reason ORDER BY n DESC LIMIT 1",
            [source.name],
        )
        problems.append(
            f"{share:.1%} of its rows were quarantined ({quarantined:,} of {considered:,}), "
            f"above the limit of {limit:.1%}; most common reason: '{top[0]}' ({top[1]:,} rows). "
            f"Inspect them with SELECT * FROM {QUARANTINE_TABLE} WHERE source = '{source.name}', "
            f"fix the feed or the mapping, or raise max_quarantine_share in sources.yaml"
        )
    passed = not problems
    description = (
        f"{table} meets its contract."
        if passed
        else f"{table} breaks its contract: " + "; ".join(problems) + "."
    )
    return dg.AssetCheckResult(
        passed=passed,
        description=description,
        metadata={
            "observed_quarantine_share": dg.MetadataValue.float(round(share, 6)),
            "threshold_quarantine_share": dg.MetadataValue.float(limit),
            "rows": dg.MetadataValue.int(n_rows),
            "expectations_engine": engine,
            "expectations": markdown(
                pl.DataFrame(rows, schema=["expectation", "passed", "observed"], orient="row")
            ),
        },
    )


RAW_ASSETS = [build_raw_asset(s) for s in SOURCES.values()]
RAW_CHECKS = [build_raw_check(s) for s in SOURCES.values()]
