"""Apache Spark, the engine past one machine (issue 22): its session and its lake of tables.

DuckDB stays the embedded default. With Spark, tables live in a lake folder as Parquet, one
folder per table (`<lake>/<schema>/<table>`), registered in the session's catalog under the same
`<schema>.<table>` names the SQL models use.

A table is replaced by writing a new version beside the current one (`<table>/v<n>/`) and then
switching the table's pointer file (`<table>/_CURRENT`, replaced by an atomic rename): a run
killed or failing mid-write leaves the previous version current and readable, never half a
table. The version before the current one is kept for readers still on it; older ones are
removed. (Delta Lake or Iceberg give the same guarantee on object stores, where a rename is not
atomic; their jars come from Maven, which this project's CI cannot reach.)

pyspark is an optional extra (`pip install 'seg-platform[spark]'`): nothing imports it unless
Spark is asked for.

A session is set up so that values match DuckDB's: time zone UTC, TIMESTAMP without a time zone
(DuckDB's TIMESTAMP), Arrow for transfers to Python; the web UI is off and shuffles are sized
for the cluster (`shuffle_partitions`).
"""

import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seg_platform.core.warehouse import kill_before_commit

_MASTER = re.compile(
    r"^(local(\[(\d+|\*)\])?|spark://[\w.\-]+:\d+(,[\w.\-]+:\d+)*|yarn|k8s://\S+)$"
)
_CONNECT = re.compile(r"^sc://[\w.\-]+(:\d+)?(/.*)?$")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


# What makes Spark's values DuckDB's: UTC, TIMESTAMP without a time zone, Arrow transfers.
_SESSION_SQL = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


class SparkUnavailable(RuntimeError):
    """Spark was asked for but pyspark (or Java) is not installed."""


@dataclass(frozen=True)
class SparkSettings:
    """Where Spark runs and where its tables live."""

    master: str = "local[2]"  # local[N], spark://host:port, yarn, k8s://..., or sc://host:port
    lake: Path = Path("lake")
    shuffle_partitions: int = 4
    app_name: str = "seg-platform"
    driver_memory: str = "1g"
    executor_memory: str = "1g"
    # The Python the executors run (scoring, segment assignment): this interpreter by default,
    # right for local[N] and for workers on this host; a cluster names its own.
    python: str | None = None

    @property
    def is_connect(self) -> bool:
        """A Spark Connect URL (sc://...), not a classic session's master."""
        return bool(_CONNECT.match(self.master))

    def __post_init__(self) -> None:
        if not (_MASTER.match(self.master) or _CONNECT.match(self.master)):
            raise ValueError(
                f"Spark master {self.master!r} is not one of local[N], spark://host:port, yarn, "
                "k8s://..., sc://host:port (Spark Connect)"
            )
        if not 1 <= self.shuffle_partitions <= 100_000:
            raise ValueError("shuffle_partitions must be between 1 and 100000")
        for memory in (self.driver_memory, self.executor_memory):
            if not re.fullmatch(r"\d+[kmgt]", memory):
                raise ValueError(f"memory {memory!r} is a number and a unit, e.g. 1g or 512m")


def _splink_jar() -> str:
    from splink.backends.spark import similarity_jar_location

    return similarity_jar_location()


def _pyspark():
    try:
        import pyspark.sql
    except ImportError:
        raise SparkUnavailable(
            "Spark was asked for but pyspark is not installed: pip install 'seg-platform[spark]'"
        ) from None
    return pyspark.sql


def require_pyspark() -> None:
    """Raise SparkUnavailable, with what to install, unless pyspark can be imported."""
    _pyspark()


