"""The Dagster UI in a real browser: launch `full_pipeline` for one month, watch it succeed.

A small synthetic company, `seg-platform ui` (the webserver behind its cross-site request guard,
and the daemon, whose run queue launches the run) on a temporary platform home, and
Debian's Chromium (/usr/bin/chromium) driven by Playwright: the job's launchpad, the month picked
in the partition box, "Launch Run", then the run page until the run has finished. The segment
tables of that month must then be in the warehouse. No browser is ever downloaded: without
/usr/bin/chromium the test is skipped locally and fails in CI (`$CI` set; .ci/run installs it).
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect, sync_playwright

from seg_platform.core import settings
from seg_platform.core.warehouse import connect
from seg_platform.definitions import MAIN_JOB
from seg_platform.synthetic.company import generate
from seg_platform_tests.conftest import REPO, free_port

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_CHROMIUM = "sudo apt-get install -y chromium chromium-driver"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Tables that must exist and hold rows for the materialized month (by their MONTH_COLUMN).
# (segment_migration is empty in the first month built: nobody had a segment before.)
SEGMENT_TABLES = (
    "features.customer_features",
    "segmentation.customer_segments",
    "segments.segment_assignments",
    "segments.segment_profiles",
    "predictions.customer_predictions",
    "predictions.customer_value",
)
MONTH_COLUMN = "as_of_date"

ARTIFACTS_ENV = "SEG_PLATFORM_TEST_ARTIFACTS"
SERVER_TIMEOUT = 150  # s until `seg-platform ui` has loaded the code location (~25 s)
RUN_TIMEOUT = 360  # s for the run: ~75 s on an idle 2-core machine, ~130 s on a busy one
UI_TIMEOUT_MS = 60_000  # per browser action: the UI is slow when the machine is busy
# The run page's title ends with the run's status: "Runs | full_pipeline | 1a2b3c4d [SUCCESS]".
TITLE_STATUS = re.compile(r"\[([A-Z_]+)\]\s*$")
TITLE_FINISHED = r"() => /\[(SUCCESS|FAILURE|CANCELED)\]\s*$/.test(document.title)"

LOCATION_QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
STEPS_QUERY = """query ($runId: ID!) { runOrError(runId: $runId) { __typename
  ... on Run { status stepStats { stepKey status } } } }"""


@pytest.fixture
def company(tmp_path) -> dict:
    """A small synthetic company: the generator's summary, and its folder under "out"."""
    out = tmp_path / "company"
    return {**generate(customers=300, months=4, seed=7, out=out), "out": out}


@pytest.mark.e2e
def test_full_pipeline_launched_from_the_dagster_ui(tmp_path, company):
    chromium = require_chromium()
    month = company["end_month"]  # the latest month of data, e.g. 2025-12
    partition = f"{month}-01"
    year, number = map(int, month.split("-"))
    previous = f"{year - (number == 1)}-{(number - 2) % 12 + 1:02d}-01"
    artifacts = artifacts_dir()
    home = settings.platform_home(tmp_path / "home").ensure()
    sources = company["out"] / "landing" / "sources.yaml"

    with dagster_dev(home, sources, tmp_path / "dagster-dev.log") as (url, server_log):
        # The newsletter dialog a fresh instance shows its first visitor, at any moment, can
        # swallow a click: tell the instance it was seen (what its "Skip" button does).
        assert graphql(url, "mutation { setNuxSeen }")["setNuxSeen"] is True
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(UI_TIMEOUT_MS)
            run_id = status = None
            outcome = "_error"
            try:
                # The month before first, so the segment sizes have two months to plot.
                before, before_status = launch_and_watch(page, url, previous)
                assert before_status == "SUCCESS", (
                    f"run {before} for {previous}: {failed_steps(url, before)}"
                )
                run_id, status = launch_and_watch(page, url, partition)
                outcome = "" if status == "SUCCESS" else "_" + re.sub(r"\W+", "_", status.lower())
            finally:
                shot = artifacts / f"dagster_ui_{MAIN_JOB}_{month}{outcome}.png"
                try:
                    page.screenshot(path=str(shot))
                except PlaywrightError:
                    pass  # never hide the error that brought us here
                browser.close()
        assert status == "SUCCESS", (
            f"run {run_id} of {MAIN_JOB} for {partition}: status {status} in the UI "
            f"({failed_steps(url, run_id)}; screenshot {shot}); seg-platform ui log:\n"
            f"{tail(server_log)}"
        )
        assert shot.stat().st_size > 10_000
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(UI_TIMEOUT_MS)
            try:
                tour_segment_assets(page, url, artifacts)
            finally:
                browser.close()

    # The server is stopped: nothing holds the warehouse any more.
    counts = month_row_counts(home.warehouse, partition)
    empty = sorted(table for table, rows in counts.items() if not rows)
    assert not empty, f"no rows for {month} in {empty} (rows per table: {counts})"


