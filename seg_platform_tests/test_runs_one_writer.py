"""A second run on a home that is being written to stops with one line, before any Dagster run;
the first run's own lines are checked too (test_progress.py), so the suite runs it once."""

import json
import subprocess
import sys
import time

import dagster as dg
import pytest

from seg_platform import run_guard
from seg_platform.core import settings
from seg_platform_tests.test_progress import assert_run_prints_steps_and_months
from seg_platform_tests.test_runs_monitoring import cli_env, company  # noqa: F401 (fixture)


@pytest.mark.e2e
def test_a_second_run_says_who_holds_the_warehouse(tmp_path, company):  # noqa: F811
    home = settings.platform_home(tmp_path / "home").ensure()
    env = cli_env(home, company)
    first = subprocess.Popen(
        [sys.executable, "-m", "seg_platform.cli", "run", "--last-months", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Wait until the first command's Dagster run executes (not on a file of ours, so that
        # the test shows what the old code did: a second run that started and failed).
        deadline = time.monotonic() + 120
        with dg.DagsterInstance.from_config(str(home.dagster_home)) as instance:
            while not instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
                assert first.poll() is None, first.communicate()
                assert time.monotonic() < deadline, "the first run never started"
                time.sleep(0.1)
        second = subprocess.run(
            [sys.executable, "-m", "seg_platform.cli", "run", "--last-months", "1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert first.poll() is None, "the first run ended before the second was refused"
    finally:
        out, err = first.communicate(timeout=600)

    assert second.returncode == 3, second.stdout + second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
    assert lines[0].startswith("error: the warehouse is in use by run "), lines[0]
    holder = json.loads((home.root / run_guard.LOCK_FILE).read_text())
    assert "`seg-platform run`" in lines[0] and f"since {holder['since']}" in lines[0]
    with dg.DagsterInstance.from_config(str(home.dagster_home)) as instance:
        runs = instance.get_runs()
    named = lines[0].removeprefix("error: the warehouse is in use by run ").split()[0]
    assert named in {r.run_id for r in runs}
    # The refused command created no Dagster run: every run is the first command's.
    assert all(r.tags.get(run_guard.PID_TAG) == str(first.pid) for r in runs), runs
    assert first.returncode in (0, 1), err  # (1: a failed step; it was never interrupted)
    # The first run is the one test_progress.py reads: its step and month lines.
    assert_run_prints_steps_and_months(first.returncode, out, err, home)
