"""The documented rule that picks one candidate; it is written into every parent run."""

import math
from dataclasses import dataclass

from seg_platform.segmentation.candidates import Scored


@dataclass(frozen=True)
class SelectionRule:
    """Best silhouette among actionable, large-enough and stable candidates."""

    min_segments: int = 5
    max_segments: int = 8
    min_segment_share: float = 0.02
    min_stability: float = 0.8

    def describe(self) -> str:
        return (
            f"Among candidates with {self.min_segments} to {self.max_segments} segments, a "
            f"smallest segment of at least {self.min_segment_share:.0%} of customers and a "
            f"bootstrap stability (mean adjusted Rand index over resamples) of at least "
            f"{self.min_stability}, choose the highest silhouette; ties (within 0.001) go to "
            f"fewer segments. If no candidate qualifies, the best silhouette among those in the "
            f"segment range is chosen and the run is marked rule_met=false (it can only become "
            f"a challenger)."
        )

    def eligible(self, s: Scored) -> bool:
        m = s.metrics
        return (
            self.min_segments <= m["n_segments"] <= self.max_segments
            and m["smallest_segment_share"] >= self.min_segment_share
            and not math.isnan(m["bootstrap_stability"])
            and m["bootstrap_stability"] >= self.min_stability
        )

    def choose(self, scored: list[Scored]) -> tuple[Scored, bool]:
        """(chosen candidate, whether it met the rule)."""
        eligible = [s for s in scored if self.eligible(s)]
        pool, met = eligible, True
        if not pool:
            in_range = [
                s for s in scored
                if self.min_segments <= s.metrics["n_segments"] <= self.max_segments
            ]  # fmt: skip
            pool, met = in_range or scored, False
        # Round the silhouette so near-ties are decided by the segment count, then by name.
        return min(
            pool,
            key=lambda s: (
                -round(s.metrics["silhouette"], 3),
                s.metrics["n_segments"],
                s.candidate.name,
            ),
        ), met
