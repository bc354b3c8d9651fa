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
    """One row per customer in every table, with the columns the answers are built from."""
    n = len(pids)
    extra = {
        "profiles": {"segment_name": ["S"] * n},
        "identifiers": {"kind": ["value"] * n, "key": [f"k{p}" for p in pids]},
        "overlays": {"family": ["lifecycle"] * n, "overlay": ["engaged"] * n},
        "consent": {"channel": ["email"] * n, "status": ["opt_in"] * n},
        "reasons": {
            "rank": [1] * n, "feature": ["f"] * n, "customer_value": [1.0] * n,
            "segment_average": [0.5] * n, "reason": ["why"] * n,
        },
        "signals": {"x": list(range(n))},
    }  # fmt: skip
    return {name: pl.DataFrame({"profile_id": pids, **extra[name]}) for name in TABLES}


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


def test_the_files_the_service_maps_hold_no_erased_person(tmp_path):
    """The mapped answers and indexes are written again by the republish: the erased person is
    in no file under the serving folder, and the others are still answered."""
    from seg_platform.serving.store import load_snapshot

    root = tmp_path / "serving"
    publish(root, _tables(["PA1", "PB2", "PC3"]), {"month": "2025-12-31"})
    new = republish_without(root, ["PB2"])
    assert new is not None
    mapped = {p.name for p in new.iterdir()} - {f"{name}.parquet" for name in TABLES}
    assert {"answers.arrow", "index_profile_id_keys.npy", "index_value_keys.npy"} <= mapped
    for path in root.rglob("*"):
        if path.is_file():
            assert b"PB2" not in path.read_bytes(), path
    snap = load_snapshot(new)
    assert snap.customers == 2 and snap.row("PB2") is None
    assert snap.profile_of(snap.ids, "kPB2") is None and snap.profile_of(snap.ids, "kPC3") == "PC3"
    assert snap.head[snap.row("PA1")].as_py().startswith('{"profile_id":"PA1"')


def test_a_pointer_outside_the_serving_folder_is_not_followed(tmp_path):
    root = tmp_path / "serving"
    (tmp_path / "elsewhere").mkdir()
    root.mkdir()
    for name in ("../elsewhere", ".hidden", ""):
        (root / POINTER).write_text(name)
        assert current_version(root) is None


@pytest.mark.parametrize(
    "keys",
    [["abc", "a", "", "zz"], ["é", "ab", "日本語x"], ["x" * 64] * 3, [], ["a"], [""]],
)
def test_index_keys_are_the_bytes_numpy_makes_of_them(keys):
    """The served indexes' keys come from one Arrow buffer (no Python object per key): the
    same fixed-width bytes, NUL-padded, that NumPy makes of the encoded strings."""
    import numpy as np

    from seg_platform.core.serving import _fixed_width

    expected = np.array([k.encode() for k in keys] or [b""], dtype="S1")
    if keys:
        width = max(max(len(k.encode()) for k in keys), 1)
        expected = np.array([k.encode() for k in keys], dtype=f"S{width}")
    else:
        expected = expected[:0]
    got = _fixed_width(pl.Series("key", keys, dtype=pl.String))
    assert got.dtype == expected.dtype
    assert got.tobytes() == expected.tobytes()
    # A slice of a longer series of two chunks gives the same bytes.
    both = pl.concat([pl.Series("key", ["pad"]), pl.Series("key", keys, dtype=pl.String)])
    assert both.n_chunks() == (2 if keys else 1)
    assert _fixed_width(both.slice(1)).tobytes() == expected.tobytes()
