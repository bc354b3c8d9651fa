"""Running the main job in-process against the platform home's Dagster instance, for the CLI.

Runs land in the same instance `seg-platform ui` shows, so a CLI run appears in the UI's history.
"""

import os
import sys

from seg_platform import settings
from seg_platform.sources.config import SourceConfigError, load_sources_config


def run_pipeline(verbose: bool = False) -> int:
    """Materialize the full_pipeline job; print what failed and why. Returns an exit code."""
    home = settings.platform_home().ensure()
    os.environ["DAGSTER_HOME"] = str(home.dagster_home)
    os.environ[settings.HOME_ENV] = str(home.root)
    sources_path = settings.sources_config_path()
    try:
        load_sources_config(sources_path)
    except SourceConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    import dagster as dg

    from seg_platform.definitions import MAIN_JOB, defs

    print(f"Running {MAIN_JOB} on {sources_path}\n  platform home: {home.root}")
    job = defs.resolve_job_def(MAIN_JOB)
    # Without --verbose the summary below says what failed; Dagster's log would add stack traces.
    level = "INFO" if verbose else "CRITICAL"
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": level}}}},
        )
    failures = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.step_failure_data.error
            message = error.message.strip() if error else ""
            message = message.removeprefix("dagster._core.definitions.events.Failure: ")
            failures.append(f"step {event.step_key} failed: {message}")
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                key = evaluation.asset_key.to_user_string()
                failures.append(
                    f"check {key}.{evaluation.check_name} failed: {evaluation.description}"
                )
    _print_raw_summary(home)
    if failures:
        print(f"\n{MAIN_JOB} FAILED (run {result.run_id}):", file=sys.stderr)
        for failure in failures:
            print(f"  - {failure}", file=sys.stderr)
        print(
            "Tables from the last successful run are unchanged where a step did not finish.",
            file=sys.stderr,
        )
        return 1
    print(f"\n{MAIN_JOB} succeeded (run {result.run_id}).")
    return 0


def _print_raw_summary(home: settings.PlatformHome) -> None:
    from seg_platform.sources.contract import SOURCES
    from seg_platform.warehouse import connect, fetch_one

    if not home.warehouse.exists():
        return
    with connect(home.warehouse) as con:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables"
            ).fetchall()
        }
        if "raw.source_files" not in tables:
            return
        counts = dict(
            con.execute(
                "SELECT source, [sum(rows_read), sum(rows_filtered), sum(rows_quarantined), "
                "sum(rows_kept)] FROM raw.source_files GROUP BY source"
            ).fetchall()
        )
        print(f"\nWarehouse {home.warehouse}")
        print(f"  {'table':<22}{'read':>12}{'filtered':>10}{'quarantined':>13}{'rows':>12}")
        for name in SOURCES:
            if f"raw.{name}" not in tables:
                continue
            rows = fetch_one(con, f"SELECT count(*) FROM raw.{name}")[0]
            read, filtered, quarantined, _ = counts.get(name, [0, 0, 0, 0])
            note = "" if name in counts else "  (not configured)"
            print(
                f"  {'raw.' + name:<22}{read:>12,}{filtered:>10,}{quarantined:>13,}"
                f"{rows:>12,}{note}"
            )
        print("  rejected rows and reasons: SELECT * FROM raw.quarantine")
        if "identity.profiles" in tables:
            profiles, identifiers = fetch_one(
                con, "SELECT count(*), coalesce(sum(identifiers), 0) FROM identity.profiles"
            )
            print(f"\n  identity: {profiles:,} profiles holding {identifiers:,} identifiers")
            for source, records, rate in con.execute(
                "SELECT source, records, match_rate FROM identity.match_rate ORDER BY source"
            ).fetchall():
                print(
                    f"    {source:<20}{records:>12,} records, {rate:>7.1%} tied to a known person"
                )


def print_next_steps(home: settings.PlatformHome) -> None:
    print(f"""
Next:
  Dagster UI (assets, checks, runs):  make ui         -> http://127.0.0.1:3000
  MLflow UI (model runs):             make mlflow-ui  -> http://127.0.0.1:5000
  Query the warehouse:                .venv/bin/python -c "import duckdb; \\
      print(duckdb.connect('{home.warehouse}', read_only=True).sql('FROM raw.quarantine'))"
  Everything lives in {home.root}; delete it to start over.""")
