"""`seg-platform ui` (`dagster dev` on the package) loads the code location with no error and
stops cleanly (a real server)."""

import json
import os
import signal
import sys
import time
import urllib.request

import pytest

from seg_platform_tests.conftest import free_port, running_server

QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename
    ... on PythonError { message }
    ... on RepositoryLocation { repositories { name assetNodes { assetKey { path } groupName } } }
} } } } }"""


def graphql(port: int, query: str, **variables) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


@pytest.mark.e2e
def test_seg_platform_ui_loads_every_group_and_stops_on_sigterm_to_its_pid(tmp_path):
    """`seg-platform ui` becomes `dagster dev`: the code location loads with every asset
    group, and a SIGTERM to its PID stops every child, even when started the way a shell's
    `cmd &` starts it (SIGINT ignored, inherited across exec). (`dagster dev -w
    workspace.yaml` is what the browser test starts.)"""
    port = free_port()
    env = {**os.environ, "SEG_PLATFORM_HOME": str(tmp_path / "home")}
    env.pop("DAGSTER_HOME", None)
    cmd = [sys.executable, "-m", "seg_platform.cli", "ui", "--port", str(port)]

    entries = []

    def up() -> bool:
        entries[:] = graphql(port, QUERY)["workspaceOrError"]["locationEntries"]
        return entries[0]["loadStatus"] == "LOADED"

    def like_a_background_job():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    with running_server(cmd, env, up, preexec_fn=like_a_background_job) as server:
        assert (tmp_path / "home" / "dagster" / "dagster.yaml").exists()
        location = entries[0]["locationOrLoadError"]
        assert location["__typename"] == "RepositoryLocation", location
        groups = {
            "/".join(node["assetKey"]["path"]): node["groupName"]
            for repo in location["repositories"]
            for node in repo["assetNodes"]
        }
        assert groups["orders"] == "raw" and groups["customer_predictions"] == "predictions"
        assert groups["daily_customer_scores"] == "predictions"
        assert set(groups.values()) >= {
            "raw", "identity", "staging", "features", "segmentation", "segments", "predictions"
        }  # fmt: skip
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.killpg(server.pid, 0)  # raises once no process of the group is left
            except ProcessLookupError:
                break
            time.sleep(0.5)
        else:
            pytest.fail("children of seg-platform ui outlived a SIGTERM to its PID")
