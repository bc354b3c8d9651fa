"""Every table asset shows its table's real columns in the Dagster UI: names, order and DuckDB
types as the demo's warehouse has them, each with a description; and the column catalog has
nothing to fix against that warehouse."""

import dagster as dg
import duckdb
import pytest

from seg_platform.cli import main
from seg_platform.columns import check
from seg_platform.core.metadata import COLUMN_SCHEMA, OTHER_TABLE, TABLE_NAME
from seg_platform.definitions import defs
from seg_platform.runner import score_day


def _add_later_tables(home) -> None:
    """The tables a month's pipeline does not build: the daily scores and overlays (the daily
    job), a lookalike audience (`seg-platform lookalike`) and the lift (once January's outcomes
    are in: one planted order per treated customer)."""
    assert score_day() == 0
    assert main(["lookalike", "--segment", "0", "--size", "10", "--name", "schema"]) == 0
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute(
            """INSERT INTO staging.stg_orders
               SELECT profile_id, 'planted-' || profile_id, 'planted-' || profile_id,
                      TIMESTAMP '2026-01-31 12:00:00', 'completed', 'books', 40.0
               FROM activation.experiment_groups
               WHERE as_of_date = '2025-12-31' AND "group" = 'treatment'"""
        )
    key = dg.AssetKey(["activation", "campaign_lift"])
    lift = [a for a in defs.assets if key in a.keys]
    result = dg.materialize(
        lift, partition_key="2026-01-01", resources=defs.resources, selection=[key]
    )
    assert result.success


def _schema(value) -> dg.TableSchema | None:
    return getattr(value, "schema", value)  # a TableSchemaMetadataValue or a TableSchema


def _schemas() -> dict[str, tuple[str, dg.TableSchema]]:
    """Every table an asset shows columns for: table -> (asset, schema)."""
    shown = {}
    for spec in defs.resolve_all_asset_specs():
        asset = spec.key.to_user_string()
        table = spec.metadata.get(TABLE_NAME)
        if table is None:
            continue
        schema = spec.metadata.get(COLUMN_SCHEMA)
        shown[str(getattr(table, "value", table))] = (asset, _schema(schema))
        for key, value in spec.metadata.items():
            if key.startswith(OTHER_TABLE.format(table="")):
                shown[key.removeprefix(OTHER_TABLE.format(table=""))] = (asset, _schema(value))
    return shown


# The first test to ask for the demo's warehouse builds it (about 9 minutes on a loaded machine).
@pytest.mark.timeout(1800)
def test_every_table_asset_shows_its_warehouse_columns_with_types_and_meanings(demo_copy):
    home, _ = demo_copy
    _add_later_tables(home)
    shown = _schemas()
    # Every table-writing group is covered, not only the SQL models.
    assets = {asset for asset, _ in shown.values()}
    assert {"raw/orders", "identity/identity_map", "segmentation/customer_segments",
            "segments/segment_profiles", "predictions/customer_predictions",
            "predictions/daily_customer_scores", "activation/activation_audiences",
            "activation/campaign_lift", "privacy/erasure", "staging/stg_orders",
            "features/customer_features"} <= assets  # fmt: skip

    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
                "WHERE database_name = current_database()"
            ).fetchall()
        }
        wrong = []
        for table, (asset, schema) in sorted(shown.items()):
            if table not in tables:
                wrong.append(f"{asset}: its table {table} is not in the warehouse")
                continue
            actual = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {table}").fetchall()]
            published = [(c.name, c.type) for c in schema.columns] if schema else None
            if published != actual:
                wrong.append(f"{asset}: {table} shows {published}, the table has {actual}")
            blank = [c.name for c in (schema.columns if schema else []) if not c.description]
            if blank:
                wrong.append(f"{asset}: {table} has columns without a description: {blank}")
    assert not wrong, "\n".join(wrong)

    # And the catalog check a maintainer runs finds nothing to change on this warehouse.
    assert [str(p) for p in check(home.warehouse)] == []


def _published(asset: str) -> dg.TableSchema:
    key = dg.AssetKey.from_user_string(asset)
    schema = _schema(defs.resolve_assets_def(key).specs_by_key[key].metadata[COLUMN_SCHEMA])
    assert schema is not None
    return schema


def test_segment_profiles_shows_duckdb_types_and_a_meaning_per_column():
    columns = {c.name: c for c in _published("segments/segment_profiles").columns}
    assert columns["customers"].type == "BIGINT"
    assert columns["distinguishing_features"].type == "VARCHAR[]"
    assert columns["feature_means"].type.startswith("STRUCT(")
    assert "z-score" in columns["feature_zscores"].description
    # SQL models keep the meanings of their catalog comments, now with real types.
    features = {c.name: c for c in _published("features/customer_features").columns}
    assert features["orders_90d"].type in ("BIGINT", "INTEGER", "HUGEINT")
    assert "(source: " in features["orders_90d"].description
    assert {c.type for c in features.values()} <= {"VARCHAR", "DATE", "BIGINT", "DOUBLE"}
