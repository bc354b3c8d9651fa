"""The segments group's Dagster resource: playbook, stable ids and the segment tables' checks.

Defaults are read from `settings.SegmentsSettings`, where they are written once.
"""

import dagster as dg
from pydantic import Field

from seg_platform.segments.settings import DEFAULTS


class SegmentsConfig(dg.ConfigurableResource):
    """The segment tables' settings (README, "Segments"); all have defaults.

    Override in the Dagster launchpad under `resources.segments.config`.
    """

    playbook: str | None = Field(
        default=DEFAULTS.playbook,
        description='YAML of one action per segment theme (README, "Actions"). Unset: the '
        "embedded default playbook.",
    )
    max_match_ratio: float = Field(
        default=DEFAULTS.max_match_ratio,
        description="A segment keeps last month's id when last month's centre is closer than "
        'this times the distance to its nearest neighbour (README, "Stable ids").',
    )
    min_outcome_spread: float = Field(
        default=DEFAULTS.min_outcome_spread,
        description="Check: segments must differ in a later outcome by at least this much.",
    )
    unchanged_quantile: float = Field(
        default=DEFAULTS.unchanged_quantile,
        description='"Barely moved" customers: this share with the smallest feature moves '
        "since last month.",
    )
    min_kept_share: float = Field(
        default=DEFAULTS.min_kept_share,
        description="WARN check: the least share of barely moved customers that keep their "
        "segment.",
    )
    fairness_min_ratio: float = Field(
        default=DEFAULTS.fairness_min_ratio,
        gt=0,
        le=1,
        description="WARN check of the fairness audit: a group whose share of a segment or "
        "mean score is below this ratio of the highest group's is a disparity (0.8: the "
        "four-fifths rule; docs/fairness.md).",
    )
    fairness_min_group: int = Field(
        default=DEFAULTS.fairness_min_group,
        ge=1,
        description="Fairness audit: groups with fewer customers are suppressed (no row), so a "
        "small group's members cannot be singled out.",
    )
