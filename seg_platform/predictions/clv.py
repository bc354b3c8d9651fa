"""Customer lifetime value from shop orders: BG/NBD for how many purchases, Gamma-Gamma for
how much each is worth (seg_platform.predictions.btyd), and a rolling holdout backtest.

Plain functions over Polars frames of transactions: one row per customer and purchase day
(`profile_id`, `day`, `value`), as in the BTYD literature (several orders on one day are one
purchase). Time is in weeks.

Three kinds of customer, each handled on purpose (`clv_basis`):
- `repeat`: two or more purchase days. Both models apply as published.
- `one_time`: a single purchase day. BG/NBD covers them (no repeat purchase yet; its dropout
  happens only after a purchase, so P(alive) is 1 by the model's own assumption, and their
  expected purchases still fall with the time since that purchase). Gamma-Gamma learns from
  repeat purchases only, so their order value is the population mean.
- `no_purchases`: never bought. BTYD models start at the first purchase; the value columns are
  NULL and the purchase propensity model speaks for them.

P(alive) is published for repeat buyers only: for one-time buyers it is 1 by construction,
which a table reader would take for "certainly still a customer".

A BG/NBD fit can be degenerate: on UCI Online Retail its dropout parameters run to the
optimiser's bounds (a -> 0, b -> infinity: nobody ever drops out) and P(alive) is ~1 for
everyone. `diagnose_bgnbd` detects that (a parameter at a bound, a flat likelihood direction,
P(alive) nearly constant); `fit_value_model` then falls back to `nbd`: the NBD purchase rate
(BG/NBD without its dropout part, which the data did not determine: the same purchase counts
the degenerate fit predicts, without a P(alive) it cannot back), with the same spend model.
P(alive) is NULL for everyone then; churn propensity is the lapse signal to use.
"""

import datetime as dt
from dataclasses import dataclass
from typing import cast

import numpy as np
import polars as pl

from seg_platform.predictions.btyd import (
    BGNBD,
    BOUND_TOLERANCE,
    LOG_BOUND,
    NBD,
    GammaGamma,
    condition_number,
    params_at_bound,
)
from seg_platform.predictions.settings import DEFAULTS

DAYS_PER_WEEK = 7.0
WEEKS_PER_MONTH = 365.25 / 12 / DAYS_PER_WEEK
BGNBD_METHOD = "bgnbd"
FALLBACK_METHOD = "nbd"
# Sound fits (CDNOW, simulated BG/NBD customers, the demo) have Hessian condition numbers of
# 1e2..1e4; Online Retail's fit with a and b on the bounds has 1e8.
CONDITION_LIMIT = 1e6
# The 5th percentile of repeat buyers' P(alive) at or above this: the model says (almost)
# nobody could have dropped out, whatever their silence.
FLAT_P_ALIVE = 0.99


class NotEnoughBuyers(Exception):
    """Too few purchasing customers to fit the models."""


def rfm_summary(transactions: pl.DataFrame, calibration_end: dt.date) -> pl.DataFrame:
    """Per customer with a purchase on or before `calibration_end`: frequency (repeat
    purchase days), recency (weeks from first to last purchase), T (weeks from first purchase
    to `calibration_end`), monetary (mean value of the repeat purchases; NULL for x = 0)."""
    end = pl.lit(calibration_end, dtype=pl.Date)
    return (
        transactions.filter(pl.col("day") <= end)
        .sort("profile_id", "day")
        .group_by("profile_id", maintain_order=True)
        .agg(
            first=pl.col("day").first(),
            last=pl.col("day").last(),
            purchases=pl.len(),
            monetary=pl.col("value").slice(1).mean(),
            first_value=pl.col("value").first(),
        )
        .with_columns(
            frequency=(pl.col("purchases") - 1).cast(pl.Float64),
            recency=(pl.col("last") - pl.col("first")).dt.total_days() / DAYS_PER_WEEK,
            T=(end - pl.col("first")).dt.total_days() / DAYS_PER_WEEK,
        )
    )


