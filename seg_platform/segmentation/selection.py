"""The documented rule that picks one candidate; it is written into every parent run."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from seg_platform.segmentation.settings import DEFAULTS

if TYPE_CHECKING:  # scikit-learn behind it: the resources read the rule's defaults at load
    from seg_platform.segmentation.candidates import Scored


@dataclass(frozen=True)
class SelectionRule:
    """Best silhouette among actionable, large-enough and stable candidates."""

    min_segments: int = DEFAULTS.min_segments
    max_segments: int = DEFAULTS.max_segments
    min_segment_share: float = DEFAULTS.min_segment_share
    min_stability: float = DEFAULTS.min_stability
    # Within this much of the best silhouette, keep last month's segment count: segments then
    # stay comparable month to month instead of flipping between near-equal solutions.
    incumbent_tolerance: float = 0.005
    # With no earlier champion to keep: when no candidate in the segment range passes the share
    # and stability floors, the best one with fewer segments (at least 2) that passes them is
    # eligible. Orders-only shops often support only 3 or 4 stable segments; publishing those
    # beats publishing nothing, and the segment-count check says so as a warning.
    allow_fewer: bool = False

    def describe(self) -> str:
        return (
            f"Among candidates with {self.min_segments} to {self.max_segments} segments, a "
            f"smallest segment of at least {self.min_segment_share:.0%} of customers and a "
            f"bootstrap stability (mean adjusted Rand index over resamples) of at least "
            f"{self.min_stability}, choose the highest silhouette; a candidate with last "
            f"month's segment count within {self.incumbent_tolerance} of it is preferred (stable "
            f"segments month to month); remaining ties (within 0.001) go to fewer segments. "
            + (
                "If none in the range qualifies and there is no champion to keep, candidates "
                "with fewer segments (at least 2) that meet the share and stability floors "
                "qualify. "
                if self.allow_fewer
                else ""
            )
            + "If no candidate qualifies, the best silhouette among those in the "
            "segment range is chosen and the run is marked rule_met=false (it can only become "
            "a challenger)."
        )

    def _floors(self, s: Scored) -> bool:
        m = s.metrics
        return (
            m["smallest_segment_share"] >= self.min_segment_share
            and not math.isnan(m["bootstrap_stability"])
            and m["bootstrap_stability"] >= self.min_stability
        )

    def _in_range(self, s: Scored) -> bool:
        return self.min_segments <= s.metrics["n_segments"] <= self.max_segments

    def fewer_segments(self, scored: list[Scored]) -> bool:
        """Whether the rule falls back to fewer segments for this sweep (`allow_fewer`)."""
        return (
            self.allow_fewer
            and not any(self._in_range(s) and self._floors(s) for s in scored)
            and any(2 <= s.metrics["n_segments"] < self.min_segments and self._floors(s)
                    for s in scored)
        )  # fmt: skip

    def eligible(self, s: Scored, scored: list[Scored] | None = None) -> bool:
        """Whether `s` meets the rule; `scored` (the whole sweep) enables `allow_fewer`."""
        if self._in_range(s) and self._floors(s):
            return True
        return (
            scored is not None
            and self.fewer_segments(scored)
            and 2 <= s.metrics["n_segments"] < self.min_segments
            and self._floors(s)
        )

    def choose(self, scored: list[Scored], incumbent_k: int | None = None) -> tuple[Scored, bool]:
        """(chosen candidate, whether it met the rule). `incumbent_k`: last month's count."""
        eligible = [s for s in scored if self.eligible(s, scored)]
        pool, met = eligible, True
        if not pool:
            in_range = [
                s for s in scored
                if self.min_segments <= s.metrics["n_segments"] <= self.max_segments
            ]  # fmt: skip
            pool, met = in_range or scored, False
        if incumbent_k is not None and met:
            best = max(s.metrics["silhouette"] for s in pool)
            same = [
                s for s in pool
                if s.metrics["n_segments"] == incumbent_k
                and s.metrics["silhouette"] >= best - self.incumbent_tolerance
            ]  # fmt: skip
            pool = same or pool
        # Round the silhouette so near-ties are decided by the segment count, then by name.
        return min(
            pool,
            key=lambda s: (
                -round(s.metrics["silhouette"], 3),
                s.metrics["n_segments"],
                s.candidate.name,
            ),
        ), met


# The setting (under `resources.segmentation.config`) behind each part of the rule.
SETTING = {
    "segments": "min_segments/max_segments",
    "share": "min_segment_share",
    "stability": "min_stability",
}


def shortfalls(rule: SelectionRule, metrics: dict) -> list[tuple[str, str]]:
    """Which parts of the rule a candidate's metrics miss, by how much: (setting, text) pairs,
    so a message can name the setting that would let the candidate through."""
    out = []
    k = metrics.get("n_segments")
    if k is None or not rule.min_segments <= k <= rule.max_segments:
        out.append((SETTING["segments"], f"{k:.0f} segments, outside {rule.min_segments}.."
                    f"{rule.max_segments}"))  # fmt: skip
    share = metrics.get("smallest_segment_share")
    if share is None or share < rule.min_segment_share:
        out.append((SETTING["share"], f"its smallest segment holds {share or 0:.2%} of customers, "
                    f"{(rule.min_segment_share - (share or 0)) * 100:.2f} points under the "
                    f"{rule.min_segment_share:.0%} floor"))  # fmt: skip
    stability = metrics.get("bootstrap_stability")
    if stability is None or math.isnan(stability) or stability < rule.min_stability:
        shown = "not measured" if stability is None or math.isnan(stability) else f"{stability:.2f}"
        out.append((SETTING["stability"], f"its bootstrap stability is {shown}, under "
                    f"{rule.min_stability}"))  # fmt: skip
    return out


def unmet_reason(rule: SelectionRule, candidate: str, metrics: dict) -> str:
    """One readable sentence: no candidate met the rule, what the best one missed and which
    setting (resources.segmentation.config.*) would have accepted it."""
    missed = shortfalls(rule, metrics) or [("", "it met the rule on its own metrics")]
    settings = " or ".join(dict.fromkeys(s for s, _ in missed if s)) or "none"
    return (
        f"no segmentation candidate met the selection rule; the best one, {candidate}, missed "
        f"it: {'; '.join(text for _, text in missed)} (to accept it, change {settings} under "
        "resources.segmentation.config in the Dagster launchpad)"
    )
