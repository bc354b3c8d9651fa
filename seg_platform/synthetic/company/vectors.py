"""Vectorised helpers: categorical draws, group positions and string columns, never per row."""

import numpy as np
import polars as pl
import pyarrow as pa

from seg_platform.synthetic.company.vocabulary import JUNK_SHARE

DAY = 86_400  # seconds: event times are epoch seconds


def pick_rows(rng: np.random.Generator, table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One categorical draw per row, from the probability row `table[rows]`."""
    k = table.shape[1]
    cum = np.cumsum(table / table.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    flat = (cum + np.arange(table.shape[0])[:, None]).ravel()
    u = rng.random(len(rows)) + rows
    out = np.searchsorted(flat, u, side="right") - rows * k
    return np.clip(out, 0, k - 1)


def pick_n(rng: np.random.Generator, probs: np.ndarray | list[float], n: int) -> np.ndarray:
    return pick_rows(rng, np.asarray(probs, dtype=np.float64)[None, :], np.zeros(n, dtype=np.int64))


def group_pos(counts: np.ndarray) -> np.ndarray:
    """Position of each repeated element inside its group, for `np.repeat(x, counts)`."""
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) - np.repeat(starts, counts)


def take(values: tuple[str, ...], idx: np.ndarray) -> pl.Series:
    return pl.Series("v", list(values), dtype=pl.String).gather(np.asarray(idx, dtype=np.int64))


def fmt_ts(ts: pl.Expr, iso: bool = False) -> pl.Expr:
    fmt = "%Y-%m-%dT%H:%M:%SZ" if iso else "%Y-%m-%d %H:%M:%S"
    return pl.from_epoch(ts, time_unit="s").dt.strftime(fmt)


def ts_strings(ts: np.ndarray, iso: bool = False) -> pl.Series:
    return pl.select(fmt_ts(pl.lit(pl.Series(ts, dtype=pl.Int64)), iso)).to_series()


def fmt_cents(cents: pl.Expr) -> pl.Expr:
    """Non-negative cents as a fixed two-decimal string (no float formatting surprises)."""
    return pl.concat_str(
        (cents // 100).cast(pl.String), pl.lit("."), (cents % 100).cast(pl.String).str.zfill(2)
    )


def case_variants(values: tuple[str, ...]) -> tuple[str, ...]:
    """Each value, then per value: Title, UPPER, ' leading space', 'trailing space '."""
    out = list(values)
    for v in values:
        out += [v.title(), v.upper(), " " + v, v + " "]
    return tuple(out)


def varied(
    rng: np.random.Generator, codes: np.ndarray, n_values: int, share: float = 0.03
) -> np.ndarray:
    """Index into `case_variants(values)`: mostly the clean value, sometimes a variant.

    Accepted-value columns are checked after trimming and lower-casing, so these stay valid.
    """
    codes = np.asarray(codes, dtype=np.int64)
    vary = rng.random(len(codes)) < share
    variant = rng.integers(0, 4, len(codes))
    return np.where(vary, n_values + codes * 4 + variant, codes)


def masked(series: pl.Series, keep: np.ndarray) -> pl.Series:
    """`series` with null where `keep` is False."""
    return pl.select(pl.when(pl.Series(keep)).then(series).otherwise(None)).to_series()


def replace_where(series: pl.Series, where: np.ndarray, values: pl.Series | str) -> pl.Series:
    """`series` with `values` (a same-length Series or a scalar) where `where` is True."""
    other = pl.lit(values) if isinstance(values, str) else values
    return (
        pl.select(pl.when(pl.Series(where)).then(other).otherwise(series))
        .to_series()
        .alias(series.name)
    )


def with_junk(
    rng: np.random.Generator,
    series: pl.Series,
    junk: tuple[str, ...],
    where: np.ndarray | None = None,
) -> pl.Series:
    """Put junk placeholders ('null', 'N/A', 'test@test.com'...) into a small share of rows
    (only rows where `where` is True, when given)."""
    hit = rng.random(len(series)) < JUNK_SHARE
    if where is not None:
        hit &= where
    return replace_where(series, hit, take(junk, rng.integers(0, len(junk), len(series))))


def list_series(offsets: np.ndarray, values: pl.Series) -> pl.Series:
    """Ragged lists from CSR-style offsets (built through Arrow, not per row)."""
    offsets = pl.Series(offsets, dtype=pl.Int32).to_arrow()
    return pl.Series("v", pa.ListArray.from_arrays(offsets, values.to_arrow()))
