"""Throughput of the synthetic company generator.

    python benchmarks/generator_throughput.py --customers 100000 1000000 --months 12

Each size runs in a fresh subprocess, so the peak resident memory reported is that size's own
(the child's `ru_maxrss`, read by the child itself when it finishes). Output goes to a
temporary folder that is deleted afterwards. Prints a table, then the figures as one JSON line
(the last line of stdout) for scripts to pick up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Runs inside the child: generate, then report the summary and this process's peak RSS.
_CHILD = """
import json, resource, sys
from pathlib import Path
from seg_platform.synthetic.company import generate
customers, months, seed, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
summary = generate(customers, months, seed, Path(out))
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
print(json.dumps({"summary": summary, "peak_rss_mb": round(peak_kb / 1024, 1)}))
"""


def _folder_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


def run_one(customers: int, months: int, seed: int) -> dict:
    """Generate one size in a fresh interpreter and return its figures."""
    work = Path(tempfile.mkdtemp(prefix="seg_generator_bench_"))
    try:
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(customers), str(months), str(seed), str(work)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"generator failed for {customers} customers:\n{proc.stderr}")
        child = json.loads(proc.stdout.strip().splitlines()[-1])
        summary = child["summary"]
        seconds = summary["seconds"]
        rows = summary["rows_total"]
        return {
            "customers": customers,
            "months": months,
            "rows_written": rows,
            "seconds": seconds,
            "customers_per_s": round(customers / seconds, 1),
            "rows_per_s": round(rows / seconds),
            "peak_rss_mb": child["peak_rss_mb"],
            "landing_mb": _folder_mb(work / "landing"),
            "truth_mb": _folder_mb(work / "truth"),
            "rows_by_source": summary["rows"],
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _table(results: list[dict]) -> str:
    cols = [
        ("customers", "customers"),
        ("months", "months"),
        ("rows_written", "rows written"),
        ("seconds", "seconds"),
        ("customers_per_s", "customers/s"),
        ("rows_per_s", "rows/s"),
        ("peak_rss_mb", "peak RSS MB"),
        ("landing_mb", "landing MB"),
    ]
    cells = [[h for _, h in cols]] + [[f"{r[k]:,}" for k, _ in cols] for r in results]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000])
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    results = []
    for customers in args.customers:
        results.append(run_one(customers, args.months, args.seed))
        print(f"done: {customers:,} customers in {results[-1]['seconds']} s", flush=True)
    print(_table(results))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
