"""The identity graph on Spark (issue 22): connected components past the driver, and the merge
protection of `graph.resolve` applied component by component on the executors.

One machine resolves the whole graph at once (`graph.resolve`, SciPy on integer arrays). Past
one machine the graph does not fit the driver, but nothing in `resolve` looks past a
component: a hub's edges, the limits per profile, the splits around user ids and the detached
excess identifiers all stay inside the connected component of *all* edges (hub and refused
ones included) that holds them. So:

1. `connected_components` finds those components in Spark, with the alternating large-star /
   small-star algorithm (Kiveris et al., "Connected Components in MapReduce and Beyond", SoCC
   2014): O(log n) rounds of joins and aggregations, each round cut from the plan before (a
   local checkpoint), the label of a component its smallest node id.
2. `resolve_on_spark` sends each component's nodes and pairs to an executor task (a cogroup
   of buckets of whole components: one Python call per bucket, not per component) and runs
   `graph.resolve` there on local node numbers given in node id order, so ties break as on
   one machine. A profile is labelled by its smallest node id.

A bucket must fit one task's memory (`buckets` sets how many). Components stay small: with
the limits per profile a component past a few thousand identifiers is already a bridge the
rules cut (the 1M-customer synthetic company's largest is 41 identifiers).
"""

import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from seg_platform.core.yaml_files import sql_string
from seg_platform.identity.graph import EDGE_STATUS, components, resolve

# Rounds of large-star + small-star before giving up: each round at least halves the longest
# path to a component's smallest node, so 64 rounds cover any graph that fits a cluster.
MAX_ROUNDS = 64

# One row per node, pair, hub and limit cut, from the task that resolved a bucket.
_RESOLVED_SCHEMA = (
    "kind STRING, bucket BIGINT, id BIGINT, sub BIGINT, lead BOOLEAN, status STRING, "
    "hub_type INT, hub_count BIGINT"
)


def connected_components(edges: Any, max_rounds: int = MAX_ROUNDS) -> Any:
    """(node, comp) for every node of `edges` (a Spark DataFrame of BIGINT `src`, `dst`),
    `comp` the smallest node id of its connected component. Self-loops are allowed."""
    from pyspark.sql import functions as F

    current = (
        edges.select(F.least("src", "dst").alias("u"), F.greatest("src", "dst").alias("v"))
        .where(F.col("u") != F.col("v"))
        .distinct()
        .localCheckpoint()
    )
    nodes = edges.select(F.col("src").alias("node")).union(edges.select(F.col("dst")))
    for _ in range(max_rounds):
        after = _small_star(_large_star(current)).localCheckpoint()
        if _same_edges(current, after):
            break
        current = after
    else:
        raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
    # At convergence every edge is (smallest node of the component, another node).
    labels = current.select(F.col("v").alias("node"), F.col("u").alias("comp"))
    return (
        nodes.distinct()
        .join(labels, "node", "left")
        .select("node", F.coalesce("comp", "node").alias("comp"))
    )


def _large_star(edges: Any) -> Any:
    """Every node links its larger neighbours to the smallest node of its neighbourhood."""
    from pyspark.sql import functions as F

    both = edges.union(edges.select(F.col("v").alias("u"), F.col("u").alias("v")))
    smallest = both.groupBy("u").agg(F.least(F.min("v"), F.col("u")).alias("m"))
    return (
        both.where(F.col("v") > F.col("u"))
        .join(smallest, "u")
        .select(F.col("m").alias("u"), F.col("v"))
        .distinct()
    )


def _small_star(edges: Any) -> Any:
    """Every node links itself and its smaller neighbours to the smallest of them."""
    from pyspark.sql import functions as F

    # Edges are (smaller, larger): a node's smaller neighbours are the `u` of its rows as `v`.
    smallest = edges.groupBy("v").agg(F.min("u").alias("m"))
    linked = edges.join(smallest, "v").select(F.col("m").alias("u"), F.col("u").alias("v"))
    own = smallest.select(F.col("m").alias("u"), F.col("v"))
    return linked.union(own).where(F.col("u") != F.col("v")).distinct()


def _same_edges(a: Any, b: Any) -> bool:
    """No edge of one set is missing from the other (one job; both sets are distinct)."""
    from pyspark.sql import functions as F

    left = a.withColumn("_a", F.lit(True))
    right = b.withColumn("_b", F.lit(True))
    joined = left.join(right, ["u", "v"], "full_outer")
    return joined.where(F.col("_a").isNull() | F.col("_b").isNull()).isEmpty()


