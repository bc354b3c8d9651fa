"""Everything Dagster loads: assets, checks, jobs and resources, assembled in one place."""

import dagster as dg

from seg_platform.identity.assets import IDENTITY_ASSETS, IDENTITY_CHECKS
from seg_platform.resources import IdentityConfig, SourcesResource, WarehouseResource
from seg_platform.sources.assets import RAW_ASSETS, RAW_CHECKS

MAIN_JOB = "full_pipeline"

full_pipeline = dg.define_asset_job(
    name=MAIN_JOB,
    selection=dg.AssetSelection.all(),
    description="Materialize every asset, from landing files to the latest tables.",
)

defs = dg.Definitions(
    assets=[*RAW_ASSETS, *IDENTITY_ASSETS],
    asset_checks=[*RAW_CHECKS, *IDENTITY_CHECKS],
    jobs=[full_pipeline],
    resources={
        "warehouse": WarehouseResource(),
        "sources": SourcesResource(),
        "identity": IdentityConfig(),
    },
    # DuckDB has one writer per file: steps run one after another inside the run's process.
    executor=dg.in_process_executor,
)
