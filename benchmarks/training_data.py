"""Benchmark: what `propensity_models` reads before it fits (features and labels of its 11
months), cold, again and steady, on a copy of a built warehouse.

    python benchmarks/training_data.py WAREHOUSE --month 2025-12 --runs 3

WAREHOUSE is a platform's warehouse with staging and the month's features built (e.g. after
`seg-platform run --last-months 1`); it is copied, never changed. Per round, timed in-process:
`cold` (only the month's features in the monthly table, no stored history), `again` (the same
reads once more), then the 11 months before are built into the monthly table and `steady` is
timed. The model fits are left out: they do not change with where the rows come from. Reads
nothing that is not on main, so the same command measures a branch and main.
"""

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HISTORY_TABLES = ("features.feature_history", "features.label_history", "features.history_months")


def read_training_data(database: Path, month: str) -> float:
    from seg_platform.core.warehouse import connect
    from seg_platform.predictions.data import FeatureSnapshots, labelled_rows
    from seg_platform.predictions.propensity import TARGETS, split_months
    from seg_platform.predictions.settings import DEFAULTS

    started = time.perf_counter()
    with connect(database) as con, FeatureSnapshots(con) as snapshots:
        for target in TARGETS:
            evaluation, training = split_months(
                month, target.horizon_months, DEFAULTS.training_months
            )
            labelled_rows(
                con, snapshots, training, target.label, DEFAULTS.max_training_rows, DEFAULTS.seed
            )
            labelled_rows(
                con, snapshots, [evaluation], target.label, DEFAULTS.max_evaluation_rows,
                DEFAULTS.seed, labelled_only=False,
            )  # fmt: skip
    return round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--month", default="2025-12")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from seg_platform.core.calendar import add_months, month_parameters
    from seg_platform.core.paths import SQL_ROOT
    from seg_platform.core.warehouse import connect
    from seg_platform.sql_models.project import load_project
    from seg_platform.sql_models.run import build_model

    model = next(m for m in load_project(SQL_ROOT) if m.table == "features.customer_features")
    current = month_parameters(args.month)["as_of_date"]
    seconds: dict[str, list[float]] = {"cold": [], "again": [], "steady": []}
    with tempfile.TemporaryDirectory(prefix="seg_training_data_") as work:
        database = Path(work) / "warehouse.duckdb"
        shutil.copy(args.warehouse, database)
        for _ in range(args.runs):
            with connect(database) as con:
                for table in HISTORY_TABLES:
                    con.execute(f"DROP TABLE IF EXISTS {table}")
                con.execute(
                    "DELETE FROM features.customer_features WHERE as_of_date <> ?", [current]
                )
            for state in ("cold", "again"):
                seconds[state].append(read_training_data(database, args.month))
                print(state, seconds[state][-1], file=sys.stderr, flush=True)
            with connect(database) as con:
                for back in range(11, 0, -1):
                    build_model(con, model, add_months(args.month, -back))
            seconds["steady"].append(read_training_data(database, args.month))
            print("steady", seconds["steady"][-1], file=sys.stderr, flush=True)
    median = {k: statistics.median(v) for k, v in seconds.items()}
    print(json.dumps({"month": args.month, "seconds": seconds, "median": median}, indent=2))


if __name__ == "__main__":
    main()
