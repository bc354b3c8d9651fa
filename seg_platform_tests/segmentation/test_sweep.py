"""Segmentation logic without Dagster: preprocessing, candidates, the rule, reproducibility."""

import dataclasses

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from seg_platform.segmentation.candidates import (
    Candidate,
    NearestCentroid,
    Scored,
    default_candidates,
)
from seg_platform.segmentation.preprocess import CountLog1p, GuardedRobustScaler, fit_preprocessing
from seg_platform.segmentation.selection import SelectionRule
from seg_platform.segmentation.sweep import SweepConfig, run_sweep


def blobs(n=3000, centers=6, seed=0):
    X, y = make_blobs(n_samples=n, centers=centers, n_features=6, cluster_std=1.0,
                      center_box=(-12, 12), random_state=seed)  # fmt: skip
    return X, y


def test_count_log_touches_only_counts_and_amounts():
    rng = np.random.default_rng(0)
    X = np.column_stack([
        rng.exponential(10, 1000),  # skewed counts: logged
        rng.normal(0, 1, 1000),  # has negatives (a velocity): kept
        -rng.exponential(10, 1000),  # negative amounts: kept
        rng.uniform(0, 1, 1000),  # a rate within 0..1: kept
        rng.integers(0, 40, 1000),  # days, not skewed but a count: logged
    ])  # fmt: skip
    X[0, 0] = np.nan
    step = CountLog1p().fit(X)
    assert step.log_columns_.tolist() == [True, False, False, False, True]
    out = step.transform(X)
    assert np.isnan(out[0, 0])
    assert np.allclose(out[1:, 0], np.log1p(X[1:, 0]))
    assert np.array_equal(out[:, 1:4], X[:, 1:4])
    assert np.allclose(out[:, 4], np.log1p(X[:, 4]))


def test_preprocessing_drops_absent_features_and_flags_missing_values():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.exponential(5, 200), np.full(200, np.nan), rng.normal(size=200)])
    X[:10, 2] = np.nan
    Z = fit_preprocessing(X, None, 0).transform(X)
    # the all-missing column (an absent source) is dropped; the partly missing one is imputed
    # and flagged by an indicator column
    assert Z.shape == (200, 3)
    assert not np.isnan(Z).any()
    flag = Z[:, 2]  # the indicator, centred and scaled: 0 where present, > 0 where missing
    assert len(np.unique(flag)) == 2 and (flag[:10] > 0).all() and (flag[10:] == 0).all()


@pytest.mark.parametrize(
    ("metrics", "chosen", "met"),
    [
        # best silhouette among eligible (5..8 segments, share >= 2%, stability >= 0.8)
        ({"a": (6, 0.40, 0.05, 0.9), "b": (7, 0.45, 0.05, 0.9), "c": (4, 0.9, 0.2, 1.0)},
         "b", True),
        # near-tie in silhouette: fewer segments win
        ({"a": (8, 0.4004, 0.05, 0.9), "b": (6, 0.4001, 0.05, 0.9)}, "b", True),
        # unstable or too-small segments are not eligible
        ({"a": (6, 0.5, 0.05, 0.7), "b": (7, 0.6, 0.01, 0.9), "c": (5, 0.3, 0.05, 0.85)},
         "c", True),
        # nobody qualifies: best silhouette in the segment range, rule not met
        ({"a": (6, 0.5, 0.01, 0.5), "b": (9, 0.9, 0.1, 0.9)}, "a", False),
        # last month had 7 segments: within 0.005 of the best, 7 is kept...
        ({"a": (6, 0.402, 0.05, 0.9), "b": (7, 0.398, 0.05, 0.9)}, "b", True),
        # ...but not when it is clearly worse
        ({"a": (6, 0.41, 0.05, 0.9), "b": (7, 0.398, 0.05, 0.9)}, "a", True),
    ],
)  # fmt: skip
def test_selection_rule(metrics, chosen, met):
    scored = [
        Scored(
            Candidate("kmeans", k),
            np.zeros(1),
            {
                "n_segments": k,
                "silhouette": sil,
                "smallest_segment_share": share,
                "bootstrap_stability": stab,
            },
        )  # fmt: skip
        for name, (k, sil, share, stab) in metrics.items()
    ]
    names = {id(s): name for s, name in zip(scored, metrics, strict=True)}
    pick, rule_met = SelectionRule().choose(scored, incumbent_k=7)
    assert (names[id(pick)], rule_met) == (chosen, met)


