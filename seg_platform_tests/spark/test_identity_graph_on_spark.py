"""The identity graph on Spark gives the profiles, edge statuses, hubs and limit cuts that
`graph.resolve` gives on one machine (issue 22), on local[2], the standalone cluster and
Spark Connect."""

import numpy as np
import pandas as pd
import pytest

from seg_platform.identity.graph import EDGE_STATUS, components, resolve
from seg_platform.identity.spark_graph import resolve_on_spark
from seg_platform_tests.identity.graphs import company_graph

pytestmark = pytest.mark.spark

LIMITS = np.array([1, 3, 5, 10**9], np.int64)  # user id, crm id, email, cookie


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Two labelings put the same nodes together (labels may differ)."""
    pairs = pd.DataFrame({"a": a, "b": b}).drop_duplicates()
    return pairs["a"].is_unique and pairs["b"].is_unique


def test_resolve_on_spark_equals_resolve_on_one_machine(engine_session):
    """A company's graph, and beside it a chain of 600 cookies in shuffled id order (one
    profile: the worst case for label propagation, each round halves it)."""
    node_type, src, dst, evidence, refused, duplicate = company_graph(1)
    n = len(node_type)
    chain = n + np.random.default_rng(7).permutation(600)
    node_type = np.concatenate([node_type, np.full(600, 3)])
    src, dst = np.concatenate([src, chain[:-1]]), np.concatenate([dst, chain[1:]])
    evidence = np.concatenate([evidence, np.ones(599, np.int64)])
    refused = np.concatenate([refused, np.zeros(599, bool)])
    duplicate = np.concatenate([duplicate, np.zeros(599, bool)])
    n += 600
    groups = components(n, src, dst, duplicate & ~refused)
    expected = resolve(
        n, src, dst, evidence, node_type, LIMITS, groups=groups, refused=refused & duplicate
    )
    # The graph is meant to exercise every rule.
    assert len(expected.hubs) and expected.limit_cuts
    assert {EDGE_STATUS[s] for s in expected.edge_status.tolist()} == set(EDGE_STATUS.values())

    nodes = engine_session.createDataFrame(
        pd.DataFrame({"node_id": np.arange(n, dtype=np.int64), "rank": node_type.astype(np.int32)})
    )
    pairs = engine_session.createDataFrame(
        pd.DataFrame(
            {
                "pair_id": np.arange(len(src), dtype=np.int64),
                "src": src.astype(np.int64),
                "dst": dst.astype(np.int64),
                "evidence": evidence.astype(np.int64),
                "refused": refused & duplicate,
                "duplicate": duplicate & ~refused,
            }
        )
    )
    got = {name: frame.toPandas() for name, frame in resolve_on_spark(nodes, pairs, LIMITS).items()}

    labels = got["labels"].sort_values("node_id")
    assert labels["node_id"].tolist() == list(range(n))
    assert _same_partition(labels["comp"].to_numpy(), expected.labels)
    # A profile's label is its smallest node id: the chain is one profile labelled by its head.
    assert set(labels["comp"].iloc[chain]) == {int(chain.min())}
    first = np.full(int(groups.max()) + 1, n)
    np.minimum.at(first, groups, np.arange(n))
    assert labels["lead"].tolist() == (first[groups] == np.arange(n)).tolist()

    status = got["pair_status"].sort_values("pair_id")
    assert status["status"].tolist() == [EDGE_STATUS[s] for s in expected.edge_status.tolist()]

    hubs = got["hubs"].sort_values("node_id")
    order = np.argsort(expected.hubs)
    assert hubs["node_id"].tolist() == expected.hubs[order].tolist()
    assert hubs["hub_type"].tolist() == expected.hub_type[order].tolist()
    assert hubs["hub_count"].tolist() == expected.hub_count[order].tolist()

    cuts = dict(zip(got["limit_cuts"]["hub_type"], got["limit_cuts"]["components"], strict=True))
    assert cuts == expected.limit_cuts
