"""Automation: the monthly re-segmentation schedule and the landing-file sensors.

- `monthly_resegmentation` (schedule, off until switched on): on the 1st of each month at
  03:00 UTC it refreshes the current tables from the landing files, then the run-status sensor
  below builds the month that just ended.
- `new_landing_files` (sensor, off until switched on): when a landing file of sources.yaml is
  added or changes (name, size or modification time), it requests `refresh_current_tables`.
- `daily_scoring_schedule` (schedule, off until switched on): every day at 05:00 UTC, scores
  the day that ended (new customers' segments, changed customers' propensities, overlays).
- `build_latest_month_after_refresh` (run-status sensor): after every successful
  `refresh_current_tables` run, requests `monthly_snapshot` for the latest month with events,
  so the new month's features, segments and champion follow new data without anyone clicking.

Switch them on in the UI (Automation) or with `SEG_PLATFORM_AUTOMATION=on` in the environment
of `dagster dev` / the daemon.

Freshness policies tied to those schedules say when a table is late (`with_freshness_policies`);
the daemon's freshness evaluation shows it on each asset (PASS, FAIL; UNKNOWN if never built).
"""

import hashlib
import json
import os
from datetime import timedelta

import dagster as dg

from seg_platform.core import settings
from seg_platform.core.calendar import month_key
from seg_platform.core.partitions import months_to_build
from seg_platform.core.warehouse import connect
from seg_platform.sources.config import SourceConfigError, load_sources_config
from seg_platform.sources.span import data_span

AUTOMATION_ENV = "SEG_PLATFORM_AUTOMATION"
MONTHLY_HOUR = 3  # UTC, on the 1st: the monthly re-segmentation schedule
DAILY_HOUR = 5  # UTC: the daily scoring schedule
# The month's segments are late when nothing has been built since the monthly schedule's tick
# this many hours after it (the refresh, then the month's snapshot run, with room for a retry).
MONTHLY_GRACE_HOURS = 30
DAILY_GRACE_HOURS = 3  # the day's scores likewise, after the daily schedule's tick
# The monthly segment tables and the daily scores: what teams act on, so what must not be late.
MONTHLY_FRESH = {
    "customer_segments", "segment_assignments", "segment_profiles", "segment_migration"
}  # fmt: skip
DAILY_FRESH = {"daily_customer_scores"}


def _deadline_cron(hour: int, grace_hours: int, monthly: bool) -> str:
    """The cron of the moment `grace_hours` after a schedule's tick at `hour` (monthly: on the
    1st)."""
    due = hour + grace_hours
    if monthly:
        return f"0 {due % 24} {1 + due // 24} * *"
    if due >= 24:
        raise ValueError("a daily schedule's grace must end on the same day")
    return f"0 {due} * * *"


MONTHLY_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron=_deadline_cron(MONTHLY_HOUR, MONTHLY_GRACE_HOURS, monthly=True),
    lower_bound_delta=timedelta(hours=MONTHLY_GRACE_HOURS),
)
DAILY_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron=_deadline_cron(DAILY_HOUR, DAILY_GRACE_HOURS, monthly=False),
    lower_bound_delta=timedelta(hours=DAILY_GRACE_HOURS),
)


def with_freshness_policies(assets: list) -> list:
    """The monthly segment tables due `MONTHLY_GRACE_HOURS` after the monthly schedule's tick,
    the daily scores `DAILY_GRACE_HOURS` after the daily one: built before the tick, they are
    late (FAIL) from that deadline until they are built again."""

    def policy(spec: dg.AssetSpec) -> dg.AssetSpec:
        name = spec.key.path[-1]  # the table name, with or without a layer prefix
        if name in MONTHLY_FRESH:
            return spec.replace_attributes(freshness_policy=MONTHLY_FRESHNESS)
        if name in DAILY_FRESH:
            return spec.replace_attributes(freshness_policy=DAILY_FRESHNESS)
        return spec

    return list(dg.map_asset_specs(policy, assets))


