"""Everything Dagster loads: assets, checks, jobs and resources, assembled in one place."""

from pathlib import Path

import dagster as dg

from seg_platform.features.checks import build_catalog_asset, build_feature_checks
from seg_platform.identity.assets import IDENTITY_ASSETS, IDENTITY_CHECKS
from seg_platform.partitions import monthly_partitions
from seg_platform.resources import IdentityConfig, SourcesResource, WarehouseResource
from seg_platform.sources.assets import RAW_ASSETS, RAW_CHECKS
from seg_platform.sql_models.assets import SQL_ROOT, load_sql_assets

MAIN_JOB = "full_pipeline"
CURRENT_JOB = "refresh_current_tables"
MONTHLY_JOB = "monthly_snapshot"


def make_definitions(sql_root: Path = SQL_ROOT) -> dg.Definitions:
    """The platform's Definitions, with the SQL models of `sql_root` (tests pass their own)."""
    models, sql_assets, sql_checks = load_sql_assets(sql_root)
    feature_checks = [
        check for model in models if model.catalog and model.partitioned
        for check in build_feature_checks(model)
    ]  # fmt: skip
    catalog_asset, catalog_check = build_catalog_asset(models)
    monthly_keys = [dg.AssetKey(m.name) for m in models if m.partitioned]
    jobs = [
        dg.define_asset_job(
            name=MAIN_JOB,
            selection=dg.AssetSelection.all(),
            description="Materialize every asset for one month: landing files to that "
            "month's features.",
        ),
        dg.define_asset_job(
            name=CURRENT_JOB,
            selection=dg.AssetSelection.all() - dg.AssetSelection.assets(*monthly_keys),
            description="Reload the landing files and rebuild every table that is not a "
            "monthly snapshot: raw, identity and staging.",
        ),
        dg.define_asset_job(
            name=MONTHLY_JOB,
            selection=dg.AssetSelection.assets(*monthly_keys),
            partitions_def=monthly_partitions,
            description="Build one month's snapshots (features) from the current tables.",
        ),
    ]
    return dg.Definitions(
        assets=[*RAW_ASSETS, *IDENTITY_ASSETS, *sql_assets, catalog_asset],
        asset_checks=[*RAW_CHECKS, *IDENTITY_CHECKS, *sql_checks, *feature_checks, catalog_check],
        jobs=jobs,
        resources={
            "warehouse": WarehouseResource(),
            "sources": SourcesResource(),
            "identity": IdentityConfig(),
        },
        # DuckDB has one writer per file: steps run one after another inside the run's process.
        executor=dg.in_process_executor,
    )


defs = make_definitions()
