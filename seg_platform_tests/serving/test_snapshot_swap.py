"""A new snapshot is built beside the served one: lookups during the build are answered from
the snapshot before, and from the new one once it is swapped in (no timing asserted)."""

import datetime as dt
import gc
import hashlib
import json
import threading
import time
import tracemalloc

import polars as pl

from seg_platform.core import serving
from seg_platform.core.identity_rules import IdentityRules
from seg_platform.core.serving import publish, serving_root
from seg_platform.serving import store as store_module
from seg_platform.serving.snapshot import EMPTY, PROFILE_COLUMNS
from seg_platform_tests.serving.test_profile_service import call, service

EMAIL = "ada@example.org"


def _tables(segment: str, churn: float) -> dict[str, pl.DataFrame]:
    """A one-customer snapshot (P1, found by its email as written) in segment `segment`."""
    tables = {name: pl.DataFrame(schema=schema) for name, schema in EMPTY.items()}
    tables["profiles"] = pl.DataFrame(
        [{
            "profile_id": "P1", "as_of_date": dt.date(2025, 12, 31), "segment_id": 1,
            "segment_name": segment, "action": f"act on {segment}",
            "churn_probability": churn, "purchase_probability": 0.5,
            "predicted_value_12m": 120.0, "predicted_value_percentile": 40.0,
        }],
        schema=PROFILE_COLUMNS,
    )  # fmt: skip
    key = hashlib.sha256(f"email:{EMAIL}".encode()).hexdigest()
    tables["identifiers"] = pl.DataFrame(
        {"kind": ["raw"], "key": [key], "profile_id": ["P1"]}, schema=EMPTY["identifiers"]
    )
    tables["consent"] = pl.DataFrame(
        {"profile_id": ["P1"], "channel": ["email"], "status": ["opt_in"]},
        schema=EMPTY["consent"],
    )
    tables["reasons"] = pl.DataFrame(
        [{"profile_id": "P1", "rank": 1, "feature": "orders_90d", "customer_value": 3.0,
          "segment_average": 1.5, "reason": f"why {segment}"}],
        schema=EMPTY["reasons"],
    )  # fmt: skip
    return tables