@dataclass
class FitDiagnosis:
    """Why a BG/NBD fit cannot be trusted (empty `reasons`: nothing found)."""

    at_bound: list[str]
    hessian_condition: float
    p_alive_p05: float | None  # 5th percentile of P(alive) among repeat buyers
    reasons: list[str]
    one_rate: bool = False  # alpha on its upper bound: every buyer has the same rate (harmless)

    @property
    def degenerate(self) -> bool:
        return bool(self.reasons)

    def metadata(self) -> dict:
        return {
            "fit_degenerate": self.degenerate,
            "params_at_bound": ", ".join(self.at_bound) or "none",
            "one_purchase_rate_limit": self.one_rate,
            "hessian_condition": float(f"{self.hessian_condition:.3g}"),
            "p_alive_p05_repeat_buyers": (
                None if self.p_alive_p05 is None else round(self.p_alive_p05, 6)
            ),
            "degenerate_reasons": "; ".join(self.reasons) or "none",
        }


def diagnose_bgnbd(bg: BGNBD, summary: pl.DataFrame) -> FitDiagnosis:
    """Check a fitted BG/NBD for the three signs of a fit the data did not determine.

    One bound is expected and harmless: alpha at its upper bound (r large with it) is the
    limit where every buyer has the same purchase rate (the gamma mixing collapses; only r /
    alpha matters, see LOG_BOUND in btyd.py). It is left out of the bound and flatness tests.
    Anything else on a bound, above all a or b (the dropout part), is degenerate."""
    reasons = []
    at_bound = params_at_bound(bg.params)
    one_rate = np.log(bg.alpha) >= LOG_BOUND - BOUND_TOLERANCE
    blamed = [k for k in at_bound if not (one_rate and k in ("r", "alpha"))]
    if blamed:
        values = ", ".join(f"{k} = {bg.params[k]:.4g}" for k in blamed)
        reasons.append(f"at the optimiser's bound: {values}")
    # The one-rate limit's (r, alpha) direction is flat by nature: judged without it.
    kept = [i for i, k in enumerate(bg.params) if not (one_rate and k in ("r", "alpha"))]
    assert bg.hessian is not None  # set by BGNBD.fit
    condition = condition_number(bg.hessian[np.ix_(kept, kept)])
    if not condition < CONDITION_LIMIT:
        reasons.append(
            f"flat likelihood direction (Hessian condition {condition:.2g} > {CONDITION_LIMIT:.0e})"
        )
    repeat = summary.filter(pl.col("frequency") > 0)
    p05 = None
    if repeat.height:
        alive = bg.p_alive(repeat["frequency"], repeat["recency"], repeat["T"])
        p05 = float(np.quantile(alive, 0.05))
        if p05 >= FLAT_P_ALIVE:
            reasons.append(f"P(alive) nearly constant: 95% of repeat buyers at or above {p05:.4f}")
    return FitDiagnosis(at_bound, condition, p05, reasons, bool(one_rate))


def _mean(values: pl.Series) -> float:
    """The mean of a numeric series as a float (polars types it as any scalar)."""
    return float(cast(float, values.mean()))


@dataclass
class ClvModel:
    bgnbd: BGNBD
    gamma_gamma: GammaGamma | None  # None when too few repeat buyers with positive spend
    mean_repeat_value: float  # fallback order value when Gamma-Gamma has no finite mean
    buyers: int
    repeat_buyers: int
    diagnosis: FitDiagnosis
    method: str = BGNBD_METHOD
    nbd: NBD | None = None  # the fallback's purchase rate

    @property
    def population_order_value(self) -> float:
        """Mean order value of a customer we know nothing about: Gamma-Gamma's p*v/(q-1)
        when q > 1 (the mean exists), otherwise the observed mean repeat-purchase value."""
        gg = self.gamma_gamma
        if gg is not None and gg.q > 1:
            return float(gg.p * gg.v / (gg.q - 1))
        return self.mean_repeat_value

    def params(self) -> dict[str, float]:
        out = {f"bgnbd_{k}": float(v) for k, v in self.bgnbd.params.items()}
        if self.gamma_gamma is not None:
            out |= {f"gamma_gamma_{k}": float(v) for k, v in self.gamma_gamma.params.items()}
        if self.nbd is not None:
            out |= {f"nbd_{k}": float(v) for k, v in self.nbd.params.items()}
        return out


