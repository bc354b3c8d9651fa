"""Benchmark: the whole asset graph at scale, from landing files to one month's activation feeds.

    python benchmarks/end_to_end.py --customers 100000 1000000 --months 12

For each size: generate a synthetic company (not timed as part of the pipeline), then, in a fresh
process on embedded defaults (DuckDB file, Dagster sqlite instance, MLflow sqlite store, all in
a temporary platform home), materialize `refresh_current_tables` and the latest month of
`monthly_snapshot` in-process, then publish the serving snapshot, exactly as
`seg-platform run --last-months 1` does. Then run
`seg-platform evaluate` against the generator's truth, so speed never hides a drop in quality.

Where the time goes is measured by sampling the main thread's Python stack every 10 ms (each
sample weighted by the time since the previous one) and putting it in the first bucket its
innermost frames belong to: Great Expectations -> `checks`, MLflow -> `mlflow`, seg_platform
-> `compute` (or `checks` inside a step that only runs asset checks), Dagster -> `dagster`.
DuckDB, Polars and scikit-learn have no Python frames of their own, so their time goes to the
seg_platform code that called them. Memory is the process's resident set, sampled alongside;
the total peak is the kernel's high-water mark (getrusage), which no sample can miss.

Writes `e2e_<customers>.json` and `.md` into --out (default `benchmarks/results/`) and prints
the markdown table.

`--steady` measures a deployment month after month instead: a cold start on the first
months-1 months (the landing folder holds hard links to their files), then the last month's
files arrive (linked in, as a delivery would add them) and the same two runs go again on the
same platform home: what a scheduled steady-state month costs. Each phase runs in its own
process, so its peak RSS is its own. The two are printed side by side per step, with the
quality figures after each, into `e2e_<customers>_steady.json` and `.md`; `--previous DIR`
adds the figures of an earlier steady run (another branch, same machine) beside them.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

from common import generate, work_folder

REPO = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _bucket(frame) -> str:
    """The bucket of the innermost frame that belongs to a package we account for."""
    while frame is not None:
        name = frame.f_code.co_filename
        if "great_expectations" in name:
            return "checks"
        if "/mlflow/" in name:
            return "mlflow"
        if "/seg_platform/" in name:
            return "compute"
        if "/dagster" in name:
            return "dagster"
        frame = frame.f_back
    return "other"


class Sampler(threading.Thread):
    """Samples the main thread's stack and the process's RSS until stopped."""

    def __init__(self, interval: float = 0.01):
        super().__init__(daemon=True)
        self.interval = interval
        self.samples: list[tuple[float, float, str, int]] = []  # (time, weight s, bucket, rss)
        self._done = threading.Event()
        self._main = threading.main_thread().ident

    def run(self) -> None:
        last = time.time()
        while not self._done.wait(self.interval):
            now = time.time()
            frame = sys._current_frames().get(self._main)
            self.samples.append((now, now - last, _bucket(frame), _rss_bytes()))
            last = now

    def stop(self) -> None:
        self._done.set()
        self.join()


def _steps(instance, run_id: str) -> list[dict]:
    """Each step of a run: start and end time, and the assets or checks it produced."""
    steps: dict[str, dict] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not entry.step_key:
            continue
        step = steps.setdefault(entry.step_key, {"step": entry.step_key, "assets": [], "checks": 0})
        kind = event.event_type_value
        if kind == "STEP_START":
            step["start"] = entry.timestamp
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            step["end"] = entry.timestamp
            step["status"] = kind
        elif kind == "ASSET_MATERIALIZATION":
            step["assets"].append(event.asset_key.to_user_string())
        elif kind == "ASSET_CHECK_EVALUATION":
            step["checks"] += 1
    return [s for s in steps.values() if "start" in s and "end" in s]


def measure(home: Path, sources: Path, truth: Path) -> dict:
    """Runs inside the child process: the pipeline, sampled, then the evaluation."""
    os.environ["SEG_PLATFORM_HOME"] = str(home)
    os.environ["SEG_PLATFORM_SOURCES"] = str(sources)
    from seg_platform.core import settings

    platform = settings.platform_home().ensure()
    os.environ["DAGSTER_HOME"] = str(platform.dagster_home)

    sampler = Sampler()
    sampler.start()
    t0 = time.time()
    import dagster as dg

    from seg_platform.definitions import CURRENT_JOB, MONTHLY_JOB, SERVING_KEY, defs
    from seg_platform.runner import assets_but, current_definitions, months_to_build

    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    runs = []
    with dg.DagsterInstance.get() as instance:
        t_loaded = time.time()
        # As `seg-platform run`: the serving snapshot is published once, after the month.
        current = defs.resolve_job_def(CURRENT_JOB)
        result = current.execute_in_process(
            instance=instance, raise_on_error=False, run_config=quiet,
            asset_selection=assets_but(current, SERVING_KEY),
        )  # fmt: skip
        runs.append((CURRENT_JOB, result))
        month = None
        if result.success:
            keys, _ = months_to_build(platform, 1)
            month = keys[-1]
            # The load may have moved the partitions (a new month arrived): as `seg-platform run`.
            defs = current_definitions(defs)
            monthly = defs.resolve_job_def(MONTHLY_JOB)
            result = monthly.execute_in_process(
                instance=instance, raise_on_error=False, run_config=quiet, partition_key=month,
                asset_selection=assets_but(monthly, SERVING_KEY),
            )  # fmt: skip
            runs.append((f"{MONTHLY_JOB} {month[:7]}", result))
            result = defs.resolve_job_def(CURRENT_JOB).execute_in_process(
                instance=instance, raise_on_error=False, run_config=quiet,
                asset_selection=[SERVING_KEY],
            )  # fmt: skip
            runs.append(("serving_snapshot", result))
        t_end = time.time()
        steps = [dict(s, run=name) for name, r in runs for s in _steps(instance, r.run_id)]
    sampler.stop()
    peak_total = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    failed = [name for name, r in runs if not r.success]

    samples = sampler.samples
    buckets: dict[str, float] = defaultdict(float)
    for step in steps:
        inside = [s for s in samples if step["start"] <= s[0] <= step["end"]]
        by = defaultdict(float)
        for _, weight, bucket, _ in inside:
            by[bucket] += weight
        check_only = step["checks"] and not step["assets"]
        if check_only:  # a step that only runs asset checks: all of its work is checking
            by["checks"] += by.pop("compute", 0.0) + by.pop("other", 0.0)
        step["seconds"] = round(step["end"] - step["start"], 3)
        step["peak_rss_mb"] = round(max((s[3] for s in inside), default=0) / 2**20, 1)
        step["buckets"] = {k: round(v, 3) for k, v in by.items()}
        step["kind"] = "check" if check_only else "asset"
        for k, v in by.items():
            buckets[k] += v
    in_steps = sum(buckets.values())
    # Outside any step: loading the definitions, creating runs, launching steps, writing the
    # run's events. All of that is the orchestrator's, whatever the stack says.
    wall = t_end - t0
    outside = sum(w for t, w, _, _ in samples if t <= t_end) - in_steps
    buckets["dagster"] += max(outside, 0.0)

    from seg_platform.core.warehouse import connect, fetch_one
    from seg_platform.evaluation import evaluate

    t_eval = time.time()
    metrics = evaluate(platform, truth)
    eval_seconds = time.time() - t_eval
    events = customers = None
    models = {}
    try:
        with connect(platform.warehouse, read_only=True) as con:
            events = fetch_one(con, "SELECT count(*) FROM staging.stg_events")[0]
            customers = fetch_one(
                con, "SELECT count(*) FROM features.customer_features "
                "WHERE date_trunc('month', as_of_date) = CAST(? AS DATE)",
                [month],
            )[0]  # fmt: skip
            # The generator has no truth three months past the latest month; the models' own
            # time-split evaluation (held-out month, active customers) is the quality figure.
            for target, model, roc, pr in con.execute(
                "SELECT target, model, roc_auc, pr_auc FROM predictions.model_evaluations "
                "WHERE strftime(as_of_date, '%Y-%m') = ? ORDER BY ALL",
                [month[:7]],
            ).fetchall():
                models[f"{target} {model}"] = {"roc_auc": roc, "pr_auc": pr}
    except Exception as exc:  # a failed run still reports its timings
        print(f"could not count rows: {exc}", file=sys.stderr)
    metrics["propensity_held_out"] = models
    rows_read = metrics.get("raw", {}).get("totals", {}).get("rows_read", 0)
    return {
        "failed_runs": failed,
        "month": month[:7] if month else None,
        "wall_seconds": round(wall, 2),
        "load_definitions_seconds": round(t_loaded - t0, 2),
        "peak_rss_mb": round(peak_total / 2**20, 1),
        "landing_rows_read": rows_read,
        "staged_events": events,
        "feature_rows": customers,
        "rows_per_second": round(rows_read / wall) if wall else None,
        "share": {k: round(v / wall, 4) for k, v in sorted(buckets.items())},
        "seconds_by_bucket": {k: round(v, 2) for k, v in sorted(buckets.items())},
        "steps": steps,
        "evaluation_seconds": round(eval_seconds, 1),
        "evaluation": metrics,
    }


def markdown(size: int, months: int, gen_seconds: float, out: dict) -> str:
    share = out["share"]
    lines = [
        f"## {size:,} customers, {months} months: month {out['month']}",
        "",
        f"- generator: {gen_seconds} s (not part of the pipeline's time)",
        f"- pipeline wall time: **{out['wall_seconds']} s** "
        f"(of which loading definitions {out['load_definitions_seconds']} s); "
        f"peak RSS **{out['peak_rss_mb']:,} MB**",
        f"- landing rows read: {out['landing_rows_read']:,} "
        f"({out['rows_per_second']:,} rows/s over the whole run); staged events "
        f"{out['staged_events']:,}; customers in the month's features {out['feature_rows']:,}",
        "- share of wall time: "
        + ", ".join(f"{k} {v:.1%}" for k, v in share.items())
        + f" (orchestration + tracking: {share.get('dagster', 0) + share.get('mlflow', 0):.1%})",
        f"- failed runs: {', '.join(out['failed_runs']) or 'none'}",
        "",
        "| run | step | kind | wall s | checks s | mlflow s | dagster s | peak RSS MB |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for s in sorted(out["steps"], key=lambda s: s["start"]):
        b = s["buckets"]
        lines.append(
            f"| {s['run']} | {s['step']} | {s['kind']} | {s['seconds']:.2f} | "
            f"{b.get('checks', 0):.2f} | {b.get('mlflow', 0):.2f} | {b.get('dagster', 0):.2f} | "
            f"{s['peak_rss_mb']:,} |"
        )
    lines += ["", "Evaluation against the generator's truth:", ""]
    lines += [f"- {k}: {v}" for k, v in headline_metrics(out["evaluation"]).items()]
    for name, m in out["evaluation"].get("propensity_held_out", {}).items():
        lines.append(
            f"- {name}, held-out month (active customers): ROC AUC {m['roc_auc']:.4f}, "
            f"PR AUC {m['pr_auc']:.4f}"
        )
    return "\n".join(lines) + "\n"


def headline_metrics(metrics: dict) -> dict:
    """The few quality figures a reader compares across sizes."""
    pick = {
        "raw malformed recall": ("raw", "totals", "malformed_recall"),
        "raw valid rows quarantined": ("raw", "totals", "valid_rows_quarantined"),
        "identity pairwise precision": ("identity", "pairwise_precision"),
        "identity pairwise recall": ("identity", "pairwise_recall"),
        "segmentation ARI vs planted archetypes (latest month)": ("segmentation", "ari"),
        "segments: archetypes with a stable segment id": ("segments", "archetypes_with_stable_id"),
        "churn ROC AUC vs planted churn": ("predictions", "churn_roc_auc"),
    }
    found = {}
    for label, path in pick.items():
        value = metrics
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            found[label] = value
    return found


def month_files(landing: Path, month: str) -> list[Path]:
    """The generator's files of one month (`<source>/<source>_YYYY-MM.csv[.gz]`)."""
    return sorted(landing.glob(f"*/*_{month}.csv*"))


