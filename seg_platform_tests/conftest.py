"""Shared fixtures: a temporary platform home, so no test writes outside tmp_path."""

import os
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from seg_platform.core import settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def home(tmp_path, monkeypatch) -> settings.PlatformHome:
    """An empty platform home under tmp_path, selected through the environment."""
    root = tmp_path / "home"
    monkeypatch.setenv(settings.HOME_ENV, str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster"))
    monkeypatch.delenv(settings.SOURCES_ENV, raising=False)
    return settings.platform_home().ensure()


@pytest.fixture(scope="session")
def demo_december(tmp_path_factory):
    """The demo's company (2,000 customers, 12 months, seed 42) with December built by the
    CLI's pipeline: features, segmentation, predictions, segments. Shared; tests that change
    it work on a copy (`copy_demo`)."""
    from seg_platform.cli import DEMO_CUSTOMERS, DEMO_MONTHS, DEMO_SEED
    from seg_platform.runner import run_pipeline
    from seg_platform.synthetic.company import generate

    root = tmp_path_factory.mktemp("demo")
    company = root / "company"
    generate(DEMO_CUSTOMERS, DEMO_MONTHS, DEMO_SEED, company)
    saved = {
        k: os.environ.get(k) for k in (settings.HOME_ENV, settings.SOURCES_ENV, "DAGSTER_HOME")
    }
    os.environ[settings.HOME_ENV] = str(root / "home")
    os.environ[settings.SOURCES_ENV] = str(company / "landing" / "sources.yaml")
    os.environ.pop("DAGSTER_HOME", None)
    try:
        assert run_pipeline(months=1) == 0
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return settings.platform_home(root / "home"), company


@pytest.fixture
def demo_copy(demo_december, tmp_path, monkeypatch):
    """A copy of the demo's home and landing files that a test may change."""
    import shutil

    home, company = demo_december
    shutil.copytree(home.root, tmp_path / "home")
    shutil.copytree(company / "landing", tmp_path / "landing")
    monkeypatch.setenv(settings.HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    monkeypatch.setenv(settings.SOURCES_ENV, str(tmp_path / "landing" / "sources.yaml"))
    return settings.platform_home(), tmp_path / "landing"


@pytest.fixture(autouse=True)
def _no_kill_hook(monkeypatch):
    monkeypatch.delenv("SEG_PLATFORM_KILL_BEFORE_COMMIT", raising=False)
    yield
    assert "SEG_PLATFORM_KILL_BEFORE_COMMIT" not in os.environ


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(cmd: list[str], env: dict, ready, cwd=None, timeout: float = 120, **popen):
    """Start a server in its own process group, wait until `ready()` is truthy, always stop it.

    `ready()` may raise OSError while the server is still starting. Its output (stdout and
    stderr: Dagster logs to both) goes to a temporary file, `server.log_path`, never to a pipe:
    a server blocks once a pipe nobody reads is full.
    """
    with tempfile.TemporaryDirectory(prefix="server-log-") as folder:
        log_path = Path(folder) / "server.log"
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                cmd,
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: all its children stop with it
                **popen,
            )
        server.log_path = log_path  # type: ignore[attr-defined]
        server.stderr_tail = lambda: log_path.read_text(errors="replace")[-2000:]  # type: ignore[attr-defined]
        try:
            deadline = time.monotonic() + timeout
            while True:
                assert server.poll() is None, log_path.read_text(errors="replace")[-2000:]
                try:
                    if ready():
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"{cmd[0]} was not ready within {timeout:.0f} s")
                time.sleep(1)
            yield server
        finally:
            _signal_group(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _signal_group(server.pid, signal.SIGKILL)
                server.wait()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass  # already stopped (a test may stop the server itself)
