"""The predictions group's Dagster resource: propensity, value and daily scoring settings.

Defaults are read from `settings.PredictionsSettings`, where they are written once.
"""

import dagster as dg
from pydantic import Field

from seg_platform.predictions.settings import DEFAULTS


class PredictionsConfig(dg.ConfigurableResource):
    """Propensity, value and daily scoring settings (README, "Predictions"); all have defaults.

    Override in the Dagster launchpad under `resources.predictions.config`.
    """

    training_months: int = Field(
        default=DEFAULTS.training_months,
        description="Labelled months each propensity model learns from.",
    )
    max_training_rows: int = Field(
        default=DEFAULTS.max_training_rows,
        description="Training rows beyond which a deterministic sample is used.",
    )
    max_evaluation_rows: int = Field(
        default=DEFAULTS.max_evaluation_rows,
        description="The evaluation month's customers, sampled beyond this many.",
    )
    min_training_rows: int = Field(
        default=DEFAULTS.min_training_rows,
        description="Fewer training rows: no model is trained this month (said in metadata).",
    )
    calibration: str = Field(
        default=DEFAULTS.calibration,
        description="Probability calibration of the propensity models: isotonic or sigmoid.",
    )
    active_days: int = Field(
        default=DEFAULTS.active_days,
        description="A customer is active with an event or order within this many days of the "
        "as-of date.",
    )
    champion_tolerance: float = Field(
        default=DEFAULTS.champion_tolerance,
        description="The champion alias moves when the new model's ROC AUC is at least the "
        "champion's minus this.",
    )
    permutation_sample: int = Field(
        default=DEFAULTS.permutation_sample,
        description="Evaluation rows permutation importances are computed on.",
    )
    value_horizon_months: int = Field(
        default=DEFAULTS.value_horizon_months,
        description="Months the predicted value and purchases cover.",
    )
    clv_holdout_months: int = Field(
        default=DEFAULTS.clv_holdout_months,
        description="Months of the value model's backtest holdout period.",
    )
    clv_max_error: float = Field(
        default=DEFAULTS.clv_max_error,
        description="WARN check: the largest median |predicted / actual - 1| of holdout purchases.",
    )
    clv_max_revenue_error: float = Field(
        default=DEFAULTS.clv_max_revenue_error,
        description="WARN check: the largest median |predicted / actual - 1| of holdout revenue.",
    )
    clv_backtest_cutoffs: int = Field(
        default=DEFAULTS.clv_backtest_cutoffs,
        description="Rolling value backtest: this many cut-offs, one month apart (1-24).",
    )
    min_buyers: int = Field(
        default=DEFAULTS.min_buyers,
        description="Fewer purchasing customers: no value model this month.",
    )
    overlays: str | None = Field(
        default=DEFAULTS.overlays,
        description="YAML of the rule-based overlays (lifecycle, intent). Unset: the embedded "
        "default.",
    )
    seed: int = Field(default=DEFAULTS.seed, description="Random seed of sampling and model fits.")

    def validate_settings(self) -> None:
        if self.calibration not in ("isotonic", "sigmoid"):
            raise ValueError(
                f"predictions.calibration = {self.calibration!r}: use 'isotonic' or 'sigmoid'"
            )
        if not 1 <= self.clv_backtest_cutoffs <= 24:
            raise ValueError(
                f"predictions.clv_backtest_cutoffs = {self.clv_backtest_cutoffs}: use 1 to 24"
            )