def test_the_sweep_finds_planted_clusters_and_is_reproducible():
    X, y = blobs()
    config = SweepConfig(candidates=default_candidates(3, 8), bootstrap=3, selection_sample=2000)
    first = run_sweep(X, config)
    assert first.rule_met
    assert first.chosen.metrics["n_segments"] == 6
    assert adjusted_rand_score(y, first.segment) > 0.98
    # scoring new customers with the fitted pipeline gives the same segments
    assert np.array_equal(first.pipeline.predict(X), first.segment)
    # segment 0 is the largest
    sizes = np.bincount(first.segment)
    assert list(sizes) == sorted(sizes, reverse=True)
    second = run_sweep(X, config)
    assert np.array_equal(first.segment, second.segment)
    assert [s.metrics for s in first.scored] == [s.metrics for s in second.scored]
    # Scoring the candidates in worker processes (one thread each) gives the same segments;
    # metrics agree up to the order of floating-point sums (k-means' threads: 1e-15 relative).
    assert config.jobs == 1
    parallel = run_sweep(X, dataclasses.replace(config, jobs=2))
    assert np.array_equal(first.segment, parallel.segment)
    assert parallel.chosen.candidate == first.chosen.candidate
    for a, b in zip(first.scored, parallel.scored, strict=True):
        assert a.candidate == b.candidate and np.array_equal(a.labels, b.labels)
        assert b.metrics == pytest.approx(a.metrics, rel=1e-9)
    names = {s.candidate.name for s in first.scored}
    assert {"kmeans_k3", "kmeans_k8", "gmm_k5", "ward_k5", "ward_k8", "hdbscan"} <= names


@pytest.mark.parametrize("method", ["ward", "hdbscan"])
def test_nearest_centroid_makes_non_predicting_clusterers_predict(method):
    X, y = blobs(1500, 5, seed=3)
    model = NearestCentroid(method, n_clusters=5).fit(X)
    assert adjusted_rand_score(y, model.predict(X)) > 0.95
    assert 0 <= model.outlier_share_ < 0.5


def test_guarded_scaler_never_inflates_a_near_constant_column():
    rng = np.random.default_rng(2)
    spread = rng.normal(10, 3, 2000)
    rate = np.full(2000, 0.2)  # a smoothed rate: at its prior for most customers...
    rate[:150] = rng.uniform(0, 1, 150)  # ...and real values for a few
    X = np.column_stack([spread, rate])
    Z = GuardedRobustScaler().fit(X).transform(X)
    assert abs(np.median(Z[:, 0])) < 0.05 and 0.8 < Z[:, 0].std() < 1.2
    # Dividing by its (near-zero) IQR would give it a huge variance; here it stays at most 1.
    assert Z[:, 1].std() <= 1.0 + 1e-9


def test_zero_sweep_processes_is_a_clear_configuration_error():
    from seg_platform.segmentation.resources import SegmentationConfig

    assert SegmentationConfig(jobs=2).sweep_config().jobs == 2
    with pytest.raises(ValueError, match=r"segmentation.config.jobs = 0: use -1"):
        SegmentationConfig(jobs=0).sweep_config()


def test_an_algorithm_registered_in_one_place_is_selectable_by_name_in_the_launchpad(monkeypatch):
    """A new entry in `ALGORITHMS` alone (no edit of the resource, the candidates or the sweep)
    is accepted by `resources.segmentation.config.algorithms` and swept end to end."""
    from seg_platform.segmentation.algorithms import ALGORITHMS, Algorithm
    from seg_platform.segmentation.resources import SegmentationConfig
    from seg_platform_tests.segmentation.test_algorithms import SplitOnFirstAxis

    toy = Algorithm("bands", lambda k, seed, share: SplitOnFirstAxis(k or 2), SplitOnFirstAxis)
    monkeypatch.setitem(ALGORITHMS, "bands", toy)
    config = SegmentationConfig(
        algorithms=["bands"], k_min=2, k_max=4, min_segments=2, max_segments=4,
        selection_sample=1000, bootstrap=2, jobs=1,
    ).sweep_config()  # fmt: skip
    assert [c.name for c in config.candidates] == ["bands_k2", "bands_k3", "bands_k4"]
    X, y = make_blobs(n_samples=1500, centers=[[-20], [0], [20]], random_state=0)
    result = run_sweep(X, config)
    assert result.chosen.candidate.name == "bands_k3"
    assert adjusted_rand_score(y, result.segment) == 1.0
    with pytest.raises(ValueError, match="algorithms: unknown dbscan; registered: kmeans, gmm"):
        SegmentationConfig(algorithms=["dbscan"]).sweep_config()
