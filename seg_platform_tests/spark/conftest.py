"""Spark for the `spark` tier (make test-spark): a standalone cluster of pyspark's own master and
two workers on 127.0.0.1, started and stopped here, and sessions on it or on `local[2]`.

Everything binds the loopback interface; nothing is downloaded (the classes ship with pyspark).
"""

import json
import os
import sys
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest

from seg_platform_tests.conftest import free_port, running_server

WORKERS = 2


def _spark_env(root: Path) -> dict:
    try:
        import pyspark
    except ImportError:  # the default run deselects these tests; `make test-spark` installs it
        pytest.fail("the spark tier needs pyspark: run it with `make test-spark`")
    home = Path(pyspark.__file__).parent
    return {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(root / "logs"),
        "SPARK_WORKER_DIR": str(root / "work"),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }


def _alive_workers(ui_port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as response:
        return int(json.load(response).get("aliveworkers", 0))


@pytest.fixture(scope="session")
def standalone_cluster(tmp_path_factory):
    """`spark://127.0.0.1:<port>`: a master and two one-core workers, stopped after the tests."""
    root = tmp_path_factory.mktemp("spark-cluster")
    env = _spark_env(root)
    spark_class = str(Path(env["SPARK_HOME"]) / "bin" / "spark-class")
    port, ui_port = free_port(), free_port()
    url = f"spark://127.0.0.1:{port}"
    master = [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
    master += ["--port", str(port), "--webui-port", str(ui_port)]
    with ExitStack() as stack:
        stack.enter_context(
            running_server(master, env, lambda: _alive_workers(ui_port) >= 0, timeout=180)
        )
        for n in range(WORKERS):
            worker = [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1"]
            worker += ["--cores", "1", "--memory", "1g", "--webui-port", str(free_port())]
            worker += ["--work-dir", str(root / f"work{n}"), url]
            stack.enter_context(
                running_server(
                    worker, env, lambda n=n: _alive_workers(ui_port) >= n + 1, timeout=180
                )
            )
        yield url


@pytest.fixture(scope="session")
def spark_env(tmp_path_factory):
    """The environment variables a Spark driver in this process needs (set for the session)."""
    env = _spark_env(tmp_path_factory.mktemp("spark-driver"))
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: env[k] for k in env if k.startswith(("SPARK_", "PYSPARK_"))})
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
