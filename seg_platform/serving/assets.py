"""The profile service's snapshot as an asset (group `serving`): the last step of every run
that writes the tables the service answers from (the refresh, monthly and daily jobs, however
launched: CLI, Dagster UI, schedule or sensor), so it is published inside that run, under its
one-writer guard, with the run's own warehouse connection (docs/serving.md).

A publish that fails leaves the previous snapshot served; the step fails with a message that
names what broke without quoting any value (DuckDB and OS errors can quote data or paths).
"""

import re

import dagster as dg
import duckdb

from seg_platform.core.layers import in_layer, layer_key
from seg_platform.core.resources import WarehouseResource
from seg_platform.core.serving import current_version, read_manifest, serving_root
from seg_platform.core.warehouse import WarehouseLockedError
from seg_platform.predictions.resources import PredictionsConfig
from seg_platform.serving.snapshot import publish_from_warehouse

# What the snapshot reads (serving.snapshot.build_tables): it runs after each of them that the
# run's job holds.
SNAPSHOT_READS = [
    layer_key("identity", "identity_map"),
    layer_key("privacy", "erasure"),
    layer_key("features", "customer_features"),
    layer_key("segments", "segment_assignments"),
    layer_key("segments", "segment_profiles"),
    layer_key("predictions", "customer_predictions"),
    layer_key("predictions", "daily_customer_scores"),
    layer_key("predictions", "customer_overlays"),
    layer_key("activation", "activation_audiences"),
]
SERVING_KEY = layer_key("serving", "serving_snapshot")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_PATH = re.compile(r"(?:[A-Za-z]:)?[/\\][^\s:,;]+")


def publish_failure(exc: Exception) -> str:
    """Why a publish failed, in one line with no value of the data: quoted parts (DuckDB quotes
    values and names) and file paths are blanked, as quarantine reasons are scrubbed."""
    first = (str(exc).strip().splitlines() or [""])[0]
    detail = _PATH.sub("<path>", _QUOTED.sub("'…'", first)).strip()
    kind = type(exc).__name__
    return (
        f"publishing the serving snapshot failed ({kind}{': ' + detail if detail else ''}); "
        "the profile service keeps serving the previous snapshot"
    )


@dg.asset(
    **in_layer("serving"),
    deps=SNAPSHOT_READS,
    kinds={"duckdb", "parquet"},
    check_specs=[
        dg.AssetCheckSpec(
            "pointer_names_the_new_snapshot", asset=SERVING_KEY,
            description="After the publish, `<home>/serving/CURRENT` names the version this "
            "run wrote: the profile service switches to it within a poll.",
        )
    ],
)  # fmt: skip
def serving_snapshot(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    predictions: PredictionsConfig,
) -> dg.MaterializeResult:
    """What the real-time profile service (`seg-platform serve`) answers from: per customer the
    latest segment with its action, scores, overlays, consent and reasons, and the identifier
    hashes that find them. Published atomically under `<home>/serving/` at the end of every
    run that wrote those tables; the service switches to it without a restart."""
    home_root = warehouse.path.parent
    try:
        with warehouse.get_connection() as con:
            folder = publish_from_warehouse(con, home_root, predictions.overlays or None)
    except (OSError, WarehouseLockedError, ValueError, duckdb.Error) as exc:
        raise dg.Failure(description=publish_failure(exc), allow_retries=False) from None
    rows = read_manifest(folder)["rows"]
    served = current_version(serving_root(home_root))
    context.log.info(f"serving snapshot {folder.name} published")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows["profiles"],
            "version": folder.name,
            "path": dg.MetadataValue.path(str(folder)),
            **{f"{name}_rows": count for name, count in rows.items() if name != "profiles"},
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="pointer_names_the_new_snapshot",
                passed=served == folder,
                metadata={"served": served.name if served else "none", "published": folder.name},
            )
        ],
    )


SERVING_ASSETS = [serving_snapshot]
