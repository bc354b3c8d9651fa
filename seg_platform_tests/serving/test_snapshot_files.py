"""The serving snapshot's files (`core.serving`): one version behind an atomic pointer, older
versions gone, erased people removed by a republish."""

import polars as pl
import pytest

from seg_platform.core.serving import (
    POINTER,
    TABLES,
    current_version,
    publish,
    read_manifest,
    read_tables,
    republish_without,
)

pytestmark = pytest.mark.unit


def _tables(pids: list[str]) -> dict[str, pl.DataFrame]:
    return {
        name: pl.DataFrame({"profile_id": pids, "x": list(range(len(pids)))}) for name in TABLES
    }


def test_a_publish_replaces_the_version_behind_the_pointer(tmp_path):
    root = tmp_path / "serving"
    assert current_version(root) is None
    first = publish(root, _tables(["P1", "P2"]), {"month": "2025-11-30"})
    assert current_version(root) == first
    second = publish(root, _tables(["P1", "P2", "P3"]), {"month": "2025-12-31"})
    assert current_version(root) == second != first
    assert (root / POINTER).read_text().strip() == second.name
    # Only the served version is left, and no temporary file.
    assert sorted(p.name for p in root.iterdir()) == sorted([POINTER, second.name])
    manifest = read_manifest(second)
    assert manifest["month"] == "2025-12-31" and manifest["rows"]["profiles"] == 3
    with pytest.raises(ValueError, match="needs the tables"):
        publish(root, {"profiles": _tables(["P1"])["profiles"]}, {})
    assert current_version(root) == second  # a failed publish leaves the served version


def test_republishing_without_erased_people_removes_their_rows_everywhere(tmp_path):
    root = tmp_path / "serving"
    old = publish(root, _tables(["P1", "P2", "P3"]), {"month": "2025-12-31"})
    assert republish_without(root, ["P9"]) is None  # nobody to remove: nothing published
    new = republish_without(root, ["P2"])
    assert new is not None and current_version(root) == new and not old.exists()
    for name, table in read_tables(new).items():
        assert table["profile_id"].to_list() == ["P1", "P3"], name
    assert read_manifest(new)["month"] == "2025-12-31"
    assert read_manifest(new)["republished_after_erasure"] is True


def test_a_pointer_outside_the_serving_folder_is_not_followed(tmp_path):
    root = tmp_path / "serving"
    (tmp_path / "elsewhere").mkdir()
    root.mkdir()
    for name in ("../elsewhere", ".hidden", ""):
        (root / POINTER).write_text(name)
        assert current_version(root) is None
