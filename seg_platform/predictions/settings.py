"""The predictions group's settings and their defaults, written once: the Dagster resource
`predictions.resources.PredictionsConfig` and the model functions (`propensity`, `clv`) read
them here."""

from dataclasses import dataclass


@dataclass(frozen=True)
class PredictionsSettings:
    """Propensity, value and daily scoring."""

    training_months: int = 6
    max_training_rows: int = 300_000
    max_evaluation_rows: int = 200_000
    min_training_rows: int = 500
    calibration: str = "isotonic"  # or "sigmoid"
    active_days: int = 90
    champion_tolerance: float = 0.0
    permutation_sample: int = 5_000
    value_horizon_months: int = 12
    clv_holdout_months: int = 3
    clv_max_error: float = 0.10
    clv_max_revenue_error: float = 0.20
    clv_backtest_cutoffs: int = 4
    min_buyers: int = 50
    # The overlays YAML; None: the embedded default (overlays.yaml).
    overlays: str | None = None
    seed: int = 42


DEFAULTS = PredictionsSettings()
