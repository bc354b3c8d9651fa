"""Configuration mistakes as Dagster failures: one clear message, no retry, no traceback."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from seg_platform.core.yaml_files import ConfigFileError


@contextmanager
def config_errors_as_failures() -> Iterator[None]:
    """Inside an asset: a configuration mistake fails the step as a user error (Dagster's
    `Failure`, no retry, no traceback), its message the file's error lines."""
    try:
        yield
    except ConfigFileError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
