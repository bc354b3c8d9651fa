"""Through the real Dagster webserver (`seg-platform ui`): the newest partition the UI offers,
launched as a user would, ends with "no data for <partition>" and a successful run, not a crash
deep in the segmentation; and the partitions offered follow the data span file."""

import datetime as dt
import json
import os
import sys
import time

import pytest

from seg_platform.core import settings
from seg_platform_tests.conftest import free_port, running_server
from seg_platform_tests.test_dagster_dev import graphql

LOCATION = {"repositoryLocationName": settings.CODE_LOCATION, "repositoryName": "__repository__"}
PARTITIONS = """query ($params: PipelineSelector!) { pipelineOrError(params: $params) {
  __typename ... on Pipeline { partitionKeysOrError { partitionKeys } } } }"""
RUN = """query ($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run {
  status tags { key value } stepStats { stepKey status } } } }"""
LOGS = """query ($runId: ID!) { logsForRun(runId: $runId, limit: 5000) { __typename
  ... on EventConnection { events { __typename ... on MessageEvent { message }
    ... on ObservationEvent { assetKey { path } metadataEntries { label
      ... on TextMetadataEntry { text } } } } } } }"""


def offered(port: int, job: str) -> list[str]:
    answer = graphql(port, PARTITIONS, params={**LOCATION, "pipelineName": job})
    return answer["pipelineOrError"]["partitionKeysOrError"]["partitionKeys"]


def launch_and_wait(port: int, job: str, partition: str, timeout: float = 300) -> str:
    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    run_id = client.submit_job_execution(
        job,
        repository_location_name=LOCATION["repositoryLocationName"],
        repository_name=LOCATION["repositoryName"],
        tags={"dagster/partition": partition},  # what the launchpad sends for a partition
    )
    deadline = time.monotonic() + timeout
    while (status := client.get_run_status(run_id).value) not in ("SUCCESS", "FAILURE"):
        assert status != "CANCELED" and time.monotonic() < deadline, status
        time.sleep(0.5)
    return run_id


def outcome(port: int, run_id: str) -> tuple[dict, list[dict]]:
    run = graphql(port, RUN, runId=run_id)["runOrError"]
    events = graphql(port, LOGS, runId=run_id)["logsForRun"]["events"]
    return run, events


@pytest.mark.e2e
def test_the_newest_offered_partition_ends_with_no_data_through_the_webserver(tmp_path):
    """No data is loaded: the UI offers months from SEG_PLATFORM_FIRST_MONTH to the last
    completed month and days to yesterday; the newest of each, launched from the webserver,
    succeeds with "no data for <partition>" and skips every step below (it used to fail in
    segment_tables with `Conversion Error: Unimplemented type for cast (DOUBLE -> "NULL")`).
    Then a load's data span file arrives and the UI offers the data's months."""
    port = free_port()
    home = settings.platform_home(tmp_path / "home")
    env = {**os.environ, settings.HOME_ENV: str(home.root)}
    for name in ("DAGSTER_HOME", settings.FIRST_MONTH_ENV, settings.SOURCES_ENV):
        env.pop(name, None)
    cmd = [sys.executable, "-m", "seg_platform.cli", "ui", "--port", str(port)]

    def loaded() -> bool:
        return bool(offered(port, "monthly_snapshot"))

    today = dt.datetime.now(dt.UTC).date()
    calendar = settings.partition_calendar(None, settings.DEFAULT_FIRST_MONTH, today)
    with running_server(cmd, env, loaded, timeout=180) as server:
        months, days = offered(port, "monthly_snapshot"), offered(port, "daily_scoring")
        assert months[-1] == f"{calendar.last_month}-01" and days[-1] == str(calendar.last_day)

        for job, partition, label, stopped in (
            ("monthly_snapshot", months[-1], calendar.last_month, "segment_tables"),
            ("daily_scoring", days[-1], days[-1], None),
        ):
            run_id = launch_and_wait(port, job, partition)
            run, events = outcome(port, run_id)
            assert run["status"] == "SUCCESS", (job, server.stderr_tail())
            assert {"key": "dagster/partition", "value": partition} in run["tags"]
            kinds = {e["__typename"] for e in events}
            assert "ExecutionStepFailureEvent" not in kinds, job
            said = [e["message"] for e in events if "no data for" in (e.get("message") or "")]
            assert said and said[0].startswith(f"no data for {label}: no landing data"), said
            observed = [e for e in events if e["__typename"] == "ObservationEvent"]
            assert observed and all(
                {"label": "outcome", "text": "no data"} in e["metadataEntries"] for e in observed
            )
            steps = {s["stepKey"]: s["status"] for s in run["stepStats"]}
            assert "FAILURE" not in steps.values(), steps
            if stopped:
                # Step keys join the asset key's parts with `__` (features/customer_features).
                assert steps["features__customer_features"] == "SUCCESS"  # ended early, said why
                assert steps[stopped] == "SKIPPED" and steps["segmentation_sweep"] == "SKIPPED"

        # A raw load writes the data span: the UI reloads and offers the data's months only.
        home.data_span_file.write_text(
            json.dumps({"first_day": "2025-10-03", "last_day": "2025-12-31"})
        )
        deadline = time.monotonic() + 60
        while offered(port, "monthly_snapshot") != ["2025-10-01", "2025-11-01", "2025-12-01"]:
            assert time.monotonic() < deadline, offered(port, "monthly_snapshot")[-3:]
            time.sleep(0.5)
        days = offered(port, "daily_scoring")
        assert (days[0], days[-1]) == ("2025-10-01", "2025-12-31")
