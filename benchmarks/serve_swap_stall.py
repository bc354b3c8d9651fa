"""The profile service's stall while it switches to a new snapshot, measured directly: lookups
(identifier resolve + the answer's JSON) at a fixed rate on one thread while the watcher
thread loads a newly published 100k snapshot and swaps it in, then polls on every 0.2 s (the
snapshot before is let go then), as `seg-platform serve` does.
Each lookup's latency counts from the moment it was due, so time queued behind the load (the
interpreter held by the loading thread) shows. No HTTP: only what the swap costs the lookups.

`--compare-with DIR` loads another checkout's `seg_platform/serving/store.py` (e.g. main) and
measures both stores in the same run, alternating, on the same snapshot files.

    .venv/bin/python benchmarks/serve_swap_stall.py [--customers 100000] [--rounds 3]
        [--compare-with /path/to/other/checkout]
"""

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from serve_load import identities, snapshot_tables  # noqa: E402

from seg_platform.core.identity_rules import IdentityRules  # noqa: E402
from seg_platform.core.serving import publish, serving_root  # noqa: E402

POLL_SECONDS = 0.2  # as serving/app.py


def store_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def answer(store, profile_id: str) -> bytes:
    # The service's answer for one customer, as each version of the store renders it.
    if hasattr(store, "profile_json"):
        return store.profile_json(profile_id)
    return json.dumps(store.profile(profile_id)).encode()


def one_round(module, root: Path, tables: list, people, rate: float, seed: int) -> dict:
    """Serve version A, publish version B, lookups at `rate` until B is swapped in + 1 s."""
    store = module.ProfileStore.__new__(module.ProfileStore)
    # The service's store, without the intent family (no live events in this benchmark).
    module.ProfileStore.__init__(store, root, IdentityRules(), None)
    first = store.snapshot.version
    publish(root, tables[seed % 2], {"month": "2025-12-31", "features_as_of": "2025-12-31"})
    user_ids = people["user_id"].to_list()
    n = len(user_ids)
    swapped = threading.Event()
    loading = {}

    done = threading.Event()

    def watch() -> None:
        started = time.perf_counter()
        store.refresh()
        loading["load_and_swap_s"] = time.perf_counter() - started
        swapped.set()
        while not done.wait(POLL_SECONDS):  # the service's watcher polls on
            store.refresh()

    latencies, during, after = [], [], []
    watcher = threading.Thread(target=watch)
    t0 = time.perf_counter()
    watcher.start()
    i, end = 0, None
    while end is None or time.perf_counter() < end:
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        pid = store.resolve("user_id", user_ids[(i * 7919 + seed) % n])
        assert pid is not None and answer(store, pid)
        latency = time.perf_counter() - due
        latencies.append(latency)
        if not swapped.is_set():
            during.append(latency)
        else:
            after.append(latency)
            if end is None:
                end = time.perf_counter() + 1.0
        i += 1
    done.set()
    watcher.join()
    assert store.snapshot.version != first
    ordered = sorted(during)
    return {
        "load_and_swap_s": round(loading["load_and_swap_s"], 2),
        "lookups_during_load": len(during),
        "during_p50_ms": round(statistics.median(ordered) * 1000, 2),
        "during_p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 2),
        "during_max_ms": round(ordered[-1] * 1000, 1),
        "after_swap_max_ms": round(max(after) * 1000, 1),
        "over_10ms": sum(1 for x in latencies if x > 0.010),
        "lookups": len(latencies),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare-with", type=Path, default=None)
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1] / "seg_platform" / "serving" / "store.py"
    stores = {"this": store_module(here, "store_this")}
    if args.compare_with is not None:
        other = args.compare_with / "seg_platform" / "serving" / "store.py"
        stores = {"other": store_module(other, "store_other"), **stores}
    people = identities(args.customers)
    tables = [snapshot_tables(people, tag) for tag in (1, 2)]
    results: dict[str, list] = {name: [] for name in stores}
    with tempfile.TemporaryDirectory(prefix="serve-swap-") as tmp:
        root = serving_root(Path(tmp))
        publish(root, tables[1], {"month": "2025-12-31", "features_as_of": "2025-12-31"})
        load_before = os.getloadavg()
        for r in range(args.rounds):
            for name, module in stores.items():  # alternating, on the same files
                results[name].append(one_round(module, root, tables, people, args.rate, r))
    summary = {
        name: {
            "median_during_p99_ms": statistics.median(x["during_p99_ms"] for x in runs),
            "median_during_max_ms": statistics.median(x["during_max_ms"] for x in runs),
            "median_load_and_swap_s": statistics.median(x["load_and_swap_s"] for x in runs),
            "median_after_swap_max_ms": statistics.median(x["after_swap_max_ms"] for x in runs),
            "rounds": runs,
        }
        for name, runs in results.items()
    }
    if "other" in summary:
        summary["max_ratio_other_over_this"] = round(
            summary["other"]["median_during_max_ms"] / summary["this"]["median_during_max_ms"], 1
        )
    print(json.dumps({
        "customers": args.customers, "rate": args.rate, "cpus": os.cpu_count(),
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(), **summary,
    }, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
