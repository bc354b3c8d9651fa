"""The Dagster resource every group shares: the DuckDB warehouse."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from seg_platform.core import settings
from seg_platform.core.warehouse import connect


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

    @property
    def path(self) -> Path:
        return Path(self.database) if self.database else settings.platform_home().warehouse

    @contextmanager
    def get_connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(self.path, read_only=read_only) as con:
            yield con
