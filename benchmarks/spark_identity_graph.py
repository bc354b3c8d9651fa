"""Benchmark: the identity graph resolved on one machine and on Spark, side by side (issue 22).

    python benchmarks/spark_identity_graph.py [--people 100000] [--master local[2]] [--runs 3]

A company-shaped identity graph (seg_platform_tests/identity/graphs.py: user ids, CRM records
entered several times, emails, cookies, shared devices and family emails) of about 7 nodes per
person is resolved, alternately `--runs` times, by `graph.resolve` (SciPy, the whole graph in
one process) and by `spark_graph.resolve_on_spark` (components by large-star / small-star, each
component resolved on an executor). Prints the medians, their ratio, the number of rounds and
checks that both give the same profiles and edge statuses. Needs the spark extra
(`make setup-spark`).
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from seg_platform.core.spark import SparkSettings, session
from seg_platform.identity import spark_graph
from seg_platform.identity.graph import EDGE_STATUS, components, resolve

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # seg_platform_tests: not installed
from seg_platform_tests.identity.graphs import company_graph  # noqa: E402

LIMITS = np.array([1, 3, 5, 10**9], np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    node_type, src, dst, evidence, refused, duplicate = company_graph(1, args.people)
    n = len(node_type)
    refused, duplicate = refused & duplicate, duplicate & ~refused
    print(f"graph: {args.people:,} people, {n:,} identifiers, {len(src):,} pairs")

    with tempfile.TemporaryDirectory() as lake:
        started = time.perf_counter()
        spark = session(SparkSettings(master=args.master, lake=Path(lake), shuffle_partitions=4))
        print(f"spark session ({args.master}): {time.perf_counter() - started:.1f} s")
        nodes = spark.createDataFrame(
            pd.DataFrame({"node_id": np.arange(n, dtype=np.int64), "rank": node_type})
        ).localCheckpoint()
        pairs = spark.createDataFrame(
            pd.DataFrame(
                {
                    "pair_id": np.arange(len(src), dtype=np.int64),
                    "src": src.astype(np.int64),
                    "dst": dst.astype(np.int64),
                    "evidence": evidence.astype(np.int64),
                    "refused": refused,
                    "duplicate": duplicate,
                }
            )
        ).localCheckpoint()
        rounds = []
        same_edges = spark_graph._same_edges

        def counted(a, b):
            rounds[-1] += 1
            return same_edges(a, b)

        spark_graph._same_edges = counted
        local_s, spark_s = [], []
        for _ in range(args.runs):
            started = time.perf_counter()
            groups = components(n, src, dst, duplicate)
            expected = resolve(
                n, src, dst, evidence, node_type, LIMITS, groups=groups, refused=refused
            )
            local_s.append(time.perf_counter() - started)

            rounds.append(0)
            started = time.perf_counter()
            out = spark_graph.resolve_on_spark(nodes, pairs, LIMITS)
            labels = out["labels"].toPandas()
            status = out["pair_status"].toPandas()
            spark_s.append(time.perf_counter() - started)
        spark.stop()

    labels = labels.sort_values("node_id")
    pairs_seen = pd.DataFrame({"a": labels["comp"].to_numpy(), "b": expected.labels})
    pairs_seen = pairs_seen.drop_duplicates()
    same = pairs_seen["a"].is_unique and pairs_seen["b"].is_unique
    same_status = status.sort_values("pair_id")["status"].tolist() == [
        EDGE_STATUS[s] for s in expected.edge_status.tolist()
    ]
    local, distributed = statistics.median(local_s), statistics.median(spark_s)
    print(f"graph.resolve (one process):   median {local:7.1f} s  runs {_fmt(local_s)}")
    print(f"resolve_on_spark ({args.master}): median {distributed:7.1f} s  runs {_fmt(spark_s)}")
    print(f"ratio spark / one process: {distributed / local:.1f}x; component rounds: {rounds}")
    print(f"profiles: {len(np.unique(expected.labels)):,}; same profiles: {same}; "
          f"same edge statuses: {same_status}")  # fmt: skip
    if not (same and same_status):
        raise SystemExit("the engines disagree")


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


if __name__ == "__main__":
    main()
