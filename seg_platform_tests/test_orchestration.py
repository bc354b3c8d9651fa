"""The monthly schedule and the landing-file sensors, evaluated as the daemon would."""

import datetime as dt

import dagster as dg

from seg_platform.core import settings
from seg_platform.definitions import CURRENT_JOB, DAILY_JOB, MONTHLY_JOB, defs, make_definitions
from seg_platform.synthetic.company import generate


def test_schedule_refreshes_the_tables_on_the_first_of_the_month():
    schedule = defs.resolve_schedule_def("monthly_resegmentation")
    assert schedule.cron_schedule == "0 3 1 * *"
    assert schedule.job_name == CURRENT_JOB
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED  # switched on by people
    context = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2026, 1, 1, 3))
    request = schedule.evaluate_tick(context).run_requests[0]
    assert request.run_key == "monthly-2026-01"


def test_new_landing_files_trigger_a_refresh(home, tmp_path, monkeypatch):
    company = tmp_path / "company"
    generate(customers=50, months=2, seed=3, out=company)
    monkeypatch.setenv(settings.SOURCES_ENV, str(company / "landing" / "sources.yaml"))
    sensor = defs.resolve_sensor_def("new_landing_files")
    with dg.DagsterInstance.ephemeral() as instance:
        first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert len(first.run_requests) == 1 and first.cursor
        again = sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, cursor=first.cursor)
        )
        assert not again.run_requests and "No new or changed" in again.skip_message
        # A new delivery: another file where the source's pattern looks.
        folder = company / "landing" / "web_events"
        first_file = sorted(folder.iterdir())[0]
        (folder / f"late_{first_file.name}").write_bytes(first_file.read_bytes())
        changed = sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, cursor=first.cursor)
        )
        assert len(changed.run_requests) == 1 and changed.cursor != first.cursor

    # Missing sources.yaml: the sensor says why instead of failing.
    monkeypatch.setenv(settings.SOURCES_ENV, str(tmp_path / "nowhere.yaml"))
    with dg.DagsterInstance.ephemeral() as instance:
        skipped = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert not skipped.run_requests and "No sources.yaml" in skipped.skip_message


def test_refresh_success_builds_the_latest_month(home, tmp_path, monkeypatch):
    company = tmp_path / "company"
    generate(customers=300, months=3, seed=7, out=company)
    monkeypatch.setenv(settings.SOURCES_ENV, str(company / "landing" / "sources.yaml"))
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(CURRENT_JOB).execute_in_process(instance=instance)
        assert result.success
        # The load recorded how far the data reaches, and the partitions now follow it: the
        # generated 3 months, not every month from 2025-01 to the wall-clock's last one.
        span = settings.read_data_span(home.data_span_file)
        assert (f"{span.first_day:%Y-%m}", f"{span.last_day:%Y-%m}") == ("2025-10", "2025-12")
        monthly = make_definitions().resolve_job_def(MONTHLY_JOB).partitions_def
        assert monthly.get_partition_keys() == ["2025-10-01", "2025-11-01", "2025-12-01"]
        daily = make_definitions().resolve_job_def(DAILY_JOB).partitions_def.get_partition_keys()
        assert (daily[0], daily[-1]) == ("2025-10-01", f"{span.last_day}")
        sensor = defs.resolve_sensor_def("build_latest_month_after_refresh")
        assert sensor.job_name == MONTHLY_JOB
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_event=result.get_run_success_event(),
            dagster_instance=instance,
            dagster_run=result.dagster_run,
        )
        request = sensor(context)
        assert request.partition_key == "2025-12-01"


def test_a_month_after_the_data_ends_with_no_data_not_a_failure(home, tmp_path, monkeypatch):
    """The issue's case: a UI loaded before the data arrived offers the calendar's months; the
    newest, after the data, is launched once the data is loaded. Its snapshot ends with "no
    data for 2026-..": the run succeeds and nothing below the features runs (it failed in
    segment_tables with a DuckDB conversion error). A home loaded before data_span.json
    existed gets the span measured from its raw tables, and the file written."""
    company = tmp_path / "company"
    generate(customers=60, months=2, seed=5, out=company)
    monkeypatch.setenv(settings.SOURCES_ENV, str(company / "landing" / "sources.yaml"))
    before = make_definitions()  # no data yet: 2025-01 .. the last completed month
    newest = before.resolve_job_def(MONTHLY_JOB).partitions_def.get_partition_keys()[-1]
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    with dg.DagsterInstance.ephemeral() as instance:
        assert dg.materialize(
            list(before.assets), selection=dg.AssetSelection.groups("raw"),
            resources=before.resources, instance=instance, run_config=quiet,
        ).success  # the raw load writes the span  # fmt: skip
        home.data_span_file.unlink()  # as in a home loaded by an older version
        result = before.resolve_job_def(MONTHLY_JOB).execute_in_process(
            instance=instance, partition_key=newest, raise_on_error=False, run_config=quiet
        )
    assert result.success
    assert not result.get_asset_materialization_events()
    steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
    assert steps == {"features__customer_features"}, steps  # features/customer_features
    observed = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    metadata = observed[0].event_specific_data.asset_observation.metadata
    assert metadata["no_data"].value.startswith(
        f"no data for {newest[:7]}: the landing data covers 2025-11-01 .. 2025-12-"
    )
    assert settings.read_data_span(home.data_span_file).last_day.isoformat() >= "2025-12-01"


