"""Checks on feature tables (models of dbt_like_sql/ with a feature catalog), per month.

Blocking: one row per profile known at the as-of date; values finite and within their range
(counts and amounts not negative, rates in [0, 1]); each feature's null share within its limit.
Advisory (WARN): drift against the previous month, by population stability index.

The checks run in the month's run and read its partition key; they are not themselves
partitioned (Dagster's partitioned checks are still a preview API).
"""

import datetime as dt

import dagster as dg
import polars as pl

from seg_platform.core.calendar import month_end_before, month_parameters
from seg_platform.core.layers import in_layer, layer_key
from seg_platform.core.metadata import markdown
from seg_platform.core.resources import WarehouseResource
from seg_platform.core.warehouse import fetch_one, frame_to_temp_table, replace_tables, table_exists
from seg_platform.features.catalog import CATALOG_TABLE, catalog_frame
from seg_platform.features.quality import PSI_WARN, drift, feature_stats, numeric_columns
from seg_platform.sources.contract import SOURCES
from seg_platform.sql_models.project import Model


def sources_with_data(con) -> set[str]:
    """Sources whose raw table has rows; a feature of absent sources is expected to be null."""
    present = {"all"}
    for name in SOURCES:
        if table_exists(con, "raw", name) and fetch_one(con, f"SELECT EXISTS (FROM raw.{name})")[0]:
            present.add(name)
    return present


def _as_of(context: dg.AssetCheckExecutionContext) -> dt.date:
    return month_parameters(context.partition_key)["as_of_date"]


