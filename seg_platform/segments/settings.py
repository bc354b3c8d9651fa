"""The segments group's settings and their defaults, written once: the Dagster resource
`segments.resources.SegmentsConfig` and `build.build_month` read them here."""

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentsSettings:
    """Stable ids, the playbook and the segment tables' checks."""

    # The playbook YAML; None: the embedded default (playbook.yaml).
    playbook: str | None = None
    max_match_ratio: float = 1.0
    min_outcome_spread: float = 0.3
    unchanged_quantile: float = 0.25
    min_kept_share: float = 0.9
    # Fairness audit (docs/fairness.md): the least ratio of a group's segment share or mean
    # score to the highest group's (the four-fifths rule), and the least group size shown.
    fairness_min_ratio: float = 0.8
    fairness_min_group: int = 30


DEFAULTS = SegmentsSettings()
