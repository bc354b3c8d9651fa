"""Everything Dagster loads: assets, checks, jobs and resources, assembled in one place."""

import dagster as dg

from seg_platform.features.checks import build_catalog_asset, build_feature_checks
from seg_platform.identity.assets import IDENTITY_ASSETS, IDENTITY_CHECKS
from seg_platform.partitions import monthly_partitions
from seg_platform.resources import IdentityConfig, SourcesResource, WarehouseResource
from seg_platform.sources.assets import RAW_ASSETS, RAW_CHECKS
from seg_platform.sql_models.assets import load_sql_assets

MAIN_JOB = "full_pipeline"
CURRENT_JOB = "refresh_current_tables"
MONTHLY_JOB = "monthly_snapshot"

SQL_MODELS, SQL_ASSETS, SQL_CHECKS = load_sql_assets()
FEATURE_CHECKS = [
    check for model in SQL_MODELS if model.catalog and model.partitioned
    for check in build_feature_checks(model)
]  # fmt: skip
CATALOG_ASSET, CATALOG_CHECK = build_catalog_asset(SQL_MODELS)
MONTHLY_KEYS = [dg.AssetKey(m.name) for m in SQL_MODELS if m.partitioned]

full_pipeline = dg.define_asset_job(
    name=MAIN_JOB,
    selection=dg.AssetSelection.all(),
    description="Materialize every asset for one month: landing files to the month's features.",
)
refresh_current_tables = dg.define_asset_job(
    name=CURRENT_JOB,
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(*MONTHLY_KEYS),
    description="Reload the landing files and rebuild every table that is not a monthly "
    "snapshot: raw, identity, staging and intermediate.",
)
monthly_snapshot = dg.define_asset_job(
    name=MONTHLY_JOB,
    selection=dg.AssetSelection.assets(*MONTHLY_KEYS),
    partitions_def=monthly_partitions,
    description="Build one month's snapshots (features) from the current tables.",
)

defs = dg.Definitions(
    assets=[*RAW_ASSETS, *IDENTITY_ASSETS, *SQL_ASSETS, CATALOG_ASSET],
    asset_checks=[*RAW_CHECKS, *IDENTITY_CHECKS, *SQL_CHECKS, *FEATURE_CHECKS, CATALOG_CHECK],
    jobs=[full_pipeline, refresh_current_tables, monthly_snapshot],
    resources={
        "warehouse": WarehouseResource(),
        "sources": SourcesResource(),
        "identity": IdentityConfig(),
    },
    # DuckDB has one writer per file: steps run one after another inside the run's process.
    executor=dg.in_process_executor,
)
