"""Where the platform keeps its state: one home folder holding the warehouse, Dagster and MLflow.

Everything is resolved when it is used, never at import time, so one process can point at several
homes (tests do) and the environment variables below take effect without a re-import.
"""

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "SEG_PLATFORM_HOME"
SOURCES_ENV = "SEG_PLATFORM_SOURCES"
DEFAULT_HOME = ".seg_platform"

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
