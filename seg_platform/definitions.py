"""Everything Dagster loads: assets, checks, jobs and resources, assembled in one place."""

import warnings
from pathlib import Path

import dagster as dg

from seg_platform.activation.assets import ACTIVATION_ASSETS
from seg_platform.activation.resources import ActivationConfig, published_outputs
from seg_platform.core import settings
from seg_platform.core.engine import engine_name
from seg_platform.core.metadata import with_column_schemas
from seg_platform.core.partitions import daily_partitions_for, monthly_partitions_for
from seg_platform.core.paths import SQL_ROOT
from seg_platform.core.resources import EngineResource, WarehouseResource, engine_executor
from seg_platform.core.table_columns import load_catalog
from seg_platform.core.tracking import MlflowResource
from seg_platform.features.checks import build_catalog_asset, build_feature_checks
from seg_platform.identity.assets import IDENTITY_ASSETS, IDENTITY_CHECKS
from seg_platform.orchestration import (
    build_automation,
    build_daily_schedule,
    build_follow_up,
    with_freshness_policies,
)
from seg_platform.predictions.assets import PREDICTION_ASSETS
from seg_platform.predictions.daily import DAILY_ASSETS
from seg_platform.predictions.resources import PredictionsConfig
from seg_platform.privacy.assets import PRIVACY_ASSETS
from seg_platform.segmentation.assets import SEGMENTATION_ASSETS, SEGMENTATION_CHECKS
from seg_platform.segmentation.resources import SegmentationConfig
from seg_platform.segments.assets import SEGMENTS_ASSETS, SEGMENTS_CHECKS
from seg_platform.segments.resources import SegmentsConfig
from seg_platform.serving.assets import SERVING_ASSETS, SERVING_KEY
from seg_platform.sources.assets import RAW_ASSETS, RAW_CHECKS
from seg_platform.sources.resources import IdentityConfig, SourcesResource
from seg_platform.sql_models.assets import load_sql_assets

# Dagster's own snapshot of every schedule reads the deprecated
# `ScheduleDefinition.environment_vars` (dagster/_core/remote_representation/external_data.py):
# the code server warns once per schedule whatever the project does, and nothing here sets it.
# Remove when Dagster stops reading it.
warnings.filterwarnings(
    "ignore",
    message=r"Property `ScheduleDefinition\.environment_vars` is deprecated",
    category=DeprecationWarning,
)

MAIN_JOB = "full_pipeline"
CURRENT_JOB = "refresh_current_tables"
MONTHLY_JOB = "monthly_snapshot"
DAILY_JOB = "daily_scoring"


def with_partitions(
    asset: dg.AssetsDefinition,
    monthly: dg.MonthlyPartitionsDefinition,
    daily: dg.DailyPartitionsDefinition,
) -> dg.AssetsDefinition:
    """`asset` over the given monthly or daily partitions (the ones of its kind)."""
    current = asset.partitions_def
    if isinstance(current, dg.DailyPartitionsDefinition):
        wanted: dg.PartitionsDefinition = daily
    elif isinstance(current, dg.MonthlyPartitionsDefinition):
        wanted = monthly
    else:
        return asset
    if current == wanted:
        return asset
    return asset.map_asset_specs(lambda spec: spec.replace_attributes(partitions_def=wanted))


# Who answers for each layer's tables (README, "Owners, PII tags and freshness").
OWNERS = {
    "raw": "team:data-platform",
    "identity": "team:data-platform",
    "privacy": "team:data-platform",
    "staging": "team:data-platform",
    "features": "team:data-platform",
    "segmentation": "team:data-science",
    "predictions": "team:data-science",
    "segments": "team:growth",
    "activation": "team:growth",
    "serving": "team:growth",
}
# Tables without personal data: aggregates, metrics and model bookkeeping, no row about one person.
# Every other table holds rows about one person with an identifier (a source id, an email, a
# profile or customer id, or its SHA-256): personal data, tagged `pii=true`, new tables included.
NO_PERSONAL_DATA = {
    "match_rate",
    "feature_catalog",
    "segmentation_candidates",
    "segmentation_champion",
    "propensity_models",
    "segment_profiles",
    "segment_migration",
    "campaign_lift",
    "survey_report",
}


def with_owners_and_tags(assets: list) -> list:
    """Every asset with its layer's owner and the tags `layer` (its group) and `pii`."""

    def tagged(spec: dg.AssetSpec) -> dg.AssetSpec:
        layer = spec.group_name or "default"
        pii = "false" if spec.key.path[-1] in NO_PERSONAL_DATA else "true"  # the table name
        return spec.replace_attributes(
            owners=[OWNERS.get(layer, OWNERS["raw"])],
            tags={**spec.tags, "layer": layer, "pii": pii},
        )

    return list(dg.map_asset_specs(tagged, assets))


def make_definitions(sql_root: Path = SQL_ROOT) -> dg.Definitions:
    """The platform's Definitions, with the SQL models of `sql_root` (tests pass their own),
    over the partitions the platform home's data offers now (`settings.current_partitions`)."""
    engine = engine_name()  # SEG_PLATFORM_ENGINE, checked before anything is built
    calendar = settings.current_partitions()
    monthly_partitions = monthly_partitions_for(calendar)
    daily_partitions = daily_partitions_for(calendar)
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
        *SERVING_ASSETS,
    ]
    assets = [with_partitions(a, monthly_partitions, daily_partitions) for a in assets]
    # Every table asset's columns with their DuckDB types and meanings, from one catalog.
    assets = with_column_schemas(assets, load_catalog())
    assets = with_owners_and_tags(assets)
    assets = with_freshness_policies(assets)
    daily_keys = [
        key for a in assets if isinstance(a.partitions_def, dg.DailyPartitionsDefinition)
        for key in a.keys
    ]  # fmt: skip
    monthly_keys = [
        key for a in assets if a.partitions_def for key in a.keys if key not in daily_keys
    ]
    # The profile service's snapshot ends every job that writes what it reads (unpartitioned:
    # the latest of everything), so runs launched from the UI or a schedule publish it too.
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
            "monthly snapshot: raw, identity and staging; then the profile service's snapshot.",
        ),
        dg.define_asset_job(
            name=MONTHLY_JOB,
            selection=dg.AssetSelection.assets(*monthly_keys, SERVING_KEY),
            description="Build one month's snapshots from the current tables: features, the "
            "segmentation (MLflow runs, registered model), the segment tables, and the champion "
            "alias when every blocking check passed; then the profile service's snapshot.",
        ),
        dg.define_asset_job(
            name=DAILY_JOB,
            selection=dg.AssetSelection.assets(*daily_keys, SERVING_KEY),
            description="Score one day without re-fitting: segments for customers first seen "
            "since the last monthly fit, propensities for customers whose behaviour changed, "
            "and the rule-based overlays; then the profile service's snapshot.",
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
            "segments": SegmentsConfig(),
            "predictions": PredictionsConfig(),
            "activation": ActivationConfig(),
            "published_outputs": published_outputs,
            "mlflow_tracking": MlflowResource(),
            "engine": EngineResource(),
        },
        # DuckDB: one writer, steps one after another in the run's process; Spark: side by side.
        executor=engine_executor(engine),
    )


defs = make_definitions()