def test_the_cli_runs_over_the_span_its_load_wrote(home):
    """`seg-platform run` loads the definitions before the load writes the data span: it then
    takes definitions over the new span, here months the fallback calendar (from 2025-01)
    does not have."""
    from seg_platform.runner import current_definitions

    home.data_span_file.write_text('{"first_day": "2024-05-20", "last_day": "2024-06-30"}')
    fresh = current_definitions(defs)
    monthly = fresh.resolve_job_def(MONTHLY_JOB).partitions_def.get_partition_keys()
    assert monthly == ["2024-05-01", "2024-06-01"]
    daily = fresh.resolve_job_def(DAILY_JOB).partitions_def.get_partition_keys()
    assert (daily[0], daily[-1], len(daily)) == ("2024-05-01", "2024-06-30", 61)
    assert current_definitions(fresh) is fresh  # unchanged span: nothing rebuilt


def freshness(instance, key: str, now: dt.datetime) -> str:
    """The freshness state the daemon would record for asset `key` (`segments/...`) at `now`."""
    import asyncio

    from dagster._core.definitions.freshness_evaluator import FRESHNESS_EVALUATORS_BY_POLICY_TYPE
    from dagster._core.loader import LoadingContextForTest
    from dagster._core.test_utils import freeze_time

    node = defs.resolve_asset_graph().get(dg.AssetKey.from_user_string(key))
    evaluator = FRESHNESS_EVALUATORS_BY_POLICY_TYPE[type(node.freshness_policy)]()
    with freeze_time(now):
        state = asyncio.run(evaluator.evaluate_freshness(LoadingContextForTest(instance), node))
    return state.value


def built(instance, key: str, at: dt.datetime, partition: str) -> None:
    from dagster._core.test_utils import freeze_time

    with freeze_time(at):
        materialization = dg.AssetMaterialization(
            dg.AssetKey.from_user_string(key), partition=partition
        )
        instance.report_runless_asset_event(materialization)


def test_this_months_segments_are_late_until_built_after_the_monthly_schedule():
    """Due 30 h after the monthly schedule's tick (1st, 03:00 UTC): the 2nd at 09:00 UTC."""
    utc = dt.UTC
    due = dt.datetime(2026, 2, 2, 9, 0, 1, tzinfo=utc)
    key = "segments/segment_profiles"
    with dg.DagsterInstance.ephemeral() as instance:
        assert freshness(instance, key, due) == "UNKNOWN"  # never built
        built(instance, key, dt.datetime(2026, 1, 1, 6, tzinfo=utc), "2025-12-01")
        assert freshness(instance, key, due - dt.timedelta(seconds=2)) == "PASS"
        assert freshness(instance, key, due) == "FAIL"  # January's run is late
        built(instance, key, dt.datetime(2026, 2, 1, 5, tzinfo=utc), "2026-01-01")
        assert freshness(instance, key, due) == "PASS"
        assert freshness(instance, key, due + dt.timedelta(days=28)) == "FAIL"


def test_the_days_scores_are_late_three_hours_after_the_daily_schedule():
    """Due 3 h after the daily schedule's tick (05:00 UTC); only the segment tables and the
    daily scores carry a freshness policy."""
    utc = dt.UTC
    day = dt.datetime(2026, 3, 5, tzinfo=utc)
    key = "predictions/daily_customer_scores"
    with dg.DagsterInstance.ephemeral() as instance:
        built(instance, key, day - dt.timedelta(hours=18), "2026-03-03")
        before, after = day.replace(hour=7, minute=59), day.replace(hour=8, minute=1)
        assert freshness(instance, key, before) == "PASS"
        assert freshness(instance, key, after) == "FAIL"
    graph = defs.resolve_asset_graph()
    with_policy = {k.to_user_string() for k in graph.get_all_asset_keys()
                   if graph.get(k).freshness_policy}  # fmt: skip
    assert with_policy == {
        "segmentation/customer_segments", "segments/segment_assignments",
        "segments/segment_profiles", "segments/segment_migration",
        "predictions/daily_customer_scores",
    }  # fmt: skip
