"""The algorithm registry: the built-in entries and a new algorithm added in one place."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from seg_platform.segmentation import algorithms
from seg_platform.segmentation.algorithms import ALGORITHMS, Algorithm, NearestCentroid
from seg_platform.segmentation.candidates import default_candidates
from seg_platform.segmentation.selection import SelectionRule
from seg_platform.segmentation.sweep import SweepConfig, run_sweep

pytestmark = pytest.mark.unit


class SplitOnFirstAxis(ClusterMixin, BaseEstimator):
    """A toy clusterer: cuts the first coordinate at its k - 1 widest gaps; keeps no centres."""

    def __init__(self, n_bands: int = 2):
        self.n_bands = n_bands

    def fit(self, X, y=None):
        x = np.sort(X[:, 0])
        widest = np.sort(np.argsort(np.diff(x))[len(x) - self.n_bands :])
        self.edges_ = (x[widest] + x[widest + 1]) / 2
        return self

    def predict(self, X):
        return np.searchsorted(self.edges_, X[:, 0])


def test_the_built_in_candidates_are_unchanged():
    names = [c.name for c in default_candidates(3, 10, ward_k=(5, 8))]
    assert names == (
        [f"kmeans_k{k}" for k in range(3, 11)]
        + [f"gmm_k{k}" for k in range(3, 11)]
        + [f"ward_k{k}" for k in range(5, 9)]
        + ["hdbscan"]
    )
    assert list(ALGORITHMS) == ["kmeans", "gmm", "ward", "hdbscan"]


def test_an_unknown_algorithm_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown algorithm 'dbscan': one of kmeans, gmm"):
        default_candidates(algorithms=("kmeans", "dbscan"))


def test_trusted_types_name_nearest_centroid_where_old_and_new_models_find_it():
    assert algorithms.trusted_types() == [
        "seg_platform.segmentation.algorithms.NearestCentroid",
        "seg_platform.segmentation.candidates.NearestCentroid",
    ]
    from seg_platform.segmentation import candidates

    assert candidates.NearestCentroid is NearestCentroid  # models logged before the registry


def test_an_algorithm_registered_in_the_dict_alone_is_swept(monkeypatch):
    toy = Algorithm(
        "bands",
        lambda k, seed, share: SplitOnFirstAxis(k or 2),
        SplitOnFirstAxis,
        metrics=lambda model, X: {"edges": float(len(model.edges_))},
        trusted_types=("seg_platform_tests.segmentation.test_algorithms.SplitOnFirstAxis",),
    )
    monkeypatch.setitem(ALGORITHMS, "bands", toy)
    # Three clusters along one feature (another would be scaled up to equal weight): bands find
    # them.
    X, y = make_blobs(n_samples=1500, centers=[[-20], [0], [20]], random_state=0)
    candidates = default_candidates(2, 4, algorithms=("bands",))
    assert [c.name for c in candidates] == ["bands_k2", "bands_k3", "bands_k4"]
    model = candidates[1].estimator(seed=0).fit(X)
    assert isinstance(model, SplitOnFirstAxis)
    assert algorithms.algorithm_of(model) is toy
    rule = SelectionRule(min_segments=2, max_segments=4)
    result = run_sweep(X, SweepConfig(candidates, rule, selection_sample=1000, bootstrap=2))
    assert [s.metrics["edges"] for s in result.scored] == [1.0, 2.0, 3.0]
    assert result.rule_met
    assert result.chosen.candidate.name == "bands_k3"  # k2 merges two, k4 splits one
    assert adjusted_rand_score(y, result.segment) == 1.0
    # No centres of its own: the mean of each segment's customers (the default `centres`).
    Z = result.preprocess.transform(X)
    own = np.vstack([Z[result.segment == s].mean(axis=0) for s in range(3)])
    assert np.allclose(result.distance, np.linalg.norm(Z - own[result.segment], axis=1))
    assert result.probability is None  # no `membership`
    assert toy.trusted_types[0] in algorithms.trusted_types()


def test_the_elbow_plot_draws_every_algorithm_reporting_inertia_or_bic():
    """A registered algorithm whose `metrics` report inertia gets its line in elbow.png, with
    no edit of the report (the plot used to name k-means and gmm)."""
    from seg_platform.segmentation.report import elbow_lines

    rows = [
        {"algorithm": "kmeans", "k": 4, "inertia": 9.0, "bic": None},
        {"algorithm": "kmeans", "k": 3, "inertia": 12.0, "bic": None},
        {"algorithm": "bands", "k": 3, "inertia": 20.0, "bic": None},
        {"algorithm": "gmm", "k": 3, "inertia": None, "bic": 150.0},
        {"algorithm": "hdbscan", "k": None, "inertia": None, "bic": None},
    ]
    assert elbow_lines(rows, "inertia") == {"kmeans": [(3, 12.0), (4, 9.0)], "bands": [(3, 20.0)]}
    assert elbow_lines(rows, "bic") == {"gmm": [(3, 150.0)]}
