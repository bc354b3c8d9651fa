"""The Dagster resources every group shares: the DuckDB warehouse, and the engine of the heavy
steps (DuckDB, or Spark and its lake)."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from pydantic import Field

from seg_platform.core import settings
from seg_platform.core.engine import LAKE_ENV, MASTER_ENV, engine_name
from seg_platform.core.spark import SparkSettings, SparkUnavailable
from seg_platform.core.spark import session as spark_session
from seg_platform.core.warehouse import connect

# Parallel steps on the Spark engine take turns at the warehouse file; seconds to wait at most.
SPARK_LOCK_WAIT = 600.0


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse: `database`, else `<platform home>/warehouse.duckdb`.

    Not Dagster's DuckDBResource: that one retries a locked file silently for ~100 s, which looks
    like a hang; this one fails at once and says which process holds the lock.
    """

    database: str | None = Field(
        default=None,
        description="The DuckDB file of the warehouse. Unset: warehouse.duckdb in the platform "
        "home.",
    )

    lock_wait_seconds: float | None = Field(
        default=None,
        description="How long a step waits for another step of the run to release the file. "
        "Unset: 0 (fail at once) on DuckDB; 600 with SEG_PLATFORM_ENGINE=spark, whose steps run "
        "side by side.",
    )

    @property
    def path(self) -> Path:
        return Path(self.database) if self.database else settings.platform_home().warehouse

    @contextmanager
    def get_connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        wait = self.lock_wait_seconds
        if wait is None:
            wait = SPARK_LOCK_WAIT if engine_name() == "spark" else 0
        with connect(self.path, read_only=read_only, wait=wait) as con:
            yield con


class EngineResource(dg.ConfigurableResource):
    """The engine of the heavy steps (issue 22): DuckDB (the default) or Apache Spark, chosen
    by configuration, never by editing code. Unset fields come from the environment when a
    step runs: `SEG_PLATFORM_ENGINE`, `SEG_PLATFORM_SPARK_MASTER`, `SEG_PLATFORM_LAKE`."""

    engine: str | None = Field(
        default=None,
        description="duckdb or spark. Unset: $SEG_PLATFORM_ENGINE, else duckdb.",
    )
    master: str | None = Field(
        default=None,
        description="Spark master: local[N], spark://host:port, yarn, k8s://..., or "
        "sc://host:port (Spark Connect). Unset: $SEG_PLATFORM_SPARK_MASTER, else local[2].",
    )
    lake: str | None = Field(
        default=None,
        description="The folder of the Spark tables (Parquet). Unset: $SEG_PLATFORM_LAKE, "
        "else lake/ in the platform home.",
    )
    shuffle_partitions: int = Field(default=4, description="spark.sql.shuffle.partitions")
    driver_memory: str = Field(default="1g", description="spark.driver.memory")
    executor_memory: str = Field(default="1g", description="spark.executor.memory")

    @property
    def name(self) -> str:
        return engine_name(self.engine)

    @property
    def is_spark(self) -> bool:
        return self.name == "spark"

    def settings(self) -> SparkSettings:
        lake = self.lake or os.environ.get(LAKE_ENV) or settings.platform_home().root / "lake"
        return SparkSettings(
            master=self.master or os.environ.get(MASTER_ENV) or "local[2]",
            lake=Path(lake),
            shuffle_partitions=self.shuffle_partitions,
            driver_memory=self.driver_memory,
            executor_memory=self.executor_memory,
        )

    def session(self) -> tuple[Any, Path]:
        """The Spark session (started on first use in this process) and the lake's folder.
        Spark asked for where pyspark is not installed fails the step with what to install,
        not a stack trace."""
        spark_settings = self.settings()
        try:
            return spark_session(spark_settings), spark_settings.lake
        except SparkUnavailable as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None


def engine_executor(engine: str) -> dg.ExecutorDefinition:
    """How a run's steps execute. DuckDB has one writer per file: one after another inside the
    run's process. Spark has no such limit: steps in their own processes, side by side (the
    ten raw sources, segmentation beside the propensity models), as many as the host has
    cores; their short DuckDB hand-overs take turns (`WarehouseResource.lock_wait_seconds`)."""
    if engine_name(engine) == "spark":
        return dg.multiprocess_executor
    return dg.in_process_executor
