"""Benchmark: the SQL models of one month on DuckDB and on Spark, side by side (issue 22).

    python benchmarks/spark_models.py --warehouse W [--month 2025-12] [--master local[2]] [--runs 3]

W is a warehouse with identity tables built (e.g. the home of `benchmarks/end_to_end.py` or
`feature_build.py`; it is only read). Needs the spark extra (`make setup-spark`).

1. copies the tables the models read from outside dbt_like_sql/ (identity.*) into a Parquet lake
   (timed: what a hybrid deployment would pay to hand tables over);
2. alternately, --runs times: every model on DuckDB (a scratch copy of W: staging tables whole,
   the features model for the month) and on Spark (`run_spark.build_model_on_spark` into the lake,
   one session for all runs; its start-up is printed apart);
3. prints per-model medians for both engines, their ratio, and checks that the row counts agree.
"""

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from seg_platform.core.paths import SQL_ROOT
from seg_platform.core.spark import SparkSettings, new_version, register, session, switch_to
from seg_platform.sql_models.project import load_project
from seg_platform.sql_models.run import build_model
from seg_platform.sql_models.run_spark import build_model_on_spark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--month", default="2025-12")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    models = load_project(SQL_ROOT)
    built = {m.table for m in models}
    inputs = sorted({t for m in models for t in m.reads} - built)
    work = Path(tempfile.mkdtemp(prefix="spark-models-"))
    try:
        scratch = work / "warehouse.duckdb"
        shutil.copy(args.warehouse, scratch)
        lake = work / "lake"
        started = time.perf_counter()
        with duckdb.connect(str(scratch), read_only=True) as con:
            customers = con.sql("SELECT count(*) FROM identity.profiles").fetchall()[0][0]
            for table in inputs:
                version = new_version(lake, table)
                version.mkdir()
                con.execute(f"COPY (FROM {table}) TO '{version}/part-0.parquet' (FORMAT parquet)")
                switch_to(lake, table, version)
        export = time.perf_counter() - started

        started = time.perf_counter()
        spark = session(SparkSettings(master=args.master, lake=lake, shuffle_partitions=4))
        for table in inputs:
            register(spark, lake, table)
        start_up = time.perf_counter() - started

        seconds: dict[str, dict[str, list[float]]] = {
            m.table: {"duckdb": [], "spark": []} for m in models
        }
        rows: dict[str, dict[str, int]] = {m.table: {} for m in models}
        for _ in range(args.runs):
            with duckdb.connect(str(scratch)) as con:
                for m in models:
                    result = build_model(con, m, args.month if m.partitioned else None)
                    seconds[m.table]["duckdb"].append(result.seconds)
                    rows[m.table]["duckdb"] = result.rows
            for m in models:
                started = time.perf_counter()
                result = build_model_on_spark(spark, m, lake, args.month if m.partitioned else None)
                seconds[m.table]["spark"].append(time.perf_counter() - started)
                rows[m.table]["spark"] = result.rows
        spark.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"## SQL models of {args.month}: DuckDB vs Spark {args.master}, {customers:,} profiles")
    print(
        f"- hand-over of {len(inputs)} identity tables to Parquet: {export:.1f} s; "
        f"Spark session start: {start_up:.1f} s"
    )
    print(f"- medians of {args.runs} alternating runs\n")
    print("| model | rows | DuckDB s | Spark s | Spark / DuckDB |")
    print("|---|---:|---:|---:|---:|")
    totals = {"duckdb": 0.0, "spark": 0.0}
    for m in models:
        d, s = (statistics.median(seconds[m.table][e]) for e in ("duckdb", "spark"))
        totals["duckdb"] += d
        totals["spark"] += s
        count = f"{rows[m.table]['duckdb']:,}"
        if rows[m.table]["duckdb"] != rows[m.table]["spark"]:
            count += f" (Spark: {rows[m.table]['spark']:,})"
        print(f"| {m.table} | {count} | {d:.2f} | {s:.2f} | {s / d:.1f}x |")
    print(
        f"| **all models** | | {totals['duckdb']:.2f} | {totals['spark']:.2f} | "
        f"{totals['spark'] / totals['duckdb']:.1f}x |"
    )
    print(
        json.dumps(
            {
                "customers": customers,
                "seconds": seconds,
                "rows": rows,
                "export_s": export,
                "spark_start_s": start_up,
            }
        )
    )
    if any(r["duckdb"] != r["spark"] for r in rows.values()):
        sys.exit("row counts differ between the engines")


if __name__ == "__main__":
    main()
