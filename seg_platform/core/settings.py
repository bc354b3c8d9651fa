"""Where the platform keeps its state: one home folder holding the warehouse, Dagster and MLflow.

Everything is resolved when it is used, never at import time, so one process can point at several
homes (tests do) and the environment variables below take effect without a re-import.
"""

import datetime as dt
import json
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from seg_platform.core.calendar import add_months, month_key, month_start

HOME_ENV = "SEG_PLATFORM_HOME"
SOURCES_ENV = "SEG_PLATFORM_SOURCES"
DEFAULT_HOME = ".seg_platform"
# First monthly partition while no data is loaded yet ('YYYY-MM'; the bundled sample's first
# month). Once the raw tables are loaded, the partitions follow the data instead.
FIRST_MONTH_ENV = "SEG_PLATFORM_FIRST_MONTH"
DEFAULT_FIRST_MONTH = "2025-01"
# Beside the warehouse: the first and last day with events, written at each raw load.
DATA_SPAN_FILE = "data_span.json"
# The Dagster code location's name, in `seg-platform ui` and workspace.yaml alike: UI links
# (/locations/<name>/...) are the same however the UI was started.
CODE_LOCATION = "seg_platform"
# Where `seg-platform mlflow-ui` serves, recorded in the home so run links match the port in use.
MLFLOW_UI_FILE = "mlflow_ui.json"
DEFAULT_MLFLOW_UI = "http://127.0.0.1:5000"

DAGSTER_YAML_MARKER = "# Written by seg_platform"
DAGSTER_YAML = """\
# Written by seg_platform: a local Dagster instance (sqlite storage in this folder).
# Rewritten when the platform's settings change; remove this first line to keep your edits.
telemetry:
  enabled: false
# One run at a time: DuckDB allows a single writer per warehouse file.
concurrency:
  runs:
    max_concurrent_runs: 1
# A run whose process died (killed, crashed, machine restarted) is marked failed, so the one run
# slot is freed and queued runs, the schedule and the sensors go on. The launcher is Dagster's
# default plus the health check the monitoring daemon needs (seg_platform.run_guard).
run_launcher:
  module: seg_platform.run_guard
  class: LocalRunLauncher
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  max_resume_run_attempts: 0
  poll_interval_seconds: 10
"""


@dataclass(frozen=True)
class PlatformHome:
    """The paths of one platform home. Deleting `root` resets the platform."""

    root: Path

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def data_span_file(self) -> Path:
        """How far the loaded data reaches (see `read_data_span`), beside the warehouse."""
        return self.warehouse.with_name(DATA_SPAN_FILE)

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def mlflow_dir(self) -> Path:
        return self.root / "mlflow"

    @property
    def mlflow_tracking_uri(self) -> str:
        # Four slashes: sqlite wants an absolute path, three would be relative to the cwd.
        return f"sqlite:///{(self.mlflow_dir / 'mlflow.db').resolve()}"

    @property
    def mlflow_ui_file(self) -> Path:
        """The MLflow UI's address last served by `seg-platform mlflow-ui` for this home."""
        return self.mlflow_dir / MLFLOW_UI_FILE

    @property
    def mlflow_artifacts(self) -> Path:
        return self.mlflow_dir / "artifacts"

    @property
    def sample(self) -> Path:
        """Where `make demo` writes the bundled synthetic sample."""
        return self.root / "sample"

    def ensure(self) -> "PlatformHome":
        """Create the folders, and the Dagster instance config if missing or ours and outdated.

        A dagster.yaml without our first line is the user's and is left alone.
        """
        for folder in (self.root, self.dagster_home, self.mlflow_artifacts):
            folder.mkdir(parents=True, exist_ok=True)
        dagster_yaml = self.dagster_home / "dagster.yaml"
        current = dagster_yaml.read_text() if dagster_yaml.exists() else None
        if current is None or (current.startswith(DAGSTER_YAML_MARKER) and current != DAGSTER_YAML):
            # Written aside and renamed: a process reading the instance never sees half a file.
            partial = dagster_yaml.with_name(f".dagster.yaml.{os.getpid()}")
            partial.write_text(DAGSTER_YAML)
            partial.replace(dagster_yaml)
        return self


def platform_home(root: str | os.PathLike | None = None) -> PlatformHome:
    """The platform home: `root`, else $SEG_PLATFORM_HOME, else ./.seg_platform."""
    chosen = root or os.environ.get(HOME_ENV) or DEFAULT_HOME
    return PlatformHome(Path(chosen).expanduser().resolve())


def sources_config_path(explicit: str | os.PathLike | None = None) -> Path:
    """The sources.yaml to read: `explicit`, else $SEG_PLATFORM_SOURCES, else the home's sample."""
    chosen = explicit or os.environ.get(SOURCES_ENV)
    if chosen:
        return Path(chosen).expanduser().resolve()
    return platform_home().sample / "landing" / "sources.yaml"


@dataclass(frozen=True)
class DataSpan:
    """The first and last day with events in the raw tables."""

    first_day: dt.date
    last_day: dt.date


