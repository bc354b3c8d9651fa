"""Benchmark: what physical erasure costs, the rewrite of the warehouse without free blocks.

    python benchmarks/erasure_rewrite.py --customers 100000 1000000 --months 12 [--data-root DIR]

For each size: generate a synthetic company (or reuse it from --data-root), build the current
tables (`refresh_current_tables`: raw, identity, erasure, staging) in a temporary platform
home, then time `warehouse.rewrite_without_free_blocks` (what the erasure step runs after it
deleted a person) --repeat times, beside a plain CHECKPOINT of the same file for scale. Prints
one JSON object per size: warehouse size, rewrite seconds (min, median, max), checkpoint
seconds, and the rewrite's peak resident memory.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

from common import child, generate, work_folder

BUILD = """
import json, os, sys, time
os.environ["SEG_PLATFORM_HOME"] = sys.argv[1]
os.environ["DAGSTER_HOME"] = sys.argv[1] + "/dagster"
os.environ["SEG_PLATFORM_SOURCES"] = sys.argv[2]
from seg_platform.core import settings
settings.platform_home().ensure()
import dagster as dg
from seg_platform.definitions import CURRENT_JOB, defs
t = time.perf_counter()
with dg.DagsterInstance.get() as instance:
    ok = defs.resolve_job_def(CURRENT_JOB).execute_in_process(
        instance=instance, raise_on_error=False).success
print(json.dumps({"built": ok, "seconds": round(time.perf_counter() - t, 1)}))
"""

REWRITE = """
import json, sys, time
from seg_platform.core.warehouse import connect, rewrite_without_free_blocks
t = time.perf_counter()
with connect(sys.argv[1]) as con:
    con.execute("CHECKPOINT")
checkpoint = time.perf_counter() - t
t = time.perf_counter()
size = rewrite_without_free_blocks(sys.argv[1])
print(json.dumps({"rewrite_s": round(time.perf_counter() - t, 2),
                  "checkpoint_s": round(checkpoint, 3), "size_mb": round(size / 1e6, 1)}))
"""


def measure(customers: int, months: int, data_root: Path | None, repeat: int) -> dict:
    with work_folder("erasure_bench_") as work:
        company = (data_root or work) / f"company_{customers}"
        if not (company / "landing" / "sources.yaml").exists():
            generate(customers, months, 1, company)
        home = work / "home"
        built = child(BUILD, str(home), str(company / "landing" / "sources.yaml"))
        if not built["built"]:
            sys.exit("the refresh job failed")
        warehouse = home / "warehouse.duckdb"
        before = warehouse.stat().st_size
        runs = [child(REWRITE, str(warehouse)) for _ in range(repeat)]
    rewrite = sorted(r["rewrite_s"] for r in runs)
    return {
        "customers": customers,
        "refresh_seconds": built["seconds"],
        "warehouse_mb_before": round(before / 1e6, 1),
        "warehouse_mb_after": runs[-1]["size_mb"],
        "rewrite_s": {"min": rewrite[0], "median": statistics.median(rewrite), "max": rewrite[-1]},
        "checkpoint_s_median": statistics.median(r["checkpoint_s"] for r in runs),
        "rewrite_peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "repeat": repeat,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000])
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-root", type=Path, default=None)
    args = parser.parse_args()
    for customers in args.customers:
        print(json.dumps(measure(customers, args.months, args.data_root, args.repeat)), flush=True)


if __name__ == "__main__":
    main()
