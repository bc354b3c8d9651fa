"""One re-segmentation: preprocess, score every candidate on a sample, choose, fit on all.

Plain functions over NumPy arrays; the Dagster asset and MLflow logging sit around them.
"""

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.metrics import pairwise_distances
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from seg_platform.segmentation.algorithms import algorithm, algorithm_of, mean_centres
from seg_platform.segmentation.candidates import Candidate, Scored, score_candidate
from seg_platform.segmentation.preprocess import fit_preprocessing
from seg_platform.segmentation.selection import SelectionRule
from seg_platform.segmentation.settings import DEFAULTS


@dataclass
class SweepConfig:
    candidates: list[Candidate]
    rule: SelectionRule = field(default_factory=SelectionRule)
    selection_sample: int = DEFAULTS.selection_sample
    preprocess_sample: int = 200_000
    silhouette_sample: int = DEFAULTS.silhouette_sample
    quadratic_sample: int = DEFAULTS.quadratic_sample
    bootstrap: int = DEFAULTS.bootstrap
    pca_variance: float | None = DEFAULTS.pca_variance
    min_cluster_share: float = DEFAULTS.min_segment_share
    seed: int = DEFAULTS.seed
    incumbent_k: int | None = None  # last month's segment count (selection prefers it on ties)
    jobs: int = 1  # candidates scored side by side (joblib processes); -1 = one per core


@dataclass
class SweepResult:
    preprocess: Pipeline
    sample_rows: np.ndarray  # rows of the full table in the selection sample, in sample order
    scored: list[Scored]
    chosen: Scored
    rule_met: bool
    pipeline: Pipeline  # preprocessing + the chosen clusterer, fitted: what gets registered
    segment: np.ndarray  # per row of the full table
    runner_up: np.ndarray
    distance: np.ndarray  # to the own segment's centre, in the preprocessed space
    probability: np.ndarray | None  # membership probability (mixtures only)
    seconds: dict[str, float] = field(default_factory=dict)


def sample_rows(n: int, size: int, seed: int) -> np.ndarray:
    """A fixed random sample of row positions (the same for the same n, size and seed)."""
    return np.random.default_rng(seed).permutation(n)[: min(size, n)]


def _centres(model, Z: np.ndarray, segment: np.ndarray) -> np.ndarray:
    entry = algorithm_of(model)  # a champion loaded back from MLflow has no algorithm name
    if entry is not None:
        return entry.centres(model, Z, segment)
    if hasattr(model, "cluster_centers_"):
        return model.cluster_centers_
    return mean_centres(model, Z, segment)


def _score_one(candidate: Candidate, threads: int | None, *args) -> tuple[Scored | None, float]:
    started = time.perf_counter()
    with threadpool_limits(threads):
        try:
            result = score_candidate(candidate, *args)
        except ValueError:
            result = None
    return result, round(time.perf_counter() - started, 3)


def run_sweep(X: np.ndarray, config: SweepConfig) -> SweepResult:
    """Score every candidate on a sample of `X` (rows = customers), choose one, fit it on all."""
    clock, seconds = time.perf_counter(), {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 3)
        clock = now

    # Ranges, medians and quantiles are estimated on a large fixed sample: on a million
    # customers the full-table estimates are the same to the third digit and cost 10x more.
    order = sample_rows(len(X), len(X), config.seed)
    fit_rows = order[: max(config.preprocess_sample, config.selection_sample)]
    preprocess = fit_preprocessing(X[np.sort(fit_rows)], config.pca_variance, config.seed)
    Z = preprocess.transform(X)
    rows = order[: min(config.selection_sample, len(X))]
    Zs = Z[rows]
    silhouette_rows = np.arange(min(config.silhouette_sample, len(Zs)))
    lap("preprocess")

    # Candidates are independent: scored side by side, one BLAS/OpenMP thread each, so every
    # core works on its own candidate (most of them are single-threaded Python and NumPy).
    args = (Zs, silhouette_rows, config.seed, config.bootstrap, config.min_cluster_share,
            config.quadratic_sample)  # fmt: skip
    threads = None if config.jobs == 1 else 1
    outcomes = Parallel(n_jobs=config.jobs)(
        delayed(_score_one)(candidate, threads, *args) for candidate in config.candidates
    )
    scored = []
    for candidate, (result, took) in zip(config.candidates, outcomes, strict=True):
        if result is not None:  # None: e.g. HDBSCAN found no cluster at all; recorded as absent
            scored.append(result)
            seconds[f"candidate {candidate.name}"] = took
    clock = time.perf_counter()
    if not scored:
        raise ValueError("no candidate could be fitted")
    chosen, rule_met = config.rule.choose(scored, config.incumbent_k)

    # The full table: a refit on every customer (k-means, from the sample's centres) or the
    # sample's model assigning each customer (to its nearest centre for Ward and HDBSCAN).
    model: Any = algorithm(chosen.candidate.algorithm).full_table(chosen.model, Z)
    segment = np.asarray(model.predict(Z))
    lap("final fit")

    # Relabel segments by size (largest first) so ids do not depend on the algorithm's order.
    order = np.argsort(-np.bincount(segment, minlength=segment.max() + 1), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    segment, runner_up, distance, probability = _placement(model, rank, Z, segment)
    pipeline = Pipeline([*preprocess.steps, ("cluster", RankedSegments(model, rank))])
    lap("assign")
    return SweepResult(
        preprocess, rows, scored, chosen, rule_met, pipeline, segment, runner_up, distance,
        probability, seconds,
    )  # fmt: skip


def _placement(model, rank: np.ndarray, Z: np.ndarray, raw: np.ndarray):
    """Ranked segment, runner-up, distance to the own centre and (mixtures) probability of
    each row of `Z`, given the clusterer's own labels `raw` and its size ranking `rank`."""
    centres = np.empty((len(rank), Z.shape[1]))
    centres[rank] = _centres(model, Z, raw)[: len(rank)]
    segment = rank[raw]
    d = np.empty((len(Z), len(centres)))
    for start in range(0, len(Z), 200_000):
        d[start : start + 200_000] = pairwise_distances(Z[start : start + 200_000], centres)
    distance = d[np.arange(len(Z)), segment]
    d[np.arange(len(Z)), segment] = np.inf
    runner_up = d.argmin(axis=1) if len(centres) > 1 else segment.copy()
    probability = None
    entry = algorithm_of(model)
    if entry is not None and entry.membership is not None:  # mixtures
        probability = entry.membership(model, Z)[:, np.argsort(rank)][np.arange(len(Z)), segment]
    return segment, runner_up, distance, probability


def assign_with(pipeline: Pipeline, X: np.ndarray):
    """Segment, runner-up, distance and probability of every row of `X` under an already
    fitted pipeline (a registered one, e.g. the champion kept for a month whose own candidates
    all failed the rule): the same ids, as the model is not re-fitted."""
    ranked = pipeline[-1]
    Z = pipeline[:-1].transform(X)
    raw = np.asarray(ranked.model.predict(Z))
    return _placement(ranked.model, np.asarray(ranked.rank), Z, raw)


class RankedSegments(ClusterMixin, BaseEstimator):
    """The chosen clusterer with segment ids ranked by size (0 = largest), as tables show them."""

    def __init__(self, model=None, rank=None):
        self.model = model
        self.rank = rank

    def fit(self, X, y=None):  # fitted by the sweep; a Pipeline step needs the method
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return self.model is not None

    def predict(self, X):
        return self.rank[np.asarray(self.model.predict(X))]