def _wait(predicate, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_lookups_during_a_snapshot_build_answer_from_the_old_one_then_the_new(home, monkeypatch):
    root = serving_root(home.root)
    old = publish(root, _tables("Loyal", 0.1), {"month": "2025-12-31"})
    building, release = threading.Event(), threading.Event()
    real_load = store_module.load_snapshot

    def held_load(folder):
        if folder.name != old.name:  # the new version: held until the test lets it go
            building.set()
            assert release.wait(30), "the build was never released"
        return real_load(folder)

    monkeypatch.setattr(store_module, "load_snapshot", held_load)
    lookup = {"id_type": "email", "value": EMAIL}
    with service(home.root, None) as url:
        code, body = call(url, "/lookup", lookup)
        assert code == 200 and body["snapshot"] == old.name
        new = publish(root, _tables("At Risk", 0.8), {"month": "2026-01-31"})
        _wait(building.is_set, "the service did not start loading the new snapshot")
        try:
            # While the new snapshot is built: answered, from the snapshot before.
            for _ in range(3):
                code, body = call(url, "/lookup", lookup)
                assert code == 200
                assert (body["snapshot"], body["segment_name"]) == (old.name, "Loyal")
                assert body["reasons"][0]["reason"] == "why Loyal"
            health = call(url, "/health")[1]
            assert (health["snapshot"], health["loading"]) == (old.name, new.name)
        finally:
            release.set()
        _wait(lambda: call(url, "/lookup", lookup)[1]["snapshot"] == new.name, "no swap")
        code, body = call(url, "/lookup", lookup)
        assert (body["segment_name"], body["churn_probability"]) == ("At Risk", 0.8)
        assert body["consent"] == {"email": "opt_in"} and body["overlays"] == []
        assert [r["reason"] for r in body["reasons"]] == ["why At Risk"]
        assert call(url, "/health")[1]["loading"] is None
        assert call(url, "/profiles/P1")[1] == body
        assert call(url, "/profiles/P2")[0] == 404


def _many(n: int) -> dict[str, pl.DataFrame]:
    """A snapshot of `n` customers (P0..), each found by its user id, with an overlay, consent,
    two reasons and a signals row."""
    pids = [f"P{i}" for i in range(n)]
    tables = {name: pl.DataFrame(schema=schema) for name, schema in EMPTY.items()}
    tables["profiles"] = pl.DataFrame({
        "profile_id": pids, "as_of_date": [dt.date(2025, 12, 31)] * n,
        "segment_id": [i % 4 for i in range(n)], "segment_name": [f"S{i % 4}" for i in range(n)],
        "action": ["act"] * n, "churn_probability": [i / n for i in range(n)],
        "purchase_probability": [0.5] * n, "predicted_value_12m": [1.0] * n,
        "predicted_value_percentile": [50.0] * n,
    }, schema=PROFILE_COLUMNS)  # fmt: skip
    tables["identifiers"] = pl.DataFrame({
        "kind": ["raw"] * n,
        "key": [hashlib.sha256(f"user_id:u{i}".encode()).hexdigest() for i in range(n)],
        "profile_id": pids,
    }, schema=EMPTY["identifiers"])  # fmt: skip
    tables["overlays"] = pl.DataFrame(
        {"profile_id": pids, "family": ["lifecycle"] * n, "overlay": ["engaged"] * n},
        schema=EMPTY["overlays"],
    )
    tables["consent"] = pl.DataFrame(
        {"profile_id": pids, "channel": ["email"] * n, "status": ["opt_in"] * n},
        schema=EMPTY["consent"],
    )
    tables["reasons"] = pl.DataFrame({
        "profile_id": pids * 2, "rank": [2] * n + [1] * n, "feature": ["b"] * n + ["a"] * n,
        "customer_value": [float(i) for i in range(n)] * 2, "segment_average": [1.5] * (2 * n),
        "reason": [f"second {i}" for i in range(n)] + [f"first {i}" for i in range(n)],
    }, schema=EMPTY["reasons"])  # fmt: skip
    tables["signals"] = pl.DataFrame(
        {"profile_id": pids, "pricing_views_7d": list(range(n))},
    )
    return tables


def test_a_loaded_snapshot_holds_no_python_object_per_customer_and_answers_the_same(home):
    """What stalls lookups while a new snapshot loads on the watcher thread is Python work per
    customer (it holds the interpreter the lookups need) and the objects it leaves behind for
    the garbage collector to walk: a 20,000-customer snapshot must add only a few hundred
    tracked objects, not one per customer, and still answer every field exactly."""
    n = 20_000
    folder = publish(serving_root(home.root), _many(n), {"month": "2025-12-31"})
    gc.collect()
    before = len(gc.get_objects())
    snap = store_module.load_snapshot(folder)
    assert snap.folder == folder
    gc.collect()
    added = len(gc.get_objects()) - before
    assert added < 1_000, f"{added:,} tracked objects for {n:,} customers"
    # Nor untracked ones (strings, ints: what a dict of profile ids holds): loading again, the
    # memory Python and NumPy allocate and keep is a few kilobytes, not ~100 bytes a customer.
    tracemalloc.start()
    again = store_module.load_snapshot(folder)
    kept, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert kept < 100_000, f"{kept:,} bytes kept by a load of {n:,} customers"
    sized = [k for k, v in vars(again).items() if isinstance(v, dict | list | set) and len(v) > 100]
    assert sized == [], f"Python containers with an entry per customer: {sized}"
    del again
    store = store_module.ProfileStore(serving_root(home.root), IdentityRules(), None)
    assert store.snapshot.version == folder.name
    assert store.resolve("user_id", "u12345") == "P12345"
    assert store.resolve("user_id", "u20000") is None
    answer = store.profile("P12345")
    assert answer == {
        "profile_id": "P12345", "as_of_date": "2025-12-31", "segment_id": 1,
        "segment_name": "S1", "action": "act", "churn_probability": 12345 / n,
        "purchase_probability": 0.5, "predicted_value_12m": 1.0,
        "predicted_value_percentile": 50.0, "consent": {"email": "opt_in"},
        "reasons": [
            {"rank": 1, "feature": "a", "customer_value": 12345.0, "segment_average": 1.5,
             "reason": "first 12345"},
            {"rank": 2, "feature": "b", "customer_value": 12345.0, "segment_average": 1.5,
             "reason": "second 12345"},
        ],
        "overlays": [{"family": "lifecycle", "overlay": "engaged"}],
        "snapshot": folder.name,
    }  # fmt: skip


def test_the_served_files_are_in_the_folder_before_the_pointer_names_it(home, monkeypatch):
    """A reader that follows the pointer at any moment finds the whole snapshot, mapped files
    included: they are written (and the manifest naming their format last) before the folder
    is renamed into place and the pointer replaced."""
    from seg_platform.core import serving

    root = serving_root(home.root)
    seen = []
    real_replace = serving.os.replace

    def replace(src, dst):
        if str(dst).endswith(serving.POINTER):
            folder = root / open(src).read().strip()  # the version about to be served
            names = {p.name for p in folder.iterdir()}
            seen.append(names)
            assert {"answers.arrow", "signals.arrow", "index_profile_id_keys.npy",
                    "index_value_keys.npy", "index_raw_rows.npy"} <= names, names  # fmt: skip
            assert json.loads((folder / "manifest.json").read_text())["serving_format"] == 2
            snap = store_module.load_snapshot(folder)
            assert snap.customers == 300 and snap.row("P299") is not None
        return real_replace(src, dst)

    monkeypatch.setattr(serving.os, "replace", replace)
    publish(root, _many(300), {"month": "2025-12-31"})
    publish(root, _many(300), {"month": "2026-01-31"})
    assert len(seen) == 2


def test_a_snapshot_published_before_the_served_files_is_served_after_building_them(home):
    """A folder of an older version (its Parquet tables, no mapped files) is served: the files
    are built once in a private folder, removed once mapped, and the published folder is left
    as it was. A format newer than the service's is refused (said on /health) until the next
    publish."""
    root = serving_root(home.root)
    old = publish(root, _tables("Loyal", 0.1), {"month": "2025-12-31"})
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["serving_format"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    for path in [*old.glob("*.npy"), *old.glob("*.arrow")]:
        path.unlink()
    before = sorted(p.name for p in old.iterdir())
    store = store_module.ProfileStore(root, IdentityRules(), None)
    assert store.snapshot.version == old.name and store.refused is None
    assert store.profile(store.resolve("email", EMAIL))["segment_name"] == "Loyal"
    assert sorted(p.name for p in old.iterdir()) == before
    assert sorted(p.name for p in root.iterdir()) == sorted([old.name, serving.POINTER])

    newer = publish(root, _tables("At Risk", 0.8), {"month": "2026-01-31"})
    manifest = json.loads((newer / "manifest.json").read_text())
    (newer / "manifest.json").write_text(json.dumps({**manifest, "serving_format": 99}))
    assert store.refresh() is False and store.refused == newer.name
    assert store.refresh() is False  # refused once, not re-read at every poll
    assert store.snapshot.version == old.name  # the one before keeps answering
    new = publish(root, _tables("At Risk", 0.8), {"month": "2026-02-28"})
    assert store.refresh() is True and store.snapshot.version == new.name
    assert store.profile(store.resolve("email", EMAIL))["segment_name"] == "At Risk"
