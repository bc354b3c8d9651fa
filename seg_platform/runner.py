"""Running the main job in-process against the platform home's Dagster instance, for the CLI.

Runs land in the same instance `seg-platform ui` shows, so a CLI run appears in the UI's history.
"""

import os
import sys
import time
from typing import TYPE_CHECKING, TextIO

from seg_platform.core import settings
from seg_platform.core.calendar import month_key, partial_month_note
from seg_platform.core.engine import EngineError, engine_name
from seg_platform.core.paths import SQL_ROOT
from seg_platform.core.spark import SparkUnavailable, require_pyspark
from seg_platform.core.warehouse import WarehouseLockedError, connect, fetch_one, table_exists
from seg_platform.sources.config import SourceConfigError, load_sources_config
from seg_platform.sources.contract import SOURCES
from seg_platform.sources.span import data_span
from seg_platform.sql_models.project import load_project

if TYPE_CHECKING:
    from seg_platform.run_guard import HomeLock


class StepProgress:
    """A Dagster event listener that prints one line per step as it finishes: its name (from
    `names`, see `step_names`), its seconds, and the rows it wrote or the checks it ran (FAILED
    when it failed).

    Subscribed to one run's events with `DagsterInstance.add_event_listener`: the runner
    executes in process, so each event reaches it as soon as Dagster stores it.
    """

    def __init__(self, out: TextIO | None = None, names: dict[str, str] | None = None):
        self.out = out if out is not None else sys.stdout
        self.names = names or {}
        self.rows: dict[str, int] = {}
        self.checks: dict[str, list[str]] = {}
        self.started: dict[str, float] = {}

    def __call__(self, entry) -> None:
        event = entry.dagster_event
        if event is None:
            if entry.step_key and "Not executing" in (entry.user_message or ""):
                self._line(
                    entry.step_key, None, "not run: a step or blocking check it needs failed"
                )
            return
        step = event.step_key
        kind = event.event_type_value
        if kind == "STEP_START":
            self.started[step] = entry.timestamp
        elif kind == "ASSET_MATERIALIZATION" and step:
            count = event.event_specific_data.materialization.metadata.get("dagster/row_count")
            if count is not None:
                self.rows[step] = self.rows.get(step, 0) + int(count.value)
        elif kind == "ASSET_CHECK_EVALUATION" and step:
            evaluation = event.event_specific_data
            outcome = "passed" if evaluation.passed else evaluation.severity.value  # ERROR/WARN
            self.checks.setdefault(step, []).append(outcome)
        elif kind == "STEP_SUCCESS":
            self._line(step, event.event_specific_data.duration_ms / 1000, self._outcome(step))
        elif kind == "STEP_FAILURE":
            seconds = entry.timestamp - self.started[step] if step in self.started else None
            outcome = self._outcome(step)  # a failed blocking check says FAILED already
            self._line(step, seconds, outcome if "FAILED" in outcome else f"FAILED {outcome}")

    def _outcome(self, step: str) -> str:
        parts = []
        if step in self.rows:
            parts.append(f"{self.rows[step]:,} rows")
        checks = self.checks.get(step, [])
        if checks:
            word = "check" if len(checks) == 1 else "checks"
            failed, warned = checks.count("ERROR"), checks.count("WARN")
            parts.append(f"{len(checks)} {word}" + (f", {failed} FAILED" if failed else "")
                         + (f", {warned} warning" if warned else ""))  # fmt: skip
        return ", ".join(parts)

    def _line(self, step: str, seconds: float | None, outcome: str) -> None:
        took = f"{seconds:7.1f} s" if seconds is not None else f"{'':>9}"
        name = self.names.get(step, step)
        print(f"    {name:<60} {took}  {outcome}".rstrip(), file=self.out, flush=True)


def step_names(job) -> dict[str, str]:
    """How the progress lines name the steps of `job` (Dagster's step keys join a key's parts
    with `__`): the asset a step builds (`raw/orders`), the layer and op of a step that builds
    several (`identity/identity_graph`), the asset and name of the check a step runs
    (`raw/orders.meets_source_contract`)."""
    names = {}
    for assets_def in job.asset_layer.asset_graph.assets_defs:
        if not assets_def.is_executable:
            continue
        op = assets_def.node_def.name
        keys = sorted(key.to_user_string() for key in assets_def.keys)
        checks = list(assets_def.check_keys)
        if len(keys) == 1:
            names[op] = keys[0]
        elif keys:
            names[op] = f"{keys[0].split('/')[0]}/{op}" if "/" in keys[0] else op
        elif len(checks) == 1:
            names[op] = f"{checks[0].asset_key.to_user_string()}.{checks[0].name}"
    return names


