"""The activation group's settings and their defaults, written once: the Dagster resource
`activation.resources.ActivationConfig` and `lift` read them here."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ActivationSettings:
    """Feeds, holdouts, lift and surveys."""

    # The destinations and surveys YAML files; None: the embedded defaults.
    destinations: str | None = None
    surveys: str | None = None
    # None: activation/ in the platform home.
    feeds_folder: str | None = None
    holdout_share: float = 0.10
    segment_holdout_shares: dict[str, float] = field(default_factory=dict)
    holdout_salt: str = "seg_platform"
    confidence: float = 0.95
    min_group: int = 30
    survey_response_days: int = 60


DEFAULTS = ActivationSettings()
