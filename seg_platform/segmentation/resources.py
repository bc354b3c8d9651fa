"""The segmentation group's Dagster resource: the candidate sweep and the selection rule.

Defaults are read from `settings.SegmentationSettings`, where they are written once.
"""

import dagster as dg
from pydantic import Field

from seg_platform.segmentation.selection import SelectionRule
from seg_platform.segmentation.settings import DEFAULTS


class SegmentationConfig(dg.ConfigurableResource):
    """The candidate sweep and the selection rule (README, "Segmentation"); all have defaults.

    Override in the Dagster launchpad under `resources.segmentation.config`.
    """

    algorithms: list[str] = Field(
        default=list(DEFAULTS.algorithms),
        description="Clustering algorithms the sweep tries, each for every segment count from "
        "k_min to k_max (names registered in seg_platform.segmentation.algorithms).",
    )
    k_min: int = Field(
        default=DEFAULTS.k_min, description="The fewest segments a candidate is fitted with."
    )
    k_max: int = Field(
        default=DEFAULTS.k_max, description="The most segments a candidate is fitted with."
    )
    selection_sample: int = Field(
        default=DEFAULTS.selection_sample,
        description="Customers the candidates are fitted and compared on.",
    )
    silhouette_sample: int = Field(
        default=DEFAULTS.silhouette_sample,
        description="Customers the silhouette is computed on (a fixed sample).",
    )
    quadratic_sample: int = Field(
        default=DEFAULTS.quadratic_sample,
        description="Customers Ward and HDBSCAN are fitted on (their cost grows with the square "
        "of the rows).",
    )
    bootstrap: int = Field(
        default=DEFAULTS.bootstrap, description="Resamples for the stability metric."
    )
    jobs: int = Field(
        default=DEFAULTS.jobs,
        description="Candidates scored side by side: -1 one process per core, 1 in the run's "
        "own process, n that many processes.",
    )
    pca_variance: float | None = Field(
        default=DEFAULTS.pca_variance,
        description="Share of the variance PCA keeps before clustering (0 to 1). Unset: no PCA.",
    )
    seed: int = Field(
        default=DEFAULTS.seed, description="Random seed: same data and seed, same segments."
    )
    min_segments: int = Field(
        default=DEFAULTS.min_segments, description="Selection rule: the fewest segments to publish."
    )
    max_segments: int = Field(
        default=DEFAULTS.max_segments, description="Selection rule: the most segments to publish."
    )
    min_segment_share: float = Field(
        default=DEFAULTS.min_segment_share,
        description="Selection rule: the smallest share of customers a segment may hold.",
    )
    min_stability: float = Field(
        default=DEFAULTS.min_stability,
        description="Selection rule: the least stability (mean adjusted Rand index across "
        "bootstrap resamples) a candidate needs.",
    )
    min_silhouette: float = Field(
        default=DEFAULTS.min_silhouette,
        description="Blocking check: the least silhouette of a champion model.",
    )

    def rule(self) -> SelectionRule:
        return SelectionRule(
            self.min_segments, self.max_segments, self.min_segment_share, self.min_stability
        )

    def sweep_config(self):
        # scikit-learn behind these: loaded when a sweep is set up, not with the code location.
        from seg_platform.segmentation.algorithms import ALGORITHMS
        from seg_platform.segmentation.candidates import default_candidates
        from seg_platform.segmentation.sweep import SweepConfig

        unknown = [name for name in self.algorithms if name not in ALGORITHMS]
        if unknown:
            raise ValueError(
                f"resources.segmentation.config.algorithms: unknown {', '.join(unknown)}; "
                f"registered: {', '.join(ALGORITHMS)}"
            )
        if self.jobs == 0:
            raise ValueError(
                "resources.segmentation.config.jobs = 0: use -1 (one process per core), 1 (in "
                "the run's own process) or a number of processes"
            )
        return SweepConfig(
            candidates=default_candidates(
                self.k_min,
                self.k_max,
                tuple(self.algorithms),
                (self.min_segments, self.max_segments),
            ),
            rule=self.rule(),
            selection_sample=self.selection_sample,
            silhouette_sample=self.silhouette_sample,
            quadratic_sample=self.quadratic_sample,
            bootstrap=self.bootstrap,
            pca_variance=self.pca_variance or None,
            min_cluster_share=self.min_segment_share,
            seed=self.seed,
            jobs=self.jobs,
        )
