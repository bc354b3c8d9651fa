"""The identity graph algorithm: connected components with merge protection, on integer arrays.

No SQL and no Dagster: nodes are integers 0..n-1 with a type index, edges are integer pairs with
an evidence count. All work is vectorised (NumPy) or done by SciPy's C routines.

1. Hubs: an identifier linked to more identifiers of a same- or higher-priority type than a
   profile may hold (a family tablet seen with three accounts, a shared cookie) is not used as a
   bridge: all its edges go.
2. Components: `scipy.sparse.csgraph.connected_components`.
3. Limits, by type in priority order: where a component still holds more identifiers of a type
   than allowed, a one-per-profile type (user id) splits the component around those
   identifiers, each node going to the nearest one (multi-source Dijkstra, where strong evidence
   is short distance); for a type that allows several, the excess identifiers with the least
   evidence are detached. Cutting edges only splits components, so one pass in priority order
   leaves no type over its limit.

Records of one person in one source (CRM duplicates, clustered by `dedup_clusters` from their
match probabilities) are one node for all of this: `groups` contracts them first, so the limits
count persons, not duplicate records, and a person entered ten times is not a "hub".
"""

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

USED, DROPPED_HUB, DROPPED_LIMIT, DROPPED_CLUSTER = 0, 1, 2, 3
EDGE_STATUS = {
    USED: "used",
    DROPPED_HUB: "dropped_hub",
    DROPPED_LIMIT: "dropped_limit",
    DROPPED_CLUSTER: "dropped_cluster",
}


@dataclass
class GraphResult:
    labels: np.ndarray  # component label per node (0..k-1)
    edge_status: np.ndarray  # USED / DROPPED_HUB / DROPPED_LIMIT per input edge
    hubs: np.ndarray  # node ids found to be hubs
    hub_type: np.ndarray  # per hub: the neighbour type whose count broke the limit
    hub_count: np.ndarray  # per hub: how many neighbours of that type it had
    limit_cuts: dict[int, int]  # type index -> components split or trimmed for it


def resolve(
    n_nodes: int,
    src: np.ndarray,
    dst: np.ndarray,
    evidence: np.ndarray,
    node_type: np.ndarray,
    limits: np.ndarray,
    groups: np.ndarray | None = None,
    refused: np.ndarray | None = None,
) -> GraphResult:
    """Resolve identities, with nodes of one group (deduplicated records of one person) acting
    as one node and `refused` edges (rejected by the deduplication's safeguards) left out.

    `groups` gives a group label per node (nodes alone in their group are ordinary nodes); the
    nodes of a group must share one type. Edges inside a group are used. See `_resolve`.
    """
    src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
    refused = np.zeros(len(src), bool) if refused is None else np.asarray(refused, bool)
    if groups is None:
        groups = np.arange(n_nodes)
    _, rep = np.unique(np.asarray(groups), return_inverse=True)
    rep = rep.astype(np.int64)
    n_groups = int(rep.max()) + 1 if n_nodes else 0
    if n_groups == n_nodes and not refused.any():
        return _resolve(n_nodes, src, dst, evidence, node_type, limits)
    first = np.full(n_groups, n_nodes, np.int64)
    np.minimum.at(first, rep, np.arange(n_nodes))
    outer = ~refused & (rep[src] != rep[dst])
    sub = _resolve(
        n_groups, rep[src[outer]], rep[dst[outer]], np.asarray(evidence)[outer],
        np.asarray(node_type)[first], limits,
    )  # fmt: skip
    status = np.full(len(src), USED, np.int8)
    status[refused] = DROPPED_CLUSTER
    status[outer] = sub.edge_status
    return GraphResult(
        sub.labels[rep], status, first[sub.hubs], sub.hub_type, sub.hub_count, sub.limit_cuts
    )


def _resolve(
    n_nodes: int,
    src: np.ndarray,
    dst: np.ndarray,
    evidence: np.ndarray,
    node_type: np.ndarray,
    limits: np.ndarray,
) -> GraphResult:
    """Resolve identities. Types are indices into `limits`, ordered by priority (0 = highest).

    Args:
        n_nodes: number of identifiers.
        src, dst: edge endpoints (node ids); parallel and repeated edges are allowed.
        evidence: records supporting each edge (>= 1); strong edges win ties in splits.
        node_type: type index of every node.
        limits: per type index, the most identifiers of that type one profile may hold.

    Example:
        >>> r = resolve(3, np.array([0, 1]), np.array([1, 2]), np.array([1, 1]),
        ...             np.array([0, 1, 0]), np.array([1, 5]))
        >>> r.labels[0] != r.labels[2]  # two user ids never share a profile
        True
    """
    src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
    status = np.zeros(len(src), np.int8)
    hubs, hub_type, hub_count = _hubs(src, dst, node_type, limits)
    if len(hubs):
        is_hub = np.zeros(n_nodes, bool)
        is_hub[hubs] = True
        status[is_hub[src] | is_hub[dst]] = DROPPED_HUB

    labels = components(n_nodes, src, dst, status == USED)
    limit_cuts: dict[int, int] = {}
    for t in range(len(limits)):
        over = _over_limit(labels, node_type, t, limits[t])
        if not len(over):
            continue
        limit_cuts[t] = len(over)
        in_over = np.isin(labels, over)
        active = (status == USED) & in_over[src]
        if limits[t] == 1:
            cut = _split_around(n_nodes, src, dst, evidence, active, node_type == t)
        else:
            cut = _detach_excess(src, dst, evidence, active, labels, node_type, t, limits[t])
        status[cut] = DROPPED_LIMIT
        labels = components(n_nodes, src, dst, status == USED)
    return GraphResult(labels, status, hubs, hub_type, hub_count, limit_cuts)


