"""`seg-platform mlflow-ui` serves the home's tracking store on 127.0.0.1, refuses cross-site
requests, and stops cleanly."""

import json
import os
import sys
import urllib.request

import pytest

from seg_platform_tests.conftest import free_port, running_server
from seg_platform_tests.test_dagster_dev import request


@pytest.mark.e2e
def test_mlflow_ui_serves_the_home_store(tmp_path):
    port = free_port()
    home = tmp_path / "home"
    env = {**os.environ, "SEG_PLATFORM_HOME": str(home)}

    def healthy() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            return r.status == 200

    cmd = [sys.executable, "-m", "seg_platform.cli", "mlflow-ui", "--port", str(port)]
    with running_server(cmd, env, healthy):
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=5"
        with urllib.request.urlopen(url, timeout=10) as r:
            assert b"Default" in r.read()
        assert (home / "mlflow" / "mlflow.db").exists()
        assert (home / "mlflow" / "artifacts").is_dir()
        assert_cross_site_requests_refused(port)


def assert_cross_site_requests_refused(port: int) -> None:
    """MLflow's own middleware: a foreign Host (DNS rebinding) and a cross-origin request that
    changes state are refused; the same request from the UI's own origin works."""
    path = "/api/2.0/mlflow/experiments/search?max_results=5"
    assert request(port, "GET", path, {"Host": "evil.example"})[0] == 403
    assert request(port, "GET", path, {"Host": f"localhost:{port}"})[0] == 200
    create = "/api/2.0/mlflow/experiments/create"
    headers = {"Content-Type": "application/json"}
    body = json.dumps({"name": "from-another-site"}).encode()
    status, _ = request(port, "POST", create, {**headers, "Origin": "http://evil.example"}, body)
    assert status == 403
    status, _ = request(port, "POST", create, {**headers, "Host": "evil.example"}, body)
    assert status == 403
    own = {**headers, "Origin": f"http://127.0.0.1:{port}"}
    status, answer = request(port, "POST", create, own, json.dumps({"name": "own"}).encode())
    assert status == 200 and json.loads(answer)["experiment_id"]
    status, answer = request(port, "GET", path.replace("5", "50"))
    names = {e["name"] for e in json.loads(answer)["experiments"]}
    assert "own" in names and "from-another-site" not in names
