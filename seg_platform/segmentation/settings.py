"""The segmentation group's settings and their defaults, written once: the Dagster resource
`segmentation.resources.SegmentationConfig` and the sweep (`sweep.SweepConfig`,
`candidates.default_candidates`) read them here. No scikit-learn behind it, so the code
location reads the defaults without loading it.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentationSettings:
    """The candidate sweep, the selection rule (`selection.SelectionRule`) and the champion's
    silhouette floor."""

    # Names registered in `algorithms.ALGORITHMS` (checked when the sweep is set up).
    algorithms: tuple[str, ...] = ("kmeans", "gmm", "ward", "hdbscan")
    k_min: int = 3
    k_max: int = 10
    selection_sample: int = 20_000
    silhouette_sample: int = 5_000
    quadratic_sample: int = 2_000
    bootstrap: int = 5
    # -1: one process per core. (`SweepConfig`, called as a library, runs in process: 1.)
    jobs: int = -1
    pca_variance: float | None = None
    seed: int = 42
    min_silhouette: float = 0.1
    # The selection rule: segment count, the smallest segment's share, stability.
    min_segments: int = 5
    max_segments: int = 8
    min_segment_share: float = 0.02
    min_stability: float = 0.8


DEFAULTS = SegmentationSettings()
