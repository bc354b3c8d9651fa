"""Candidate clusterings and the metrics that compare them.

Every candidate is fitted on the same selection sample (in the preprocessed space) and judged
by the same metrics; the chosen one is then fitted on the full table (k-means, Gaussian mixture)
or assigns the full table to its nearest centroid (Ward, HDBSCAN, which do not scale).
"""

from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_samples,
)

# NearestCentroid is re-exported: models logged before the registry name it here.
from seg_platform.segmentation.algorithms import NearestCentroid, algorithm
from seg_platform.segmentation.settings import DEFAULTS

__all__ = ["Candidate", "NearestCentroid", "Scored", "default_candidates", "score_candidate"]


@dataclass(frozen=True)
class Candidate:
    """One candidate model: an algorithm and its segment count."""

    algorithm: str  # a name in algorithms.ALGORITHMS
    k: int | None = None  # None for an algorithm without k (HDBSCAN finds its own)

    @property
    def name(self) -> str:
        return f"{self.algorithm}_k{self.k}" if self.k else self.algorithm

    def estimator(self, seed: int, min_cluster_share: float = 0.02):
        return algorithm(self.algorithm).build(self.k, seed, min_cluster_share)


def default_candidates(
    k_min: int = DEFAULTS.k_min,
    k_max: int = DEFAULTS.k_max,
    algorithms: tuple[str, ...] = DEFAULTS.algorithms,
    ward_k: tuple[int, int] = (DEFAULTS.min_segments, DEFAULTS.max_segments),
) -> list[Candidate]:
    """Every k in [k_min, k_max] for an algorithm with k (k-means, Gaussian mixtures); only the
    actionable range `ward_k` for a quadratic one (Ward: fitted on a smaller sample, so each k
    is dear); once for one that finds its own k (HDBSCAN)."""
    out = []
    for name in algorithms:
        entry = algorithm(name)
        if not entry.has_k:
            out.append(Candidate(name))
        elif entry.quadratic:
            low, high = max(k_min, ward_k[0]), min(k_max, ward_k[1])
            out += [Candidate(name, k) for k in range(low, high + 1)]
        else:
            out += [Candidate(name, k) for k in range(k_min, k_max + 1)]
    return out


@dataclass
class Scored:
    """A candidate fitted on the selection sample, with its metrics."""

    candidate: Candidate
    labels: np.ndarray
    metrics: dict[str, float] = field(default_factory=dict)
    model: object = None
    silhouettes: np.ndarray | None = None  # per customer of the silhouette rows (the plot's)


def _labels(model, X) -> np.ndarray:
    return np.asarray(model.predict(X))


def score_candidate(
    candidate: Candidate,
    X: np.ndarray,
    silhouette_rows: np.ndarray,
    seed: int,
    bootstrap: int,
    min_cluster_share: float = 0.02,
    quadratic_sample: int = 5_000,
) -> Scored:
    """Fit on the selection sample `X` and compute every comparison metric on all of it.

    silhouette_rows: fixed row indices (into X) for the silhouette, the same for all candidates.
    bootstrap: resamples for stability, the mean adjusted Rand index between the labels of a fit
    on a resample and the labels of the fit on the whole sample, over the whole sample.
    Ward and HDBSCAN (quadratic in rows) are fitted on the first `quadratic_sample` rows only
    and assign the rest to their nearest centroid.
    """
    entry = algorithm(candidate.algorithm)
    fit_rows = len(X)
    if entry.quadratic:
        fit_rows = min(len(X), quadratic_sample)
    model = candidate.estimator(seed, min_cluster_share).fit(X[:fit_rows])
    labels = _labels(model, X)
    counts = np.bincount(labels)
    counts = counts[counts > 0]
    metrics: dict[str, float] = {
        "n_segments": float(len(counts)),
        "smallest_segment_share": float(counts.min() / len(labels)),
    }
    silhouettes = None
    if len(counts) > 1:
        # The mean of the per-customer values is silhouette_score; they also draw the plot.
        silhouettes = silhouette_samples(X[silhouette_rows], labels[silhouette_rows])
        metrics["silhouette"] = float(np.mean(silhouettes))
        metrics["davies_bouldin"] = float(davies_bouldin_score(X, labels))
        metrics["calinski_harabasz"] = float(calinski_harabasz_score(X, labels))
    else:
        metrics.update(silhouette=-1.0, davies_bouldin=float("inf"), calinski_harabasz=0.0)
    metrics.update(entry.metrics(model, X))
    rng = np.random.default_rng(seed)
    aris = []
    for _ in range(bootstrap):
        rows = rng.integers(0, fit_rows, fit_rows)
        try:
            refit = candidate.estimator(seed, min_cluster_share).fit(X[rows])
        except ValueError:  # e.g. HDBSCAN finds nothing on a resample: unstable
            aris.append(0.0)
            continue
        aris.append(adjusted_rand_score(labels, _labels(refit, X)))
    metrics["bootstrap_stability"] = float(np.mean(aris)) if aris else float("nan")
    return Scored(candidate, labels, metrics, model, silhouettes)
