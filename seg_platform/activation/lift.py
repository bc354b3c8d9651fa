"""Lift of an activation over its randomised holdout, per segment and overall, with intervals.

Each customer is either treated (received the activation) or in the control holdout, assigned
at random. For every segment, and once more for all customers pooled (segment_id "all"), the
table compares the mean outcome of the two groups for three metrics:

- `conversion`, `churn` (binary): the share of customers who converted / churned.
  lift = p_treated - p_control, a difference of proportions (0.04 = +4 percentage points).
  Interval: Newcombe's hybrid score interval (Newcombe 1998, Statistics in Medicine
  17:873-890, method 10). Each group gets a Wilson score interval [l_i, u_i] around p_i, and

      ci_low  = d - sqrt((p_t - l_t)^2 + (u_c - p_c)^2)
      ci_high = d + sqrt((u_t - p_t)^2 + (p_c - l_c)^2)

  It keeps close to nominal coverage for small groups and proportions near 0 or 1, where the
  textbook Wald interval is too narrow, and never leaves [-1, 1]. p-value: the two-sided
  z-test with the pooled proportion (the same as a 2x2 chi-square test without continuity
  correction).
- `revenue` (continuous): lift = mean_treated - mean_control in currency. Interval and
  p-value: Welch's t (unequal variances, Welch-Satterthwaite degrees of freedom); the p-value
  is scipy.stats.ttest_ind_from_stats(equal_var=False).

`relative_lift` = lift / control_mean (null when the control mean is 0 or unknown).

Customers whose outcome is null (not known yet) are left out of that metric only, so the
counts `treated_n` / `control_n` can differ between the metrics of one segment. When either
group has fewer than `min_group` customers with a known outcome the point estimates are
still given, but ci_low, ci_high and p_value are null and `note` says why. With no customer
at all in a group its mean, the lift and the relative lift are null too.

Degenerate but valid data give finite numbers, never NaN:

- binary metric where every customer in both groups has the same outcome (all converted, or
  none): the pooled z-test has zero variance; p_value is 1 (the observed difference is
  exactly 0). The Newcombe interval stays a proper interval around 0 (Wilson intervals do not
  collapse at 0% or 100%), e.g. [-0.11, 0.11] for 30 vs 30 customers.
- revenue without variation in either group (e.g. all zero): the standard error is 0, the
  interval is the point estimate [d, d] and p_value is 1 when d == 0, else 0; `note` says so.

The overall row pools all customers; with the holdout drawn at random over the whole base it
estimates the average effect over the customer mix. Everything here is a pure function of the
frame: deterministic, no Dagster, no I/O.
"""

import numpy as np
import polars as pl
from scipy import stats

from seg_platform.activation.settings import DEFAULTS

__all__ = [
    "METRICS",
    "OUTPUT_COLUMNS",
    "lift_table",
    "newcombe_interval",
    "pooled_z_pvalue",
    "welch_interval",
    "welch_pvalue",
    "wilson_interval",
]

METRICS = ("conversion", "churn", "revenue")
BINARY_METRICS = ("conversion", "churn")
# Input column holding each metric's outcome.
OUTCOME_COLUMN = {"conversion": "converted", "churn": "churned", "revenue": "revenue"}
GROUPS = ("treatment", "control")
ALL_ID, ALL_NAME = "all", "All segments"
BINARY_METHOD = "newcombe_hybrid_score"
REVENUE_METHOD = "welch_t"
_TEXT = ("segment_id", "segment_name", "metric", "method", "note")
OUTPUT_COLUMNS = (
    "segment_id", "segment_name", "metric", "treated_n", "control_n", "treated_mean",
    "control_mean", "lift", "ci_low", "ci_high", "relative_lift", "p_value", "method", "note",
)  # fmt: skip
_OUTPUT_SCHEMA = {
    c: pl.Int64 if c.endswith("_n") else pl.Utf8 if c in _TEXT else pl.Float64
    for c in OUTPUT_COLUMNS
}
REQUIRED_COLUMNS = ("segment_id", "segment_name", "group", "converted", "churned", "revenue")


