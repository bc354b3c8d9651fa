"""Shared fixtures: a temporary platform home, so no test writes outside tmp_path; and how
`make test` shares the tests out between its pytest-xdist workers."""

import fcntl
import inspect
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# One thread per test process for NumPy's BLAS and scikit-learn's OpenMP, and one core counted
# by joblib (issue 23 point 5: the suite's CPU time). `make test` runs a pytest-xdist worker per
# core, so every core is busy already; a second BLAS or OpenMP thread per process only waited
# for its sibling, spinning, at every step. Measured on the busy 2-core machine: nine k-means
# fits (4,000 rows) 17-19 s CPU with two threads, 0.7 s with one; 30 rounds of pairwise
# distances and PCA 4.9 s vs 0.5 s. joblib's one core also makes `n_jobs=-1` (the propensity
# folds and permutation importances) run in process instead of starting a process per core
# (a Python importing scikit-learn, again in every pipeline subprocess): the same bits, as
# predictions/test_propensity_processes.py checks; an explicit `n_jobs=2` still starts its
# processes. Set before NumPy is imported (OpenBLAS reads it when it loads), inherited by the
# tests' subprocesses; values already in the environment are kept.
for _name in ("OPENBLAS_NUM_THREADS", "LOKY_MAX_CPU_COUNT"):
    os.environ.setdefault(_name, "1")

import pytest  # noqa: E402

from seg_platform.core import settings  # noqa: E402
from seg_platform_tests.environment import environment  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


TESTS = Path(__file__).resolve().parent


# How `make test` shares the tests out between its pytest-xdist workers (`-n`, with the
# `--dist loadgroup` of pyproject.toml's addopts). Tests that share a costly fixture (the
# session's demo, a module's company) must run on one worker, or each worker builds it again.
# xdist's own `xdist_group` marks are lost with pytest 9.2 (pytest-xdist issue 1386: the group
# travels in the node id, which pytest no longer lets it change), so each worker writes the
# groups it found to a folder the controller made, and the controller's scheduler reads them.
_GROUPS_DIR = pytest.StashKey[Path]()


def _groups_dir(config) -> Path:
    if _GROUPS_DIR not in config.stash:
        config.stash[_GROUPS_DIR] = Path(tempfile.mkdtemp(prefix="pytest-groups-"))
    return config.stash[_GROUPS_DIR]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """The controller tells each worker where to leave its groups."""
    node.workerinput["seg_groups_dir"] = str(_groups_dir(node.config))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        """xdist's scheduling by scope, a scope being a group of tests sharing a fixture;
        every other test is a scope of its own."""

        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:  # first called once every worker has collected
                self.groups = {}
                for found in sorted(_groups_dir(config).glob("*.json")):
                    self.groups.update(json.loads(found.read_text()))
            return self.groups.get(nodeid, nodeid)

    return SharedFixtureScheduling(config, log)


def pytest_configure(config):
    """Every process of the run (workers, and the CLI subprocesses tests start) seeds new
    homes' MLflow stores from one cache in the run's shared folder (`core.tracking.home_store`),
    never from the user's ~/.cache: MLflow migrates an empty store once per run, not in each of
    the dozens of homes the tests create."""
    from seg_platform.core.tracking import CACHE_ENV

    shared = getattr(config, "workerinput", {}).get("seg_groups_dir")
    folder = Path(shared) if shared else _groups_dir(config)
    os.environ.setdefault(CACHE_ENV, str(folder / "cache"))


