"""Samples of tables shown in the Dagster UI, with every text value masked.

Dagster's event log is outside the warehouse, where an erasure cannot reach: what it holds of
a table is the shape (columns, types, numbers, dates), never a name, an id or an identifier.
"""

import duckdb
import polars as pl

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