def fit_clv(
    summary: pl.DataFrame, min_buyers: int = DEFAULTS.min_buyers, min_repeat_buyers: int = 20
) -> ClvModel:
    """BG/NBD on every buyer, Gamma-Gamma on repeat buyers, both by maximum likelihood."""
    repeat = summary.filter((pl.col("frequency") > 0) & (pl.col("monetary") > 0))
    if summary.height < min_buyers or repeat.height < min_repeat_buyers:
        raise NotEnoughBuyers(
            f"{summary.height} customers have bought, {repeat.height} of them more than once: "
            f"at least {min_buyers} and {min_repeat_buyers} are needed to fit the value models"
        )
    bg = BGNBD().fit(summary["frequency"], summary["recency"], summary["T"])
    try:
        gg = GammaGamma().fit(repeat["frequency"], repeat["monetary"])
    except RuntimeError:
        gg = None
    if gg is not None and params_at_bound(gg.params):
        gg = None  # spend not identified either: each buyer's own mean repeat value
    return ClvModel(
        bg, gg, _mean(repeat["monetary"]), summary.height, repeat.height,
        diagnosis=diagnose_bgnbd(bg, summary),
    )  # fmt: skip


def fit_value_model(
    transactions: pl.DataFrame, calibration_end: dt.date, min_buyers: int = DEFAULTS.min_buyers
) -> tuple[ClvModel, pl.DataFrame]:
    """The value model of the purchases up to `calibration_end`, and their RFM summary:
    BG/NBD + Gamma-Gamma when BG/NBD's fit is sound, otherwise the `nbd` fallback (the
    purchase rate without a dropout process, with the same spend model)."""
    summary = rfm_summary(transactions, calibration_end)
    model = fit_clv(summary, min_buyers)
    if not model.diagnosis.degenerate:
        return model, summary
    model.method = FALLBACK_METHOD
    model.nbd = NBD().fit(summary["frequency"], summary["T"])
    return model, summary


def _purchases_between(transactions: pl.DataFrame, start: dt.date, end: dt.date):
    return (
        transactions.filter((pl.col("day") > start) & (pl.col("day") <= end))
        .group_by("profile_id")
        .agg(actual_purchases=pl.len(), actual_revenue=pl.col("value").sum())
    )


def predict_clv(model: ClvModel, summary: pl.DataFrame, horizon_weeks: float) -> pl.DataFrame:
    """P(alive) (repeat buyers of a sound BG/NBD fit only, else NULL), expected purchases in
    the next `horizon_weeks`, expected order value and their product (predicted value) for
    every customer of `summary`."""
    x = summary["frequency"].to_numpy()
    t_x = summary["recency"].to_numpy()
    T = summary["T"].to_numpy()
    bg = model.bgnbd
    if model.method == BGNBD_METHOD:
        purchases = bg.expected_purchases(horizon_weeks, x, t_x, T)
        alive = np.where(x > 0, bg.p_alive(x, t_x, T), np.nan)
    else:
        assert model.nbd is not None  # set with the fallback method
        purchases = model.nbd.expected_purchases(horizon_weeks, x, T)
        alive = np.full(len(x), np.nan)
    m = summary["monetary"].fill_null(0.0).to_numpy()
    gg = model.gamma_gamma
    if gg is not None:
        order_value = np.where(
            x > 0, gg.conditional_expected_average_profit(x, m), model.population_order_value
        )
    else:
        order_value = np.where(x > 0, m, model.population_order_value)
    return summary.select("profile_id").with_columns(
        clv_basis=pl.Series(np.where(x > 0, "repeat", "one_time"), dtype=pl.String),
        clv_method=pl.lit(model.method),
        p_alive=pl.Series(alive, dtype=pl.Float64).fill_nan(None),
        expected_purchases=pl.Series(purchases, dtype=pl.Float64),
        expected_order_value=pl.Series(order_value, dtype=pl.Float64),
        predicted_value=pl.Series(purchases * order_value, dtype=pl.Float64),
    )


