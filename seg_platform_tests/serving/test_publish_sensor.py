"""Runs launched from the Dagster UI or a schedule publish the profile service's snapshot as
`seg-platform run` does: the `publish_serving_snapshot` run-status sensor."""

import shutil

import dagster as dg
import duckdb

from seg_platform.core.serving import current_version, read_manifest, serving_root
from seg_platform.definitions import CURRENT_JOB, DAILY_JOB, MONTHLY_JOB, defs
from seg_platform.orchestration import publish_serving


def test_the_sensor_follows_every_job_that_builds_tables_and_is_on():
    sensor = defs.resolve_sensor_def("publish_serving_snapshot")
    assert isinstance(sensor, dg.RunStatusSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    # Dagster keeps the monitored jobs privately (no public accessor in 1.13).
    monitored = {job.name for job in sensor._monitored_jobs}
    assert monitored == {CURRENT_JOB, MONTHLY_JOB, DAILY_JOB}


def test_publishing_after_a_run_writes_a_snapshot_and_a_busy_warehouse_keeps_the_last(demo_copy):
    home, _ = demo_copy
    root = serving_root(home.root)
    shutil.rmtree(root, ignore_errors=True)

    outcome = publish_serving(home)
    assert outcome.skip_message.startswith("serving snapshot published")
    first = current_version(root)
    assert first is not None and read_manifest(first)

    # A run holding the warehouse: nothing is published, the snapshot served stays.
    writer = duckdb.connect(str(home.warehouse))
    try:
        outcome = publish_serving(home)
    finally:
        writer.close()
    assert outcome.skip_message.startswith("serving snapshot not published")
    assert current_version(root) == first
