"""One writer per platform home, and no run left "started" after its process died.

- `LocalRunLauncher`: Dagster's default run launcher plus a worker health check, so the run
  monitoring daemon (`run_monitoring` in the home's dagster.yaml) marks a run whose process is
  gone as failed and the run queue moves on. Dagster's own launcher has no health check, so
  without this a SIGKILLed run stays STARTED and holds the only run slot forever.
- `fail_dead_runs`: the same check, run by the CLI before it starts, for homes where no daemon
  runs (the CLI's in-process runs have no run worker the daemon knows about).
- `hold_home`: the CLI's lock on the home (a `flock` on `<home>/run.lock` naming the holder),
  taken before any Dagster run is created, so a second run stops with one line instead of
  starting a run whose steps all fail on the warehouse's lock.
"""

import datetime as dt
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus

from seg_platform.core.warehouse import WarehouseLockedError, connect

# Tags on the CLI's in-process runs: which process runs them (the daemon checks it is alive).
PID_TAG = "seg_platform/pid"
HOST_TAG = "seg_platform/host"
LOCK_FILE = "run.lock"
# A process that started this long after a run's worker was recorded is not that worker
# (its PID was reused).
PID_REUSE_SLACK_S = 5.0
LIVE_STATUSES = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


class HomeBusyError(RuntimeError):
    """Another run writes to this home's warehouse."""


def cli_run_tags() -> dict[str, str]:
    """Tags naming this process as the worker of an in-process (CLI) run."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def run_worker(instance: dg.DagsterInstance, run: dg.DagsterRun) -> tuple[int, float] | None:
    """The PID of the process that executes `run` and when it was recorded, if known.

    CLI runs carry it as a tag; runs launched by the daemon or the UI get an engine event
    "Started process for run (pid: N)" from the code server before their worker starts. The
    first such event names the run worker (later ones may be step processes).
    """
    if PID_TAG in run.tags:
        if run.tags.get(HOST_TAG, socket.gethostname()) != socket.gethostname():
            return None  # another machine's process: we cannot tell
        record = instance.get_run_record_by_id(run.run_id)
        since = record.create_timestamp.timestamp() if record else time.time()
        return int(run.tags[PID_TAG]), since
    for event in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = event.dagster_event.event_specific_data if event.dagster_event else None
        pid = getattr(data, "metadata", {}).get("pid") if data else None
        if pid is not None:
            return int(pid.value), event.timestamp
    return None


def process_alive(pid: int, recorded_at: float) -> bool:
    """Whether process `pid` exists and is the one recorded at `recorded_at` (not a reuse)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, another user's
    started = _process_start_time(pid)
    return started is None or started <= recorded_at + PID_REUSE_SLACK_S


def _process_start_time(pid: int) -> float | None:
    """When `pid` started (epoch seconds), from /proc on Linux; None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return None
    # Field 22 (starttime, in clock ticks since boot) counts from after the ")" of the name.
    ticks = int(stat.rsplit(")", 1)[1].split()[19])
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def worker_health(instance: dg.DagsterInstance, run: dg.DagsterRun) -> CheckRunHealthResult:
    worker = run_worker(instance, run)
    if worker is None:
        return CheckRunHealthResult(WorkerStatus.RUNNING, "run worker unknown: assumed running")
    pid, recorded_at = worker
    if process_alive(pid, recorded_at):
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker (pid {pid}) is alive")
    return CheckRunHealthResult(
        WorkerStatus.FAILED,
        f"the run's process (pid {pid}) is gone: it was killed or crashed",
    )


class LocalRunLauncher(DefaultRunLauncher):
    """Dagster's default launcher, with a health check for the run monitoring daemon."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        return worker_health(self._instance, run)


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark started runs whose process is gone as failed; returns their run ids."""
    failed = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=LIVE_STATUSES)):
        run = record.dagster_run
        health = worker_health(instance, run)
        if health.status == WorkerStatus.FAILED:
            instance.report_run_failed(run, f"Marked as failed: {health.msg}.")
            failed.append(run.run_id)
    return failed


@dataclass
class HomeLock:
    """The CLI's hold on a home: names the Dagster run it is executing in the lock file."""

    path: Path
    fd: int
    command: str
    since: str
    failed_runs: list[str]

    def next_run_id(self) -> str:
        """A run id for the next run, recorded in the lock file before the run exists."""
        run_id = str(uuid.uuid4())
        self._write(run_id)
        return run_id

    def _write(self, run_id: str | None) -> None:
        info = {"pid": os.getpid(), "command": self.command, "since": self.since}
        info["run_id"] = run_id
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps(info).encode(), 0)


@contextmanager
def hold_home(home, instance: dg.DagsterInstance, command: str) -> Iterator[HomeLock]:
    """Hold `home` for one CLI command, or raise HomeBusyError saying who holds it.

    Three holders are recognised: another CLI command (the lock file), a run launched from the
    UI or by automation (a live run in the Dagster instance), and any other process with the
    warehouse open for writing (DuckDB's own lock).
    """
    path = home.root / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise HomeBusyError(_lock_file_holder(path)) from None
        failed_runs = fail_dead_runs(instance)
        busy = busy_run(instance)
        if busy:
            raise HomeBusyError(busy)
        try:
            with connect(home.warehouse):
                pass
        except WarehouseLockedError as exc:
            raise HomeBusyError(describe_locked(home, exc)) from None
        lock = HomeLock(path, fd, command, _now(), failed_runs)
        lock._write(None)
        yield lock
    finally:
        os.close(fd)  # releases the flock


def busy_run(instance: dg.DagsterInstance) -> str | None:
    """A sentence naming a live run of the instance, if one is executing."""
    records = instance.get_run_records(dg.RunsFilter(statuses=LIVE_STATUSES), limit=1)
    if not records:
        return None
    record = records[0]
    started = record.start_time or record.create_timestamp.timestamp()
    return (
        f"the warehouse is in use by run {record.dagster_run.run_id} "
        f"({record.dagster_run.job_name}) since {_format_time(started)}"
    )


def _lock_file_holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    who = f"run {info['run_id']}" if info.get("run_id") else "a run that is starting"
    command = f"`{info['command']}`, pid {info.get('pid')}" if info.get("command") else ""
    since = f" since {info['since']}" if info.get("since") else ""
    return f"the warehouse is in use by {who}" + (f" ({command})" if command else "") + since


def describe_locked(home, exc: Exception) -> str:
    """One line for DuckDB's lock error: the run holding the home if known, else the PID."""
    path = home.root / LOCK_FILE
    if path.exists():
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _lock_file_holder(path)
        finally:
            os.close(fd)
    pid = _duckdb_holder_pid(str(exc.__cause__ or exc))
    return f"the warehouse {home.warehouse} is in use by another process" + (
        f" (pid {pid})" if pid else ""
    )


def _duckdb_holder_pid(message: str) -> str | None:
    # DuckDB says "... Conflicting lock is held in /path/python (PID 1234) by user ...".
    marker = "(PID "
    if marker not in message:
        return None
    return message.split(marker, 1)[1].split(")", 1)[0]


def _now() -> str:
    return _format_time(time.time())


def _format_time(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(timestamp).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")
