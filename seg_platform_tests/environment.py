"""`environment`: environment variables set for a block, then restored (a plain module, without
conftest's side effects, so the benchmarks that share test helpers can import it too)."""

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """The environment variables set (None: unset) for the block, then those as they were.
    Only those: what the code in the block changed stays. Restoring the whole environment, as
    `unittest.mock.patch.dict` does, also undid what starting a Spark session inside the block
    changed (`core.spark.session` sets and removes variables), and the identity-on-Spark
    fixture then found no active session after the block."""
    saved = {key: os.environ.get(key) for key in values}
    try:
        _apply(values)
        yield
    finally:
        _apply(saved)


def _apply(values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
