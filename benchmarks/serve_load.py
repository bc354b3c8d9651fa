"""Load test of the profile service (`seg-platform serve`), loopback only, bounded in count and
time: lookups at a fixed rate (default 1,000 requests/s for 60 s) over a 100k-customer serving
snapshot; an event that moves its customer into an intent overlay (time until a lookup shows
it); and a new snapshot published while the lookups run (errors counted).

The snapshot is built from a generated 100k identity table (user id, email in mixed case, US
phone in national format, cookie id per customer, hashed with the identity layer's own SQL) and
published with `core.serving.publish`, as a run publishes; a full generator + pipeline run at
100k customers does not fit the time budget of this machine. Three lookups in four use a
spelling the snapshot holds (a dict hit); the fourth a new spelling (upper case, spaces, +1),
normalised by the identity layer's SQL in the service.

    .venv/bin/python benchmarks/serve_load.py [--customers 100000] [--rate 1000] [--seconds 60]
"""

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import polars as pl

from seg_platform.core.identifiers import fill_phone_table, identifier_hash_sql
from seg_platform.core.identity_rules import IdentityRules
from seg_platform.core.serving import publish, serving_root
from seg_platform.core.warehouse import frame_to_temp_table, memory_connection

SWAP_WINDOW = 10.0  # seconds after the new snapshot's publish counted as "during the swap"
SEGMENTS = ["Dormant Customers", "Bargain Hunters", "High-Value Loyalists", "Power Users"]


