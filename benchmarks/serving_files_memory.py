"""Benchmark: the memory and time the served files of a snapshot cost to write (issue 23's
8 GB budget at 1M customers; the files are issue 24's, `core.serving.write_serving_files`).

    python benchmarks/serving_files_memory.py --customers 1000000

Builds the serving tables of `--customers` synthetic customers (as benchmarks/serve_load.py
does: four identifiers each, by normalised value and by raw spelling), saves them as Parquet,
then in a fresh process writes the served files from them as a publish does (DuckDB reads the
Parquet tables, builds the answers' JSON and sorts the keys), printing the process's peak
resident memory before and after (its high-water mark) and the seconds taken.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serve_load import identities, snapshot_tables


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM): getrusage's ru_maxrss would carry the
    parent's peak over the exec that started this child."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def child(tables_dir: Path) -> None:
    import duckdb

    from seg_platform.core.serving import parquet_views, write_serving_files

    before = _peak_mb()
    started = time.perf_counter()
    with duckdb.connect() as con, tempfile.TemporaryDirectory() as out:
        write_serving_files(Path(out), con, parquet_views(con, tables_dir))
    seconds = time.perf_counter() - started
    after = _peak_mb()
    print(
        f"before: {before:,.0f} MB peak RSS; after writing the served files: "
        f"{after:,.0f} MB (+{after - before:,.0f} MB); {seconds:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    with tempfile.TemporaryDirectory() as folder:
        for name, table in snapshot_tables(identities(args.customers), 1).items():
            table.write_parquet(Path(folder) / f"{name}.parquet")
        print(f"{args.customers:,} customers:", flush=True)
        subprocess.run([sys.executable, __file__, "--child", folder], check=True)


if __name__ == "__main__":
    main()
