"""The column catalog (`table_columns.yaml`): every warehouse table's columns, in order, with
their DuckDB types and, where no other part of the platform describes them, their meaning.

The Definitions publish it as each table asset's `dagster/column_schema`; `python -m
seg_platform.columns --warehouse PATH` compares it with a built warehouse (and `--write`
refreshes it). This module only reads, compares and writes the file: it knows no asset.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import duckdb
from pydantic import AfterValidator, Field, model_validator

from seg_platform.core.yaml_files import (
    NAME_PATTERN,
    ConfigFileError,
    Name,
    StrictModel,
    load_model,
)

CATALOG_PATH = Path(__file__).with_name("table_columns.yaml")
# DuckDB's own spelling, as DESCRIBE prints it: VARCHAR, BIGINT, DECIMAL(2,1), VARCHAR[],
# STRUCT(a DOUBLE, b DOUBLE).
_TYPE = re.compile(r"[A-Z][A-Z0-9_ ]*(\(.+\))?(\[\d*\])*", re.S)
_TABLE = re.compile(rf"{NAME_PATTERN}\.{NAME_PATTERN}")


class TableColumnsError(ConfigFileError):
    """table_columns.yaml is not usable; the message names the entry."""


def _check_type(value: str) -> str:
    if not _TYPE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a DuckDB type as DESCRIBE prints it (VARCHAR, BIGINT, DOUBLE, "
            "DATE, TIMESTAMP, VARCHAR[] ...)"
        )
    return value


def _check_table(value: str) -> str:
    if not _TABLE.fullmatch(value):
        raise ValueError(f"{value!r} is not a table name written as schema.table (lower_case)")
    return value


def _check_description(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("a description must not be blank: leave it out instead")
    return value


TableName = Annotated[str, AfterValidator(_check_table)]


class Column(StrictModel):
    type: Annotated[str, AfterValidator(_check_type)]
    # None where the table's asset describes the column itself (a source contract, a SQL
    # model's catalog comment, a column schema in the asset's code).
    description: Annotated[str | None, AfterValidator(_check_description)] = None


class TableColumnsCatalog(StrictModel):
    # Assets whose definition does not name all the tables they write: the first table is the
    # asset's own table unless its definition names one; the others are shown beside it.
    assets: dict[Name, list[TableName]] = Field(default_factory=dict)
    tables: dict[TableName, dict[str, Column]]

    @model_validator(mode="after")
    def _consistent(self) -> "TableColumnsCatalog":
        problems = []
        for table, columns in self.tables.items():
            if not columns:
                problems.append(f"tables.{table}: has no columns")
            bad = [c for c in columns if not re.fullmatch(r"[a-z_][a-z0-9_]*", c)]
            if bad:
                problems.append(f"tables.{table}: column names must be lower_case: {bad}")
        seen: dict[str, str] = {}
        for asset, tables in self.assets.items():
            for table in tables:
                if table not in self.tables:
                    problems.append(f"assets.{asset}: {table} is not under tables:")
                elif table in seen:
                    problems.append(f"assets.{asset}: {table} is already {seen[table]}'s")
                seen.setdefault(table, asset)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def load_catalog(path: Path = CATALOG_PATH) -> TableColumnsCatalog:
    """The catalog at `path`, validated; TableColumnsError names each mistake."""
    return load_model(path, TableColumnsCatalog, TableColumnsError, "table columns catalog")


def warehouse_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    """Every table of the warehouse (not views, not temporary, not `_`-prefixed work tables)
    with DESCRIBE's (column, type) pairs, in order."""
    tables = con.execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND NOT temporary "
        "AND NOT starts_with(table_name, '_') ORDER BY 1"
    ).fetchall()
    return {
        table: [(row[0], row[1]) for row in con.execute(f"DESCRIBE {table}").fetchall()]
        for (table,) in tables
    }


@dataclass(frozen=True)
class Problem:
    """One difference between the catalog and a warehouse, with what to do about it."""

    table: str
    what: str

    def __str__(self) -> str:
        return f"{self.table}: {self.what}"


