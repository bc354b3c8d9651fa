"""`seg-platform mlflow-ui` serves the home's tracking store on 127.0.0.1, and stops cleanly."""

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from seg_platform_tests.test_dagster_dev import free_port


@pytest.mark.e2e
def test_mlflow_ui_serves_the_home_store(tmp_path):
    port = free_port()
    home = tmp_path / "home"
    env = {**os.environ, "SEG_PLATFORM_HOME": str(home)}
    server = subprocess.Popen(
        [sys.executable, "-m", "seg_platform.cli", "mlflow-ui", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    assert r.status == 200
                    break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("MLflow UI did not answer /health within 120 s")
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=5"
        with urllib.request.urlopen(url, timeout=10) as r:
            assert b"Default" in r.read()
        assert (home / "mlflow" / "mlflow.db").exists()
        assert (home / "mlflow" / "artifacts").is_dir()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
