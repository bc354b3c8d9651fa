"""Dagster resources: the DuckDB warehouse and the sources.yaml, both under the platform home."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from seg_platform import settings
from seg_platform.sources.config import SourcesConfig, load_sources_config
from seg_platform.warehouse import connect


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse. Empty `database` means `<platform home>/warehouse.duckdb`.

    Not Dagster's DuckDBResource: that one retries a locked file silently for ~100 s, which looks
    like a hang; this one fails at once and says which process holds the lock.
    """

    database: str = ""

    @property
    def path(self) -> Path:
        return Path(self.database) if self.database else settings.platform_home().warehouse

    @contextmanager
    def get_connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(self.path, read_only=read_only) as con:
            yield con


class SourcesResource(dg.ConfigurableResource):
    """The sources.yaml: `config_path`, else $SEG_PLATFORM_SOURCES, else the home's sample."""

    config_path: str = ""

    @property
    def path(self) -> Path:
        return settings.sources_config_path(self.config_path or None)

    def load(self) -> SourcesConfig:
        return load_sources_config(self.path)
