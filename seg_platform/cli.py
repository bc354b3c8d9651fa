"""The `seg-platform` command: generate sample data, run the pipeline, evaluate, open the UIs."""

import argparse
import json
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

from seg_platform.core import settings

DEMO_CUSTOMERS, DEMO_MONTHS, DEMO_SEED = 2000, 12, 42


CUSTOMERS_HELP = "how many customers the synthetic company has (default: %(default)s)"
MONTHS_HELP = "how many months of history it writes, ending with --end-month (default: %(default)s)"
PORT_HELP = "TCP port on 127.0.0.1 to serve on (default: %(default)s)"


def month_argument(value: str) -> str:
    """A month given on the command line, as 'YYYY-MM' (argparse reports anything else)."""
    from seg_platform.core.calendar import month_key, month_start

    try:
        if len(value) != 7:
            raise ValueError
        month_start(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a month: write it as YYYY-MM, e.g. 2025-12"
        ) from None
    return month_key(value)


def port_argument(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port: give a number 1..65535")
    return port


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something already listens on host:port (checked by binding it, as the server
    would, so a port only another interface holds counts as free)."""
    with socket.socket() as probe:
        # As the servers bind: a port left in TIME_WAIT by a stopped server is free to them.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _port_taken(port: int, name: str) -> int | None:
    """Exit code 2 with one line when the port is taken, before anything is started (the
    MLflow server would only say so minutes later, and exit 0)."""
    if not port_in_use(port):
        return None
    print(
        f"error: port {port} on 127.0.0.1 is already in use (another {name} or another "
        f"program): stop it, or choose another port with --port N",
        file=sys.stderr,
    )
    return 2


def main(argv: list[str] | None = None) -> int:
    # OpenMP threads that wait for work spin on the CPU for a while by default: on a 2-core
    # machine shared with another process, spinning threads take the cores from the ones
    # that have work. Set before scikit-learn loads the OpenMP runtime; the environment wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "home", None):
        os.environ[settings.HOME_ENV] = str(Path(args.home).resolve())
    if getattr(args, "sources", None):
        os.environ[settings.SOURCES_ENV] = str(Path(args.sources).resolve())
    return args.func(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seg-platform",
        description="AI customer segmentation platform: identity, features, segments, activation.",
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, func, help_: str, home: bool = True, sources: bool = False):
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        if home:
            p.add_argument(
                "--home",
                help=f"platform home (default ${settings.HOME_ENV} or ./{settings.DEFAULT_HOME})",
            )
        if sources:
            p.add_argument(
                "--sources",
                help=f"sources.yaml to read (default ${settings.SOURCES_ENV} or the home's sample)",
            )
        return p

    p = command(
        "generate", _generate, "Write a synthetic company's landing files and truth.", home=False
    )
    p.add_argument("--customers", type=int, default=DEMO_CUSTOMERS, help=CUSTOMERS_HELP)
    p.add_argument("--months", type=int, default=DEMO_MONTHS, help=MONTHS_HELP)
    p.add_argument(
        "--seed",
        type=int,
        default=DEMO_SEED,
        help="random seed: the same seed writes the same company (default: %(default)s)",
    )
    p.add_argument(
        "--end-month",
        type=month_argument,
        default="2025-12",
        help="last month of data, YYYY-MM (default: %(default)s)",
    )
    p.add_argument("--out", required=True, help="folder for landing/ and truth/")

    snapshots_help = (
        "build the monthly snapshots (features, segmentation, predictions, segments) of the "
        "latest N months with "
        "data (default 3; 0 = every month)"
    )
    quiet_help = "no line per step and per month as they finish (the summaries stay)"
    p = command(
        "run",
        _run,
        "Load the landing files, rebuild every table and the monthly snapshots of each month.",
        sources=True,
    )
    p.add_argument("--verbose", action="store_true", help="show Dagster's event log")
    p.add_argument("--quiet", action="store_true", help=quiet_help)
    p.add_argument("--last-months", type=int, default=3, metavar="N", help=snapshots_help)
    p.add_argument(
        "--full-reload",
        action="store_true",
        help="rebuild the raw tables from every landing file (default: read only the files "
        "that are new or changed since the last run)",
    )

    p = command("demo", _demo, "Generate the bundled sample (if missing) and run everything.")
    p.add_argument("--customers", type=int, default=DEMO_CUSTOMERS, help=CUSTOMERS_HELP)
    p.add_argument(
        "--months",
        type=int,
        default=DEMO_MONTHS,
        help="how many months of history the sample has, ending 2025-12 (default: %(default)s)",
    )
    p.add_argument("--verbose", action="store_true", help="show Dagster's event log")
    p.add_argument("--quiet", action="store_true", help=quiet_help)
    p.add_argument("--last-months", type=int, default=3, metavar="N", help=snapshots_help)

    p = command(
        "score-day",
        _score_day,
        "Score one day without re-fitting: segments for new customers, refreshed propensities, "
        "overlays (the daily_scoring job).",
    )
    p.add_argument("--day", help="YYYY-MM-DD (default: the last day with events)")

    p = command("evaluate", _evaluate, "Compare the platform's tables with generator truth (JSON).")
    p.add_argument("--truth", help="the truth/ folder written by generate")
    p.add_argument("--febrl", help="also measure Splink linkage on the Febrl 4a/4b folder")

    p = command(
        "candidates", _candidates, "Print a month's segmentation candidates side by side (MLflow)."
    )
    p.add_argument(
        "--month", type=month_argument, help="YYYY-MM (default: the latest segmented month)"
    )

    p = command(
        "lookalike",
        _lookalike,
        "Publish the customers most like a seed (a segment, or a CSV of identifiers or profile "
        "ids) as an audience; the build is an MLflow run with its held-out precision.",
    )
    seed = p.add_mutually_exclusive_group(required=True)
    seed.add_argument("--segment", type=int, metavar="ID", help="seed: this segment's members")
    seed.add_argument(
        "--seed", metavar="FILE", help="seed: a CSV with a header: profile_id, an identifier "
        "type (email, user_id, crm_id, ...) or id_type,value",
    )  # fmt: skip
    p.add_argument("--size", type=int, required=True, metavar="N", help="customers to publish")
    p.add_argument("--name", required=True, help="the audience's name (lower_case)")
    p.add_argument("--month", type=month_argument, help="YYYY-MM (default: the latest segmented)")

    p = command(
        "ui",
        _ui,
        "Start the Dagster UI and daemon on 127.0.0.1 (requests from other sites refused).",
    )
    p.add_argument("--port", type=port_argument, default=3000, help=PORT_HELP)

    p = command(
        "serve",
        _serve,
        "Start the real-time profile service on 127.0.0.1: lookups by any identifier and "
        "behaviour events in (docs/serving.md).",
        sources=True,
    )
    p.add_argument("--port", type=port_argument, default=8765, help=PORT_HELP)

    p = command("mlflow-ui", _mlflow_ui, "Start the MLflow UI on 127.0.0.1.")
    p.add_argument("--port", type=port_argument, default=5000, help=PORT_HELP)

    p = command(
        "docs",
        _docs,
        "Write docs/sources.md (input contract) and docs/features.md (feature catalog).",
        home=False,
    )
    p.add_argument("--out", default="docs", help="folder to write the pages into")
    return parser


def _generate(args) -> int:
    from seg_platform.synthetic.company import generate

    started = time.perf_counter()
    try:
        summary = generate(
            args.customers, args.months, args.seed, Path(args.out), end_month=args.end_month
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2, default=str))
    print(
        f"Wrote {Path(args.out).resolve()} in {time.perf_counter() - started:.1f} s.",
        file=sys.stderr,
    )
    return 0


def _run(args) -> int:
    from seg_platform.runner import run_pipeline

    return run_pipeline(
        verbose=args.verbose,
        months=args.last_months,
        quiet=args.quiet,
        full_reload=args.full_reload,
    )


def _score_day(args) -> int:
    from seg_platform.runner import score_day

    return score_day(args.day)


def _demo(args) -> int:
    from seg_platform.runner import print_next_steps, run_pipeline
    from seg_platform.synthetic.company import generate

    home = settings.platform_home().ensure()
    sample = home.sample
    summary_file = sample / "truth" / "summary.json"
    wanted = {"customers": args.customers, "months": args.months, "seed": DEMO_SEED}
    current = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    if any(current.get(k) != v for k, v in wanted.items()):
        print(
            f"Generating the synthetic sample ({args.customers:,} customers, {args.months} "
            f"months) in {sample} ..."
        )
        generate(args.customers, args.months, DEMO_SEED, sample)
    os.environ[settings.SOURCES_ENV] = str(sample / "landing" / "sources.yaml")
    code = run_pipeline(verbose=args.verbose, months=args.last_months, quiet=args.quiet)
    if code == 0:
        from seg_platform.evaluation import evaluate

        metrics = evaluate(home, sample / "truth")
        print(
            "\nEvaluation against the generator's ground truth "
            "(seg-platform evaluate --truth " + str(sample / "truth") + "):"
        )
        segmentation = {k: v for k, v in metrics.get("segmentation", {}).items() if k != "months"}
        segments = {
            k: v for k, v in metrics.get("segments", {}).items() if k not in ("pairs", "stable_ids")
        }
        summary = {
            "raw": metrics["raw"]["totals"],
            "identity": metrics.get("identity"),
            "segmentation": segmentation,
            "segments": segments,
        }
        if "predictions" in metrics:
            predictions = metrics["predictions"]
            summary["predictions"] = {k: v for k, v in predictions.items() if k != "months"}
        print(json.dumps(summary, indent=2))
        print_next_steps(home)
    return code


def _evaluate(args) -> int:
    from seg_platform.evaluation import evaluate

    truth = Path(args.truth) if args.truth else None
    if truth is None and not args.febrl:
        print("error: give --truth DIR and/or --febrl DIR.", file=sys.stderr)
        return 2
    if truth is not None and not (truth / "summary.json").exists():
        print(
            f"error: {truth} is not a truth folder written by `seg-platform generate`.",
            file=sys.stderr,
        )
        return 2
    febrl = Path(args.febrl) if args.febrl else None
    print(json.dumps(evaluate(settings.platform_home(), truth, febrl), indent=2))
    return 0


def _candidates(args) -> int:
    from seg_platform.core.tracking import MlflowResource
    from seg_platform.segmentation.compare import candidates_frame

    try:
        frame = candidates_frame(args.month, MlflowResource())
    except LookupError as exc:
        print(f"error: {exc}; run the pipeline first: {settings.command_hint('run')}",
              file=sys.stderr)  # fmt: skip
        return 2
    print(
        f"Segmentation candidates for {frame['month'][0]} "
        f"(MLflow parent run {frame['parent_run_id'][0]}; * = chosen):"
    )
    header = ["candidate", "k", "silhouette", "davies_b", "calinski_h", "inertia|bic",
              "smallest", "stability", "outliers", "meets_rule"]  # fmt: skip
    print("  " + "".join(f"{h:>12}" for h in header))
    for r in frame.iter_rows(named=True):
        fit = r.get("inertia") if r.get("inertia") is not None else r.get("bic")
        cells = [
            ("*" if r["chosen"] else "") + r["candidate"], int(r["segments"]),
            *(_num(r.get(c)) for c in ("silhouette", "davies_bouldin", "calinski_h")),
            _num(fit, 0), *(_num(r.get(c)) for c in ("smallest_share", "stability", "outliers")),
            r.get("meets_rule") or "",
        ]  # fmt: skip
        print("  " + "".join(f"{c!s:>12}" for c in cells))
    return 0


def _lookalike(args) -> int:
    from seg_platform.activation.lookalike import LookalikeError, build_from_home, summary
    from seg_platform.activation.resources import ActivationConfig
    from seg_platform.core.tracking import MlflowResource

    try:
        built = build_from_home(args.name, args.size, args.segment, args.seed, args.month,
                                MlflowResource(), ActivationConfig().folder())  # fmt: skip
    except LookalikeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(built))
    return 0


def _num(value, digits: int = 3) -> str:
    return "" if value is None or value != value else f"{value:.{digits}f}"


def _ui(args) -> int:
    if code := _port_taken(args.port, "Dagster UI"):
        return code
    from seg_platform.ui_server import HOST, serve

    print(f"Dagster UI: http://{HOST}:{args.port}  (Ctrl-C to stop)", flush=True)
    return serve(args.port)


def _serve(args) -> int:
    if code := _port_taken(args.port, "profile service"):
        return code
    from seg_platform.serving.app import serve

    home = settings.platform_home()
    sources = settings.sources_config_path()
    return serve(home.root, sources if sources.exists() else None, args.port)


def _mlflow_ui(args) -> int:
    if code := _port_taken(args.port, "MLflow UI"):
        return code
    from seg_platform.core.tracking import home_store

    home = settings.platform_home().ensure()
    # Run links in Dagster (the segment report's among them) are built from this address.
    settings.record_mlflow_ui(home, args.port)
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    print(f"MLflow UI: http://127.0.0.1:{args.port}  (Ctrl-C to stop)")
    cmd = [
        _bin("mlflow"),
        "server",
        "--backend-store-uri",
        home_store(home),
        "--default-artifact-root",
        str(home.mlflow_artifacts.resolve()),
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
        "--workers",
        "1",
    ]
    return _exec(cmd, env)


def _docs(args) -> int:
    from seg_platform.core.paths import SQL_ROOT
    from seg_platform.features.catalog import render_features_doc
    from seg_platform.sources.docs import render_sources_doc
    from seg_platform.sql_models.project import SqlModelError, load_project

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        models = load_project(SQL_ROOT)
    except SqlModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    pages = {"sources.md": render_sources_doc(), "features.md": render_features_doc(models)}
    for name, text in pages.items():
        (out / name).write_text(text)
        print(f"Wrote {out / name}")
    return 0


def _exec(cmd: list[str], env: dict) -> int:
    """Become the server process, so that Ctrl-C or a SIGTERM to this PID stops it directly."""
    sys.stdout.flush()
    # A shell's `cmd &` starts us with SIGINT ignored, and an ignored signal stays ignored
    # across exec: Dagster would then relay its shutdown to children that ignore it.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    os.execve(cmd[0], cmd, env)
    return 1  # not reached


def _bin(name: str) -> str:
    """A console script installed beside this Python (the project's .venv)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else (shutil.which(name) or name)


if __name__ == "__main__":
    sys.exit(main())
