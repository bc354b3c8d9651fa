"""Measuring a clustering of CRM records against the truth (pairwise precision and recall)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from seg_platform.synthetic.duplicate_crm.writing import generate_duplicate_crm, pairs


@dataclass(frozen=True)
class PairwiseScores:
    """Pairwise precision, recall and F1 of a clustering of CRM records against the truth."""

    precision: float
    recall: float
    f1: float
    true_pairs: int  # record pairs of one person
    predicted_pairs: int  # record pairs put in one cluster
    correct_pairs: int  # both


def _truth_frame(truth_path: Path | str) -> pl.DataFrame:
    path = Path(truth_path)
    if path.is_dir():  # `out`, or `out/truth`
        path = (
            path / "crm_persons.parquet"
            if (path / "crm_persons.parquet").exists()
            else (path / "truth" / "crm_persons.parquet")
        )
    return pl.read_parquet(path, columns=["crm_id", "person_id"])


def crm_truth_pairs(truth_path: Path | str) -> int:
    """Number of record pairs that belong to one person (the denominator of pairwise recall).

    Args:
        truth_path: `truth/crm_persons.parquet`, its folder, or the generator's `out`.

    Example:
        >>> crm_truth_pairs(out / "truth" / "crm_persons.parquet")  # doctest: +SKIP
        11873
    """
    truth = _truth_frame(truth_path)
    return pairs(truth.group_by("person_id").len()["len"].to_list())


def pairwise_scores(
    clusters: Mapping[str, object] | pl.DataFrame, truth_path: Path | str
) -> PairwiseScores:
    """Pairwise precision/recall/F1 of `clusters` (crm_id -> cluster label) against the truth.

    Counted from the contingency table of cluster and person, never by listing pairs, so it
    is fast for any size. A crm_id missing from `clusters` counts as a cluster of its own; a
    crm_id that is not in the truth is an error. A DataFrame needs the columns `crm_id` and
    `cluster`. Precision is 1.0 when no pair is predicted, recall 1.0 when there is no true
    pair.

    Example:
        >>> pairwise_scores({"C1": "a", "C2": "a", "C3": "b"}, truth)  # doctest: +SKIP
        PairwiseScores(precision=1.0, recall=0.5, f1=0.667, ...)
    """
    truth = _truth_frame(truth_path)
    if isinstance(clusters, pl.DataFrame):
        predicted = clusters.select(
            pl.col("crm_id").cast(pl.String), pl.col("cluster").cast(pl.String)
        )
    else:
        predicted = pl.DataFrame(
            {"crm_id": list(clusters), "cluster": [str(v) for v in clusters.values()]},
            schema={"crm_id": pl.String, "cluster": pl.String},
        )
    if predicted["crm_id"].is_duplicated().any():
        raise ValueError("a crm_id appears twice in the clustering")
    unknown = predicted.join(truth, on="crm_id", how="anti")
    if unknown.height:
        raise ValueError(f"{unknown.height} crm_ids are not in the truth, e.g. {unknown[0, 0]}")
    joined = truth.join(predicted, on="crm_id", how="left").with_columns(
        pl.col("cluster").fill_null(pl.lit("__single__:") + pl.col("crm_id"))
    )
    true_pairs = pairs(joined.group_by("person_id").len()["len"].to_list())
    predicted_pairs = pairs(joined.group_by("cluster").len()["len"].to_list())
    correct = pairs(joined.group_by("cluster", "person_id").len()["len"].to_list())
    precision = correct / predicted_pairs if predicted_pairs else 1.0
    recall = correct / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairwiseScores(precision, recall, f1, true_pairs, predicted_pairs, correct)


__all__ = [
    "PairwiseScores",
    "crm_truth_pairs",
    "generate_duplicate_crm",
    "pairwise_scores",
]