def compare(
    catalog: TableColumnsCatalog,
    warehouse: Mapping[str, list[tuple[str, str]]],
    published: Mapping[str, Mapping[str, str]],
) -> list[Problem]:
    """What differs between the catalog and a warehouse's tables, and which columns have no
    description. `published` holds, per table an asset shows, the descriptions the UI shows
    (table -> column -> description): a column whose catalog description is not the one shown
    is described by its asset too, a duplicate to remove from the catalog."""
    problems = []
    for table, actual in warehouse.items():
        if table not in catalog.tables:
            problems.append(Problem(table, "not in the catalog (a new table): add it"))
            continue
        entries = catalog.tables[table]
        listed = [(name, column.type) for name, column in entries.items()]
        if listed != actual:
            problems.extend(_column_problems(table, listed, actual))
        shown = published.get(table)
        for name, column in entries.items():
            if name not in dict(actual):
                continue
            description = shown.get(name) if shown is not None else column.description
            if not description:
                problems.append(Problem(table, f"{name}: no description: write one"))
            elif column.description and description != column.description:
                problems.append(
                    Problem(table, f"{name}: described twice (its asset describes it too): "
                                   "remove the catalog's description")
                )  # fmt: skip
    for table in catalog.tables:
        if table not in warehouse:
            problems.append(
                Problem(table, "in the catalog, not in this warehouse: remove it if the table "
                               "is gone (keep a table that is built later, by the daily job or "
                               "once outcomes are in)")
            )  # fmt: skip
    return problems


def _column_problems(
    table: str, listed: list[tuple[str, str]], actual: list[tuple[str, str]]
) -> list[Problem]:
    out = []
    types, have = dict(actual), dict(listed)
    for name, kind in actual:
        if name not in have:
            out.append(Problem(table, f"{name} {kind}: missing from the catalog: add it"))
        elif have[name] != kind:
            out.append(Problem(table, f"{name}: type {have[name]} in the catalog, {kind} in the "
                                      "warehouse"))  # fmt: skip
    for name, _ in listed:
        if name not in types:
            out.append(Problem(table, f"{name}: in the catalog, not in the table: remove it"))
    if [n for n, _ in listed if n in types] != [n for n, _ in actual if n in have]:
        out.append(Problem(table, f"column order differs: the table has {[n for n, _ in actual]}"))
    return out


def refreshed(
    catalog: TableColumnsCatalog, warehouse: Mapping[str, list[tuple[str, str]]]
) -> TableColumnsCatalog:
    """The catalog with each warehouse table's columns, order and types as the warehouse has
    them; descriptions kept by column name, tables absent from the warehouse kept as they are."""
    tables = dict(catalog.tables)
    for table, actual in warehouse.items():
        old = catalog.tables.get(table, {})
        tables[table] = {
            name: Column(type=kind, description=old[name].description if name in old else None)
            for name, kind in actual
        }
    return TableColumnsCatalog(assets=catalog.assets, tables=dict(sorted(tables.items())))


# Plain YAML keys that a YAML 1.1 reader takes for booleans or null.
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}
HEADER = """\
# Every warehouse table's columns, in order, with their DuckDB types (as DESCRIBE prints them)
# and a description where no other part of the platform gives one: the Dagster UI shows them as
# each table asset's column schema. Raw tables are described by the source contracts
# (seg_platform/sources/contract.py), SQL models by their catalog comments, some prediction
# tables by their asset's code; those descriptions are left out here.
#
# Check against a built warehouse:  python -m seg_platform.columns --warehouse PATH
# Refresh types and columns:        python -m seg_platform.columns --warehouse PATH --write
# (then write a description for every column the check lists as having none).
#
# `assets:` lists the tables of assets whose definition does not name them all: the first is
# the asset's own table unless its definition names one; the others are shown beside it, as
# `columns of <table>` in the asset's metadata.
"""


def dump(catalog: TableColumnsCatalog) -> str:
    """The catalog as YAML, one line per column (JSON strings are YAML strings)."""
    lines = [HEADER, "assets:" if catalog.assets else "assets: {}"]
    for asset, tables in catalog.assets.items():
        lines += [f"  {asset}:", *(f"    - {table}" for table in tables)]
    lines.append("")
    lines.append("tables:")
    for table, columns in catalog.tables.items():
        lines.append(f"  {table}:")
        for name, column in columns.items():
            key = json.dumps(name) if name in _YAML_WORDS else name
            kind = column.type if re.fullmatch(r"[A-Z][A-Z0-9_]*", column.type) else None
            fields = [f"type: {kind or json.dumps(column.type)}"]
            if column.description:
                fields.append(f"description: {json.dumps(column.description, ensure_ascii=False)}")
            lines.append(f"    {key}: {{{', '.join(fields)}}}")
    return "\n".join(lines) + "\n"