def tour_segment_assets(page: Page, url: str, artifacts: Path) -> None:
    """What a user looks at after the runs, each page saved as a screenshot: the segments
    group's asset graph; `segment_profiles` with its column schema (DuckDB types, meanings);
    its plots of the segment sizes and shares across the two months built."""
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"),
        lambda: page.get_by_role("button", name="Skip").click(),
    )
    page.goto(f"{url}/locations/seg_platform/asset-groups/segments")
    for name in ("segment_assignments", "segment_profiles", "segmentation_champion"):
        expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)
    page.screenshot(path=str(artifacts / "dagster_ui_segments_graph.png"))

    page.goto(f"{url}/assets/segments/segment_profiles")  # the key segments/segment_profiles
    columns = page.get_by_text("distinguishing_features", exact=True).first
    expect(columns).to_be_visible(timeout=UI_TIMEOUT_MS)
    columns.scroll_into_view_if_needed()
    expect(page.get_by_text("VARCHAR[]", exact=True).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Its share of the month's")).first).to_be_attached()
    page.screenshot(path=str(artifacts / "dagster_ui_segment_profiles_columns.png"))

    # The metadata section's "Plots" view: one plot per numeric entry across the partitions.
    page.get_by_role("button", name=re.compile("Plots")).first.click()
    try:
        expect(page.get_by_text(re.compile(r"^share_pct/")).first).to_be_visible(
            timeout=UI_TIMEOUT_MS
        )
        expect(page.get_by_text(re.compile(r"^size/")).first).to_be_visible()
    finally:
        page.screenshot(path=str(artifacts / "dagster_ui_segment_sizes_over_months.png"))


def launch_and_watch(page: Page, url: str, partition: str) -> tuple[str, str]:
    """Launch the main job for `partition` from its launchpad; wait on the run page until the
    run has finished. Returns the run id and its final status (SUCCESS, FAILURE, ...)."""
    # A fresh instance greets its first visitor with a newsletter dialog, at any moment.
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"),
        lambda: page.get_by_role("button", name="Skip").click(),
    )
    page.goto(f"{url}/locations/seg_platform/jobs/{MAIN_JOB}/playground")
    box = page.get_by_placeholder("Partition")
    box.click()
    box.fill(partition)
    page.get_by_role("menuitem", name=partition, exact=True).click()
    # The run config is regenerated for the partition; its tag shows once that is done.
    partition_tag = page.get_by_text(f"partition: {partition}", exact=True).first
    expect(partition_tag).to_be_visible(timeout=UI_TIMEOUT_MS)
    launch = page.get_by_role("button", name="Launch Run")
    expect(launch).to_be_enabled(timeout=UI_TIMEOUT_MS)
    launch.click()

    # The UI opens the new run's page.
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    run_id = page.url.rsplit("/", 1)[-1]
    expect(partition_tag).to_be_visible(timeout=UI_TIMEOUT_MS)
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        try:
            page.wait_for_function(TITLE_FINISHED, timeout=30_000)
            break
        except PlaywrightError:
            if time.monotonic() > deadline:
                break
            page.reload()  # in case a live update was missed
    match = TITLE_STATUS.search(page.title())
    status = match.group(1) if match else f"unknown (page title {page.title()!r})"
    if status == "SUCCESS":
        expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)
        # Let the run's event log load, so the screenshot shows the steps that ran.
        try:
            expect(page.get_by_text("Loading run logs")).to_have_count(0, timeout=60_000)
        except (AssertionError, PlaywrightError):
            pass  # only the picture is poorer; the run's status is what the test asserts
    return run_id, status