def read_data_span(path: Path) -> DataSpan | None:
    """The span recorded in a data_span.json, or None when there is none (no data loaded yet,
    or a file that cannot be read: the partitions then fall back to the calendar)."""
    try:
        recorded = json.loads(path.read_text())
        span = DataSpan(
            dt.date.fromisoformat(recorded["first_day"]),
            dt.date.fromisoformat(recorded["last_day"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return span if span.first_day <= span.last_day else None


def first_month_setting() -> str:
    """$SEG_PLATFORM_FIRST_MONTH as 'YYYY-MM' (default 2025-01); ValueError when malformed."""
    value = os.environ.get(FIRST_MONTH_ENV, "").strip() or DEFAULT_FIRST_MONTH
    try:
        month_start(value)
    except ValueError:
        raise ValueError(
            f"{FIRST_MONTH_ENV}={value!r} is not a month: write it as YYYY-MM, e.g. 2024-07"
        ) from None
    return month_key(value)


@dataclass(frozen=True)
class PartitionCalendar:
    """The partitions the platform offers: months `first_month` .. `last_month` and days
    `first_day` .. `last_day` (inclusive). `span` is the data they follow (None: no data yet,
    so they run from $SEG_PLATFORM_FIRST_MONTH to the last completed month and yesterday)."""

    first_month: str
    last_month: str
    first_day: dt.date
    last_day: dt.date
    span: DataSpan | None

    def offers_month(self, month: str | dt.date) -> bool:
        return self.first_month <= month_key(month) <= self.last_month

    def offers_day(self, day: dt.date) -> bool:
        return self.first_day <= day <= self.last_day


def partition_calendar(
    span: DataSpan | None, first_month: str, today: dt.date
) -> PartitionCalendar:
    """Monthly and daily partitions over the data's months, never past the last completed
    month or day (a month not over has no snapshot yet). Without data: `first_month` to the
    last completed month. At least one month and one day, so the definitions always load."""
    last_completed = add_months(today, -1)
    yesterday = today - dt.timedelta(days=1)
    if span is None:
        first, last, last_day = first_month, last_completed, yesterday
    else:
        first = month_key(span.first_day)
        last = min(month_key(span.last_day), last_completed)
        last_day = min(span.last_day, yesterday)
    last = max(last, first)
    first_day = month_start(first)
    return PartitionCalendar(first, last, first_day, max(last_day, first_day), span)


def current_partitions(
    home: PlatformHome | None = None, today: dt.date | None = None
) -> PartitionCalendar:
    """The partitions of `home` (default: the platform home) as of `today` (UTC)."""
    home = home or platform_home()
    today = today or dt.datetime.now(dt.UTC).date()
    return partition_calendar(read_data_span(home.data_span_file), first_month_setting(), today)


def no_data_reason(partition_key: str, span: DataSpan | None, monthly: bool) -> str | None:
    """Why a monthly ('YYYY-MM-DD', the month's first day) or daily partition has no data to
    build from, or None when the data reaches it."""
    if span is None:
        return "no landing data is loaded yet (run refresh_current_tables or seg-platform run)"
    day = dt.date.fromisoformat(partition_key)
    if monthly:
        inside = month_key(span.first_day) <= month_key(day) <= month_key(span.last_day)
    else:
        inside = span.first_day <= day <= span.last_day
    return None if inside else f"the landing data covers {span.first_day} .. {span.last_day}"


def record_mlflow_ui(home: PlatformHome, port: int, host: str = "127.0.0.1") -> None:
    """Remember where the MLflow UI of `home` is served (by `seg-platform mlflow-ui`)."""
    home.mlflow_dir.mkdir(parents=True, exist_ok=True)
    home.mlflow_ui_file.write_text(json.dumps({"url": f"http://{host}:{int(port)}"}) + "\n")


def mlflow_ui_url(home: PlatformHome | None = None) -> str:
    """The MLflow UI's address for run links: the one `seg-platform mlflow-ui` recorded in
    the home, else the default port. An unreadable record falls back to the default."""
    home = home or platform_home()
    try:
        url = json.loads(home.mlflow_ui_file.read_text())["url"]
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_MLFLOW_UI
    if not isinstance(url, str) or not url.startswith("http://127.0.0.1:"):
        return DEFAULT_MLFLOW_UI
    port = url.rsplit(":", 1)[1]
    return url if port.isdigit() and 1 <= int(port) <= 65535 else DEFAULT_MLFLOW_UI


def command_hint(command: str, home: PlatformHome | None = None) -> str:
    """A `seg-platform` command line to print as a hint, with `--home` so it acts on the home
    the user is working with (`make ui` would open the default one)."""
    home = home or platform_home()
    return f"{_program()} {command} --home {shlex.quote(str(home.root))}"


def _program() -> str:
    """How the user can call `seg-platform`: by name when that is on PATH, else its path."""
    script = Path(sys.executable).parent / "seg-platform"
    on_path = shutil.which("seg-platform")
    if not script.exists() or (on_path and Path(on_path).resolve() == script.resolve()):
        return "seg-platform"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return shlex.quote(str(script))
