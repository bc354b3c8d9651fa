"""The column catalog: a mistake in table_columns.yaml is one clear line, and the comparison
with a warehouse says what to change."""

from pathlib import Path

import duckdb
import pytest

from seg_platform.core.table_columns import (
    Column,
    TableColumnsCatalog,
    TableColumnsError,
    compare,
    dump,
    load_catalog,
    refreshed,
    warehouse_columns,
)

pytestmark = pytest.mark.unit


def test_the_shipped_catalog_is_valid_and_gives_every_table_a_type():
    catalog = load_catalog()
    assert "segments.segment_profiles" in catalog.tables
    assert catalog.tables["identity.profiles"]["sources"].type == "VARCHAR[]"
    assert all(c.type for columns in catalog.tables.values() for c in columns.values())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "tables:\n  segments.segment_profiles:\n    segment_id: {type: bigint}\n",
            "tables.segments.segment_profiles.segment_id.type: 'bigint' is not a DuckDB type",
        ),
        (
            "tables:\n  segment_profiles:\n    segment_id: {type: BIGINT}\n",
            "tables.segment_profiles: the name 'segment_profiles' is not a table name written "
            "as schema.table",
        ),
        (
            "tables:\n  raw.orders:\n    amount: {type: DOUBLE, desc: money}\n",
            "tables.raw.orders.amount.desc: unknown setting; the settings here are: type, "
            "description",
        ),
        (
            "tables:\n  raw.orders:\n    amount: {description: money}\n",
            "tables.raw.orders.amount.type: required, but missing",
        ),
        (
            "tables:\n  raw.orders:\n    amount: {type: DOUBLE, description: '  '}\n",
            "a description must not be blank",
        ),
        (
            "assets:\n  erasure: [privacy.erasure_log]\ntables:\n  raw.orders:\n"
            "    amount: {type: DOUBLE}\n",
            "assets.erasure: privacy.erasure_log is not under tables:",
        ),
        ("tables:\n  raw.orders: {}\n", "tables.raw.orders: has no columns"),
        ("tables: [raw.orders\n", "not valid YAML"),
    ],
)
def test_a_bad_catalog_says_which_entry_is_wrong(tmp_path: Path, text: str, message: str):
    path = tmp_path / "table_columns.yaml"
    path.write_text(text)
    with pytest.raises(TableColumnsError) as raised:
        load_catalog(path)
    assert str(path) in str(raised.value)
    assert message in str(raised.value)


def _catalog(**tables) -> TableColumnsCatalog:
    return TableColumnsCatalog(
        tables={
            t: {n: Column(type=k, description=d) for n, k, d in cols} for t, cols in tables.items()
        }
    )


def test_compare_lists_every_difference_with_what_to_do():
    catalog = _catalog(
        **{
            "s.a": [("id", "BIGINT", "The id."), ("gone", "VARCHAR", "Old."), ("x", "DATE", None)],
            "s.old": [("id", "BIGINT", "The id.")],
            "s.dup": [("id", "BIGINT", "Catalog text.")],
        }
    )
    warehouse = {
        "s.a": [("id", "INTEGER"), ("x", "DATE"), ("new", "DOUBLE")],
        "s.dup": [("id", "BIGINT")],
        "s.new": [("id", "BIGINT")],
    }
    problems = [str(p) for p in compare(catalog, warehouse, {"s.dup": {"id": "Asset text."}})]
    assert problems == [
        "s.a: id: type BIGINT in the catalog, INTEGER in the warehouse",
        "s.a: new DOUBLE: missing from the catalog: add it",
        "s.a: gone: in the catalog, not in the table: remove it",
        "s.a: x: no description: write one",
        "s.dup: id: described twice (its asset describes it too): remove the catalog's description",
        "s.new: not in the catalog (a new table): add it",
        "s.old: in the catalog, not in this warehouse: remove it if the table is gone (keep a "
        "table that is built later, by the daily job or once outcomes are in)",
    ]


def test_refresh_takes_columns_and_types_from_the_warehouse_and_keeps_descriptions(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("CREATE SCHEMA s; CREATE TABLE s.a (id INTEGER, tags VARCHAR[], on_ BOOLEAN)")
        con.execute("CREATE TABLE s._work (x INTEGER); CREATE VIEW s.v AS SELECT 1 AS x")
        tables = warehouse_columns(con)
    assert tables == {"s.a": [("id", "INTEGER"), ("tags", "VARCHAR[]"), ("on_", "BOOLEAN")]}
    catalog = refreshed(_catalog(**{"s.a": [("id", "BIGINT", "The id.")]}), tables)
    path = tmp_path / "table_columns.yaml"
    path.write_text(dump(catalog))
    again = load_catalog(path)
    assert again == catalog
    assert [(n, c.type, c.description) for n, c in again.tables["s.a"].items()] == [
        ("id", "INTEGER", "The id."),
        ("tags", "VARCHAR[]", None),
        ("on_", "BOOLEAN", None),
    ]
