"""Stable segment ids across months.

This month's clusters are matched to last month's segments by an optimal assignment
(Hungarian, `scipy.optimize.linear_sum_assignment`) on centroids in one space: this month's
fitted preprocessing applied to both months' members. A pair is kept only when last month's
centroid lies closer to this month's cluster than that cluster's nearest neighbour does
(otherwise the segment moved too far to be called the same); a matched cluster keeps the id
and name, an unmatched one gets a new id. Splits and merges are read off the members who are
in both months.
"""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import pairwise_distances

from seg_platform.segments.settings import DEFAULTS

SPLIT_SHARE = 0.25  # a segment sending at least this share of its members to 2+ segments split


@dataclass
class Matching:
    ids: list[int]  # stable id per cluster of this month (cluster order)
    matched_from: list[int | None]  # last month's id each cluster continues, if any
    distance: list[float | None]  # centroid distance of each match
    lineage: list[str]  # per cluster: "continues", "new", "split from 3", "merged from 2, 5"
    retired: list[int]  # last month's ids no cluster continues


def match_clusters(
    previous_ids: list[int],
    previous_centroids: np.ndarray,
    centroids: np.ndarray,
    next_id: int,
    max_ratio: float = DEFAULTS.max_match_ratio,
) -> tuple[list[int], list[int | None], list[float | None]]:
    """Stable ids for this month's `centroids` given last month's ids and centroids.

    A Hungarian pair (old, new) is accepted when dist(old, new) <= max_ratio * the distance
    from `new` to its nearest other centroid of this month. Unmatched clusters get ids from
    `next_id` on, in cluster order.
    """
    k = len(centroids)
    ids: list[int | None] = [None] * k
    matched: list[int | None] = [None] * k
    distance: list[float | None] = [None] * k
    if len(previous_ids) and k:
        cost = pairwise_distances(previous_centroids, centroids)
        own = pairwise_distances(centroids)
        np.fill_diagonal(own, np.inf)
        nearest = own.min(axis=1) if k > 1 else np.full(k, np.inf)
        for old, new in zip(*linear_sum_assignment(cost), strict=True):
            if cost[old, new] <= max_ratio * nearest[new]:
                ids[new] = matched[new] = int(previous_ids[old])
                distance[new] = float(cost[old, new])
    assigned: list[int] = []
    for own in ids:
        if own is None:
            own = next_id
            next_id += 1
        assigned.append(int(own))
    return assigned, matched, distance


def lineage(
    ids: list[int],
    matched_from: list[int | None],
    previous_ids: list[int],
    transitions: dict[tuple[int, int], int],
) -> tuple[list[str], list[int]]:
    """Per cluster how it relates to last month: continues, new, split from, merged from.

    `transitions`: (last month's id, this month's id) -> customers in both months.
    """
    outgoing: dict[int, dict[int, int]] = {}
    incoming: dict[int, dict[int, int]] = {}
    for (old, new), n in transitions.items():
        outgoing.setdefault(old, {})[new] = n
        incoming.setdefault(new, {})[old] = n
    split_into: dict[int, int] = {}  # this month's id -> the old id it split from
    for old, targets in outgoing.items():
        total = sum(targets.values())
        big = [new for new, n in targets.items() if n >= SPLIT_SHARE * total]
        if len(big) >= 2:
            for new in big:
                if new != old:
                    split_into[new] = old
    out = []
    for new, source in zip(ids, matched_from, strict=True):
        sources = incoming.get(new, {})
        total = sum(sources.values())
        merged = sorted(old for old, n in sources.items() if n >= SPLIT_SHARE * total)
        if len(merged) >= 2:
            out.append("merged from " + ", ".join(str(m) for m in merged))
        elif new in split_into:
            out.append(f"split from {split_into[new]}")
        elif source is not None:
            out.append("continues")
        else:
            out.append("new")
    retired = sorted(set(previous_ids) - {m for m in matched_from if m is not None})
    return out, retired