def _z(confidence: float) -> float:
    """Two-sided standard normal critical value, 1.959964 for 0.95."""
    return float(stats.norm.ppf(0.5 + confidence / 2.0))


def wilson_interval(
    successes, n, confidence: float = DEFAULTS.confidence
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a proportion successes / n (arrays or scalars, n > 0).

    centre = (x + z^2/2) / (n + z^2),
    half   = z sqrt(n) / (n + z^2) * sqrt(p(1 - p) + z^2 / (4n)),  clipped to [0, 1].
    """
    x = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    z = _z(confidence)
    p = x / n
    denom = n + z * z
    centre = (x + z * z / 2.0) / denom
    half = z * np.sqrt(n) / denom * np.sqrt(p * (1.0 - p) + z * z / (4.0 * n))
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def newcombe_interval(
    x_treated, n_treated, x_control, n_control, confidence: float = DEFAULTS.confidence
) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval (method 10) for p_treated - p_control.

    Built from the two groups' Wilson intervals; both groups need n > 0. Newcombe's worked
    example 56/70 - 48/80 gives 0.0524 to 0.3339 at 95%.
    """
    p1 = np.asarray(x_treated, dtype=float) / np.asarray(n_treated, dtype=float)
    p2 = np.asarray(x_control, dtype=float) / np.asarray(n_control, dtype=float)
    l1, u1 = wilson_interval(x_treated, n_treated, confidence)
    l2, u2 = wilson_interval(x_control, n_control, confidence)
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return np.clip(low, -1.0, 1.0), np.clip(high, -1.0, 1.0)


def pooled_z_pvalue(x_treated, n_treated, x_control, n_control) -> np.ndarray:
    """Two-sided p-value of the pooled two-proportion z-test (both n > 0).

    When every customer in both groups has the same outcome the variance is 0 and the observed
    difference is exactly 0: p-value 1.
    """
    x1, n1 = np.asarray(x_treated, dtype=float), np.asarray(n_treated, dtype=float)
    x2, n2 = np.asarray(x_control, dtype=float), np.asarray(n_control, dtype=float)
    pooled = (x1 + x2) / (n1 + n2)
    se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    d = x1 / n1 - x2 / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, np.abs(d) / np.where(se > 0, se, 1.0), 0.0)
    return 2.0 * stats.norm.sf(z)


def _welch_se_df(var1, n1, var2, n2) -> tuple[np.ndarray, np.ndarray]:
    """Standard error of the difference of means and Welch-Satterthwaite degrees of freedom
    (df is NaN where the standard error is 0)."""
    a = np.asarray(var1, dtype=float) / np.asarray(n1, dtype=float)
    b = np.asarray(var2, dtype=float) / np.asarray(n2, dtype=float)
    se2 = a + b
    with np.errstate(divide="ignore", invalid="ignore"):
        df = se2**2 / (
            a**2 / (np.asarray(n1, dtype=float) - 1) + b**2 / (np.asarray(n2, dtype=float) - 1)
        )
    df = np.where(se2 > 0, df, np.nan)
    return np.sqrt(se2), df


def welch_interval(
    mean1, var1, n1, mean2, var2, n2, confidence: float = DEFAULTS.confidence
) -> tuple[np.ndarray, np.ndarray]:
    """Welch's t interval for mean1 - mean2 from group means, sample variances (ddof=1) and
    sizes (n >= 2). Without variation in either group the interval is the point estimate."""
    d = np.asarray(mean1, dtype=float) - np.asarray(mean2, dtype=float)
    se, df = _welch_se_df(var1, n1, var2, n2)
    t = np.where(se > 0, stats.t.ppf(0.5 + confidence / 2.0, np.where(se > 0, df, 1.0)), 0.0)
    return d - t * se, d + t * se


