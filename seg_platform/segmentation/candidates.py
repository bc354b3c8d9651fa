"""Candidate clusterings and the metrics that compare them.

Every candidate is fitted on the same selection sample (in the preprocessed space) and judged
by the same metrics; the chosen one is then fitted on the full table (k-means, Gaussian mixture)
or assigns the full table to its nearest centroid (Ward, HDBSCAN, which do not scale).
"""

from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    pairwise_distances_argmin,
    silhouette_samples,
)
from sklearn.mixture import GaussianMixture


class NearestCentroid(ClusterMixin, BaseEstimator):
    """A clusterer that cannot predict (Ward, HDBSCAN) made into one that can.

    Fits `method` on the data, keeps one centroid per cluster (HDBSCAN's noise is left out)
    and assigns any customer to the nearest centroid.
    """

    def __init__(self, method: str = "ward", n_clusters: int = 5, min_cluster_share: float = 0.02):
        self.method = method
        self.n_clusters = n_clusters
        self.min_cluster_share = min_cluster_share

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        if self.method == "ward":
            labels = AgglomerativeClustering(
                n_clusters=self.n_clusters, linkage="ward"
            ).fit_predict(X)
        elif self.method == "hdbscan":
            size = max(5, int(self.min_cluster_share * len(X)))
            labels = HDBSCAN(min_cluster_size=size, copy=True).fit_predict(X)
        else:
            raise ValueError(f"unknown method {self.method!r}: ward or hdbscan")
        clusters = [c for c in np.unique(labels) if c >= 0]
        if not clusters:
            raise ValueError(f"{self.method} found no cluster")
        self.outlier_share_ = float(np.mean(labels < 0))
        self.cluster_centers_ = np.vstack([X[labels == c].mean(axis=0) for c in clusters])
        self.labels_ = self.predict(X)
        return self

    def predict(self, X):
        return pairwise_distances_argmin(np.asarray(X, dtype=np.float64), self.cluster_centers_)


@dataclass(frozen=True)
class Candidate:
    """One candidate model: an algorithm and its segment count."""

    algorithm: str  # kmeans, gmm, ward, hdbscan
    k: int | None = None  # None for hdbscan (it finds its own)

    @property
    def name(self) -> str:
        return f"{self.algorithm}_k{self.k}" if self.k else self.algorithm

    def estimator(self, seed: int, min_cluster_share: float = 0.02):
        if self.algorithm == "kmeans":
            return KMeans(n_clusters=self.k, n_init=10, random_state=seed)
        if self.algorithm == "gmm":
            return GaussianMixture(
                n_components=self.k, covariance_type="diag", n_init=2, random_state=seed
            )
        if self.algorithm in ("ward", "hdbscan"):
            return NearestCentroid(self.algorithm, self.k or 0, min_cluster_share)
        raise ValueError(f"unknown algorithm {self.algorithm!r}")


def default_candidates(
    k_min: int = 3,
    k_max: int = 10,
    algorithms=("kmeans", "gmm", "ward", "hdbscan"),
    ward_k: tuple[int, int] = (5, 8),
) -> list[Candidate]:
    """k-means and Gaussian mixtures for every k in [k_min, k_max]; Ward (quadratic in rows,
    so fitted on a smaller sample) for the actionable range `ward_k`; HDBSCAN once."""
    out = []
    for algorithm in algorithms:
        if algorithm == "hdbscan":
            out.append(Candidate("hdbscan"))
        elif algorithm == "ward":
            low, high = max(k_min, ward_k[0]), min(k_max, ward_k[1])
            out += [Candidate("ward", k) for k in range(low, high + 1)]
        else:
            out += [Candidate(algorithm, k) for k in range(k_min, k_max + 1)]
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
    fit_rows = len(X)
    if candidate.algorithm in ("ward", "hdbscan"):
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
    if candidate.algorithm == "kmeans":
        metrics["inertia"] = float(model.inertia_)
    if candidate.algorithm == "gmm":
        metrics["bic"] = float(model.bic(X))
    if candidate.algorithm == "hdbscan":
        metrics["outlier_share"] = model.outlier_share_
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