def _execute(job, instance, progress: bool, run_id: str, **kwargs):
    """`job.execute_in_process` with the step lines of `StepProgress` when `progress`."""
    if progress:
        # Keyed by the run's id, which is new for each run: the listener hears this run only.
        instance.add_event_listener(run_id, StepProgress(names=step_names(job)))
    return job.execute_in_process(instance=instance, run_id=run_id, **kwargs)


def run_pipeline(
    verbose: bool = False, months: int | None = None, quiet: bool = False, full_reload: bool = False
) -> int:
    """Refresh the current tables, then build the monthly snapshots of every month with data.

    `full_reload` rebuilds the raw tables from every landing file (default: only the files
    the ledger finds new or changed are read; docs/sources.md, "Incremental loads").
    `months` limits the snapshots to the latest N months (default: all). Prints one line per
    step as it finishes and one per month unless `quiet`; prints what failed and why; returns
    an exit code.
    """
    home = settings.platform_home().ensure()
    os.environ["DAGSTER_HOME"] = str(home.dagster_home)
    os.environ[settings.HOME_ENV] = str(home.root)
    sources_path = settings.sources_config_path()
    try:
        if engine_name() == "spark":  # SEG_PLATFORM_ENGINE: duckdb or spark
            require_pyspark()
        load_sources_config(sources_path)
    except (SourceConfigError, EngineError, SparkUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    # Dagster and the definitions take seconds to load: a configuration error is told first.
    import dagster as dg

    from seg_platform import run_guard
    from seg_platform.definitions import CURRENT_JOB, MONTHLY_JOB, SERVING_KEY, defs

    print(f"Running the pipeline on {sources_path}\n  platform home: {home.root}")
    # Without --verbose the summary below says what failed; Dagster's log would add stack traces.
    level = "INFO" if verbose else "CRITICAL"
    run_config = {"loggers": {"console": {"config": {"log_level": level}}}}
    failures: list[str] = []
    warnings: list[str] = []  # failed checks of WARN severity: the run went on
    with dg.DagsterInstance.get() as instance:
        try:
            with run_guard.hold_home(home, instance, "seg-platform run") as lock:
                _report_dead_runs(lock)

                def launch(job, assets, **kwargs):
                    """One in-process run of `assets` of `job`, in the CLI's runs."""
                    return _execute(
                        job, instance, not quiet, lock.next_run_id(), raise_on_error=False,
                        tags=run_guard.cli_run_tags(), asset_selection=assets, **kwargs,
                    )  # fmt: skip

                started = time.perf_counter()
                if not quiet:
                    print("\nCurrent tables (raw, identity, staging):", flush=True)
                sources = {"sources": {"config": {"full_reload": full_reload}}}
                current = defs.resolve_job_def(CURRENT_JOB)
                # The serving snapshot is left out of every run but the last (see below).
                result = launch(
                    current,
                    assets_but(current, SERVING_KEY),
                    run_config={**run_config, "resources": sources},
                )
                if not quiet:
                    print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
                failures += _failures(result, CURRENT_JOB)
                warnings += _warnings(result, CURRENT_JOB)
                current_ok = not failures
                _print_raw_summary(home)
                built = []
                if not failures:
                    keys, note = months_to_build(home, months)
                    if note:
                        print(f"\n{note}")
                    # The load may have moved the data's span: the partitions follow it.
                    job = current_definitions(defs).resolve_job_def(MONTHLY_JOB)
                    for number, key in enumerate(keys, start=1):
                        # A run launched from the UI may have started between two of ours.
                        busy = run_guard.busy_run(instance)
                        if busy:
                            raise run_guard.HomeBusyError(busy)
                        started = time.perf_counter()
                        if not quiet:
                            print(
                                f"\nMonth {month_key(key)} ({number} of {len(keys)}):", flush=True
                            )
                        result = launch(
                            job,
                            assets_but(job, SERVING_KEY),
                            run_config=run_config,
                            partition_key=key,
                        )
                        if not quiet:
                            took = time.perf_counter() - started
                            print(f"  Month {month_key(key)} done in {took:.0f} s", flush=True)
                        failed = _failures(result, f"{MONTHLY_JOB} {month_key(key)}")
                        failures += failed
                        warnings += _warnings(result, month_key(key))
                        if not failed:
                            built.append(month_key(key))
                if current_ok:
                    # Once per pipeline, after the last month: each publish writes every
                    # customer's answer (at 1M customers a minute).
                    started = time.perf_counter()
                    if not quiet:
                        print("\nProfile service snapshot:", flush=True)
                    result = launch(current, [SERVING_KEY], run_config=run_config)
                    if not quiet:
                        print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
                    failures += _failures(result, "serving snapshot")
                _print_monthly_summary(home, built)
        except run_guard.HomeBusyError as exc:
            return _busy(exc)
    if warnings:
        print("\nWarnings (the run went on):")
        for warning in dict.fromkeys(warnings):
            print(f"  - {warning}")
    if failures:
        print("\nThe pipeline FAILED:", file=sys.stderr)
        for failure in failures:
            print(f"  - {failure}", file=sys.stderr)
        print(
            "Tables from the last successful run are unchanged where a step did not finish.",
            file=sys.stderr,
        )
        return 1
    print("\nThe pipeline succeeded.")
    return 0


def score_day(day: str | None = None) -> int:
    """Run the daily scoring job for `day` (default: the last day with events) on the current
    tables and the registry's champions; print what changed. Returns an exit code."""
    import datetime as dt

    home = settings.platform_home().ensure()
    os.environ["DAGSTER_HOME"] = str(home.dagster_home)
    os.environ[settings.HOME_ENV] = str(home.root)
    if day is None:
        if not home.warehouse.exists():
            print(f"error: no warehouse yet: run `{settings.command_hint('run')}` first",
                  file=sys.stderr)  # fmt: skip
            return 2
        try:
            with connect(home.warehouse, read_only=True) as con:
                if not table_exists(con, "staging", "stg_events"):
                    print(f"error: no events yet: run `{settings.command_hint('run')}` first",
                          file=sys.stderr)  # fmt: skip
                    return 2
                (last,) = fetch_one(con, "SELECT max(event_ts) FROM staging.stg_events")
        except WarehouseLockedError as exc:
            from seg_platform.run_guard import describe_locked

            return _busy(describe_locked(home, exc))
        day = f"{last:%Y-%m-%d}"
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        print(f"error: --day {day!r} is not a date: write it as YYYY-MM-DD", file=sys.stderr)
        return 2

    # Dagster and the definitions take seconds to load: a wrong day is told first.
    import dagster as dg

    from seg_platform import run_guard
    from seg_platform.definitions import DAILY_JOB, defs
    from seg_platform.predictions.daily import OVERLAYS_KEY, SCORES_KEY

    defs = current_definitions(defs)
    calendar = settings.current_partitions(home)
    if not calendar.offers_day(dt.date.fromisoformat(day)):
        print(f"error: {day} is not a daily partition: days run from {calendar.first_day} to "
              f"{calendar.last_day}, the days the loaded data covers", file=sys.stderr)  # fmt: skip
        return 2
    run_config = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    with dg.DagsterInstance.get() as instance:
        try:
            with run_guard.hold_home(home, instance, "seg-platform score-day") as lock:
                _report_dead_runs(lock)
                result = defs.resolve_job_def(DAILY_JOB).execute_in_process(
                    instance=instance,
                    raise_on_error=False,
                    run_config=run_config,
                    partition_key=day,
                    run_id=lock.next_run_id(),
                    tags=run_guard.cli_run_tags(),
                )
                failures = _failures(result, f"{DAILY_JOB} {day}")
        except run_guard.HomeBusyError as exc:
            return _busy(exc)
    if failures:
        print("Daily scoring FAILED:", file=sys.stderr)
        for failure in failures:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            metadata = event.event_specific_data.materialization.metadata
            if event.asset_key == SCORES_KEY:
                print(
                    f"Scored {day}: {metadata['dagster/row_count'].value:,} customers; new "
                    f"customers segmented: {metadata['new_customers_segmented'].value:,} "
                    f"(segmentation model version "
                    f"{metadata['segmentation_model_version'].value}, fitted as of "
                    f"{metadata['segmented_as_of'].value}, no re-fit); propensities refreshed: "
                    f"{metadata['propensities_refreshed'].value:,}"
                )
            elif event.asset_key == OVERLAYS_KEY:
                print(f"Overlays:\n{metadata['overlays'].value}")
    print("Tables: predictions.daily_scores, predictions.customer_overlays")
    return 0


def current_definitions(defs):
    """`defs`, or new definitions when the home's partitions moved since `defs` were loaded
    (a raw load wrote another data span, or the definitions came from another home)."""
    from seg_platform.core.partitions import daily_partitions_for, monthly_partitions_for
    from seg_platform.definitions import DAILY_JOB, MONTHLY_JOB, make_definitions

    calendar = settings.current_partitions()
    if defs.resolve_job_def(MONTHLY_JOB).partitions_def == monthly_partitions_for(
        calendar
    ) and defs.resolve_job_def(DAILY_JOB).partitions_def == daily_partitions_for(calendar):
        return defs
    return make_definitions()


def _busy(exc: Exception) -> int:
    """One line for a home another run is writing to; exit code 3."""
    print(
        f"error: {exc}. One run at a time: wait for it to finish or stop it, then run again.",
        file=sys.stderr,
    )
    return 3


def _report_dead_runs(lock: "HomeLock") -> None:
    for run_id in lock.failed_runs:
        print(f"Run {run_id} was left started by a process that is gone: marked as failed.")


def assets_but(job, key) -> list:
    """Every asset `job` materializes but `key`."""
    return sorted(set(job.asset_layer.selected_asset_keys) - {key})


def _failures(result, label: str) -> list[str]:
    """What failed in one in-process run: failed steps and failed checks, one line each."""
    failures = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.step_failure_data.error
            # Dagster wraps the exception the step raised; the innermost cause says what broke.
            while error is not None and error.cause is not None:
                error = error.cause
            message = error.message.strip() if error else ""
            message = message.removeprefix("dagster._core.definitions.events.Failure: ")
            if "DagsterAssetCheckFailedError" in message:
                continue  # the failed check itself is reported below, with its reason
            failures.append(f"{label}: step {event.step_key} failed: {message}")
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed and evaluation.severity.value == "ERROR":
                key = evaluation.asset_key.to_user_string()
                failures.append(
                    f"{label}: check {key}.{evaluation.check_name} failed: {evaluation.description}"
                )
    return failures


def _warnings(result, label: str) -> list[str]:
    """Checks of WARN severity that did not pass, one line each: nothing was stopped, but a
    person should know (a month that kept the previous champion, a partial month)."""
    out = []
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed and evaluation.severity.value == "WARN":
                key = evaluation.asset_key.to_user_string()
                text = evaluation.description or "see its metadata in the Dagster UI"
                out.append(f"{label}: {key}.{evaluation.check_name}: {text}")
    return out


def months_to_build(home: settings.PlatformHome, last: int | None = None) -> tuple[list[str], str]:
    """Partition keys of the months that have data, oldest first, and a note on any left out."""
    from seg_platform.core.partitions import months_to_build as partition_months  # Dagster

    with connect(home.warehouse) as con:
        first, last_seen = data_span(con)
    return partition_months(first, last_seen, last, settings.current_partitions(home))


def _print_monthly_summary(home: settings.PlatformHome, built: list[str]) -> None:
    if not built:
        return
    print(f"\nMonthly snapshots built: {built[0]} .. {built[-1]} ({len(built)} months)")
    with connect(home.warehouse) as con:
        last_event = data_span(con)[1]
        for month in built:
            note = partial_month_note(month, last_event)
            if note:
                print(f"  PARTIAL: {note}")
        for model in (m for m in load_project(SQL_ROOT) if m.partitioned):
            rows = con.execute(
                f"SELECT strftime(as_of_date, '%Y-%m'), count(*) FROM {model.table} "
                "GROUP BY 1 ORDER BY 1"
            ).fetchall()
            counts = ", ".join(f"{m} {n:,}" for m, n in rows if m in built)
            columns = len(model.catalog)
            print(f"  {model.table} ({columns} features): rows per month {counts}")
        rows = []
        if table_exists(con, "segmentation", "candidates"):
            # `in_use`: the model whose segments the month holds (a kept champion's, or its own).
            rows = con.execute(
                "SELECT strftime(c.as_of_date, '%Y-%m'), candidate, n_segments, silhouette, "
                "bootstrap_stability, eligible, model_version, (SELECT any_value(s.model_version) "
                "FROM segmentation.customer_segments s WHERE s.as_of_date = c.as_of_date) "
                "FROM segmentation.candidates c WHERE chosen ORDER BY 1"
            ).fetchall()
        print("  segmentation (chosen model per month; compare: seg-platform candidates):")
        segmented = set()
        for month, name, k, silhouette, stability, met, version, in_use in rows:
            if month in built:
                segmented.add(month)
                kept = (
                    f"; KEPT the champion's segments (model version {in_use}): version "
                    f"{version} stays challenger"
                    if in_use is not None and in_use != version
                    else ""
                )
                print(
                    f"    {month}: {name}, {int(k)} segments, silhouette {silhouette:.3f}, "
                    f"stability {stability:.3f}, rule met: {met}, model version {version}{kept}"
                )
        for month in sorted(set(built) - segmented):
            print(f"    {month}: skipped, too few known customers to segment")
        if segmented and table_exists(con, "segments", "segment_profiles"):
            latest = max(segmented)
            # The outlook (predictions.segment_outlook) joins in when it was built.
            outlook, join = "NULL, NULL", ""
            if table_exists(con, "predictions", "segment_outlook"):
                outlook = "o.mean_churn_probability, o.mean_predicted_value_12m"
                join = "LEFT JOIN predictions.segment_outlook o USING (as_of_date, segment_id) "
            profiles = con.execute(
                "SELECT p.segment_id, p.name, p.customers, p.share, p.lineage, p.action_type, "
                f"p.action, {outlook} FROM segments.segment_profiles p {join}"
                "WHERE strftime(p.as_of_date, '%Y-%m') = ? ORDER BY p.segment_id",
                [latest],
            ).fetchall()
            _print_predictions_summary(con, latest)
            _print_activation_summary(con, latest, home)
            print(f"  segments of {latest} (segments.segment_profiles; report in MLflow):")
            width = max(len(p[1]) for p in profiles)
            print(f"    {'id':>3} {'name':<{width}} {'customers':>9} {'share':>8} "
                  f"{'churn':>6} {'value 12m':>9} {'lineage':<18} action")  # fmt: skip
            for sid, name, customers, share, lineage, kind, action, churn, value in profiles:
                churn = f"{churn:6.1%}" if churn is not None else f"{'-':>6}"
                value = f"{value:9,.0f}" if value is not None else f"{'-':>9}"
                print(
                    f"    {sid:>3} {name:<{width}} {customers:>9,} ({share:6.1%}) {churn} "
                    f"{value} {lineage:<18} {kind}: {action}"
                )


def _print_activation_summary(con, month: str, home: settings.PlatformHome) -> None:
    if not table_exists(con, "activation", "feed_counts"):
        return
    rows = con.execute(
        "SELECT destination, sum(members), sum(control), sum(opted_out), sum(unreachable), "
        "sum(published) FROM activation.feed_counts WHERE strftime(as_of_date, '%Y-%m') = ? "
        "GROUP BY ALL ORDER BY ALL",
        [month],
    ).fetchall()
    changes = dict(
        con.execute(
            "SELECT destination, string_agg(change || ' ' || n, ', ' ORDER BY change) FROM ("
            "SELECT destination, change, count(*) AS n FROM activation.feed_changes "
            "WHERE strftime(as_of_date, '%Y-%m') = ? GROUP BY ALL) GROUP BY ALL",
            [month],
        ).fetchall()
    )
    print(f"  activation of {month} (feeds in {home.root / 'activation'}):")
    print(f"    {'destination':<16}{'candidates':>11}{'control':>9}{'opted out':>10}"
          f"{'unreachable':>12}{'published':>10}  changes since the last feed")  # fmt: skip
    for name, members, control, opted_out, unreachable, published in rows:
        print(
            f"    {name:<16}{members:>11,}{control:>9,}{opted_out:>10,}{unreachable:>12,}"
            f"{published:>10,}  {changes.get(name, 'none')}"
        )
    if rows and not sum(r[5] for r in rows):
        print(f"    no feed published anyone in {month}: no lift will be measured for it")
    if table_exists(con, "activation", "lift"):
        columns = {r[0] for r in con.execute("DESCRIBE activation.lift").fetchall()}
        analysis = "analysis" if "analysis" in columns else "'intent_to_treat'"
        lift = con.execute(
            f"SELECT activation_month, {analysis}, metric, treated_n, control_n, lift, ci_low, "
            "ci_high FROM activation.lift WHERE strftime(as_of_date, '%Y-%m') = ? "
            "AND segment_id = 'all' ORDER BY activation_month, metric, 2 DESC",
            [month],
        ).fetchall()
        labels = {
            "sent": ("members sent", "sent", "reachable control"),
            "intent_to_treat": ("intent to treat, sent or not", "assigned", "control"),
        }
        for activated, kind, metric, treated, control, value, low, high in lift:
            label, treated_word, control_word = labels.get(kind, (kind, "treated", "control"))
            interval = f"[{low:+.3f}, {high:+.3f}]" if low is not None else "(no interval)"
            estimate = f"{value:+.3f}" if value is not None else "n/a"
            print(
                f"    lift of the {activated:%Y-%m} activation on {metric} ({label}): "
                f"{estimate} {interval}, {treated:,} {treated_word} vs {control:,} "
                f"{control_word}"
            )
    if table_exists(con, "privacy", "erasure_log"):
        (requests, persons) = con.execute(
            "SELECT count(*), coalesce(sum(persons), 0) FROM privacy.erasure_log"
        ).fetchall()[0]
        print(f"    erasure requests processed: {requests:,} ({persons:,} persons erased)")


def _print_predictions_summary(con, month: str) -> None:
    if not table_exists(con, "predictions", "model_evaluations"):
        return
    rows = con.execute(
        "SELECT target, model, eval_month, roc_auc, pr_auc, top_decile_lift, model_version, "
        "champion_moved FROM predictions.model_evaluations WHERE strftime(as_of_date, "
        "'%Y-%m') = ? ORDER BY target, model",
        [month],
    ).fetchall()
    print(f"  predictions of {month} (MLflow experiment customer_predictions):")
    for target in sorted({"churn", "purchase"} - {r[0] for r in rows}):
        print(f"    {target:<8} no model trained for {month} (too little labelled history)")
    for target, model, evaluation, roc, pr, lift, version, moved in rows:
        extra = (
            f", version {version}, champion moved: {moved}" if model == "gradient_boosting" else ""
        )
        print(
            f"    {target:<8} {model:<18} on {evaluation}: ROC AUC {roc:.3f}, PR AUC {pr:.3f}, "
            f"top-decile lift {lift:.2f}{extra}"
        )
    if table_exists(con, "predictions", "clv_backtest"):
        for cal, end, pred, actual, error, rev_error in con.execute(
            "SELECT calibration_end, holdout_end, predicted_purchases, actual_purchases, "
            "purchases_error, revenue_error FROM predictions.clv_backtest "
            "WHERE strftime(as_of_date, '%Y-%m') = ?",
            [month],
        ).fetchall():
            print(
                f"    lifetime value backtest {cal} -> {end}: purchases predicted {pred:,.0f} "
                f"vs {actual:,.0f} actual ({error:+.1%}), revenue {rev_error:+.1%}"
            )


def _print_raw_summary(home: settings.PlatformHome) -> None:
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
        if "raw.source_loads" in tables:
            print("  landing files (read / unchanged / changed / removed; full = every file):")
            for name, mode, loaded, unchanged, changed, removed in con.execute(
                "SELECT source, mode, files_loaded, files_unchanged, files_changed, "
                "files_removed FROM raw.source_loads "
                "QUALIFY row_number() OVER (PARTITION BY source ORDER BY loaded_at DESC) = 1 "
                "ORDER BY source"
            ).fetchall():
                print(
                    f"    {'raw.' + name:<22}{mode:<12}{loaded:>5} / {unchanged} / {changed} / "
                    f"{removed}"
                )
        if "identity.profiles" in tables:
            profiles, identifiers = fetch_one(
                con, "SELECT count(*), coalesce(sum(identifiers), 0) FROM identity.profiles"
            )
            print(f"\n  identity: {profiles:,} profiles holding {identifiers:,} identifiers")
            if "identity.identity_builds" in tables:
                mode, reason, resolved, kept = fetch_one(
                    con,
                    "SELECT mode, full_reason, components_resolved, components_kept "
                    "FROM identity.identity_builds ORDER BY rowid DESC LIMIT 1",
                )
                how = f"full ({reason})" if mode == "full" else "incremental"
                print(
                    f"    graph build: {how}: {resolved:,} components resolved, {kept:,} kept "
                    "as the last build left them"
                )
            for rule, links, used, refused, hub, limit, cluster in con.execute(
                "SELECT rule, count(*), count(*) FILTER (status = 'used'), "
                "count(*) FILTER (status <> 'used'), count(*) FILTER (status = 'dropped_hub'), "
                "count(*) FILTER (status = 'dropped_limit'), "
                "count(*) FILTER (status = 'dropped_cluster') "
                "FROM identity.identity_edges GROUP BY rule ORDER BY rule"
            ).fetchall():
                print(
                    f"    {rule + ' links':<20}{links:>12,}: {used:,} used, {refused:,} refused "
                    f"({hub:,} not a bridge, {limit:,} over a limit, {cluster:,} by the "
                    "duplicate clusters' safeguards; identity.identity_edges.reason)"
                )
            for source, records, rate in con.execute(
                "SELECT source, records, match_rate FROM identity.match_rate ORDER BY source"
            ).fetchall():
                print(
                    f"    {source:<20}{records:>12,} records, {rate:>7.1%} tied to a known person"
                )


def segment_report_link(home: settings.PlatformHome) -> tuple[str, str] | None:
    """The newest segment report: the MLflow UI link that opens it (at the address
    recorded in the home, `settings.mlflow_ui_url`) and its name; None before any report."""
    if not home.warehouse.exists():
        return None
    try:
        with connect(home.warehouse, read_only=True) as con:
            if not table_exists(con, "segmentation", "candidates"):
                return None
            runs = con.execute(
                "SELECT strftime(as_of_date, '%Y-%m'), mlflow_parent_run_id "
                "FROM segmentation.candidates WHERE mlflow_parent_run_id IS NOT NULL "
                "GROUP BY ALL ORDER BY 1 DESC, max(model_version) DESC"
            ).fetchall()
    except WarehouseLockedError:
        return None
    if not runs:
        return None
    from seg_platform.core.mlflow_registry import registry_client
    from seg_platform.core.tracking import WORKFLOW_QUERY

    client = registry_client(home.mlflow_tracking_uri)
    for month, run_id in runs:
        name = f"segment_report_{month}.html"
        # A sweep whose checks failed built no segments, so no report: the month before has.
        if name not in {a.path for a in client.list_artifacts(run_id)}:
            continue
        experiment = client.get_run(run_id).info.experiment_id
        url = f"{settings.mlflow_ui_url(home)}/#/experiments/{experiment}/runs/{run_id}"
        return f"{url}/artifacts/{name}?{WORKFLOW_QUERY}", name
    return None


def print_next_steps(home: settings.PlatformHome) -> None:
    hint = lambda command: settings.command_hint(command, home)  # noqa: E731
    mlflow_ui = settings.mlflow_ui_url(home)
    report = segment_report_link(home)
    report_lines = (
        f"""
  Segment report (sizes over the months, flows, churn and value; {report[1]}):
      {report[0]}"""
        if report
        else ""
    )
    print(f"""
Next:
  Dagster UI (assets, checks, runs) -> http://127.0.0.1:3000
      {hint("ui")}
  MLflow UI (model runs) -> {mlflow_ui}
      {hint("mlflow-ui")}{report_lines}
  Segmentation candidates side by side:
      {hint("candidates")} [--month YYYY-MM]
  Query the warehouse:
      .venv/bin/python -c "import duckdb; \\
      print(duckdb.connect('{home.warehouse}', read_only=True).sql('FROM raw.quarantine'))"
  Everything lives in {home.root}; delete it to start over.""")
