"""Shared fixtures: a temporary platform home, so no test writes outside tmp_path."""

import os
from pathlib import Path

import pytest

from seg_platform import settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def home(tmp_path, monkeypatch) -> settings.PlatformHome:
    """An empty platform home under tmp_path, selected through the environment."""
    root = tmp_path / "home"
    monkeypatch.setenv(settings.HOME_ENV, str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster"))
    monkeypatch.delenv(settings.SOURCES_ENV, raising=False)
    return settings.platform_home().ensure()


@pytest.fixture(autouse=True)
def _no_kill_hook(monkeypatch):
    monkeypatch.delenv("SEG_PLATFORM_KILL_BEFORE_COMMIT", raising=False)
    yield
    assert "SEG_PLATFORM_KILL_BEFORE_COMMIT" not in os.environ