def pytest_unconfigure(config):
    if _GROUPS_DIR in config.stash:
        shutil.rmtree(config.stash[_GROUPS_DIR], ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """On an xdist worker: the groups of tests sharing a fixture, for the controller; and the
    order the tests are handed out in (kept with --no-loadscope-reorder): one test of the
    session's demo (its worker builds the demo for the whole run, `demo_december`), the shared
    fixtures' groups, the end-to-end tests, then the demo's other tests, which either worker
    takes once the demo is built, so no long test starts last."""
    folder = getattr(config, "workerinput", {}).get("seg_groups_dir")
    if folder is None:  # one process runs everything
        return
    groups = _shared_fixture_groups(items)
    worker = config.workerinput["workerid"]
    written = Path(folder) / f"{worker}.tmp"
    written.write_text(json.dumps({item.nodeid: group for item, group in groups.items()}))
    written.rename(written.with_suffix(".json"))
    demo = [item for item in items if DEMO in item.fixturenames]
    first_demo = demo[0] if demo else None

    def order(item) -> int:
        if item is first_demo:
            return 0  # its worker builds the demo at once
        if item in demo:
            return 3  # the others once every other group and end-to-end test is out
        return 1 if item in groups else 2 if "e2e" in item.keywords else 4

    items.sort(key=order)


def _shared_fixture_groups(items) -> dict:
    """A group name for each test using a fixture of this suite wider than one test (session,
    package, module or class scope); tests that share any such fixture share a group."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    keys_of = {}
    for item in items:
        keys = []
        for name in item.fixturenames:
            if name == DEMO:  # built once per run, copied by each worker: no need to share one
                continue
            defs = item._fixtureinfo.name2fixturedefs.get(name)
            if not defs or defs[-1].scope == "function":
                continue
            source = Path(inspect.getfile(defs[-1].func)).resolve()
            if not source.is_relative_to(TESTS):  # pytest's own (tmp_path_factory, ...)
                continue
            wide = defs[-1].scope in ("session", "package")
            keys.append(f"{name}@{source}" if wide else item.nodeid.split("::")[0])
        for key in keys[1:]:
            parent[root(key)] = root(keys[0])
        if keys:
            keys_of[item] = keys[0]
    return {item: root(key).replace("@", ":") for item, key in keys_of.items()}


@pytest.fixture
def home(tmp_path, monkeypatch) -> settings.PlatformHome:
    """An empty platform home under tmp_path, selected through the environment."""
    root = tmp_path / "home"
    monkeypatch.setenv(settings.HOME_ENV, str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster"))
    monkeypatch.delenv(settings.SOURCES_ENV, raising=False)
    return settings.platform_home().ensure()


DEMO = "demo_december"


@pytest.fixture(scope="session")
def demo_december(request, tmp_path_factory):
    """The demo's company (2,000 customers, 12 months, seed 42) with December built by the
    CLI's pipeline: features, segmentation, predictions, segments. Shared; tests that change
    it work on a copy (`demo_copy`). Under `make test` it is built once for the run, by the
    first worker that needs it, in the folder the controller made; each worker reads its own
    copy (a DuckDB file is opened by one process at a time), the other worker waits meanwhile."""
    root = tmp_path_factory.mktemp("demo")
    shared = getattr(request.config, "workerinput", {}).get("seg_groups_dir")
    if shared is None:  # one process runs everything
        _build_demo(root)
        return settings.platform_home(root / "home"), root / "company"
    built = Path(shared) / "demo"
    with open(Path(shared) / "demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if not (built / "built").exists():
            shutil.rmtree(built, ignore_errors=True)  # what a failed build left
            _build_demo(built)
            (built / "built").touch()
    for folder in ("home", "company"):
        shutil.copytree(built / folder, root / folder)
    return settings.platform_home(root / "home"), root / "company"


def _build_demo(root: Path) -> None:
    from seg_platform.cli import DEMO_CUSTOMERS, DEMO_MONTHS, DEMO_SEED
    from seg_platform.runner import run_pipeline
    from seg_platform.synthetic.company import generate

    company = root / "company"
    generate(DEMO_CUSTOMERS, DEMO_MONTHS, DEMO_SEED, company)
    with environment(
        **{settings.HOME_ENV: str(root / "home"), "DAGSTER_HOME": None},
        **{settings.SOURCES_ENV: str(company / "landing" / "sources.yaml")},
    ):
        assert run_pipeline(months=1) == 0


@dataclass(frozen=True)
class ErasedDemo:
    """`demo_erased`: the copy of the demo, who was erased, the request and the run's outcome."""

    home: settings.PlatformHome
    landing: Path
    profile: str  # the erased person's profile id (as in the demo, `demo_december`)
    email: str  # their e-mail as the identity graph normalised it
    request: str  # the request's line of erasure_requests.csv
    request_id: str
    succeeded: bool  # the run that processed the request


@pytest.fixture(scope="session")
def demo_erased(demo_december, tmp_path_factory) -> ErasedDemo:
    """A copy of the demo after one person's erasure request and the run that processes it:
    the refresh job (raw, identity, erasure, staging), as the next `seg-platform run` starts.
    The person: the first customer of the e-mail feed with at least five kinds of identifier;
    the request names only their e-mail, upper-cased and padded, as a person may write it.
    Built once per worker for every test that reads it (privacy/test_erasure_bytes.py,
    activation/test_activation.py: one group); what the person was before the request is read
    in `demo_december` itself, the same bytes as this copy had. Tests must not change it: one
    that runs on from it copies it."""
    import dagster as dg
    import duckdb

    from seg_platform.definitions import CURRENT_JOB, defs

    demo, company = demo_december
    root = tmp_path_factory.mktemp("erased")
    shutil.copytree(demo.root, root / "home")
    shutil.copytree(company / "landing", root / "landing")
    home, landing = settings.platform_home(root / "home"), root / "landing"
    with duckdb.connect(str(demo.warehouse), read_only=True) as con:
        ((profile,),) = con.execute(
            """SELECT f.profile_id FROM activation.feed_members f
               JOIN identity.identity_map m USING (profile_id)
               WHERE f.destination = 'email_platform' GROUP BY 1
               HAVING count(DISTINCT m.id_type) >= 5 ORDER BY 1 LIMIT 1"""
        ).fetchall()
        ((email,),) = con.execute(
            "SELECT min(value) FROM identity.identity_map WHERE profile_id = ? "
            "AND id_type = 'email'",
            [profile],
        ).fetchall()
    request_id = "req_erase_1"
    request = f"{request_id},2026-01-05 10:00:00,  {email.upper()} ,,,,"
    (landing / "erasure_requests" / "erasure_requests.csv").write_text(
        f"request_id,requested_at,email,phone,user_id,crm_id,customer_key\n{request}\n"
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv(settings.HOME_ENV, str(home.root))
        env.setenv("DAGSTER_HOME", str(home.dagster_home))
        env.setenv(settings.SOURCES_ENV, str(landing / "sources.yaml"))
        with dg.DagsterInstance.get() as instance:
            result = defs.resolve_job_def(CURRENT_JOB).execute_in_process(
                instance=instance, raise_on_error=False
            )
    return ErasedDemo(home, landing, profile, email, request, request_id, result.success)


@pytest.fixture(scope="session")
def online_retail_november(tmp_path_factory) -> Path:
    """A warehouse with the shipped Online Retail example (examples/online_retail, the real UCI
    log in ../shared/data) loaded, resolved and its 2011-11 features built, as the feature and
    segment tests read it. Built once per session (it reads the 540,000-line file): the tests
    that use it only read it."""
    from seg_platform_tests.features.helpers import build_all

    database = tmp_path_factory.mktemp("online_retail") / "warehouse.duckdb"
    build_all(database, REPO / "examples" / "online_retail" / "sources.yaml", ["2011-11"])
    return database


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
                time.sleep(0.25)
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
