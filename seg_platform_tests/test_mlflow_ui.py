"""`seg-platform mlflow-ui` serves the home's tracking store on 127.0.0.1, and stops cleanly."""

import os
import sys
import urllib.request

import pytest

from seg_platform_tests.conftest import free_port, running_server


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
