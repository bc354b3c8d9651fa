"""Benchmark: `seg-platform demo` after set-up (2,000 customers, 3 monthly snapshots), by step.

    python benchmarks/demo_pipeline.py [--runs 3] [--json]

Each run gets a fresh temporary platform home holding only the demo's synthetic sample
(generated first, not timed: that is set-up), then times `seg-platform demo --home HOME` as a
whole process, as a user would start it: interpreter start-up, the current tables, the monthly
snapshots, the summaries and the evaluation. The per-step and per-month figures are read from
the progress lines the command prints (`StepProgress` in seg_platform/runner.py); CPU seconds
are the child's own (getrusage), which a busy machine inflates far less than wall seconds.
The machine's load average is printed beside each run: on a shared machine, compare medians.
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
STEP = re.compile(r"^    (\S+)\s+([\d.]+) s(?:  (.*))?$")
MONTH = re.compile(r"^Month (\d{4}-\d{2}) \((\d+) of (\d+)\):")
MONTH_DONE = re.compile(r"^  Month (\d{4}-\d{2}) done in (\d+) s")


def one_run(customers: int, months: int, last_months: int, seed: int) -> dict:
    """Set up a fresh home with the sample, then time the demo command in a child process."""
    with tempfile.TemporaryDirectory(prefix="demo_bench_") as tmp:
        home = Path(tmp) / "home"
        subprocess.run(
            [PY, "-m", "seg_platform.cli", "generate", "--customers", str(customers),
             "--months", str(months), "--seed", str(seed), "--out", str(home / "sample")],
            check=True, capture_output=True, cwd=REPO,
        )  # fmt: skip
        load_before = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.Popen(
            [PY, "-m", "seg_platform.cli", "demo", "--home", str(home),
             "--customers", str(customers), "--months", str(months),
             "--last-months", str(last_months)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        )  # fmt: skip
        steps: dict[str, list[float]] = defaultdict(list)
        phases: dict[str, float] = {}
        lines = []
        pipeline_end = None
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            if m := STEP.match(line):
                steps[m[1]].append(float(m[2]))
            elif m := MONTH_DONE.match(line):
                phases[f"month {m[1]}"] = float(m[2])
            elif line.startswith("  done in "):
                phases["current tables"] = float(line.split()[2])
            elif line.startswith("The pipeline succeeded"):
                pipeline_end = time.perf_counter()
        stderr = proc.stderr.read() if proc.stderr else ""
        code = proc.wait()
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if code:
            sys.exit(f"demo failed ({code}):\n" + "\n".join(lines[-40:]) + stderr[-4000:])
        if not steps:
            sys.exit("no step lines in the demo's output: is this the right checkout?")
        return {
            "demo_seconds": round(wall, 1),
            "pipeline_seconds": round((pipeline_end or time.perf_counter()) - started, 1),
            "cpu_seconds": round(
                after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 1
            ),
            "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2),
            "phases": phases,
            "steps": {k: round(sum(v), 1) for k, v in steps.items()},
        }


def summary(runs: list[dict]) -> dict:
    """Medians over the runs, per figure, per phase and per step."""
    figures = ("demo_seconds", "pipeline_seconds", "cpu_seconds", "load_before", "load_after")
    med = {k: statistics.median(r[k] for r in runs) for k in figures}
    phases = {
        k: statistics.median(r["phases"].get(k, 0.0) for r in runs) for k in runs[0]["phases"]
    }
    steps = {k: statistics.median(r["steps"].get(k, 0.0) for r in runs) for k in runs[0]["steps"]}
    return {**med, "phases": phases, "steps": dict(sorted(steps.items(), key=lambda kv: -kv[1]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--months", type=int, default=12, help="months of synthetic data")
    parser.add_argument("--last-months", type=int, default=3, help="monthly snapshots built")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--top", type=int, default=15, help="steps listed (slowest first)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = parser.parse_args()
    runs = []
    for i in range(args.runs):
        runs.append(one_run(args.customers, args.months, args.last_months, args.seed))
        if not args.json:
            r = runs[-1]
            print(
                f"run {i + 1}: demo {r['demo_seconds']} s (pipeline {r['pipeline_seconds']} s), "
                f"CPU {r['cpu_seconds']} s, load average {r['load_before']} -> {r['load_after']}",
                flush=True,
            )
    result = {"customers": args.customers, "last_months": args.last_months,
              "cpus": os.cpu_count(), "runs": runs, "median": summary(runs)}  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
        return
    m = result["median"]
    print(
        f"\nmedian of {len(runs)} run(s): demo {m['demo_seconds']} s, pipeline "
        f"{m['pipeline_seconds']} s, CPU {m['cpu_seconds']} s, load average "
        f"{m['load_before']} -> {m['load_after']} on {os.cpu_count()} cores"
    )
    for name, seconds in m["phases"].items():
        print(f"  {name:<20}{seconds:8.1f} s")
    print(f"slowest steps (seconds, summed over the months, median of {len(runs)}):")
    for name, seconds in list(m["steps"].items())[: args.top]:
        print(f"  {name:<44}{seconds:8.1f}")


if __name__ == "__main__":
    main()
