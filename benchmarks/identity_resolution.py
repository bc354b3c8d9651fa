"""Benchmark: the whole identity stage at scale, against Splink's clustering step alone.

    python benchmarks/identity_resolution.py --customers 1000000 --months 12

1. generates the synthetic company (or reuses --data DIR) and loads the raw tables;
2. runs the whole identity stage (extraction, normalisation, Splink contact linkage, protection,
   components, stable ids, outputs) in a fresh process: wall time and peak RSS;
3. runs Splink's `cluster_pairwise_predictions_at_threshold` in a fresh process on the identical
   input of the component step (every identifier, every edge the stage used, as integer ids):
   wall time and peak RSS, and whether its clusters equal the stage's profiles;
4. prints a table, the evaluation metrics, and one JSON line.

Each step runs in its own subprocess so peak memory is per step.
"""

import argparse
import json
import time
from pathlib import Path

from common import LOAD_RAW, child, generate, work_folder  # noqa: E402  (benchmarks/ is on sys.path)

IDENTITY = """
import json, sys, time
from seg_platform.identity.build import build_identity
from seg_platform.core.identity_rules import IdentityRules
from seg_platform.core.warehouse import connect
t = time.perf_counter()
with connect(sys.argv[1]) as con:
    r = build_identity(con, IdentityRules(), "benchmark")
    seconds = round(time.perf_counter() - t, 2)
    # The component step's input, as integers, for Splink (not timed).
    con.execute(f\"\"\"COPY (SELECT row_number() OVER (ORDER BY id_type, value) AS node_id,
                               profile_id FROM identity.identity_map)
                   TO '{sys.argv[2]}/nodes.parquet'\"\"\")
    con.execute(f\"\"\"COPY (
        WITH n AS (SELECT row_number() OVER (ORDER BY id_type, value) AS node_id, id_type, value
                   FROM identity.identity_map)
        SELECT DISTINCT least(l.node_id, r.node_id) AS node_id_l,
                        greatest(l.node_id, r.node_id) AS node_id_r
        FROM identity.identity_edges e
        JOIN n l ON l.id_type = e.left_type AND l.value = e.left_value
        JOIN n r ON r.id_type = e.right_type AND r.value = e.right_value
        WHERE e.status = 'used') TO '{sys.argv[2]}/edges.parquet'\"\"\")
print(json.dumps({"seconds": seconds, "profiles": r.profiles, "identifiers": r.identifiers,
                  "edges": r.edges, "probabilistic_edges": r.probabilistic_edges,
                  "shared_identifiers_not_bridged": r.hubs, "steps": r.seconds}))
"""

SPLINK = """
import json, sys, time, logging
import duckdb
from splink.backends.duckdb import DuckDBAPI
from splink.clustering import cluster_pairwise_predictions_at_threshold
logging.getLogger("splink").setLevel(logging.WARNING)
folder = sys.argv[1]
con = duckdb.connect()
nodes = con.sql(f"SELECT node_id FROM '{folder}/nodes.parquet'").pl()
edges = con.sql(f"SELECT node_id_l, node_id_r FROM '{folder}/edges.parquet'").pl()
db_api = DuckDBAPI(connection=con)
t = time.perf_counter()
clusters = cluster_pairwise_predictions_at_threshold(
    nodes, edges, db_api=db_api, node_id_column_name="node_id")
result = clusters.as_duckdbpyrelation().pl()
seconds = round(time.perf_counter() - t, 2)
ours = con.sql(f"SELECT node_id, profile_id FROM '{folder}/nodes.parquet'").pl()
both = ours.join(result.select("node_id", "cluster_id"), on="node_id")
identical = (both.height == ours.height
             and both.n_unique(["profile_id"]) == both.n_unique(["cluster_id"])
             == both.n_unique(["profile_id", "cluster_id"]))
print(json.dumps({"seconds": seconds, "nodes": nodes.height, "edges": edges.height,
                  "clusters": int(result["cluster_id"].n_unique()),
                  "components_identical": bool(identical)}))
"""

EVALUATE = """
import json, sys
from pathlib import Path
from seg_platform.evaluation import identity_metrics
from seg_platform.core.warehouse import connect
with connect(sys.argv[1]) as con:
    print(json.dumps(identity_metrics(con, Path(sys.argv[2]))))
"""

SCIPY = """
import json, sys, time
import duckdb, numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
folder = sys.argv[1]
con = duckdb.connect()
n = con.sql(f"SELECT count(*) FROM '{folder}/nodes.parquet'").fetchall()[0][0]
e = con.sql(f"SELECT node_id_l - 1 AS a, node_id_r - 1 AS b FROM '{folder}/edges.parquet'").pl()
t = time.perf_counter()
g = coo_matrix((np.ones(e.height), (e["a"].to_numpy(), e["b"].to_numpy())), shape=(n, n))
k, _ = connected_components(g.tocsr(), directed=False)
print(json.dumps({"seconds": round(time.perf_counter() - t, 3), "components": int(k)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", help="reuse a folder written by `seg-platform generate`")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    with work_folder("identity-bench-", args.keep) as work:
        data = Path(args.data) if args.data else work / "data"
        figures: dict = {"customers": args.customers, "months": args.months}
        if not args.data:
            figures["generate_seconds"] = generate(args.customers, args.months, args.seed, data)
        warehouse = work / "warehouse.duckdb"
        figures["raw_load"] = child(
            LOAD_RAW, str(data / "landing" / "sources.yaml"), str(warehouse)
        )
        figures["identity_stage"] = child(IDENTITY, str(warehouse), str(work))
        figures["splink_clustering"] = child(SPLINK, str(work))
        figures["scipy_components_alone"] = child(SCIPY, str(work))
        ours = figures["identity_stage"]["seconds"]
        theirs = figures["splink_clustering"]["seconds"]
        figures["ratio_splink_clustering_to_whole_stage"] = round(theirs / ours, 2)

        t = time.perf_counter()
        figures["evaluation"] = child(EVALUATE, str(warehouse), str(data / "truth"))
        figures["evaluation_seconds"] = round(time.perf_counter() - t, 1)

        stage, splink = figures["identity_stage"], figures["splink_clustering"]
        print(
            f"customers {args.customers:,} x {args.months} months; "
            f"raw rows {figures['raw_load']['rows']:,}"
        )
        print(f"{'step':<44}{'seconds':>10}{'peak RSS MB':>14}")
        print(f"{'whole identity stage':<44}{stage['seconds']:>10}{stage['peak_rss_mb']!s:>14}")
        print(
            f"{'Splink cluster_pairwise_predictions_at_threshold':<44}{splink['seconds']:>10}"
            f"{splink['peak_rss_mb']!s:>14}"
        )
        print(
            f"{'scipy connected_components alone':<44}"
            f"{figures['scipy_components_alone']['seconds']:>10}"
        )
        print(
            f"identifiers {stage['identifiers']:,}, used edges {splink['edges']:,}, "
            f"profiles {stage['profiles']:,}; components identical: "
            f"{splink['components_identical']}; Splink/stage time ratio "
            f"{figures['ratio_splink_clustering_to_whole_stage']}"
        )
        print(f"stage steps (s): {stage['steps']}")
        print(f"evaluation: {figures['evaluation']}")
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
