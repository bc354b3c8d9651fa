"""`dagster dev -w workspace.yaml` loads the code location with no error (a real server)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from seg_platform_tests.conftest import REPO

QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename
    ... on PythonError { message }
    ... on RepositoryLocation { repositories { name assetNodes { assetKey { path } groupName } } }
} } } } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


@pytest.mark.e2e
def test_dagster_dev_loads_the_workspace(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "SEG_PLATFORM_HOME": str(tmp_path / "home"),
    }
    Path(env["DAGSTER_HOME"]).mkdir()
    (Path(env["DAGSTER_HOME"]) / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = Path(sys.executable).parent / "dagster"
    server = subprocess.Popen(
        [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, so the test can stop all children
    )
    try:
        deadline = time.monotonic() + 120
        entry = None
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            try:
                entries = graphql(port, QUERY)["workspaceOrError"]["locationEntries"]
                entry = entries[0]
                if entry["loadStatus"] == "LOADED":
                    break
            except OSError:
                pass
            time.sleep(1)
        assert entry and entry["loadStatus"] == "LOADED", entry
        location = entry["locationOrLoadError"]
        assert location["__typename"] == "RepositoryLocation", location
        assets = {
            "/".join(node["assetKey"]["path"]): node["groupName"]
            for repo in location["repositories"]
            for node in repo["assetNodes"]
        }
        assert assets["orders"] == "raw" and assets["web_events"] == "raw"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
