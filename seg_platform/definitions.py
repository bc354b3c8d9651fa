"""Everything Dagster loads: assets, checks, jobs and resources, assembled in one place."""

from pathlib import Path

import dagster as dg

from seg_platform.activation.assets import ACTIVATION_ASSETS
from seg_platform.activation.resources import published_outputs
from seg_platform.core.partitions import daily_partitions, monthly_partitions
from seg_platform.core.paths import SQL_ROOT
from seg_platform.features.checks import build_catalog_asset, build_feature_checks
from seg_platform.identity.assets import IDENTITY_ASSETS, IDENTITY_CHECKS
from seg_platform.orchestration import build_automation, build_daily_schedule, build_follow_up
from seg_platform.predictions.assets import PREDICTION_ASSETS
from seg_platform.predictions.daily import DAILY_ASSETS
from seg_platform.privacy.assets import PRIVACY_ASSETS
from seg_platform.resources import (
    ActivationConfig,
    IdentityConfig,
    PredictionsConfig,
    SegmentationConfig,
    SourcesResource,
    WarehouseResource,
)
from seg_platform.segmentation.assets import SEGMENTATION_ASSETS, SEGMENTATION_CHECKS
from seg_platform.segmentation.tracking import MlflowResource
from seg_platform.segments.assets import SEGMENTS_ASSETS, SEGMENTS_CHECKS
from seg_platform.sources.assets import RAW_ASSETS, RAW_CHECKS
from seg_platform.sql_models.assets import load_sql_assets

MAIN_JOB = "full_pipeline"
CURRENT_JOB = "refresh_current_tables"
MONTHLY_JOB = "monthly_snapshot"
DAILY_JOB = "daily_scoring"


def make_definitions(sql_root: Path = SQL_ROOT) -> dg.Definitions:
    """The platform's Definitions, with the SQL models of `sql_root` (tests pass their own)."""
    models, sql_assets, sql_checks = load_sql_assets(sql_root)
    feature_checks = [
        check for model in models if model.catalog and model.partitioned
        for check in build_feature_checks(model)
    ]  # fmt: skip
    catalog_asset, catalog_check = build_catalog_asset(models)
    assets = [
        *RAW_ASSETS,
        *IDENTITY_ASSETS,
        *PRIVACY_ASSETS,
        *sql_assets,
        catalog_asset,
        *SEGMENTATION_ASSETS,
        *SEGMENTS_ASSETS,
        *PREDICTION_ASSETS,
        *DAILY_ASSETS,
        *ACTIVATION_ASSETS,
    ]
    daily_keys = [key for a in DAILY_ASSETS for key in a.keys]
    monthly_keys = [
        key for a in assets if a.partitions_def for key in a.keys if key not in daily_keys
    ]
    jobs = [
        dg.define_asset_job(
            name=MAIN_JOB,
            selection=dg.AssetSelection.all() - dg.AssetSelection.assets(*daily_keys),
            description="Materialize every asset for one month: landing files to that "
            "month's features, segments, predictions and activation feeds.",
        ),
        dg.define_asset_job(
            name=CURRENT_JOB,
            selection=dg.AssetSelection.all()
            - dg.AssetSelection.assets(*monthly_keys, *daily_keys),
            description="Reload the landing files and rebuild every table that is not a "
            "monthly snapshot: raw, identity and staging.",
        ),
        dg.define_asset_job(
            name=MONTHLY_JOB,
            selection=dg.AssetSelection.assets(*monthly_keys),
            partitions_def=monthly_partitions,
            description="Build one month's snapshots from the current tables: features, the "
            "segmentation (MLflow runs, registered model), the segment tables, and the champion "
            "alias when every blocking check passed.",
        ),
        dg.define_asset_job(
            name=DAILY_JOB,
            selection=dg.AssetSelection.assets(*daily_keys),
            partitions_def=daily_partitions,
            description="Score one day without re-fitting: segments for customers first seen "
            "since the last monthly fit, propensities for customers whose behaviour changed, "
            "and the rule-based overlays.",
        ),
    ]
    schedule, sensor = build_automation(CURRENT_JOB, MONTHLY_JOB)
    follow_up = build_follow_up(jobs[1], jobs[2])
    daily = build_daily_schedule(jobs[3])
    return dg.Definitions(
        assets=assets,
        schedules=[schedule, daily],
        sensors=[sensor, follow_up],
        asset_checks=[
            *RAW_CHECKS,
            *IDENTITY_CHECKS,
            *sql_checks,
            *feature_checks,
            catalog_check,
            *SEGMENTATION_CHECKS,
            *SEGMENTS_CHECKS,
        ],  # fmt: skip
        jobs=jobs,
        resources={
            "warehouse": WarehouseResource(),
            "sources": SourcesResource(),
            "identity": IdentityConfig(),
            "segmentation": SegmentationConfig(),
            "predictions": PredictionsConfig(),
            "activation": ActivationConfig(),
            "published_outputs": published_outputs,
            "mlflow_tracking": MlflowResource(),
        },
        # DuckDB has one writer per file: steps run one after another inside the run's process.
        executor=dg.in_process_executor,
    )


defs = make_definitions()
