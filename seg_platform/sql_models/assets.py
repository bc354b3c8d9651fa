"""Dagster assets from `dbt_like_sql/`: one asset per SQL file, grouped by layer.

Adding a `.sql` file adds an asset: its dependencies come from the tables its SQL reads. Every
model gets a blocking check that its declared grain is unique (and that every row names a
profile where the table has `profile_id`); models with a feature catalog get the feature checks
of `seg_platform.features.checks`.
"""

from pathlib import Path

import dagster as dg

from seg_platform.core.calendar import month_parameters
from seg_platform.core.layers import in_layer, layer_key
from seg_platform.core.metadata import column_schema, markdown, masked_preview
from seg_platform.core.partitions import monthly_partitions, skip_partition_without_data
from seg_platform.core.paths import SQL_ROOT
from seg_platform.core.resources import EngineResource, WarehouseResource
from seg_platform.core.settings import DataSpan
from seg_platform.core.warehouse import fetch_one
from seg_platform.identity.build import SCHEMA as IDENTITY_SCHEMA
from seg_platform.identity.tables import SPECS as IDENTITY_SPECS
from seg_platform.sources.contract import SOURCES
from seg_platform.sources.span import record_data_span
from seg_platform.sql_models.project import (
    PARTITION_COLUMN,
    Model,
    SqlModelError,
    load_project,
)
from seg_platform.sql_models.run import build_model
from seg_platform.sql_models.run_spark import build_model_with_warehouse

IDENTITY_MAP = layer_key("identity", "identity_map")
ERASURE = layer_key("privacy", "erasure")


def upstream_keys() -> dict[str, list[dg.AssetKey]]:
    """Tables built outside dbt_like_sql/, with the assets that build them."""
    keys: dict[str, list[dg.AssetKey]] = {}
    for name in SOURCES:
        keys[f"raw.{name}"] = [layer_key("raw", name)]
        # identity.profiled_<source>: the raw table with each record's profile (a view).
        keys[f"{IDENTITY_SCHEMA}.profiled_{name}"] = [IDENTITY_MAP, layer_key("raw", name)]
    for name, (table, _meaning) in IDENTITY_SPECS.items():
        keys[table] = [layer_key("identity", name)]
    keys[f"{IDENTITY_SCHEMA}.identifier_values"] = [IDENTITY_MAP]
    keys[f"{IDENTITY_SCHEMA}.record_profiles"] = [
        IDENTITY_MAP,
        *(layer_key("raw", s) for s in SOURCES),
    ]
    # Erasure deletes people from raw and identity tables before any model reads them.
    return {table: [*deps, ERASURE] for table, deps in keys.items()}


def model_key(model: Model) -> dg.AssetKey:
    """`<layer>/<name>`: the key of the asset building the table `<layer>.<name>`."""
    return layer_key(model.layer, model.name)


def model_deps(model: Model, models: dict[str, Model]) -> list[dg.AssetKey]:
    outside = upstream_keys()
    deps: list[dg.AssetKey] = []
    for table in model.reads:
        if table in models:
            deps.append(model_key(models[table]))
        elif table in outside:
            deps.extend(outside[table])
        else:
            raise SqlModelError(
                model.path,
                f"reads {table}, which neither another model nor a platform asset builds",
            )
    return sorted(set(deps), key=lambda k: k.to_user_string())


def _column_schema(model: Model) -> dg.TableSchema:
    meanings = {c.name: c for c in model.catalog}
    return column_schema(
        (
            name,
            None,
            f"{meanings[name].meaning} (source: {', '.join(meanings[name].sources)}; "
            f"window: {meanings[name].window})"
            if name in meanings
            else None,
        )
        for name in model.columns
    )


def build_model_asset(model: Model, models: dict[str, Model]) -> dg.AssetsDefinition:
    relative = (
        model.path.relative_to(SQL_ROOT.parent) if SQL_ROOT in model.path.parents else model.path
    )

    @dg.asset(
        name=model.name,
        **in_layer(model.layer),
        kinds={"duckdb", "sql"},
        deps=model_deps(model, models),
        description=f"{model.description} Table `{model.table}`, from `{relative}`.",
        code_version=model.code_version,
        partitions_def=monthly_partitions if model.partitioned else None,
        # A month without data ends with no table written, and everything below is skipped.
        output_required=not model.partitioned,
        metadata={
            "dagster/table_name": model.table,
            "dagster/column_schema": _column_schema(model),
            "sql_file": str(relative),
            "grain": ", ".join(model.grain),
        },
    )
    def _asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, engine: EngineResource
    ):
        month = context.partition_key if model.partitioned else None
        if month and skip_partition_without_data(
            context, warehouse.path, measure=lambda: _measure_span(warehouse)
        ):
            return
        with warehouse.get_connection() as con:
            try:
                if engine.is_spark:
                    spark, lake = engine.session()
                    result = build_model_with_warehouse(spark, con, model, lake, month)
                else:
                    result = build_model(con, model, month)
            except SqlModelError as exc:
                raise dg.Failure(description=str(exc), allow_retries=False) from None
            where = f" WHERE {PARTITION_COLUMN} = '{result.month}'" if result.month else ""
            preview = masked_preview(con, f"SELECT * FROM {model.table}{where}")
        context.log.info(f"{model.table}: {result.rows:,} rows in {result.seconds} s")
        metadata = {
            "dagster/row_count": dg.MetadataValue.int(result.rows),
            "table_rows_all_months": dg.MetadataValue.int(result.total_rows),
            "seconds": dg.MetadataValue.float(result.seconds),
            "preview": markdown(preview),
        }
        if result.note:
            metadata["note"] = result.note
        yield dg.MaterializeResult(metadata=metadata)

    return _asset


def _measure_span(warehouse: WarehouseResource) -> DataSpan | None:
    with warehouse.get_connection() as con:
        return record_data_span(con, warehouse.path)


def _partition_filter(model: Model, context: dg.AssetCheckExecutionContext) -> str:
    if not model.partitioned:
        return ""
    return f" WHERE {PARTITION_COLUMN} = '{month_parameters(context.partition_key)['as_of_date']}'"


def build_grain_check(model: Model) -> dg.AssetChecksDefinition:
    profile = "profile_id" in model.columns

    @dg.asset_check(
        asset=model_key(model),
        name="rows_unique_on_grain",
        blocking=True,
        description=(
            f"Blocks downstream unless every row is unique on ({', '.join(model.grain)})"
            + (" and names a profile." if profile else ".")
        ),
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        grain = ", ".join(model.grain)
        where = _partition_filter(model, context)
        missing = "count(*) FILTER (WHERE profile_id IS NULL)" if profile else "0"
        with warehouse.get_connection() as con:
            rows, distinct, no_profile = fetch_one(
                con,
                f"SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT {grain} FROM "
                f"{model.table}{where})), {missing} FROM {model.table}{where}",
            )
        return dg.AssetCheckResult(
            passed=bool(rows == distinct and no_profile == 0),
            metadata={
                "rows": rows,
                "distinct_grain_values": distinct,
                "duplicate_rows": rows - distinct,
                "rows_without_profile": no_profile,
                "grain": grain,
                "threshold": "0 duplicates, 0 rows without profile",
            },
        )

    return _check


def load_sql_assets(
    root: Path = SQL_ROOT,
) -> tuple[list[Model], list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    """Models, assets and grain checks for every SQL file under `root`."""
    models = {m.table: m for m in load_project(root)}
    assets = [build_model_asset(m, models) for m in models.values()]
    checks = [build_grain_check(m) for m in models.values()]
    return list(models.values()), assets, checks