def _default_status() -> dg.DefaultScheduleStatus:
    on = os.environ.get(AUTOMATION_ENV, "").lower() in ("1", "on", "true", "yes")
    return dg.DefaultScheduleStatus.RUNNING if on else dg.DefaultScheduleStatus.STOPPED


def _default_sensor_status() -> dg.DefaultSensorStatus:
    on = _default_status() == dg.DefaultScheduleStatus.RUNNING
    return dg.DefaultSensorStatus.RUNNING if on else dg.DefaultSensorStatus.STOPPED


def landing_fingerprint(config_path) -> str:
    """A digest of every configured landing file's name, size and modification time."""
    try:
        config = load_sources_config(config_path)
    except SourceConfigError as exc:
        return f"error: {exc}"
    entries = []
    for source in config.sources.values():
        try:
            files = source.files()
        except SourceConfigError:
            files = []
        for path in files:
            stat = path.stat()
            entries.append([str(path), stat.st_size, stat.st_mtime_ns])
    return hashlib.sha256(json.dumps(sorted(entries)).encode()).hexdigest()


def build_automation(refresh_job_name: str, monthly_job_name: str):
    """The schedule and sensors over the refresh and monthly jobs (by name)."""

    @dg.schedule(
        name="monthly_resegmentation",
        cron_schedule=f"0 {MONTHLY_HOUR} 1 * *",
        job_name=refresh_job_name,
        default_status=_default_status(),
        description="On the 1st of each month: refresh the current tables from the landing "
        "files; `build_latest_month_after_refresh` then re-segments the month that ended.",
    )
    def monthly_resegmentation(context: dg.ScheduleEvaluationContext):
        tick = context.scheduled_execution_time
        return dg.RunRequest(run_key=f"monthly-{month_key(tick)}", tags={"trigger": "schedule"})

    @dg.sensor(
        name="new_landing_files",
        job_name=refresh_job_name,
        minimum_interval_seconds=60,
        default_status=_default_sensor_status(),
        description="Requests a refresh of the current tables when a landing file of "
        "sources.yaml is added or changes.",
    )
    def new_landing_files(context: dg.SensorEvaluationContext):
        fingerprint = landing_fingerprint(settings.sources_config_path())
        if fingerprint.startswith("error: "):
            return dg.SkipReason(fingerprint.removeprefix("error: "))
        if fingerprint == context.cursor:
            return dg.SkipReason("No new or changed landing file.")
        context.update_cursor(fingerprint)
        return dg.RunRequest(run_key=fingerprint, tags={"trigger": "new_landing_files"})

    return monthly_resegmentation, new_landing_files


def build_follow_up(refresh_job, monthly_job):
    """After a successful refresh, build the latest month with events."""

    @dg.run_status_sensor(
        name="build_latest_month_after_refresh",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[refresh_job],
        request_job=monthly_job,
        default_status=_default_sensor_status(),
        description="After `refresh_current_tables` succeeds, builds the latest month with "
        "events (features, segmentation, segment tables, champion).",
    )
    def build_latest_month_after_refresh(context: dg.RunStatusSensorContext):
        with connect(settings.platform_home().warehouse) as con:
            first, last_seen = data_span(con)
        months, note = months_to_build(first, last_seen, last=1)
        if not months:
            return dg.SkipReason(note or "No month with events to build.")
        run_id = context.dagster_run.run_id
        return dg.RunRequest(run_key=f"{run_id}-{months[-1]}", partition_key=months[-1])

    return build_latest_month_after_refresh


def build_daily_schedule(daily_job):
    """Every day at 05:00 UTC: daily scoring of the day that ended."""
    return dg.build_schedule_from_partitioned_job(
        daily_job,
        hour_of_day=DAILY_HOUR,
        name="daily_scoring_schedule",
        default_status=_default_status(),
        description="Every day at 05:00 UTC, scores the day that ended: segments for new "
        "customers, refreshed propensities, overlays (no re-fit).",
    )