def build_feature_checks(model: Model) -> list[dg.AssetChecksDefinition]:
    asset = layer_key(model.layer, model.name)
    table = model.table

    @dg.asset_check(
        asset=asset,
        name="one_row_per_profile",
        blocking=True,
        description="Blocks downstream unless the month has exactly one row for every profile "
        "first seen at or before its as-of date.",
    )
    def one_row_per_profile(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        as_of = month_parameters(context.partition_key)
        with warehouse.get_connection() as con:
            rows, profiles, expected = fetch_one(
                con,
                f"SELECT count(*), count(DISTINCT profile_id), (SELECT count(*) FROM "
                f"identity.profiles WHERE first_seen <= ?) FROM {table} WHERE as_of_date = ?",
                [as_of["as_of"], as_of["as_of_date"]],
            )
        return dg.AssetCheckResult(
            passed=bool(rows == profiles == expected),
            description=None
            if rows == profiles == expected
            else f"{rows:,} rows for {profiles:,} profiles; {expected:,} profiles expected",
            metadata={
                "rows": rows,
                "distinct_profiles": profiles,
                "profiles_known_at_as_of": expected,
                "threshold": "rows = distinct profiles = profiles known at the as-of date",
            },
        )

    @dg.asset_check(
        asset=asset,
        name="features_finite_and_in_range",
        blocking=True,
        description="Blocks downstream if any feature is NaN or infinite, any count or amount is "
        "negative, or any rate is outside [0, 1] (ranges from the feature catalog).",
    )
    def finite_and_in_range(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        with warehouse.get_connection() as con:
            stats = feature_stats(con, table, str(_as_of(context)), model.catalog)
        bounds = {e.name: (e.minimum, e.maximum) for e in model.catalog}
        bad = [s for s in stats if s.not_finite or s.below or s.above]
        report = pl.DataFrame(
            [
                {
                    "feature": s.name,
                    "nan_or_infinite": s.not_finite,
                    "below_minimum": s.below,
                    "above_maximum": s.above,
                    "range": f"{bounds[s.name][0]} .. {bounds[s.name][1]}",
                }
                for s in bad
            ]
        )
        return dg.AssetCheckResult(
            passed=not bad,
            description="values out of range in: " + ", ".join(s.name for s in bad)
            if bad
            else None,
            metadata={
                "features_checked": sum(s.numeric for s in stats),
                "features_failing": len(bad),
                "failing": markdown(report) if bad else "none",
                "threshold": "0 NaN/infinite and 0 out-of-range values per feature",
            },
        )

    @dg.asset_check(
        asset=asset,
        name="null_share_within_limits",
        blocking=True,
        description="Blocks downstream if a feature whose sources delivered data is null more "
        "often than its catalog limit allows (0 unless the catalog says `nulls <= x`). Features "
        "of absent sources are null by design and reported, not failed.",
    )
    def null_share(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        with warehouse.get_connection() as con:
            stats = feature_stats(con, table, str(_as_of(context)), model.catalog)
            present = sources_with_data(con)
        rows, failing, absent = [], 0, []
        for entry, s in zip(model.catalog, stats, strict=True):
            if not present.intersection(entry.sources):
                absent.append(entry.name)
                continue
            limit = entry.max_null_share or 0.0
            ok = s.null_share <= limit
            failing += not ok
            rows.append(
                {"feature": s.name, "null_share": round(s.null_share, 4), "limit": limit, "ok": ok}
            )
        over = [
            f"{r['feature']} {r['null_share']:.1%} > {r['limit']:.0%}" for r in rows if not r["ok"]
        ]
        return dg.AssetCheckResult(
            passed=failing == 0,
            description=f"null share over the limit: {', '.join(over)}" if over else None,
            metadata={
                "features_failing": failing,
                "null_shares": markdown(pl.DataFrame(rows).sort("null_share", descending=True)),
                "features_of_absent_sources": ", ".join(absent) or "none",
                "threshold": "per-feature limit from the catalog (default 0)",
            },
        )

    @dg.asset_check(
        asset=asset,
        name="features_stable_since_last_month",
        blocking=False,
        description=f"Warns when a feature's distribution moved since the previous month "
        f"(population stability index above {PSI_WARN}); lists the features that moved most.",
    )
    def stable(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        as_of = _as_of(context)
        previous = month_end_before(as_of)
        with warehouse.get_connection() as con:
            has_previous = fetch_one(
                con, f"SELECT EXISTS (FROM {table} WHERE as_of_date = ?)", [previous]
            )[0]
            if not has_previous:
                return dg.AssetCheckResult(
                    passed=True,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"note": f"no rows for the previous month ({previous}) to compare"},
                )
            columns = [e.name for e in model.catalog if e.name in numeric_columns(con, table)]
            scores = drift(con, table, str(as_of), str(previous), columns)
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        drifting = [name for name, score in ranked if score > PSI_WARN]
        return dg.AssetCheckResult(
            passed=not drifting,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "compared_with": str(previous),
                "features_drifting": len(drifting),
                "top_drifting": markdown(
                    pl.DataFrame(ranked[:10], schema=["feature", "psi"], orient="row")
                ),
                "max_psi": ranked[0][1] if ranked else 0.0,
                "threshold": f"PSI <= {PSI_WARN} per feature",
            },
        )

    return [one_row_per_profile, finite_and_in_range, null_share, stable]


def build_catalog_asset(
    models: list[Model],
) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition]:
    """The asset `features/feature_catalog` (table features.feature_catalog) and its check."""
    documented = [m for m in models if m.catalog]

    @dg.asset(
        name="feature_catalog",
        **in_layer("features"),
        kinds={"duckdb"},
        description="What every feature means: name, one-line meaning, sources, window, the "
        "null share and range it is checked against, and the SQL file defining it. Generated "
        f"from the SQL in dbt_like_sql/ (also docs/features.md). Table `{CATALOG_TABLE}`.",
        metadata={"dagster/table_name": CATALOG_TABLE},
    )
    def feature_catalog(warehouse: WarehouseResource) -> dg.MaterializeResult:
        frame = catalog_frame(documented)
        with warehouse.get_connection() as con:
            con.execute("CREATE SCHEMA IF NOT EXISTS features")
            frame_to_temp_table(con, "_catalog", frame)
            replace_tables(
                con, [(CATALOG_TABLE, f"CREATE OR REPLACE TABLE {CATALOG_TABLE} AS FROM _catalog")]
            )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": frame.height,
                "catalog": markdown(frame.select("table_name", "feature", "window", "meaning")),
            }
        )

    @dg.asset_check(
        asset=feature_catalog,
        name="catalog_matches_tables",
        blocking=False,
        description="Every catalogued feature is a column of its built table (tables not built "
        "yet are skipped).",
    )
    def catalog_matches_tables(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        missing = []
        with warehouse.get_connection() as con:
            for m in documented:
                schema, table = m.table.split(".")
                if not table_exists(con, schema, table):
                    continue
                columns = {r[0] for r in con.execute(f"DESCRIBE {m.table}").fetchall()}
                missing += [f"{m.table}.{e.name}" for e in m.catalog if e.name not in columns]
        return dg.AssetCheckResult(
            passed=not missing,
            metadata={"missing_columns": ", ".join(missing) or "none", "threshold": "0 missing"},
        )

    return feature_catalog, catalog_matches_tables