def backtest(
    transactions: pl.DataFrame,
    calibration_end: dt.date,
    holdout_end: dt.date,
    min_buyers: int = DEFAULTS.min_buyers,
) -> dict:
    """Fit on purchases up to `calibration_end` (the same model choice as the monthly fit,
    fallback included), predict the holdout (calibration_end, holdout_end] for those
    customers, and compare with what they actually bought.

    Errors are relative: predicted / actual - 1, in aggregate (the acceptance figure) and the
    mean absolute error per customer. Also returns the per-frequency comparison (the usual
    BTYD calibration-holdout plot)."""
    model, summary = fit_value_model(transactions, calibration_end, min_buyers)
    weeks = (holdout_end - calibration_end).days / DAYS_PER_WEEK
    predicted = predict_clv(model, summary, weeks)
    joined = (
        summary.select("profile_id", "frequency")
        .join(predicted, on="profile_id")
        .join(
            _purchases_between(transactions, calibration_end, holdout_end),
            on="profile_id",
            how="left",
        )
        .with_columns(pl.col("actual_purchases", "actual_revenue").fill_null(0))
    )
    p_purchases = float(joined["expected_purchases"].sum())
    a_purchases = float(joined["actual_purchases"].sum())
    p_revenue = float(joined["predicted_value"].sum())
    a_revenue = float(joined["actual_revenue"].sum())
    by_frequency = (
        joined.with_columns(frequency=pl.col("frequency").clip(upper_bound=10).cast(pl.Int64))
        .group_by("frequency")
        .agg(
            customers=pl.len(),
            predicted=pl.col("expected_purchases").mean(),
            actual=pl.col("actual_purchases").mean(),
        )
        .sort("frequency")
    )
    return {
        "calibration_end": calibration_end,
        "holdout_end": holdout_end,
        "holdout_weeks": round(weeks, 3),
        "customers": joined.height,
        "one_time_buyers": int((joined["frequency"] == 0).sum()),
        "clv_method": model.method,
        "fit_degenerate": model.diagnosis.degenerate,
        "predicted_purchases": round(p_purchases, 2),
        "actual_purchases": a_purchases,
        "purchases_error": _relative(p_purchases, a_purchases),
        "purchases_mae": round(
            _mean((joined["expected_purchases"] - joined["actual_purchases"]).abs()), 4
        ),
        "predicted_revenue": round(p_revenue, 2),
        "actual_revenue": round(a_revenue, 2),
        "revenue_error": _relative(p_revenue, a_revenue),
        "params": model.params(),
        "by_frequency": by_frequency,
    }


def rolling_backtest(
    transactions: pl.DataFrame,
    windows: list[tuple[dt.date, dt.date]],
    min_buyers: int = DEFAULTS.min_buyers,
) -> tuple[list[dict], dict]:
    """`backtest` over several (calibration_end, holdout_end) windows, and the figures the
    model is judged on: median and worst (largest absolute) error of purchases and revenue.

    One holdout can mislead (a seasonal month, one big wholesale order); the median over
    several cut-offs is what a reader should expect, the worst how far off a month can be.
    Windows with too few buyers are skipped and named in `skipped`."""
    results, skipped = [], []
    for calibration_end, holdout_end in windows:
        try:
            results.append(backtest(transactions, calibration_end, holdout_end, min_buyers))
        except NotEnoughBuyers as exc:
            skipped.append(f"{calibration_end}: {exc}")
    summary = {"cutoffs": len(results), "skipped": skipped}
    for kind in ("purchases", "revenue"):
        errors = [(r[f"{kind}_error"], r["calibration_end"]) for r in results]
        errors = [(e, c) for e, c in errors if e is not None]
        if errors:
            worst = max(errors, key=lambda ec: abs(ec[0]))
            summary[f"{kind}_error_median"] = round(float(np.median([e for e, _ in errors])), 4)
            summary[f"{kind}_error_abs_median"] = round(
                float(np.median([abs(e) for e, _ in errors])), 4
            )
            summary[f"{kind}_error_worst"] = worst[0]
            summary[f"{kind}_error_worst_cutoff"] = worst[1]
    return results, summary


def _relative(predicted: float, actual: float) -> float | None:
    return round(predicted / actual - 1, 4) if actual else None


def backtest_png(by_frequency: pl.DataFrame, title: str, path):
    """Mean holdout purchases per calibration frequency: predicted against actual."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    labels = [f"{f}+" if f == 10 else str(f) for f in by_frequency["frequency"]]
    ax.plot(labels, by_frequency["actual"], marker="o", label="actual")
    ax.plot(labels, by_frequency["predicted"], marker="s", linestyle="--", label="predicted")
    ax.set_xlabel("repeat purchases in the calibration period")
    ax.set_ylabel("mean purchases in the holdout")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