def session(settings: SparkSettings) -> Any:
    """A SparkSession for `settings` (the one already running in this process if there is one
    with the same master)."""
    sql = _pyspark()
    lake = settings.lake.resolve()
    # pyspark's driver reads the executors' Python from the environment only.
    if settings.python:
        os.environ["PYSPARK_PYTHON"] = settings.python
    else:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # A fresh builder each time: `SparkSession.builder` is shared and keeps the options of
    # earlier sessions (a Spark Connect URL among them).
    if _CONNECT.match(settings.master):
        # A Spark Connect server owns its cluster settings; the SQL ones are per session.
        remote = sql.SparkSession.Builder().remote(settings.master).getOrCreate()
        for key, value in _SESSION_SQL.items():
            remote.conf.set(key, value)
        remote.conf.set("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        return remote
    # A Spark Connect session earlier in this process leaves pyspark in Connect mode.
    os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
    builder = (
        sql.SparkSession.Builder()
        .master(settings.master)
        .appName(settings.app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.sql.warehouse.dir", str(lake / "_catalog"))
        .config("spark.driver.memory", settings.driver_memory)
        .config("spark.executor.memory", settings.executor_memory)
        .config("spark.pyspark.python", os.environ["PYSPARK_PYTHON"])
        # Splink's string similarity UDFs (identity linkage on Spark): the jar ships inside
        # the Splink wheel.
        .config("spark.jars", _splink_jar())
    )
    for key, value in _SESSION_SQL.items():
        builder = builder.config(key, value)
    if settings.master.startswith(("local", "spark://")):
        # Tests and single hosts: never listen beyond the loopback interface.
        builder = builder.config("spark.driver.host", "127.0.0.1").config(
            "spark.driver.bindAddress", "127.0.0.1"
        )
    return builder.getOrCreate()


def table_path(lake: Path, table: str) -> Path:
    """The folder of `<schema>.<table>` in the lake (names checked: they become paths)."""
    schema, _, name = table.partition(".")
    if not (_NAME.match(schema) and _NAME.match(name)):
        raise ValueError(f"{table!r} is not a <schema>.<table> name of letters, digits and _")
    return lake / schema / name


POINTER = "_CURRENT"


def current_location(lake: Path, table: str) -> Path | None:
    """The folder holding `table`'s current version; None when there is no table."""
    pointer = table_path(lake, table) / POINTER
    if not pointer.is_file():
        return None
    version = pointer.read_text().strip()
    if not re.fullmatch(r"v\d+", version):
        raise ValueError(f"{pointer} does not name a version")
    return pointer.parent / version


def tables(lake: Path) -> list[str]:
    """Every table of the lake (`<schema>.<table>`), sorted."""
    return sorted(f"{p.parent.parent.name}.{p.parent.name}" for p in lake.glob(f"*/*/{POINTER}"))


def register(spark: Any, lake: Path, table: str) -> None:
    """Make the current rows of `table` queryable as `<schema>.<table>` in the session."""
    location = current_location(lake, table)
    if location is None:
        raise FileNotFoundError(f"no table {table} in the lake")
    path = location.resolve().as_posix()
    if "'" in path or "\\" in path:
        raise ValueError(f"the lake's path cannot hold quotes or backslashes: {path}")
    schema = table.split(".")[0]
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {schema}")
    spark.sql(f"DROP TABLE IF EXISTS {table}")
    spark.sql(f"CREATE TABLE {table} USING parquet LOCATION '{path}'")


def new_version(lake: Path, table: str) -> Path:
    """A folder for a new version of `table` (not created: writers create it), to fill with
    Parquet files and then `switch_to`. Spark writes one with `write_table`; another engine
    (DuckDB's `COPY ... TO`) may write one too, to hand a table over."""
    folder = table_path(lake, table)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"v{time.time_ns()}"


def switch_to(lake: Path, table: str, version: Path, keep_previous: bool = True) -> None:
    """Make `version` the current version of `table` (an atomic rename of its pointer), then
    remove older versions: all but the one before, or with `keep_previous` false (erasure)
    every other one."""
    folder = table_path(lake, table)
    if version.parent != folder or not version.is_dir():
        raise ValueError(f"{version} is not a written version of {table}")
    previous = current_location(lake, table)
    kill_before_commit([table])
    staged = folder / f".{POINTER}.{os.getpid()}"
    staged.write_text(version.name)
    os.replace(staged, folder / POINTER)
    keep = {version.name}
    if keep_previous and previous is not None:
        keep.add(previous.name)
    for old in folder.glob("v*"):
        if old.is_dir() and old.name not in keep:
            shutil.rmtree(old)


def write_table(spark: Any, frame: Any, lake: Path, table: str, keep_previous: bool = True) -> Path:
    """Replace `table` with the rows of the DataFrame `frame`: write a new version, switch the
    pointer to it, register it. Returns the new version's folder."""
    version = new_version(lake, table)
    frame.write.mode("errorifexists").parquet(version.resolve().as_posix())
    switch_to(lake, table, version, keep_previous)
    register(spark, lake, table)
    return version