def resolve_on_spark(
    nodes: Any, pairs: Any, limits: np.ndarray, buckets: int | None = None
) -> dict[str, Any]:
    """`graph.resolve` of the identity graph, component by component on the executors.

    Args:
        nodes: Spark DataFrame (node_id BIGINT, rank INT): every identifier and the priority
            index of its type, as `build._resolve_graph` reads them.
        pairs: Spark DataFrame (pair_id BIGINT, src BIGINT, dst BIGINT, evidence BIGINT,
            refused BOOLEAN, duplicate BOOLEAN): one undirected edge per identifier pair.
        limits: per priority index, the most identifiers of that type one profile may hold.
        buckets: how many tasks share the components (default: 4 per shuffle partition).

    Returns Spark DataFrames: `labels` (node_id, comp, lead), `comp` the smallest node id of
    the node's profile (equal for the nodes of one profile, not numbered 0..k-1);
    `pair_status` (pair_id, status); `hubs` (node_id, hub_type, hub_count); `limit_cuts`
    (hub_type as the type index, components).
    """
    from pyspark.sql import functions as F

    limits = np.asarray(limits, np.int64)
    links = pairs.select("src", "dst").union(nodes.select(F.col("node_id"), F.col("node_id")))
    if buckets is None:
        buckets = 4 * int(nodes.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    comp = connected_components(links)
    bucket = F.pmod(F.xxhash64("comp"), F.lit(buckets))
    node_rows = nodes.join(
        comp.select(F.col("node").alias("node_id"), bucket.alias("bucket")), "node_id"
    )
    # The pairs' key under its own name: a cogroup of two plans sharing one parent cannot tell
    # two `bucket` columns apart.
    pair_rows = pairs.join(
        comp.select(F.col("node").alias("src"), bucket.alias("pair_bucket")), "src"
    )

    def resolve_bucket(key: tuple, node_frame: Any, pair_frame: Any) -> Any:
        return _resolve_bucket(int(key[0]), node_frame, pair_frame, limits)

    resolved = (
        node_rows.groupBy("bucket")
        .cogroup(pair_rows.groupBy("pair_bucket"))
        .applyInPandas(resolve_bucket, _RESOLVED_SCHEMA)
        .localCheckpoint()
    )
    node_out = resolved.where(F.col("kind") == "node")
    return {
        "labels": node_out.select(F.col("id").alias("node_id"), F.col("sub").alias("comp"), "lead"),
        "pair_status": resolved.where(F.col("kind") == "pair").select(
            F.col("id").alias("pair_id"), "status"
        ),
        "hubs": resolved.where(F.col("kind") == "hub").select(
            F.col("id").alias("node_id"), "hub_type", "hub_count"
        ),
        "limit_cuts": resolved.where(F.col("kind") == "cut")
        .groupBy("hub_type")
        .agg(F.sum("hub_count").alias("components")),
    }


def _resolve_bucket(bucket: int, node_frame: Any, pair_frame: Any, limits: np.ndarray) -> Any:
    """The rows of `_RESOLVED_SCHEMA` for one bucket of whole components (pandas in, pandas
    out, on an executor): `graph.resolve` of those components together, as one machine would
    resolve them beside every other component."""
    import pandas as pd

    node_frame = node_frame.sort_values("node_id", kind="stable")
    pair_frame = pair_frame.sort_values("pair_id", kind="stable")
    node_ids = node_frame["node_id"].to_numpy(np.int64)
    n = len(node_ids)
    src = np.searchsorted(node_ids, pair_frame["src"].to_numpy(np.int64))
    dst = np.searchsorted(node_ids, pair_frame["dst"].to_numpy(np.int64))
    duplicate = pair_frame["duplicate"].to_numpy(bool)
    groups = components(n, src, dst, duplicate) if duplicate.any() else None
    result = resolve(
        n, src, dst, pair_frame["evidence"].to_numpy(np.int64),
        node_frame["rank"].to_numpy(np.int64), limits,
        groups=groups, refused=pair_frame["refused"].to_numpy(bool),
    )  # fmt: skip
    # A profile's label: its smallest node id (unique across buckets, found in this task).
    first_of = np.full(int(result.labels.max()) + 1 if n else 0, n, np.int64)
    np.minimum.at(first_of, result.labels, np.arange(n))
    profile = node_ids[first_of[result.labels]]
    if groups is None:
        lead = np.ones(n, bool)
    else:
        first = np.full(int(groups.max()) + 1, n, np.int64)
        np.minimum.at(first, groups, np.arange(n))
        lead = first[groups] == np.arange(n)
    frames = [
        pd.DataFrame(
            {"kind": "node", "bucket": bucket, "id": node_ids, "sub": profile, "lead": lead}
        ),
        pd.DataFrame(
            {
                "kind": "pair",
                "bucket": bucket,
                "id": pair_frame["pair_id"].to_numpy(np.int64),
                "status": [EDGE_STATUS[s] for s in result.edge_status.tolist()],
            }
        ),
        pd.DataFrame(
            {
                "kind": "hub",
                "bucket": bucket,
                "id": node_ids[result.hubs],
                "hub_type": result.hub_type,
                "hub_count": result.hub_count,
            }
        ),
        pd.DataFrame(
            {
                "kind": "cut",
                "bucket": bucket,
                "hub_type": list(result.limit_cuts),
                "hub_count": list(result.limit_cuts.values()),
            }
        ),
    ]
    out = pd.concat([f for f in frames if len(f)], ignore_index=True)
    columns = ["kind", "bucket", "id", "sub", "lead", "status", "hub_type", "hub_count"]
    out = out.reindex(columns=columns)
    for name in ("id", "sub", "hub_type", "hub_count"):
        out[name] = out[name].astype("Int64")
    out["lead"] = out["lead"].astype("boolean")
    # Plain Python strings: pyspark 4.3 cannot send pandas 3's Arrow-backed string columns.
    for name in ("kind", "status"):
        out[name] = out[name].astype(object)
    return out


class SparkResolver:
    """`identity.build.Resolver` on Spark: the graph of a full identity build resolved by
    `resolve_on_spark` (`build_identity(..., resolver=SparkResolver(spark, lake))`).

    The nodes and pairs DuckDB built cross to Spark as Parquet (`<lake>/_identity/`, removed
    after), and the labels, edge statuses, hubs and limit cuts come back into the temp tables
    `build._resolve_graph` writes, a component numbered as `graph.resolve` numbers it."""

    def __init__(self, spark: Any, lake: Path) -> None:
        self.spark = spark
        self.lake = Path(lake)

    def __call__(self, con: Any, rules: Any, result: Any) -> None:
        from seg_platform.identity.build import graph_limits, graph_pairs

        graph_pairs(con)
        scratch = self.lake / "_identity" / uuid.uuid4().hex
        try:
            for name, sql in (
                ("nodes", "SELECT node_id::BIGINT AS node_id, rank::INTEGER AS rank FROM _nodes"),
                (
                    "pairs",
                    "SELECT pair_id::BIGINT AS pair_id, src::BIGINT AS src, dst::BIGINT AS dst, "
                    "evidence::BIGINT AS evidence, refused, duplicate FROM _pairs",
                ),
            ):
                (scratch / name).mkdir(parents=True)
                target = sql_string(str((scratch / name / "part-0.parquet").resolve()))
                con.execute(f"COPY ({sql}) TO {target} (FORMAT parquet)")
            nodes = self.spark.read.parquet((scratch / "nodes").resolve().as_posix())
            pairs = self.spark.read.parquet((scratch / "pairs").resolve().as_posix())
            for name, frame in resolve_on_spark(nodes, pairs, graph_limits(rules)).items():
                frame.coalesce(1).write.parquet((scratch / name).resolve().as_posix())

            def read(name: str) -> str:
                return f"read_parquet({sql_string(str((scratch / name).resolve() / '*.parquet'))})"

            types = "[" + ", ".join(sql_string(t) for t in rules.priority) + "]"
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _labels AS SELECT node_id, "
                "(dense_rank() OVER (ORDER BY comp) - 1)::BIGINT AS comp, lead "
                f"FROM {read('labels')} ORDER BY node_id"
            )
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _pair_status AS SELECT pair_id, status "
                f"FROM {read('pair_status')} ORDER BY pair_id"
            )
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _hubs AS SELECT node_id, "
                f"{types}[hub_type + 1] AS nbr_type, hub_count AS nbr_count "
                f"FROM {read('hubs')} ORDER BY node_id"
            )
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _limit_cuts AS SELECT "
                f"{types}[hub_type + 1] AS id_type, components::BIGINT AS components "
                f"FROM {read('limit_cuts')} ORDER BY hub_type"
            )
            result.hubs = con.execute("SELECT count(*) FROM _hubs").fetchone()[0]
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