def components(n: int, src, dst, keep=None) -> np.ndarray:
    """Connected-component label of each of n nodes, over the edges where `keep` is true."""
    src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
    keep = np.ones(len(src), bool) if keep is None else keep
    graph = coo_matrix((np.ones(int(keep.sum()), np.int8), (src[keep], dst[keep])), shape=(n, n))
    _, labels = connected_components(graph.tocsr(), directed=False)
    return labels


def _hubs(src, dst, node_type, limits):
    """Nodes with more distinct neighbours of some type than that type's per-profile limit."""
    if not len(src):
        empty = np.array([], np.int64)
        return empty, empty, empty
    node = np.concatenate([src, dst])
    nbr = np.concatenate([dst, src])
    pairs = np.unique(np.stack([node, nbr], axis=1), axis=0)  # distinct neighbours
    key_node, key_type = pairs[:, 0], node_type[pairs[:, 1]]
    keys, counts = np.unique(np.stack([key_node, key_type], axis=1), axis=0, return_counts=True)
    # Only a lower-priority identifier shared by several higher-priority ones (a device across
    # accounts) or by several of its own kind is a bridge between people. One account with many
    # emails is one person with too many emails: trimmed later, not cut off.
    over = (counts > limits[keys[:, 1]]) & (node_type[keys[:, 0]] >= keys[:, 1])
    hub_rows = keys[over]
    # One row per hub: the highest-priority type it breaks.
    order = np.lexsort((hub_rows[:, 1], hub_rows[:, 0]))
    hub_rows, hub_counts = hub_rows[order], counts[over][order]
    first = np.ones(len(hub_rows), bool)
    first[1:] = hub_rows[1:, 0] != hub_rows[:-1, 0]
    return hub_rows[first, 0], hub_rows[first, 1], hub_counts[first]


def _over_limit(labels, node_type, t, limit) -> np.ndarray:
    of_type = labels[node_type == t]
    if not len(of_type):
        return np.array([], labels.dtype)
    comps, counts = np.unique(of_type, return_counts=True)
    return comps[counts > limit]


def _split_around(n, src, dst, evidence, active, is_anchor) -> np.ndarray:
    """Edges to cut so that each anchor keeps the nodes closest to it (Voronoi on the graph)."""
    idx = np.flatnonzero(active)
    weight = 1.0 / (1.0 + np.log1p(evidence[idx].astype(np.float64)))
    graph = coo_matrix((weight, (src[idx], dst[idx])), shape=(n, n)).tocsr()
    anchors = np.flatnonzero(
        is_anchor & np.isin(np.arange(n), np.concatenate([src[idx], dst[idx]]))
    )
    _, _, nearest = dijkstra(
        graph, directed=False, indices=anchors, min_only=True, return_predecessors=True
    )
    cut = np.zeros(len(src), bool)
    cut[idx] = nearest[src[idx]] != nearest[dst[idx]]
    return cut


def _detach_excess(src, dst, evidence, active, labels, node_type, t, limit) -> np.ndarray:
    """Edges to cut so that each component keeps only its `limit` best-evidenced type-t nodes."""
    idx = np.flatnonzero(active)
    ends = np.concatenate([src[idx], dst[idx]])
    support = np.bincount(
        ends, weights=np.concatenate([evidence[idx], evidence[idx]]), minlength=len(labels)
    )
    nodes = np.unique(ends[node_type[ends] == t])
    # Within each component, best supported first, then the lower node id.
    order = np.lexsort((nodes, -support[nodes], labels[nodes]))
    nodes = nodes[order]
    comp = labels[nodes]
    start = np.ones(len(nodes), bool)
    start[1:] = comp[1:] != comp[:-1]
    group_start = np.maximum.accumulate(np.where(start, np.arange(len(nodes)), 0))
    rank = np.arange(len(nodes)) - group_start
    excess = np.zeros(len(labels), bool)
    excess[nodes[rank >= limit]] = True
    cut = np.zeros(len(src), bool)
    cut[idx] = excess[src[idx]] | excess[dst[idx]]
    return cut


KEPT, TIGHTENED, OVERSIZE, APART = 0, 1, 2, 3
# Clusters smaller than this are never judged by their density (a pair or a triangle is dense
# or nothing).
DENSITY_MIN_SIZE = 4


