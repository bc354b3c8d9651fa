"""Keeps the column catalog (seg_platform/core/table_columns.yaml) true to a built warehouse.

    python -m seg_platform.columns --warehouse PATH          # list what differs, exit 1 if any
    python -m seg_platform.columns --warehouse PATH --write  # refresh columns and types

It compares the catalog with DESCRIBE of every table of the warehouse, and with what the
Dagster UI shows: a column without a description, or described both by its asset and by the
catalog, is listed too. Build the warehouse first: `seg-platform demo` (or `seg-platform run`).
"""

import argparse
import sys
from pathlib import Path

import dagster as dg

from seg_platform.core.metadata import (
    COLUMN_SCHEMA,
    OTHER_TABLE,
    TABLE_NAME,
    published_descriptions,
)
from seg_platform.core.table_columns import (
    CATALOG_PATH,
    Problem,
    TableColumnsError,
    compare,
    dump,
    load_catalog,
    refreshed,
    warehouse_columns,
)
from seg_platform.core.warehouse import WarehouseLockedError, connect


def published(definitions: dg.Definitions) -> dict[str, dict[str, str]]:
    """Per table an asset shows in the UI, the column descriptions it shows."""
    shown: dict[str, dict[str, str]] = {}
    for spec in definitions.resolve_all_asset_specs():
        table = spec.metadata.get(TABLE_NAME)
        if table is not None and COLUMN_SCHEMA in spec.metadata:
            shown[str(getattr(table, "value", table))] = published_descriptions(spec)
        for key, value in spec.metadata.items():
            other = key.removeprefix(OTHER_TABLE.format(table=""))
            if other != key:
                shown[other] = published_descriptions(
                    spec.replace_attributes(metadata={COLUMN_SCHEMA: value})
                )
    return shown


def check(warehouse: Path, catalog_path: Path = CATALOG_PATH) -> list[Problem]:
    """What differs between the catalog at `catalog_path` and the warehouse file."""
    from seg_platform.definitions import defs

    catalog = load_catalog(catalog_path)
    with connect(warehouse, read_only=True) as con:
        tables = warehouse_columns(con)
    names = {spec.key.path[-1] for spec in defs.resolve_all_asset_specs()}
    unknown = [
        Problem(f"assets.{name}", "no asset has this name: correct or remove the entry")
        for name in catalog.assets
        if name not in names
    ]
    return unknown + compare(catalog, tables, published(defs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m seg_platform.columns",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--warehouse", type=Path, required=True, help="a built warehouse.duckdb")
    parser.add_argument("--catalog", type=Path, default=CATALOG_PATH, help="default: %(default)s")
    parser.add_argument(
        "--write", action="store_true", help="rewrite the catalog's columns and types from it"
    )
    args = parser.parse_args(argv)
    if not args.warehouse.is_file():
        print(f"error: {args.warehouse} is not a warehouse file", file=sys.stderr)
        return 2
    try:
        if args.write:
            with connect(args.warehouse, read_only=True) as con:
                tables = warehouse_columns(con)
            args.catalog.write_text(dump(refreshed(load_catalog(args.catalog), tables)))
            print(f"wrote {args.catalog}")
        problems = check(args.warehouse, args.catalog)
    except (TableColumnsError, WarehouseLockedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    print(f"{len(problems)} difference(s) between {args.catalog} and {args.warehouse}")
    if problems:
        print(
            "--write takes columns, order and types from the warehouse (descriptions are kept); "
            "write descriptions and `assets:` entries by hand."
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
