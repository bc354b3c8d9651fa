"""Identity graphs shaped like a real company's, for `graph.resolve` and its Spark twin."""

import numpy as np


def company_graph(seed: int, people: int = 400):
    """An identity graph shaped like a real one: people with a user id, CRM records entered
    several times (duplicate links, some refused), emails and cookies, and shared devices and
    family emails that bridge people (hubs and over-limit components)."""
    rng = np.random.default_rng(seed)
    node_type: list[int] = []
    edges: list[tuple[int, int, int, bool, bool]] = []  # src, dst, evidence, refused, duplicate

    def node(t: int) -> int:
        node_type.append(t)
        return len(node_type) - 1

    people_nodes = []
    for _ in range(people):
        own = [node(0)] if rng.random() < 0.8 else []
        crm = [node(1) for _ in range(rng.integers(0, 5))]
        own += crm
        own += [node(2) for _ in range(rng.integers(1, 4))]
        own += [node(3) for _ in range(rng.integers(0, 6))]
        for a, b in zip(own, own[1:], strict=False):
            edges.append((a, b, int(rng.integers(1, 9)), False, False))
        for a, b in zip(crm, crm[1:], strict=False):  # duplicate records of one person
            edges.append((a, b, 1, bool(rng.random() < 0.1), True))
        people_nodes.append(own)
    for _ in range(people // 8):  # shared devices and family emails
        shared = node(int(rng.choice([2, 3])))
        for person in rng.choice(len(people_nodes), size=rng.integers(2, 8), replace=False):
            if people_nodes[person]:
                edges.append((shared, people_nodes[person][0], 1, False, False))
    for _ in range(people // 20):  # people nobody links to anything
        node(int(rng.integers(0, 4)))
    order = rng.permutation(len(node_type))  # ids not in the order people were made
    src, dst, evidence, refused, duplicate = (np.array(c) for c in zip(*edges, strict=True))
    return (
        np.array(node_type)[np.argsort(order)],
        order[src], order[dst], evidence, refused, duplicate,
    )  # fmt: skip