def dedup_clusters(
    n_nodes: int,
    src: np.ndarray,
    dst: np.ndarray,
    probability: np.ndarray,
    max_size: int,
    min_density: float,
    steps: tuple[float, ...] = (0.99, 0.999, 0.9999, 0.99999),
    apart: tuple[np.ndarray, np.ndarray] | None = None,
    certain: float | None = None,
) -> np.ndarray:
    """Cluster duplicate records from their pairwise match probabilities, as Splink does
    (connected components of the pairs above the threshold), with cluster-level safeguards.

    A cluster larger than `max_size`, or of at least `DENSITY_MIN_SIZE` records with fewer
    links than `min_density` of all its record pairs (a chain of look-alikes rather than one
    person's records), is clustered again from its pairs at the next, stricter threshold in
    `steps`. A cluster still larger than `max_size` after the last step loses all its links.

    A cluster that holds two records of `apart` (pairs of nodes known to be different people,
    e.g. two members of one household, brought together through a third record) is first
    split by `_split_apart`: its records are joined again link by link, strongest first, and a
    link below the last step that would put an `apart` pair into one cluster is refused. A
    person's own strong links survive; the record that bridged two people goes with the one
    it matches best. A link at `certain` or above (default: the last step) is never refused
    there; `certain=inf` (where the data shows that a person's records keep their first name,
    so two first names are stronger evidence than any number of shared household fields)
    refuses any link that would join such a pair.

    Returns, per pair, KEPT, TIGHTENED (dropped by a stricter threshold), APART (refused
    because it would join two people kept apart) or OVERSIZE.
    """
    src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
    probability = np.asarray(probability, np.float64)
    reason = np.full(len(src), KEPT, np.int8)
    if apart is not None and len(apart[0]):
        certain = steps[-1] if certain is None else certain
        reason[_split_apart(n_nodes, src, dst, probability, apart, certain)] = APART
    for step in (*steps, None):
        active = reason == KEPT
        labels = components(n_nodes, src, dst, active)
        size = np.bincount(labels, minlength=labels.max() + 1 if n_nodes else 0)
        links = np.bincount(labels[src[active]], minlength=len(size))
        pairs = size * (size - 1) / 2
        density = np.divide(links, pairs, out=np.ones(len(size)), where=pairs > 0)
        loose = (size >= DENSITY_MIN_SIZE) & (density < min_density)
        bad = (size > max_size) | loose
        in_bad = active & bad[labels[src]]
        if not in_bad.any():
            break
        if step is None:
            reason[active & (size > max_size)[labels[src]]] = OVERSIZE
            break
        reason[in_bad & (probability < step)] = TIGHTENED
    return reason


def _split_apart(
    n_nodes: int,
    src: np.ndarray,
    dst: np.ndarray,
    probability: np.ndarray,
    apart: tuple[np.ndarray, np.ndarray],
    certain: float,
) -> np.ndarray:
    """The links to refuse so that no cluster holds an `apart` pair (a cannot-link).

    Only the clusters holding such a pair are touched. Their links are taken strongest first
    (ties in input order) and two clusters are joined unless a record of one is known to be a
    different person from a record of the other, as in constrained agglomerative clustering.
    A link inside a cluster already joined is kept; a refused link never joins its ends later
    (a cluster's members and the records barred from it only grow). A link at `certain` or
    above is never refused: the evidence outweighs the rule that took the two for two people
    (one person's record whose first name was replaced).
    """
    refuse = np.zeros(len(src), bool)
    labels = components(n_nodes, src, dst)
    a, b = np.asarray(apart[0], np.int64), np.asarray(apart[1], np.int64)
    joined = labels[a] == labels[b]
    if not joined.any():
        return refuse
    conflicted = np.zeros(labels.max() + 1, bool)
    conflicted[labels[a[joined]]] = True
    cannot: dict[int, set[int]] = {}
    for x, y in zip(a[joined].tolist(), b[joined].tolist(), strict=True):
        cannot.setdefault(x, set()).add(y)
        cannot.setdefault(y, set()).add(x)
    parent: dict[int, int] = {}
    members: dict[int, set[int]] = {}
    # per cluster root: the records its members must not be clustered with
    barred: dict[int, set[int]] = {}

    def root(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    edges = np.flatnonzero(conflicted[labels[src]])
    order = edges[np.argsort(-probability[edges], kind="stable")]
    for e in order.tolist():
        rx, ry = root(int(src[e])), root(int(dst[e]))
        if rx == ry:
            continue
        mx = members.setdefault(rx, {rx})
        my = members.setdefault(ry, {ry})
        bx = barred.setdefault(rx, set(cannot.get(rx, ())))
        by = barred.setdefault(ry, set(cannot.get(ry, ())))
        if probability[e] < certain and not bx.isdisjoint(my):
            refuse[e] = True
            continue
        if len(mx) < len(my):
            rx, ry, mx, my, bx, by = ry, rx, my, mx, by, bx
        parent[ry] = rx
        mx |= my
        bx |= by
        del members[ry], barred[ry]
    return refuse