def require_chromium() -> Path:
    """Debian's Chromium; skips the test without it, or fails it when $CI is set."""
    if CHROMIUM.exists():
        return CHROMIUM
    reason = (
        f"the Dagster UI browser test needs Debian's Chromium at {CHROMIUM}; "
        f"install it with `{INSTALL_CHROMIUM}` (.ci/run does this in CI)"
    )
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"CI is set but {reason}", pytrace=False)
    pytest.skip(reason)


def artifacts_dir() -> Path:
    folder = Path(os.environ.get(ARTIFACTS_ENV) or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def dagster_dev(
    home: settings.PlatformHome, sources: Path, log_path: Path
) -> Iterator[tuple[str, Path]]:
    """`seg-platform ui` on `home`, reading `sources`, in its own process group;
    yields its URL once the code location is loaded, and its log. Always stopped afterwards."""
    env = {
        **os.environ,
        settings.HOME_ENV: str(home.root),
        "DAGSTER_HOME": str(home.dagster_home),
        settings.SOURCES_ENV: str(sources),
    }
    env.pop("SEG_PLATFORM_FIRST_MONTH", None)  # the default partitions: 2025-01 to last month
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "seg_platform.cli", "ui", "--port", str(port)]
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: every child stops with it
            preexec_fn=_default_stop_signals,
        )
    try:
        _wait_until_loaded(server, url, log_path)
        yield url, log_path
    finally:
        _stop_group(server)


def _default_stop_signals() -> None:
    # Started from a shell's background job, SIGINT would be ignored, and stay ignored in the
    # server's children, which would then outlive the shutdown the server relays to them.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def _wait_until_loaded(server: subprocess.Popen, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_TIMEOUT
    while True:
        if server.poll() is not None:
            pytest.fail(f"seg-platform ui exited with {server.returncode}:\n{tail(log_path)}")
        try:
            entries = graphql(url, LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
        except (OSError, KeyError, TypeError, ValueError):
            entries = []  # not answering yet
        if entries and entries[0]["loadStatus"] == "LOADED":
            location = entries[0]["locationOrLoadError"]
            assert location["__typename"] == "RepositoryLocation", location
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"seg-platform ui did not load the workspace within {SERVER_TIMEOUT} s:\n"
                f"{tail(log_path)}"
            )
        time.sleep(0.25)


def _stop_group(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group; SIGKILL to whatever is left after 30 s."""
    _signal_group(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _group_alive(server.pid):
        server.poll()  # reap the leader, or the group never looks empty
        time.sleep(0.5)
    if _group_alive(server.pid):
        _signal_group(server.pid, signal.SIGKILL)
    server.wait(timeout=30)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def graphql(url: str, query: str, **variables) -> dict:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


def failed_steps(url: str, run_id: str | None) -> str:
    """The run's status and its steps that did not succeed, as the server reports them."""
    if run_id is None:
        return "no run launched"
    try:
        run = graphql(url, STEPS_QUERY, runId=run_id)["runOrError"]
        steps = {s["stepKey"]: s["status"] for s in run["stepStats"] if s["status"] != "SUCCESS"}
    except (OSError, KeyError, TypeError, ValueError) as exc:
        return f"step statuses unavailable: {exc!r}"
    return f"server status {run['status']}, steps that did not succeed: {steps}"


def tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def month_row_counts(warehouse: Path, partition: str) -> dict[str, int]:
    """Rows of each of SEGMENT_TABLES in the partition's month; fails if a table is missing."""
    with connect(warehouse, read_only=True) as con:
        existing = {
            f"{schema}.{name}"
            for schema, name in con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables"
            ).fetchall()
        }
        missing = [table for table in SEGMENT_TABLES if table not in existing]
        assert not missing, f"tables missing from the warehouse: {missing}"
        return {
            table: con.execute(
                f"SELECT count(*) FROM {table} "
                f"WHERE date_trunc('month', {MONTH_COLUMN}) = CAST(? AS DATE)",
                [partition],
            ).fetchone()[0]
            for table in SEGMENT_TABLES
        }
