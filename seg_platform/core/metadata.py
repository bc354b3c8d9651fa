"""What the Dagster UI shows of a table: Markdown tables, column schemas, masked samples.

Dagster's event log is outside the warehouse, where an erasure cannot reach: what it holds of
a table is the shape (columns, types, numbers, dates), never a name, an id or an identifier.
"""

from collections.abc import Iterable

import dagster as dg
import duckdb
import polars as pl

from seg_platform.core.table_columns import TableColumnsCatalog

MASK = "•••"


def masked(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with every text value (and every list or struct, which may hold text) replaced
    by a mask; numbers, dates and booleans are kept, nulls stay null."""
    keep = (pl.Boolean, pl.Date, pl.Datetime, pl.Duration, pl.Time)
    exprs = []
    for name, dtype in frame.schema.items():
        if dtype.is_numeric() or isinstance(dtype, keep) or dtype in keep:
            exprs.append(pl.col(name))
        else:
            exprs.append(
                pl.when(pl.col(name).is_null()).then(None).otherwise(pl.lit(MASK)).alias(name)
            )
    return frame.select(exprs)


def masked_preview(con: duckdb.DuckDBPyConnection, sql: str, limit: int = 5) -> pl.DataFrame:
    """The first `limit` rows of a query, masked (`masked`)."""
    return masked(con.sql(f"SELECT * FROM ({sql}) LIMIT {int(limit)}").pl())


def markdown(frame: pl.DataFrame) -> dg.MetadataValue:
    """A frame as a Markdown table for the Dagster UI."""
    with pl.Config(
        tbl_formatting="MARKDOWN",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_rows=-1,
        tbl_cols=-1,
        fmt_str_lengths=80,
        # Without a width, polars wraps wide tables inside cells, which breaks the Markdown
        # rows and splits values across lines.
        tbl_width_chars=65_000,
    ):
        return dg.MetadataValue.md(str(frame))


def column_schema(columns: Iterable[tuple[str, str | None, str | None]]) -> dg.TableSchema:
    """A table's `dagster/column_schema` from (name, type, description) triples; a type of
    None leaves Dagster's default."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, kind, description=description)
            if kind
            else dg.TableColumn(name, description=description)
            for name, kind, description in columns
        ]
    )


TABLE_NAME = "dagster/table_name"
COLUMN_SCHEMA = "dagster/column_schema"
OTHER_TABLE = "columns of {table}"


def published_descriptions(spec: dg.AssetSpec) -> dict[str, str]:
    """The column descriptions an asset spec's `dagster/column_schema` gives, by column."""
    value = spec.metadata.get(COLUMN_SCHEMA)
    schema = getattr(value, "schema", value)  # a TableSchemaMetadataValue or a TableSchema
    if not isinstance(schema, dg.TableSchema):
        return {}
    return {c.name: c.description for c in schema.columns if c.description}


def with_column_schemas(assets: list, catalog: TableColumnsCatalog) -> list:
    """`assets` with each table asset's `dagster/column_schema` from the column catalog: the
    warehouse's column names, order and DuckDB types, and each column's description (the one
    the asset gives itself first: a source contract, a SQL model's catalog, its code). Assets
    the catalog lists under `assets:` get their table's name too, and the other tables they
    write as `columns of <table>` entries."""

    def schema(table: str, own: dict[str, str]) -> dg.TableSchema:
        return column_schema(
            (name, column.type, own.get(name) or column.description)
            for name, column in catalog.tables[table].items()
        )

    def publish(spec: dg.AssetSpec) -> dg.AssetSpec:
        # By the key's last part, so a layer prefix (`activation/campaign_lift`) still matches.
        listed = catalog.assets.get(spec.key.path[-1], [])
        table = spec.metadata.get(TABLE_NAME) or (listed[0] if listed else None)
        if table is None:
            return spec
        table = str(getattr(table, "value", table))
        metadata: dict = {TABLE_NAME: table}
        if table in catalog.tables:
            metadata[COLUMN_SCHEMA] = schema(table, published_descriptions(spec))
        for other in listed:
            if other != table:
                metadata[OTHER_TABLE.format(table=other)] = schema(other, {})
        return spec.merge_attributes(metadata=metadata)

    return list(dg.map_asset_specs(publish, assets))