def welch_pvalue(mean1, var1, n1, mean2, var2, n2) -> np.ndarray:
    """Two-sided p-value of Welch's t-test (scipy.stats.ttest_ind_from_stats, equal_var=False).
    Without variation in either group: 1 if the means are equal, else 0."""
    m1, m2 = np.asarray(mean1, dtype=float), np.asarray(mean2, dtype=float)
    v1, v2 = np.asarray(var1, dtype=float), np.asarray(var2, dtype=float)
    n1, n2 = np.asarray(n1, dtype=float), np.asarray(n2, dtype=float)
    m1, m2, v1, v2, n1, n2 = np.broadcast_arrays(m1, m2, v1, v2, n1, n2)
    varies = v1 / n1 + v2 / n2 > 0
    out = np.where(m1 == m2, 1.0, 0.0)
    if varies.any():
        res = stats.ttest_ind_from_stats(
            m1[varies], np.sqrt(v1[varies]), n1[varies],
            m2[varies], np.sqrt(v2[varies]), n2[varies],
            equal_var=False,
        )  # fmt: skip
        out[varies] = res.pvalue
    return out


def _validate(frame: pl.DataFrame, confidence: float, min_group: int) -> pl.DataFrame:
    """Checked, typed copy of the input: segment ids as strings, outcomes as Float64."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if min_group < 2:
        raise ValueError(
            f"min_group must be at least 2 (a variance needs 2 customers), got {min_group}"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"lift_table: missing columns {missing}")
    data = frame.select(
        pl.col("segment_id").cast(pl.Utf8),
        pl.col("segment_name").cast(pl.Utf8),
        pl.col("group").cast(pl.Utf8),
        pl.col("converted", "churned").cast(pl.Float64),
        pl.col("revenue").cast(pl.Float64).fill_nan(None),  # NaN revenue counts as unknown
    )
    bad_groups = data.filter(~pl.col("group").is_in(GROUPS) | pl.col("group").is_null())
    if bad_groups.height:
        found = sorted(set(bad_groups["group"].to_list()), key=str)
        raise ValueError(f"group must be 'treatment' or 'control', found {found}")
    if data["segment_id"].null_count():
        raise ValueError("segment_id has nulls")
    if (data["segment_id"] == ALL_ID).any():
        raise ValueError(f"segment_id {ALL_ID!r} is reserved for the overall row")
    names = data.group_by("segment_id").agg(pl.col("segment_name").n_unique().alias("names"))
    clash = names.filter(pl.col("names") > 1)["segment_id"].sort().to_list()
    if clash:
        raise ValueError(f"segments with more than one segment_name: {clash}")
    for col in ("converted", "churned"):
        outside = data.filter(~pl.col(col).is_in([0.0, 1.0]) & pl.col(col).is_not_null())
        if outside.height:
            raise ValueError(f"{col} must be boolean (or 0/1)")
    return data


def _group_stats(data: pl.DataFrame, column: str) -> pl.DataFrame:
    """Per segment: customers with a known outcome, their mean and sample variance, as
    treated_* and control_* columns (n 0 and null mean where a group has nobody)."""
    per_group = data.group_by("segment_id", "group").agg(
        pl.col(column).count().alias("n"),
        pl.col(column).mean().alias("mean"),
        pl.col(column).var(ddof=1).alias("var"),
    )
    out = data.group_by("segment_id").agg(pl.col("segment_name").first()).sort("segment_id")
    for group, prefix in (("treatment", "treated"), ("control", "control")):
        part = per_group.filter(pl.col("group") == group).drop("group")
        out = out.join(
            part.rename({c: f"{prefix}_{c}" for c in ("n", "mean", "var")}),
            on="segment_id",
            how="left",
        )
    return out.with_columns(pl.col("treated_n", "control_n").fill_null(0).cast(pl.Int64))


def _metric_rows(stats_frame: pl.DataFrame, metric: str, confidence: float, min_group: int):
    """Estimates, interval, p-value and note for one metric, one row per input row."""
    n1 = stats_frame["treated_n"].to_numpy().astype(float)
    n2 = stats_frame["control_n"].to_numpy().astype(float)
    m1 = stats_frame["treated_mean"].to_numpy(allow_copy=True).astype(float)  # null -> NaN
    m2 = stats_frame["control_mean"].to_numpy(allow_copy=True).astype(float)
    v1 = stats_frame["treated_var"].fill_null(0.0).to_numpy().astype(float)
    v2 = stats_frame["control_var"].fill_null(0.0).to_numpy().astype(float)
    size = len(n1)
    lift = m1 - m2
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(m2 != 0, lift / np.where(m2 != 0, m2, 1.0), np.nan)
    ok = (n1 >= min_group) & (n2 >= min_group)
    low, high, p = np.full(size, np.nan), np.full(size, np.nan), np.full(size, np.nan)
    notes: list[str | None] = [None] * size
    if ok.any():
        if metric in BINARY_METRICS:
            # Means of 0/1 outcomes times n are the success counts; round off float error.
            x1, x2 = np.round(m1[ok] * n1[ok]), np.round(m2[ok] * n2[ok])
            low[ok], high[ok] = newcombe_interval(x1, n1[ok], x2, n2[ok], confidence)
            p[ok] = pooled_z_pvalue(x1, n1[ok], x2, n2[ok])
        else:
            args = (m1[ok], v1[ok], n1[ok], m2[ok], v2[ok], n2[ok])
            low[ok], high[ok] = welch_interval(*args, confidence=confidence)
            p[ok] = welch_pvalue(*args)
    for i in range(size):
        if not ok[i]:
            small = [
                f"{name} has {int(n)} customers"
                for name, n in (("treatment", n1[i]), ("control", n2[i]))
                if n < min_group
            ]
            notes[i] = (
                f"{' and '.join(small)} with a known outcome, fewer than {min_group}: no interval"
            )
        elif metric == "revenue" and v1[i] == 0 and v2[i] == 0:
            notes[i] = "no variation in either group: interval is the point estimate"
        elif metric in BINARY_METRICS and m1[i] == m2[i] and m1[i] in (0.0, 1.0):
            notes[i] = f"every customer has the same {metric} outcome: p-value 1"
    method = BINARY_METHOD if metric in BINARY_METRICS else REVENUE_METHOD
    return {
        "treated_n": n1.astype(np.int64),
        "control_n": n2.astype(np.int64),
        "treated_mean": m1,
        "control_mean": m2,
        "lift": lift,
        "ci_low": low,
        "ci_high": high,
        "relative_lift": relative,
        "p_value": p,
        "method": [method] * size,
        "note": notes,
    }


def lift_table(
    frame: pl.DataFrame,
    confidence: float = DEFAULTS.confidence,
    min_group: int = DEFAULTS.min_group,
) -> pl.DataFrame:
    """Treatment-versus-holdout lift per segment and overall, for each metric in METRICS.

    frame: one row per customer with segment_id, segment_name, group ("treatment" or
    "control"), converted and churned (bool, null = not known yet) and revenue (float, null =
    not known). Segment ids are compared as strings; "all" is reserved.

    Returns one row per (segment, metric) plus, per metric, an overall row (segment_id "all",
    segment_name "All segments") over all customers pooled, with columns OUTPUT_COLUMNS,
    sorted by segment_id ("all" last) then metric in METRICS order. Float columns hold null,
    never NaN, where a value is not defined; an empty frame gives an empty table. See the
    module docstring for the methods.
    """
    data = _validate(frame, confidence, min_group)
    pooled = data.with_columns(segment_id=pl.lit(ALL_ID), segment_name=pl.lit(ALL_NAME))
    parts = []
    for customers in (data, pooled):
        for metric in METRICS:
            grouped = _group_stats(customers, OUTCOME_COLUMN[metric])
            rows = _metric_rows(grouped, metric, confidence, min_group)
            parts.append(
                pl.DataFrame(
                    {
                        "segment_id": grouped["segment_id"],
                        "segment_name": grouped["segment_name"],
                        "metric": [metric] * grouped.height,
                        **rows,
                    },
                    schema=_OUTPUT_SCHEMA,
                    nan_to_null=True,
                )
            )
    order = {m: i for i, m in enumerate(METRICS)}
    return (
        pl.concat(parts)
        .with_columns(
            (pl.col("segment_id") == ALL_ID).alias("_last"),
            pl.col("metric").replace_strict(order, return_dtype=pl.Int64).alias("_metric"),
        )
        .sort("_last", "segment_id", "_metric")
        .drop("_last", "_metric")
    )
