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


DEFAULTS = SegmentsSettings()
