"""Benchmark: one month of the whole asset graph on DuckDB and on Spark, step by step (issue 22).

    python benchmarks/spark_month.py --customers 100000 [--months 12] [--master local[2]]

Generates a company (or takes --company, a folder with landing/sources.yaml), then runs
`seg-platform run --last-months 1` (the current tables, then the latest month) twice, each in
its own platform home: with the default engine, and with SEG_PLATFORM_ENGINE=spark. Prints
each step's seconds side by side (the CLI's own step lines), the totals, and writes both
to benchmarks/results/spark_month_<customers>.md. Needs the spark extra (`make setup-spark`).
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEP = re.compile(r"^    (\S.*?)\s+([\d.]+) s\b")


def run(company: Path, home: Path, env_extra: dict) -> tuple[dict[str, float], float, str]:
    env = {**os.environ, "SEG_PLATFORM_HOME": str(home), **env_extra}
    env["SEG_PLATFORM_SOURCES"] = str(company / "landing" / "sources.yaml")
    env.pop("DAGSTER_HOME", None)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "seg_platform.cli", "run", "--last-months", "1"],
        env=env,
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - started
    if done.returncode != 0:  # the steps that ran are still compared; the failure is shown
        print(f"the run in {home} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
    steps: dict[str, float] = {}
    for line in done.stdout.splitlines():
        match = STEP.match(line)
        if match:
            steps[match.group(1)] = steps.get(match.group(1), 0.0) + float(match.group(2))
    return steps, took, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=12, help="months of data generated")
    parser.add_argument("--company", type=Path, help="an existing company (landing/ inside)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="spark-month-"))
    company = args.company
    if company is None:
        from seg_platform.synthetic.company import generate

        company = work / "company"
        generate(args.customers, args.months, args.seed, company)
    load = [os.getloadavg()[0]]
    duck, duck_total, duck_out = run(company, work / "duckdb", {"SEG_PLATFORM_ENGINE": "duckdb"})
    load.append(os.getloadavg()[0])
    spark, spark_total, spark_out = run(
        company,
        work / "spark",
        {"SEG_PLATFORM_ENGINE": "spark", "SEG_PLATFORM_SPARK_MASTER": args.master},
    )
    load.append(os.getloadavg()[0])
    lines = [
        f"# One month, {args.customers:,} customers: DuckDB and Spark {args.master}, per step",
        "",
        f"One run each, {args.months} months of data, seed {args.seed}, on {os.cpu_count()} cores; "
        f"1-minute load average {load[0]:.1f} at the start, {load[1]:.1f} between the runs, "
        f"{load[2]:.1f} at the end (other jobs share the machine).",
        "",
        "| step | DuckDB s | Spark s | ratio |",
        "|---|---:|---:|---:|",
    ]
    for step in sorted(set(duck) | set(spark), key=lambda s: -max(duck.get(s, 0), spark.get(s, 0))):
        a, b = duck.get(step), spark.get(step)
        ratio = f"{b / a:.1f}x" if a and b else ""
        lines.append(f"| {step} | {a if a is not None else ''} | {b if b is not None else ''} | "
                     f"{ratio} |")  # fmt: skip
    lines.append(f"| **whole run (wall clock)** | {duck_total:.1f} | {spark_total:.1f} | "
                 f"{spark_total / duck_total:.1f}x |")  # fmt: skip
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(__file__).parent / "results" / f"spark_month_{args.customers}.md"
    out.write_text(text)
    for name, output in (("duckdb", duck_out), ("spark", spark_out)):  # every step line, kept
        out.with_name(f"spark_month_{args.customers}_{name}.txt").write_text(output)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