def run_child(home: Path, sources: Path, truth: Path, size: int) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(home), str(sources), str(truth)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode:
        tail = f"{done.stdout[-5000:]}\n{done.stderr[-5000:]}"
        sys.exit(f"benchmark failed at {size}:\n{tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def steady(company: Path, work: Path, size: int) -> dict:
    """Cold start on all months but the last, then the last month's delivery: both measured."""
    landing = company / "landing"
    months = sorted({p.name.rsplit("_", 1)[1][:7] for p in landing.glob("*/*_20??-??.csv*")})
    partial = work / "landing"
    # Hard links: the same bytes inside the landing folder (a symlink resolves outside it).
    shutil.copytree(landing, partial, copy_function=os.link)
    for path in month_files(partial, months[-1]):
        path.unlink()
    sources, truth = partial / "sources.yaml", company / "truth"
    cold = run_child(work / "home", sources, truth, size)
    # Printed at once: a steady phase cut short still leaves the cold start's figures.
    print(json.dumps({"cold": cold}, default=str), flush=True)
    for path in month_files(landing, months[-1]):
        os.link(path, partial / path.relative_to(landing))
    return {"cold": cold, "steady": run_child(work / "home", sources, truth, size)}


def _step_name(step: dict) -> str:
    return f"{step['run'].split(' ')[0]} / {step['step']}"


def steady_markdown(size: int, months: int, out: dict, previous: dict | None) -> str:
    """Cold start and steady month side by side, per step (with an earlier run's beside)."""
    phases = [("cold", out["cold"]), ("steady", out["steady"])]
    if previous:
        phases = [("before cold", previous["cold"]), ("before steady", previous["steady"])] + [
            (f"after {k}", v) for k, v in phases
        ]
    header = " | ".join(f"{k} s" for k, _ in phases)
    lines = [
        f"## {size:,} customers: cold start on {months - 1} months, then month {months} arrives",
        "",
        "| figure | " + header + " |",
        "|---|" + "---:|" * len(phases),
        "| pipeline wall time s | "
        + " | ".join(f"**{p['wall_seconds']}**" for _, p in phases)
        + " |",
        "| peak RSS MB | " + " | ".join(f"{p['peak_rss_mb']:,}" for _, p in phases) + " |",
        "| landing rows read | "
        + " | ".join(f"{p['landing_rows_read']:,}" for _, p in phases)
        + " |",
        "| month built | " + " | ".join(str(p["month"]) for _, p in phases) + " |",
        "| failed runs | "
        + " | ".join(", ".join(p["failed_runs"]) or "none" for _, p in phases)
        + " |",
    ]
    for label in headline_metrics(out["steady"]["evaluation"]):
        lines.append(
            f"| {label} | "
            + " | ".join(str(headline_metrics(p["evaluation"]).get(label, "")) for _, p in phases)
            + " |"
        )
    lines += ["", "Per step (wall seconds; peak RSS MB in brackets):", ""]
    lines += ["| step | " + header + " |", "|---|" + "---:|" * len(phases)]
    by_phase = [{_step_name(s): s for s in p["steps"]} for _, p in phases]
    order = sorted(
        {n for steps in by_phase for n in steps},
        key=lambda n: -max(steps[n]["seconds"] for steps in by_phase if n in steps),
    )
    for name in order:
        cells = [
            f"{steps[name]['seconds']:.2f} ({steps[name]['peak_rss_mb']:,.0f})"
            if name in steps else ""
            for steps in by_phase
        ]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000])
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument(
        "--data-root", type=Path,
        help="keep generated companies in DIR/c<customers> and reuse one found there",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the platform home")
    parser.add_argument(
        "--steady", action="store_true",
        help="cold start on all months but the last, then the last month's delivery",
    )  # fmt: skip
    parser.add_argument(
        "--previous", type=Path,
        help="with --steady: a folder holding an earlier e2e_<customers>_steady.json to compare",
    )  # fmt: skip
    parser.add_argument("--child", nargs=3, metavar=("HOME", "SOURCES", "TRUTH"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.child:
        home, sources, truth = map(Path, args.child)
        print(json.dumps(measure(home, sources, truth), default=str))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    for size in args.customers:
        with work_folder(f"seg_e2e_{size}_", keep=args.keep) as work:
            company = (args.data_root / f"c{size}") if args.data_root else work / "company"
            gen_seconds = 0.0
            if not (company / "landing" / "sources.yaml").exists():
                gen_seconds = generate(size, args.months, args.seed, company)
            if args.steady:
                out = steady(company, work, size)
            else:
                out = run_child(
                    work / "home", company / "landing" / "sources.yaml", company / "truth", size
                )
        if args.steady:
            out.update(customers=size, months=args.months, load=os.getloadavg())
            (args.out / f"e2e_{size}_steady.json").write_text(
                json.dumps(out, indent=2, default=str)
            )
            before = args.previous / f"e2e_{size}_steady.json" if args.previous else None
            previous = json.loads(before.read_text()) if before and before.exists() else None
            md = steady_markdown(size, args.months, out, previous)
            (args.out / f"e2e_{size}_steady.md").write_text(md)
            print(md, flush=True)
            continue
        out.update(customers=size, months=args.months, generator_seconds=gen_seconds)
        (args.out / f"e2e_{size}.json").write_text(json.dumps(out, indent=2, default=str))
        md = markdown(size, args.months, gen_seconds, out)
        (args.out / f"e2e_{size}.md").write_text(md)
        print(md, flush=True)


if __name__ == "__main__":
    main()
