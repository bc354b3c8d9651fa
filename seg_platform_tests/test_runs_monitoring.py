"""A killed run does not jam the platform: it is marked failed, and the run queue moves on."""

import os
import re
import signal
import subprocess
import sys
import time

import dagster as dg
import pytest

from seg_platform import run_guard
from seg_platform.core import settings
from seg_platform.synthetic.company import generate
from seg_platform_tests.conftest import free_port, running_server

# A step's line as `seg-platform run` prints it (test_progress.py).
STEP = re.compile(r"^    (\S+) +([\d.]+) s  (.*)$")
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE}
OLD_DAGSTER_YAML = """\
# Written by seg_platform: a local Dagster instance (sqlite storage in this folder).
telemetry:
  enabled: false
# One run at a time: DuckDB allows a single writer per warehouse file.
concurrency:
  runs:
    max_concurrent_runs: 1
"""


def test_an_existing_home_gets_run_monitoring(tmp_path):
    """Homes made before run monitoring get it; a dagster.yaml of the user's is left alone."""
    home = settings.platform_home(tmp_path / "home")
    home.dagster_home.mkdir(parents=True)
    (home.dagster_home / "dagster.yaml").write_text(OLD_DAGSTER_YAML)
    home.ensure()
    with dg.DagsterInstance.from_config(str(home.dagster_home)) as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_launcher.supports_check_run_worker_health

    mine = "telemetry:\n  enabled: false\n"
    (home.dagster_home / "dagster.yaml").write_text(mine)
    home.ensure()
    assert (home.dagster_home / "dagster.yaml").read_text() == mine


def test_started_runs_whose_process_is_gone_are_failed(tmp_path):
    """The check the daemon and the CLI share: a dead PID fails the run, a live one does not."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with dg.DagsterInstance.ephemeral() as instance:
        dead = instance.add_run(
            dg.DagsterRun(
                job_name="refresh_current_tables",
                status=dg.DagsterRunStatus.STARTED,
                tags={run_guard.PID_TAG: str(gone.pid)},
            )
        )
        alive = instance.add_run(
            dg.DagsterRun(
                job_name="refresh_current_tables",
                status=dg.DagsterRunStatus.STARTED,
                tags=run_guard.cli_run_tags(),
            )
        )
        assert run_guard.fail_dead_runs(instance) == [dead.run_id]
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED
        events = instance.all_logs(dead.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert f"pid {gone.pid}" in events[0].message


@pytest.fixture
def company(tmp_path):
    out = tmp_path / "company"
    generate(customers=300, months=3, seed=7, out=out)
    return out / "landing" / "sources.yaml"


def cli_env(home: settings.PlatformHome, sources) -> dict:
    env = {**os.environ, settings.HOME_ENV: str(home.root), settings.SOURCES_ENV: str(sources)}
    env.pop("DAGSTER_HOME", None)
    return env


def kill_a_cli_run(home: settings.PlatformHome, sources) -> str:
    """Start `seg-platform run`, SIGKILL it while its first Dagster run executes; its run id."""
    home.ensure()
    runner = subprocess.Popen(
        [sys.executable, "-m", "seg_platform.cli", "run"],
        env=cli_env(home, sources),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with dg.DagsterInstance.from_config(str(home.dagster_home)) as instance:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and runner.poll() is None:
                runs = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
                if runs:
                    runner.send_signal(signal.SIGKILL)
                    runner.wait()
                    run_id = runs[0].run_id
                    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
                    return run_id
                time.sleep(0.1)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    pytest.fail(f"no started run to kill (exit code {runner.returncode})")


@pytest.mark.e2e
def test_the_cli_fails_a_killed_run_and_goes_on(tmp_path, company):
    """The run after it goes on, `--quiet`: what that leaves is checked here too (the step
    lines are test_progress.py's), so the suite runs the pipeline once less."""
    home = settings.platform_home(tmp_path / "home")
    killed = kill_a_cli_run(home, company)

    again = subprocess.run(
        [sys.executable, "-m", "seg_platform.cli", "run", "--last-months", "1", "--quiet"],
        env=cli_env(home, company),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert f"Run {killed} was left started by a process that is gone" in again.stdout
    assert "Traceback" not in again.stderr
    # --quiet leaves only the summaries.
    assert again.returncode == 0, again.stdout + again.stderr
    assert not [line for line in again.stdout.splitlines() if STEP.match(line)]
    assert "Month 2025-12" not in again.stdout and "done in" not in again.stdout
    assert "The pipeline succeeded." in again.stdout
    assert "Monthly snapshots built: 2025-12" in again.stdout  # the summaries stay
    with dg.DagsterInstance.from_config(str(home.dagster_home)) as instance:
        assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE
        later = [r for r in instance.get_runs() if r.run_id != killed]
        assert later and all(r.status in FINISHED for r in later)


LAUNCH = """mutation ($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) { __typename
    ... on LaunchRunSuccess { run { runId status } } ... on PythonError { message } } }"""
LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"""


@pytest.mark.e2e
def test_a_killed_run_does_not_hold_the_queue(tmp_path, company):
    """With one run at a time, a run left STARTED by a killed process held the only slot: runs
    launched from the UI, the schedule and the sensor queued forever. The run monitoring daemon
    of `seg-platform ui` now fails the dead run and the queued run starts."""
    from seg_platform_tests.test_dagster_dev import graphql

    home = settings.platform_home(tmp_path / "home")
    killed = kill_a_cli_run(home, company)
    port = free_port()
    cmd = [sys.executable, "-m", "seg_platform.cli", "ui", "--port", str(port)]

    entries = []

    def loaded() -> bool:
        entries[:] = graphql(port, LOCATIONS)["workspaceOrError"]["locationEntries"]
        return entries[0]["loadStatus"] == "LOADED"

    with running_server(cmd, cli_env(home, company), loaded, timeout=180):
        params = {
            "selector": {
                "repositoryLocationName": entries[0]["name"],
                "repositoryName": "__repository__",
                "pipelineName": "refresh_current_tables",
            },
        }
        launched = graphql(port, LAUNCH, params=params)["launchPipelineExecution"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        queued = launched["run"]["runId"]
        with dg.DagsterInstance.from_config(str(home.dagster_home)) as instance:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                if instance.get_run_by_id(queued).status in FINISHED:
                    break
                time.sleep(0.5)
            dead = instance.get_run_by_id(killed)
            assert dead.status == dg.DagsterRunStatus.FAILURE
            failure = instance.all_logs(killed, of_type=dg.DagsterEventType.RUN_FAILURE)
            assert "is gone" in failure[0].message
            # The queue moved: the run launched from the UI ran to the end.
            assert instance.get_run_by_id(queued).status in FINISHED
            assert instance.get_run_record_by_id(queued).start_time is not None
