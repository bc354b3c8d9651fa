"""Benchmark: one month's segmentation at scale, the full candidate sweep plus the final fit.

    python benchmarks/segmentation_sweep.py --warehouse <warehouse with features> --month 2025-12

Runs exactly what the `customer_segments` asset runs (default configuration: k-means and
Gaussian mixtures for k = 3..10, Ward for 5..8, HDBSCAN, 5 bootstrap resamples, selection on a
20,000-customer sample, final fit on every known customer), logging to a throwaway MLflow store,
in a fresh process; prints wall time per stage, per candidate family, and peak RSS.
Without --warehouse it first generates a company and builds raw, identity, staging and the
month's features (slow at 1M: see benchmarks/feature_build.py).
"""

import argparse
import json
import sys
from pathlib import Path

from common import child, work_folder

SEGMENT = """
import json, os, sys, time
os.environ["SEG_PLATFORM_HOME"] = sys.argv[2]
from seg_platform.segmentation.resources import SegmentationConfig
from seg_platform.segmentation.assets import segment_month
from seg_platform.core.tracking import MlflowResource
from seg_platform.core.warehouse import connect
t = time.perf_counter()
with connect(sys.argv[1]) as con:
    out = segment_month(con, sys.argv[3], SegmentationConfig(), MlflowResource(),
                        {"dagster_run_id": "benchmark"})
seconds = out["result"].seconds
families = {}
for name, value in seconds.items():
    if name.startswith("candidate "):
        family = name.split()[1].split("_")[0]
        families[family] = round(families.get(family, 0) + value, 2)
chosen = out["result"].chosen
print(json.dumps({"seconds": round(time.perf_counter() - t, 2), "customers": out["customers"],
                  "stages": out["stages"], "candidate_families": families,
                  "sweep_steps": {k: v for k, v in seconds.items() if not k.startswith("cand")},
                  "chosen": chosen.candidate.name, "rule_met": out["result"].rule_met,
                  "chosen_metrics": {k: round(v, 4) for k, v in chosen.metrics.items()}}))
"""

BUILD = """
import sys
sys.path.insert(0, sys.argv[4])
from pathlib import Path
from seg_platform_tests.features.helpers import build_all
from seg_platform.synthetic.company import generate
out = Path(sys.argv[1])
generate(int(sys.argv[2]), 12, 1, out)
build_all(out / "warehouse.duckdb", out / "landing" / "sources.yaml", [sys.argv[3]])
import json; print(json.dumps({}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", help="a warehouse whose features hold --month")
    parser.add_argument("--customers", type=int, default=100_000, help="without --warehouse")
    parser.add_argument("--month", default="2025-12")
    parser.add_argument("--keep", action="store_true", help="keep the generated warehouse")
    args = parser.parse_args()
    with work_folder("segmentation-bench-", keep=args.keep) as work:
        warehouse = args.warehouse
        if not warehouse:
            repo = str(Path(__file__).resolve().parents[1])
            child(BUILD, str(work), str(args.customers), args.month, repo)
            warehouse = str(work / "warehouse.duckdb")
        figures = child(SEGMENT, warehouse, str(work / "home"), args.month)
        print(
            f"segmentation of {figures['customers']:,} known customers for {args.month}: "
            f"{figures['seconds']} s, peak RSS {figures['peak_rss_mb']:,.0f} MB"
        )
        for name, value in figures["stages"].items():
            print(f"  {name:<40}{value:>10}")
        for name, value in figures["sweep_steps"].items():
            print(f"    sweep: {name:<32}{value:>10}")
        for name, value in figures["candidate_families"].items():
            print(f"    candidates {name:<28}{value:>10}")
        print(
            f"chosen {figures['chosen']} (rule met: {figures['rule_met']}): "
            f"{figures['chosen_metrics']}"
        )
        print(json.dumps(figures))


if __name__ == "__main__":
    sys.exit(main())
