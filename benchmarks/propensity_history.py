"""Benchmark: the `propensity_models` step, cold and steady, with and without stored history.

    python benchmarks/propensity_history.py --customers 100000 --runs 3 --data-root DIR

One synthetic company in one temporary platform home: `refresh_current_tables` and the latest
month's `customer_features` run first (not timed), then the `propensity_models` step alone,
timed in-process (`execute_in_process` of that asset and its checks, Dagster and MLflow
included), in three states, `--runs` rounds of the three:

- `cold`: only the latest month's features in the warehouse and no stored history (the history
  tables, when the code has them, are dropped before each run): a first deployment;
- `again`: the same warehouse, run again without dropping anything: what the next training
  finds after a cold start;
- `steady`: then the 11 months before built by `customer_features` (what a scheduled
  deployment holds), history as the runs before left it.

Prints one JSON object: each state's seconds per run and median (and each figure to stderr as
it is measured). The script reads nothing that
is not on main, so the same command measures a branch and main.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import generate, work_folder

HISTORY_TABLES = ("features.feature_history", "features.label_history", "features.history_months")


def measure(home: Path, sources: Path, runs: int) -> dict:
    os.environ["SEG_PLATFORM_HOME"] = str(home)
    os.environ["SEG_PLATFORM_SOURCES"] = str(sources)
    from seg_platform.core import settings

    platform = settings.platform_home().ensure()
    os.environ["DAGSTER_HOME"] = str(platform.dagster_home)
    import dagster as dg

    from seg_platform.core.calendar import add_months, month_parameters
    from seg_platform.core.layers import layer_key
    from seg_platform.core.warehouse import connect
    from seg_platform.definitions import CURRENT_JOB, defs
    from seg_platform.runner import months_to_build

    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    propensity = layer_key("predictions", "propensity_models")
    features = layer_key("features", "customer_features")
    out: dict = {}
    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_job_def(CURRENT_JOB).execute_in_process(
            instance=instance, run_config=quiet
        )
        assert result.success, CURRENT_JOB
        month = months_to_build(platform, 1)[0][-1]
        everything = defs.resolve_implicit_global_asset_job_def()
        current = month_parameters(month[:7])["as_of_date"]

        def step(key, partition) -> float:
            started = time.perf_counter()
            result = everything.execute_in_process(
                instance=instance, run_config=quiet, partition_key=partition,
                asset_selection=[key],
            )  # fmt: skip
            assert result.success, key
            return round(time.perf_counter() - started, 2)

        def forget() -> None:
            with connect(platform.warehouse) as con:
                for table in HISTORY_TABLES:
                    con.execute(f"DROP TABLE IF EXISTS {table}")
                con.execute(
                    "DELETE FROM features.customer_features WHERE as_of_date <> ?", [current]
                )

        step(features, month)
        seconds: dict[str, list[float]] = {"cold": [], "again": [], "steady": []}
        for _ in range(runs):
            forget()
            for state in ("cold", "again"):
                seconds[state].append(step(propensity, month))
                print(state, seconds[state][-1], file=sys.stderr, flush=True)
            for back in range(11, 0, -1):
                step(features, add_months(month[:7], -back) + "-01")
            seconds["steady"].append(step(propensity, month))
            print("steady", seconds["steady"][-1], file=sys.stderr, flush=True)
    out["month"] = month[:7]
    out["seconds"] = seconds
    out["median"] = {k: statistics.median(v) for k, v in seconds.items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data-root", type=Path, help="reuse the company in DIR/c<customers>")
    parser.add_argument("--child", nargs=2, metavar=("HOME", "SOURCES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child[0]), Path(args.child[1]), args.runs)))
        return
    with work_folder(f"seg_history_{args.customers}_") as work:
        company = (
            args.data_root / f"c{args.customers}" if args.data_root else work / "company"
        )  # fmt: skip
        if not (company / "landing" / "sources.yaml").exists():
            generate(args.customers, args.months, args.seed, company)
        done = subprocess.run(
            [sys.executable, __file__, "--runs", str(args.runs), "--child", str(work / "home"),
             str(company / "landing" / "sources.yaml")],
            stdout=subprocess.PIPE, text=True,  # stderr passes through: figures as measured
        )  # fmt: skip
        if done.returncode:
            sys.exit(f"benchmark failed (its error is above):\n{done.stdout[-5000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["customers"] = args.customers
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
