"""The MLflow UI in a real browser: segmentation candidates compared side by side.

One month segmented on planted features (the segmentation tests' six groups), then
`seg-platform mlflow-ui` on that home and Debian's Chromium (/usr/bin/chromium) driven by
Playwright: the experiment link the platform hands out opens on the run table (not MLflow's
GenAI traces) with the selection metrics as columns, and the compare view of two candidate runs
shows their common plots side by side. Screenshots go to test-artifacts/ (or
$SEG_PLATFORM_TEST_ARTIFACTS). Without /usr/bin/chromium the test is skipped locally and fails
in CI, as the Dagster UI browser test does.
"""

import json
import os
import sys
import urllib.parse
import urllib.request

import mlflow
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect, sync_playwright

from seg_platform.core.tracking import experiment_link
from seg_platform_tests.conftest import free_port, running_server
from seg_platform_tests.segmentation.test_segmentation_assets import materialize, plant
from seg_platform_tests.test_dagster_ui_browser import (
    CHROMIUM_ARGS,
    artifacts_dir,
    require_chromium,
)

UI_TIMEOUT_MS = 60_000  # per browser action: the UI is slow when the machine is busy
# Whether the compare view shows the plot `name` loaded for two different runs.
LOADED_PLOTS = """name => new Set([...document.images]
  .filter(img => img.complete && img.naturalWidth > 100)
  .filter(img => img.src.includes(encodeURIComponent(name)) || img.src.includes(name)
                 || img.src.startsWith('blob:'))
  .map(img => img.src)).size >= 2"""


@pytest.mark.e2e
def test_compare_two_candidate_runs_in_the_mlflow_ui(home):
    chromium = require_chromium()
    plant(home.warehouse)
    assert materialize(home, "2025-12-01").success
    client = mlflow.MlflowClient(home.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name("customer_segmentation")
    children = [
        r
        for r in client.search_runs([experiment.experiment_id], order_by=["run_name"])
        if "mlflow.parentRunId" in r.data.tags
    ]
    chosen = next(r for r in children if r.data.tags["seg.chosen"] == "true")
    other = next(r for r in children if r.data.tags["seg.chosen"] == "false")
    pair = [chosen.info.run_id, other.info.run_id]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SEG_PLATFORM_HOME": str(home.root)}

    def healthy() -> bool:
        with urllib.request.urlopen(f"{base}/health", timeout=5) as r:
            return r.status == 200

    artifacts = artifacts_dir()
    cmd = [sys.executable, "-m", "seg_platform.cli", "mlflow-ui", "--port", str(port)]
    with running_server(cmd, env, healthy, timeout=180), sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(UI_TIMEOUT_MS)
        try:
            # The link in Dagster's metadata and the README: runs, with the selection metrics.
            page.goto(experiment_link(base, experiment.experiment_id))
            page.wait_for_url(lambda url: "/runs" in url)
            assert "/traces" not in page.url and "/overview" not in page.url
            for column in ("silhouette", "davies_bouldin", "bootstrap_stability"):
                expect(page.get_by_role("columnheader", name=column).first).to_be_visible()
            page.screenshot(path=str(artifacts / "mlflow_ui_segmentation_runs.png"))

            query = urllib.parse.urlencode(
                {
                    "runs": json.dumps(pair),
                    "experiments": json.dumps([experiment.experiment_id]),
                    "workflowType": "machine_learning",
                }
            )
            page.goto(f"{base}/#/compare-runs?{query}")
            expect(page.get_by_text("Comparing 2 Runs")).to_be_visible()
            # The compare view lists the artifacts every compared run has; open one plot.
            # (Its file tree is a narrow pane beside the previews, partly covered: a click
            # event on the entry, rather than a mouse click at its position.)
            page.get_by_text("segment_sizes.png", exact=True).dispatch_event("click")
            # One preview per run, each the run's own image, loaded.
            page.wait_for_function(LOADED_PLOTS, arg="segment_sizes.png", timeout=UI_TIMEOUT_MS)
            page.get_by_text("Artifacts", exact=True).last.scroll_into_view_if_needed()
            page.mouse.wheel(0, 300)
            for name in ("pca.png", "silhouette.png", "segment_profile.csv"):
                expect(page.get_by_text(name, exact=True)).to_be_visible()
        finally:
            shot = artifacts / "mlflow_ui_compare_candidates.png"
            try:
                page.screenshot(path=str(shot))
            except PlaywrightError:
                pass  # never hide the error that brought us here
            browser.close()
    assert shot.stat().st_size > 10_000
