"""The registry of segmentation algorithms: adding one is one entry in `ALGORITHMS`.

Each entry says how the candidate sweep builds, fits, measures and scales the algorithm; the
sweep, the candidate list, the segmentation resource and the model's skops allow-list read it.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans
from sklearn.metrics import pairwise_distances_argmin
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


def mean_centres(model: Any, X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The mean of each label's rows: the centre of a clusterer that keeps none."""
    return np.vstack([X[labels == s].mean(axis=0) for s in range(labels.max() + 1)])


def fitted_centres(model: Any, X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The centres the clusterer keeps (`cluster_centers_`)."""
    return model.cluster_centers_


def _predict(model: Any, X: np.ndarray) -> Any:
    return model


def _refit_kmeans(model: Any, X: np.ndarray) -> Any:
    # Every customer, started from the sample's centres (same labels, one pass).
    return clone(model).set_params(init=model.cluster_centers_, n_init=1).fit(X)


@dataclass(frozen=True)
class Algorithm:
    """How the sweep treats one clustering algorithm.

    name: the name in `resources.segmentation.config.algorithms`, candidate names and tables.
    build: (k, seed, min_cluster_share) -> an unfitted estimator with `fit` and `predict`
        (k is None when `has_k` is false).
    estimator_type: the class `build` returns, to find the entry of a loaded model.
    has_k: the segment count is a parameter (one candidate per k) or found by the algorithm.
    quadratic: cost grows with the square of the rows: fitted on the small `quadratic_sample`,
        and swept only over the actionable k range (the selection rule's segment bounds).
    centres: (model, X, labels) -> one centre per label, in the preprocessed space.
    full_table: (model fitted on the sample, full table) -> the model that labels the full table
        with `predict` (a refit, or the same model when it assigns to its nearest centre).
    metrics: (model, X) -> algorithm-specific metrics logged with the common ones.
    membership: (model, X) -> per-row probability of each raw label (mixtures), or None.
    trusted_types: our own classes inside the fitted model, for skops (safe) serialisation.
    """

    name: str
    build: Callable[[int | None, int, float], Any]
    estimator_type: type
    has_k: bool = True
    quadratic: bool = False
    centres: Callable[[Any, np.ndarray, np.ndarray], np.ndarray] = mean_centres
    full_table: Callable[[Any, np.ndarray], Any] = _predict
    metrics: Callable[[Any, np.ndarray], dict[str, float]] = lambda model, X: {}
    membership: Callable[[Any, np.ndarray], np.ndarray] | None = None
    trusted_types: tuple[str, ...] = field(default=())


# NearestCentroid lived in candidates.py before this registry; models logged then name it there
# (candidates.py still re-exports it), so both names stay trusted.
_NEAREST_CENTROID_TYPES = (
    "seg_platform.segmentation.algorithms.NearestCentroid",
    "seg_platform.segmentation.candidates.NearestCentroid",
)

ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm(
            "kmeans",
            lambda k, seed, share: KMeans(n_clusters=k, n_init=10, random_state=seed),
            KMeans,
            centres=fitted_centres,
            full_table=_refit_kmeans,
            metrics=lambda model, X: {"inertia": float(model.inertia_)},
        ),
        Algorithm(
            "gmm",
            lambda k, seed, share: GaussianMixture(
                n_components=k, covariance_type="diag", n_init=2, random_state=seed
            ),
            GaussianMixture,
            centres=lambda model, X, labels: model.means_,
            metrics=lambda model, X: {"bic": float(model.bic(X))},
            membership=lambda model, X: model.predict_proba(X),
        ),
        Algorithm(
            "ward",
            lambda k, seed, share: NearestCentroid("ward", k or 0, share),
            NearestCentroid,
            quadratic=True,
            centres=fitted_centres,
            trusted_types=_NEAREST_CENTROID_TYPES,
        ),
        Algorithm(
            "hdbscan",
            lambda k, seed, share: NearestCentroid("hdbscan", k or 0, share),
            NearestCentroid,
            has_k=False,
            quadratic=True,
            centres=fitted_centres,
            metrics=lambda model, X: {"outlier_share": model.outlier_share_},
            trusted_types=_NEAREST_CENTROID_TYPES,
        ),
    )
}


def algorithm(name: str) -> Algorithm:
    """The registry entry called `name` (ValueError naming the known ones otherwise)."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}: one of {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]


def algorithm_of(model: Any) -> Algorithm | None:
    """The entry whose estimator `model` is (a model loaded back has no algorithm name)."""
    for entry in ALGORITHMS.values():
        if isinstance(model, entry.estimator_type):
            return entry
    return None


def trusted_types() -> list[str]:
    """Every class of ours a registered algorithm puts inside a fitted model, once each."""
    return list(dict.fromkeys(t for a in ALGORITHMS.values() for t in a.trusted_types))
