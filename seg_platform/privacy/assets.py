"""The erasure step (group `privacy`): right after the identity graph, before any table reads it
(`privacy.erasure`). Published outputs are scrubbed through the resource `published_outputs`
(`privacy.published.PublishedOutputs`, the activation feeds in the Definitions)."""

import dagster as dg
import polars as pl

from seg_platform.core.engine import to_lake
from seg_platform.core.failures import config_errors_as_failures
from seg_platform.core.layers import in_layer, layer_key
from seg_platform.core.metadata import markdown
from seg_platform.core.resources import EngineResource, WarehouseResource
from seg_platform.core.serving import republish_without, serving_root
from seg_platform.core.spark import tables
from seg_platform.core.warehouse import fetch_one, rewrite_without_free_blocks, table_exists
from seg_platform.privacy.erasure import erase
from seg_platform.privacy.published import PublishedOutputs
from seg_platform.privacy.spark_erasure import erase_in_lake
from seg_platform.sources.resources import IdentityConfig, SourcesResource
from seg_platform.sources.suppression import ERASED, salted

IDENTITY_KEYS = [layer_key("identity", "identity_map")]


@dg.asset(
    **in_layer("privacy"),
    kinds={"duckdb"},
    deps=[layer_key("raw", "erasure_requests"), *IDENTITY_KEYS],
    description="Right to erasure: every person named in `raw.erasure_requests` (or erased "
    "before) is deleted from every raw, identity, feature, segment, prediction and activation "
    "table and from the published feed files, before anything downstream reads them; segment "
    "sizes and migration counts are adjusted. Tables `privacy.erasure_log` (no identifiers) "
    "and `privacy.erased_identifiers` (SHA-256 only).",
    check_specs=[
        dg.AssetCheckSpec(
            "erased_persons_are_gone", asset=layer_key("privacy", "erasure"), blocking=True,
            description="No identifier left in the identity map hashes to a requested or "
            "previously erased identifier, and no published feed row belongs to an erased "
            "profile.",
        )
    ],
)  # fmt: skip
def erasure(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    identity: IdentityConfig,
    sources: SourcesResource,
    published_outputs: dg.ResourceParam[PublishedOutputs],
    engine: EngineResource,
):
    # Read before anything is deleted: a mistake in destinations.yaml stops the step here, and
    # the request takes effect on the next run (suppression at load keeps the person out).
    # The identity rules as the identity graph used them (sources.yaml, then the launchpad):
    # identifiers are normalised alike, so a request finds what the graph stored.
    with config_errors_as_failures():
        published_outputs.check_config()
        rules = identity.rules(sources.load())
    with warehouse.get_connection() as con:
        result = erase(con, context.run_id, rules, published_outputs)
        erased = [r[0] for r in con.execute(
            "SELECT profile_id FROM _erased_profiles ORDER BY 1").fetchall()]  # fmt: skip
        republished = published_outputs.scrub(con, result.feeds_touched, erased)
        # The Spark engine's lake holds copies of these tables: every version without the
        # people; a table without `profile_id` (e.g. a raw table a model reads) is handed over
        # again from the warehouse, erased above, with no older version left.
        lake_rows = 0
        if engine.is_spark and tables(engine.settings().lake):
            spark, lake = engine.session()
            lake_rows = sum(erase_in_lake(spark, lake, erased).values())
            for table in tables(lake):
                schema, name = table.split(".")
                if table_exists(con, schema, name) and "profile_id" not in [
                    r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()
                ]:
                    to_lake(con, lake, table, keep_previous=False)
        (salt,) = fetch_one(con, "SELECT salt FROM privacy.salt")
        hashed = salted(salt, "sha256(id_type || ':' || value)")
        (left,) = fetch_one(
            con,
            f"SELECT count(*) FROM identity.identity_map WHERE {hashed} "
            f"IN (SELECT identifier_sha256 FROM {ERASED})",
        )
    # The profile service's snapshot beside the warehouse drops them now, not at the run's end.
    republish_without(serving_root(warehouse.path.parent), erased)
    # Deleted rows stay in the file's freed blocks: rewrite it so that no byte of them is left.
    rewritten = result.total_rows > 0
    size = rewrite_without_free_blocks(warehouse.path) if rewritten else None
    context.log.info(
        f"erasure: {result.requests} request(s), {result.profiles} person(s) erased, "
        f"{result.total_rows:,} rows deleted"
        + (f"; warehouse rewritten without free blocks ({size / 1e6:,.1f} MB)" if size else "")
    )
    yield dg.MaterializeResult(
        metadata={
            "requests": result.requests,
            "requests_matched": result.requests_matched,
            "persons_erased": result.profiles,
            "rows_deleted": result.total_rows,
            "feed_files_rewritten": republished,
            **({"lake_rows_deleted": lake_rows} if engine.is_spark else {}),
            "warehouse_rewritten": rewritten,
            "rows_deleted_by_table": markdown(
                pl.DataFrame(
                    sorted(result.rows_deleted.items()), schema=["table", "rows"], orient="row"
                )
            ),
        }
    )
    yield dg.AssetCheckResult(
        check_name="erased_persons_are_gone",
        passed=left == 0,
        metadata={"identifiers_still_mapped": left},
        description=None if left == 0 else f"{left} erased identifier(s) still mapped",
    )


PRIVACY_ASSETS = [erasure]