def identities(n: int, seed: int = 7) -> pl.DataFrame:
    """One row per customer: profile id and raw identifiers as sources would write them."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n)
    area = rng.integers(201, 989, n)
    line = rng.integers(2_000_000, 9_999_999, n)
    return pl.DataFrame({
        "profile_id": [f"P{i:015x}" for i in ids],
        "user_id": [f"u_{i:012d}" for i in ids],
        "email": [f" Customer.{i}@Example.COM " for i in ids],
        "phone": [f"({a}) {str(b)[:3]}-{str(b)[3:]}" for a, b in zip(area, line, strict=True)],
        "anonymous_id": [f"anon_{i:010d}" for i in ids],
    })  # fmt: skip


def snapshot_tables(people: pl.DataFrame, version_tag: int) -> dict[str, pl.DataFrame]:
    rules = IdentityRules()
    n = people.height
    rng = np.random.default_rng(version_tag)
    with memory_connection() as con:
        frame_to_temp_table(con, "people", people)
        fill_phone_table(con, rules, "SELECT phone FROM people")
        # As a run publishes them: by normalised value, and by the raw spelling the sources hold.
        parts = [
            f"SELECT 'value' AS kind, {identifier_hash_sql(rules, t, t)} AS key, profile_id "
            f"FROM people UNION ALL SELECT 'raw', sha256('{t}:' || {t}), profile_id FROM people"
            for t in ("user_id", "email", "phone", "anonymous_id")
        ]
        keys = con.sql(" UNION ALL ".join(parts)).pl().filter(pl.col("key").is_not_null())
    segment = rng.integers(0, len(SEGMENTS), n)
    pids = people["profile_id"]
    profiles = pl.DataFrame({
        "profile_id": pids, "as_of_date": [dt.date(2025, 12, 31)] * n,
        "segment_id": segment, "segment_name": [SEGMENTS[s] for s in segment],
        "action": [f"Playbook action for {SEGMENTS[s]}" for s in segment],
        "churn_probability": rng.random(n), "purchase_probability": rng.random(n),
        "predicted_value_12m": rng.gamma(2, 300, n),
        "predicted_value_percentile": rng.random(n) * 100,
    })  # fmt: skip
    signals = pl.DataFrame({
        "profile_id": pids, "segment_id": segment, "pricing_views_7d": rng.poisson(0.3, n),
        "compare_views_7d": rng.poisson(0.2, n), "checkouts_abandoned_30d": rng.poisson(0.1, n),
        "days_since_last_activity": rng.integers(0, 200, n),
    })  # fmt: skip
    consent = pl.DataFrame({
        "profile_id": pids, "channel": ["email"] * n,
        "status": np.where(rng.random(n) < 0.8, "opt_in", "opt_out"),
    })  # fmt: skip
    overlays = pl.DataFrame({
        "profile_id": pids, "family": ["lifecycle"] * n,
        "overlay": np.where(rng.random(n) < 0.5, "engaged", "dormant"),
    })  # fmt: skip
    reasons = pl.DataFrame({
        "profile_id": pids, "rank": np.ones(n, dtype=np.int32), "feature": ["tenure_days"] * n,
        "customer_value": rng.random(n) * 400, "segment_average": np.full(n, 200.0),
        "reason": ["tenure in days: above the segment's average"] * n,
    })  # fmt: skip
    return {
        "profiles": profiles, "identifiers": keys, "overlays": overlays, "consent": consent,
        "reasons": reasons, "signals": signals,
    }  # fmt: skip


def publish_snapshot(home: Path, customers: int, tag: int) -> float:
    started = time.perf_counter()
    tables = snapshot_tables(identities(customers), tag)
    publish(serving_root(home), tables, {"month": "2025-12-31", "features_as_of": "2025-12-31"})
    return time.perf_counter() - started


def request(method: str, path: str, body: dict | None = None) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    return (head + "\r\n").encode() + data


async def exchange(reader, writer, payload: bytes) -> tuple[int, dict]:
    writer.write(payload)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(x.split(":")[1]) for x in lines if x.lower().startswith("content-length"))
    return status, json.loads(await reader.readexactly(length))


async def load(port: int, people: pl.DataFrame, args, home: Path) -> dict:
    rng = random.Random(11)
    n = people.height
    kinds = ("user_id", "email", "phone", "anonymous_id")
    total = int(args.rate * args.seconds)
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(args.connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    sent: list[float] = []  # when each answered lookup was sent, seconds from the start
    exact: list[float] = []  # spellings the sources hold
    normalised: list[float] = []  # other spellings, normalised by the identity layer's SQL
    errors = {"http_5xx_or_other": 0, "connection": 0, "wrong_profile": 0}
    not_found = 0
    late = 0
    tasks = set()

    async def one(i: int, sent_at: float) -> None:
        nonlocal not_found
        conn = await pool.get()
        reader, writer = conn
        if rng.random() < 0.02:
            body, expect = {"id_type": "email", "value": f"nobody{i}@nowhere.test"}, None
        else:
            row = rng.randrange(n)
            kind = kinds[i % len(kinds)]
            value = people[kind][row]
            if i % 4 == 3:  # a spelling no source holds: normalised on the request's path
                value = f" {value.upper() if kind == 'email' else value}  "
                if kind == "phone":
                    value = "+1 " + value.replace("(", "").replace(")", "").strip()
            body = {"id_type": kind, "value": value}
            expect = people["profile_id"][row]
        start = time.perf_counter()
        try:
            status, answer = await exchange(reader, writer, request("POST", "/lookup", body))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors["connection"] += 1
            writer.close()
            pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
            return
        latencies.append(time.perf_counter() - start)
        sent.append(start - t0)
        (normalised if i % 4 == 3 else exact).append(latencies[-1])
        pool.put_nowait(conn)
        if status == 404 and expect is None:
            not_found += 1
        elif status != 200:
            errors["http_5xx_or_other"] += 1
        elif answer["profile_id"] != expect:
            errors["wrong_profile"] += 1

    # The side tasks: an event moving a customer into pricing_interest, and a new snapshot.
    side: dict = {}

    async def event_probe() -> None:
        await asyncio.sleep(args.seconds * 0.25)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        row = rng.randrange(n)
        uid = people["user_id"][row]
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        events = [
            {"event_id": f"bench_{row}_{k}", "event_ts": now, "anonymous_id": "anon_bench",
             "user_id": uid, "event_type": "page_view", "page_path": "/pricing"}
            for k in range(3)
        ]  # fmt: skip
        started = time.perf_counter()
        status, answer = await exchange(
            reader, writer, request("POST", "/events", {"events": events})
        )
        posted = time.perf_counter() - started
        lookup = request("POST", "/lookup", {"id_type": "user_id", "value": uid})
        while True:
            _, body = await exchange(reader, writer, lookup)
            if any(o["overlay"] == "pricing_interest" for o in body["overlays"]):
                break
            if time.perf_counter() - started > 5:
                side["event_overlay_ms"] = None
                return
        side["event_status"] = status
        side["event_post_ms"] = round(posted * 1000, 1)
        side["event_to_overlay_ms"] = round((time.perf_counter() - started) * 1000, 1)
        writer.close()

    async def republish() -> None:
        await asyncio.sleep(args.seconds * 0.3)  # published around mid-run
        code = (
            "import sys; from pathlib import Path; sys.path.insert(0, 'benchmarks');"
            "from serve_load import publish_snapshot;"
            f"print(publish_snapshot(Path({str(home)!r}), {n}, 2))"
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        side["republish_seconds"] = round(float(out.decode().strip().splitlines()[-1]), 1)
        side["republished_at_s"] = round(time.perf_counter() - t0, 1)
        published_at[0] = time.perf_counter() - t0

    published_at = [float("inf")]
    side_tasks = [asyncio.create_task(event_probe()), asyncio.create_task(republish())]
    t0 = time.perf_counter()
    for i in range(total):
        due = t0 + i / args.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.005:
            late += 1
        task = asyncio.create_task(one(i, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        if time.perf_counter() - t0 > args.seconds * 1.5:  # the bound on time
            break
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    await asyncio.gather(*side_tasks)
    lat = sorted(latencies)

    def pct(p: float, values: list[float] | None = None) -> float:
        ordered = lat if values is None else sorted(values)
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)

    # The lookups sent while the service loads and swaps in the new snapshot: the SWAP_WINDOW
    # seconds after the pointer moved (the service polls it every 0.2 s).
    window = [
        x for x, at in zip(latencies, sent, strict=True)
        if published_at[0] <= at < published_at[0] + SWAP_WINDOW
    ]  # fmt: skip
    swap = {"lookups": len(window)}
    if window:
        swap.update(p50_ms=pct(0.5, window), p99_ms=pct(0.99, window), max_ms=pct(1.0, window),
                    over_10ms=sum(1 for x in window if x > 0.010))  # fmt: skip
    return {
        "requests": len(lat) + errors["connection"],
        "achieved_rate": round(len(lat) / elapsed, 1),
        "sent_late_over_5ms": late,
        "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "max_ms": pct(1.0),
        "mean_ms": round(statistics.fmean(lat) * 1000, 2),
        "raw_spelling_p50_p99_ms": [pct(0.5, exact), pct(0.99, exact)],
        "other_spelling_p50_p99_ms": [pct(0.5, normalised), pct(0.99, normalised)],
        "during_swap": swap,
        "errors": errors, "not_found_expected_404": not_found, **side,
    }  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--port", type=int, default=18_766)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        home, landing = Path(tmp) / "home", Path(tmp) / "landing"
        (landing / "web_events").mkdir(parents=True)
        (landing / "sources.yaml").write_text(
            "version: 1\nsources:\n  web_events:\n    path: web_events/*.csv\n"
        )
        built = publish_snapshot(home, args.customers, 1)
        people = identities(args.customers)
        cmd = [str(Path(sys.executable).parent / "seg-platform"), "serve", "--home", str(home),
               "--sources", str(landing / "sources.yaml"), "--port", str(args.port)]  # fmt: skip
        log = open(Path(tmp) / "serve.log", "wb")  # noqa: SIM115
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            started = time.perf_counter()
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{args.port}/health") as r:
                        if json.loads(r.read())["customers"] == args.customers:
                            break
                except OSError:
                    pass
                if server.poll() is not None or time.perf_counter() - started > 120:
                    sys.exit((Path(tmp) / "serve.log").read_text()[-2000:])
                time.sleep(0.25)
            ready = time.perf_counter() - started
            load_before = os.getloadavg()
            cpu_before = cpu_seconds(server.pid)
            result = asyncio.run(load(args.port, people, args, home))
            # The service's own CPU per request: what the rate costs it, whatever the load.
            result["service_cpu_ms_per_request"] = round(
                (cpu_seconds(server.pid) - cpu_before) * 1000 / max(result["requests"], 1), 3
            )
            rss = 0
            status = Path(f"/proc/{server.pid}/status")
            if status.exists():
                rss = next(
                    int(x.split()[1]) // 1024
                    for x in status.read_text().splitlines()
                    if x.startswith("VmRSS")
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
        result["server_log_tracebacks"] = (Path(tmp) / "serve.log").read_text().count("Traceback")
        print(json.dumps({
            "customers": args.customers, "rate": args.rate, "seconds": args.seconds,
            "snapshot_build_publish_s": round(built, 1), "service_ready_s": round(ready, 1),
            "service_rss_mb": rss, "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(), "cpus": os.cpu_count(), **result,
        }, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
