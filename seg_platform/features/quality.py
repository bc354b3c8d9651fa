"""What the feature checks measure, as plain functions: value problems, null shares and drift.

Everything is computed in DuckDB in one pass over the month's rows (a million customers by
forty features is a few hundred megabytes as a pandas frame; the SQL pass is a second), except
the population stability index, which bins two months in NumPy.
"""

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy as np

from seg_platform.core.warehouse import quote
from seg_platform.sql_models.project import PARTITION_COLUMN, CatalogEntry

NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
PSI_BINS = 10
PSI_WARN = 0.25  # common rule of thumb: < 0.1 stable, 0.1-0.25 moderate, > 0.25 large shift


@dataclass(frozen=True)
class FeatureStats:
    name: str
    numeric: bool
    rows: int
    nulls: int
    not_finite: int  # NaN or +-infinity
    below: int  # values under the entry's minimum
    above: int  # values over the entry's maximum

    @property
    def null_share(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0


def numeric_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {
        name
        for name, type_ in con.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE {table})"
        ).fetchall()
        if type_.upper().split("(")[0] in NUMERIC
    }


def feature_stats(
    con: duckdb.DuckDBPyConnection, table: str, as_of_date: str, catalog: tuple[CatalogEntry, ...]
) -> list[FeatureStats]:
    """Nulls, non-finite values and out-of-range values of every catalog column for one month."""
    numeric = numeric_columns(con, table)
    parts = ["count(*)"]
    for entry in catalog:
        col = quote(entry.name)
        parts.append(f"count(*) FILTER (WHERE {col} IS NULL)")
        if entry.name in numeric:
            x = f"CAST({col} AS DOUBLE)"
            low = f"{x} < {entry.minimum}" if entry.minimum is not None else "false"
            high = f"{x} > {entry.maximum}" if entry.maximum is not None else "false"
            parts += [
                f"count(*) FILTER (WHERE isnan({x}) OR isinf({x}))",
                f"count(*) FILTER (WHERE {low})",
                f"count(*) FILTER (WHERE {high})",
            ]
    row = con.execute(
        f"SELECT {', '.join(parts)} FROM {table} WHERE {PARTITION_COLUMN} = ?", [as_of_date]
    ).fetchall()[0]
    rows, values, stats = row[0], list(row[1:]), []
    for entry in catalog:
        nulls = values.pop(0)
        if entry.name in numeric:
            bad, below, above = values.pop(0), values.pop(0), values.pop(0)
        else:
            bad = below = above = 0
        stats.append(
            FeatureStats(entry.name, entry.name in numeric, rows, nulls, bad, below, above)
        )
    return stats


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index of `actual` against `expected` (nulls dropped).

    Bins come from the deciles of `expected`, with edges halfway between neighbouring decile
    values rather than on them: counts and smoothed rates pile up on exact values, and an edge
    on such a value would turn a tiny shift of it into a large index. A share of zero is
    floored at 1e-4 so one empty bin does not make the index infinite.
    """
    expected = expected[~np.isnan(expected)]
    actual = actual[~np.isnan(actual)]
    if expected.size == 0 or actual.size == 0:
        return 0.0
    deciles = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)))
    edges = (deciles[:-1] + deciles[1:]) / 2
    e = np.bincount(np.searchsorted(edges, expected, side="right"), minlength=edges.size + 1)
    a = np.bincount(np.searchsorted(edges, actual, side="right"), minlength=edges.size + 1)
    e_share = np.maximum(e / e.sum(), 1e-4)
    a_share = np.maximum(a / a.sum(), 1e-4)
    return float(np.sum((a_share - e_share) * np.log(a_share / e_share)))


def drift(
    con: duckdb.DuckDBPyConnection,
    table: str,
    as_of_date: str,
    previous_as_of_date: str,
    columns: list[str],
) -> dict[str, float]:
    """PSI of each numeric column between the previous month and this one."""
    select = ", ".join(f"CAST({quote(c)} AS DOUBLE) AS {quote(c)}" for c in columns)

    def month(day: str):
        day = str(dt.date.fromisoformat(str(day)))  # a date, so it can sit in the SQL
        return con.sql(f"SELECT {select} FROM {table} WHERE {PARTITION_COLUMN} = '{day}'").pl()

    before, now = month(previous_as_of_date), month(as_of_date)
    return {
        c: round(
            psi(
                before[c].fill_null(np.nan).to_numpy(),
                now[c].fill_null(np.nan).to_numpy(),
            ),
            4,
        )
        for c in columns
    }
