"""`environment`: environment variables set for a block, then restored (a plain module, without
conftest's side effects, so the benchmarks that share test helpers can import it too)."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock


@contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """The environment variables set (None: unset) for the block, then all as they were."""
    with mock.patch.dict(os.environ):
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
