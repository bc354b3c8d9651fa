"""The profile service's memory: the published snapshot as columns (a lookup is a dict read, a
binary search and two string reads; each answer's JSON is rendered when the snapshot loads),
the identifier normalisation of the identity layer, and the live behaviour events that move
intent overlays between runs.

Live windowed signals: a customer's `pricing_views_7d` and `compare_views_7d` are the
snapshot's value (when the snapshot's features are inside the window) plus the live page views
of that kind inside the 7 days before the latest of now and the event's time;
`days_since_last_activity` becomes the days since the latest live event. The intent family of
the overlays file is then evaluated over that one row with the family's own checked SQL.
"""

import datetime as dt
import hashlib
import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from seg_platform.core.identifiers import (
    IDENTIFIER_TYPES,
    NormalisationRules,
    fill_phone_table,
    identifier_hash_sql,
)
from seg_platform.core.serving import current_version, read_manifest, read_tables
from seg_platform.core.warehouse import frame_to_temp_table, memory_connection
from seg_platform.predictions.overlays import Family, evaluate

INTENT = "intent"
# Live counters: signal -> (page-path prefix of a web page view, window in days), as
# dbt_like_sql/staging/stg_events.sql classifies pages and customer_features.sql windows them.
LIVE_COUNTS = {"pricing_views_7d": ("/pricing", 7), "compare_views_7d": ("/compare", 7)}
CACHE_SIZE = 200_000  # normalised identifiers remembered (about 40 MB at most)
ID_ALIASES = {"cookie": "anonymous_id", "cookie_id": "anonymous_id", "device": "device_id"}


class IdentifierKeys:
    """`sha256('<type>:<normalised value>')` of a looked-up identifier, computed by the identity
    layer's own SQL (`core.identifiers.identifier_hash_sql`) in a private in-memory DuckDB."""

    def __init__(self, rules: NormalisationRules):
        self.rules = rules
        self.con = memory_connection()
        self.lock = threading.Lock()
        self.sql = {
            t: f"SELECT {identifier_hash_sql(rules, t, '$1')}"
            for t in IDENTIFIER_TYPES
            if t != "phone"
        }
        self.con.execute("CREATE TEMP TABLE _lookup (v VARCHAR)")
        self.phone_sql = f"SELECT {identifier_hash_sql(rules, 'phone', 'v')} FROM _lookup"
        self.cache: dict[tuple[str, str], str] = {}

    def key(self, id_type: str, value: str) -> str | None:
        cached = self.cache.get((id_type, value))
        if cached is None:
            cached = self.cache[(id_type, value)] = self._key(id_type, value) or ""
            if len(self.cache) > CACHE_SIZE:
                self.cache.pop(next(iter(self.cache)))  # the oldest entry
        return cached or None

    def _key(self, id_type: str, value: str) -> str | None:
        with self.lock:
            if id_type != "phone":
                row = self.con.execute(self.sql[id_type], [value]).fetchone()
                return row[0] if row else None
            self.con.execute("DELETE FROM _lookup")
            self.con.execute("INSERT INTO _lookup VALUES (?)", [value])
            fill_phone_table(self.con, self.rules, "SELECT v FROM _lookup")
            row = self.con.execute(self.phone_sql).fetchone()
            return row[0] if row else None


SIGNALS_ABSENT = -1
ROWS_SLICE = 5_000  # profile ids indexed between two pauses of the loading thread


class KeyIndex:
    """Rows by a SHA-256 hex key: the keys' first 64 bits as a sorted NumPy array (a binary
    search per lookup), the full key compared before a row is returned. Built by Polars and
    NumPy without a Python object per key."""

    def __init__(self, keys: pl.Series, rows: pl.Series):
        prefix = keys.str.slice(0, 16).str.to_integer(base=16, dtype=pl.UInt64, strict=False)
        order = prefix.arg_sort()
        self.prefix = prefix.gather(order).to_numpy()
        self.keys = keys.gather(order)
        self.rows = rows.gather(order).to_numpy()

    def __len__(self) -> int:
        return len(self.prefix)

    def find(self, key: str) -> int | None:
        try:
            wanted = np.uint64(int(key[:16], 16))
        except ValueError:
            return None
        i = int(np.searchsorted(self.prefix, wanted))
        while i < len(self.prefix) and self.prefix[i] == wanted:
            if self.keys[i] == key:
                return int(self.rows[i])
            i += 1
        return None


def _json_list(table: pl.DataFrame, columns: list[str], name: str) -> pl.DataFrame:
    """profile_id and `name`: each customer's rows of `table` as JSON objects of `columns`,
    comma-separated, in the table's order."""
    return (
        table.with_columns(_j=pl.struct(columns).struct.json_encode())
        .group_by("profile_id", maintain_order=True)
        .agg(pl.col("_j").str.join(",").alias(name))
    )


@dataclass
class Snapshot:
    """A published snapshot as columns: per customer (a row of `profiles`) the answer's JSON
    but for its overlays (`head`), the overlays' JSON (`overlays`) and the signals intent
    overlays are evaluated over. Loading it creates no Python object per row, so a new 100k
    snapshot is built beside the served one without holding the interpreter for long (the
    lookups keep their latency while it loads) and swapped in as one reference."""

    folder: Path | None
    manifest: dict
    profile_ids: pl.Series = field(default_factory=lambda: pl.Series([], dtype=pl.String))
    rows: dict[str, int] = field(default_factory=dict)
    head: pl.Series = field(default_factory=lambda: pl.Series([], dtype=pl.String))
    overlays: pl.Series = field(default_factory=lambda: pl.Series([], dtype=pl.String))
    ids: KeyIndex | None = None
    raw_ids: KeyIndex | None = None
    signals: pl.DataFrame = field(default_factory=pl.DataFrame)
    signal_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    signal_schema: dict = field(default_factory=dict)

    @property
    def version(self) -> str | None:
        return self.manifest.get("version")

    @property
    def customers(self) -> int:
        return len(self.rows)

    def features_as_of(self) -> dt.date | None:
        value = self.manifest.get("features_as_of")
        return dt.date.fromisoformat(value) if value else None

    def row(self, profile_id: str) -> int | None:
        return self.rows.get(profile_id)

    def profile_of(self, index: KeyIndex | None, key: str) -> str | None:
        row = index.find(key) if index is not None else None
        return None if row is None else self.profile_ids[row]

    def signal_row(self, profile_id: str) -> dict | None:
        row = self.rows.get(profile_id)
        if row is None or self.signal_rows[row] == SIGNALS_ABSENT:
            return None
        return self.signals.row(int(self.signal_rows[row]), named=True)


def load_snapshot(folder: Path) -> Snapshot:
    """A published snapshot folder as a `Snapshot` (its rows answered by profile id or by
    identifier hash)."""
    tables = read_tables(folder)
    snap = Snapshot(folder, read_manifest(folder))
    profiles = tables["profiles"].with_row_index("_row")
    n = profiles.height
    rows = profiles.select("profile_id", "_row")
    # The answer's fields in JSON (dates as ISO text), then consent and reasons.
    fields = [
        pl.col(c).cast(pl.String) if t in (pl.Date, pl.Datetime) else pl.col(c)
        for c, t in tables["profiles"].schema.items()
    ]
    consent = tables["consent"].select(
        "profile_id",
        _c=pl.struct("channel", "status").struct.json_encode()
        .str.replace(r'^\{"channel":(.*),"status":(.*)\}$', "$1:$2"),
    ).group_by("profile_id", maintain_order=True).agg(pl.col("_c").str.join(","))  # fmt: skip
    reasons = _json_list(
        tables["reasons"].sort("profile_id", "rank", maintain_order=True),
        ["rank", "feature", "customer_value", "segment_average", "reason"], "_r",
    )  # fmt: skip
    overlays = _json_list(tables["overlays"], ["family", "overlay"], "_o")
    body = (
        profiles.select("profile_id", _b=pl.struct(fields).struct.json_encode())
        .join(consent, on="profile_id", how="left", maintain_order="left")
        .join(reasons, on="profile_id", how="left", maintain_order="left")
        .join(overlays, on="profile_id", how="left", maintain_order="left")
        .select(
            head=pl.concat_str(
                pl.col("_b").str.head(-1), pl.lit(',"consent":{'), pl.col("_c").fill_null(""),
                pl.lit('},"reasons":['), pl.col("_r").fill_null(""), pl.lit("]"),
            ),
            overlays=pl.col("_o").fill_null(""),
        )
    )  # fmt: skip
    snap.profile_ids = profiles["profile_id"]
    snap.head, snap.overlays = body["head"], body["overlays"]
    ids = tables["identifiers"].join(rows, on="profile_id", how="inner")
    for kind in ("value", "raw"):
        part = ids.filter(pl.col("kind") == kind)
        setattr(snap, "ids" if kind == "value" else "raw_ids", KeyIndex(part["key"], part["_row"]))
    signals = tables["signals"]
    snap.signal_schema = dict(signals.schema)
    snap.signals = signals
    at = rows.join(
        signals.select("profile_id").with_row_index("_s"), on="profile_id", how="left",
        maintain_order="left",
    )["_s"].fill_null(SIGNALS_ABSENT)  # fmt: skip
    snap.signal_rows = at.cast(pl.Int64).to_numpy()
    # The one per-row Python structure: profile id -> row (strings and ints only, which the
    # garbage collector does not track), built in slices with a pause between them: one
    # `dict(zip(...))` over 100k ids holds the interpreter ~25 ms, and lookups wait for it.
    for start in range(0, n, ROWS_SLICE):
        chunk = snap.profile_ids.slice(start, ROWS_SLICE).to_list()
        snap.rows.update(zip(chunk, range(start, start + len(chunk)), strict=True))
        time.sleep(0)  # let a waiting lookup run
    return snap


class ProfileStore:
    """The current snapshot and the live events since; `refresh()` switches to a newly
    published snapshot (the service calls it from a watcher thread, never on the event loop:
    lookups meanwhile are answered from the snapshot before)."""

    def __init__(self, root: Path, rules: NormalisationRules, intent: Family | None):
        self.root = root
        self.keys = IdentifierKeys(rules)
        self.intent = intent
        self.snapshot = Snapshot(None, {})
        self.loading: str | None = None  # the version being loaded, while it is
        self.live_events: dict[str, list[tuple[dt.datetime, str | None]]] = defaultdict(list)
        self.live_intent: dict[str, list[str]] = {}
        self.lock = threading.Lock()  # live state and snapshot switch
        self.eval_con = memory_connection()
        self.refresh()

    # -- snapshot -------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Load the published snapshot if the pointer moved; whether it switched."""
        folder = current_version(self.root)
        if folder is None or folder == self.snapshot.folder:
            return False
        self.loading = folder.name
        try:
            snap = load_snapshot(folder)
        except (OSError, pl.exceptions.PolarsError, ValueError):
            return False  # replaced while being read: the next poll reads the newer one
        finally:
            self.loading = None
        with self.lock:
            as_of = snap.features_as_of()
            # Events up to the new features' day are in its counts; people gone are dropped.
            events = {
                pid: kept
                for pid, kept in (
                    (pid, [e for e in evs if as_of is None or e[0].date() > as_of])
                    for pid, evs in self.live_events.items()
                    if snap.row(pid) is not None
                )
                if kept
            }
            intent = {pid: self._evaluate(snap, events[pid], pid) for pid in events}
            # Live state first, then the snapshot: a lookup never sees the new snapshot
            # without its live overlays.
            self.live_events = defaultdict(list, events)
            self.live_intent = intent
            self.snapshot = snap
        return True

    # -- lookups --------------------------------------------------------------------------

    def resolve(self, id_type: str, value: str) -> str | None:
        """The profile id an identifier belongs to, normalised as the identity layer does."""
        id_type = ID_ALIASES.get(id_type, id_type)
        snap = self.snapshot
        if id_type == "profile_id":
            return value if snap.row(value) is not None else None
        raw = hashlib.sha256(f"{id_type}:{value}".encode()).hexdigest()
        found = snap.profile_of(snap.raw_ids, raw)
        if found is not None:
            return found
        key = self.keys.key(id_type, value)
        return snap.profile_of(snap.ids, key) if key else None

    def profile_json(self, profile_id: str) -> bytes | None:
        """The lookup's answer for `profile_id` as JSON (see `profile`), or None."""
        snap = self.snapshot
        row = snap.row(profile_id)
        if row is None:
            return None
        overlays = snap.overlays[row]
        live = self.live_intent.get(profile_id)
        if live is not None:
            kept = [o for o in json.loads(f"[{overlays}]") if o["family"] != INTENT]
            kept += [{"family": INTENT, "overlay": name} for name in live]
            overlays = json.dumps(kept)[1:-1]
        version = json.dumps(snap.version)
        return f'{snap.head[row]},"overlays":[{overlays}],"snapshot":{version}}}'.encode()

    def profile(self, profile_id: str) -> dict | None:
        """One customer: the snapshot's fields, overlays (live intent overlays included),
        consent per channel, reasons by rank and the snapshot's version."""
        body = self.profile_json(profile_id)
        return None if body is None else json.loads(body)

    # -- live events ----------------------------------------------------------------------

    def record_event(self, profile_id: str, ts: dt.datetime, page_path: str | None) -> list[str]:
        """Count one accepted event of `profile_id` and re-evaluate its intent overlays."""
        with self.lock:
            self.live_events[profile_id].append((ts, page_path))
            names = self._evaluate(self.snapshot, self.live_events[profile_id], profile_id)
            self.live_intent[profile_id] = names
            return names

    def _evaluate(self, snap: Snapshot, events: list, profile_id: str) -> list[str]:
        """The intent overlays of one customer: the snapshot's signals and the live events."""
        base = snap.signal_row(profile_id) if self.intent is not None else None
        if self.intent is None or base is None:
            return []
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        end = max([now, *(ts for ts, _ in events)])
        as_of = snap.features_as_of()
        row = dict(base)
        for signal, (prefix, days) in LIVE_COUNTS.items():
            if signal not in row:
                continue
            start = end - dt.timedelta(days=days)
            inside = as_of is not None and as_of > start.date()
            counted = (row[signal] or 0) if inside else 0
            live = sum(1 for ts, path in events if ts > start and (path or "").startswith(prefix))
            row[signal] = counted + live
        if events and "days_since_last_activity" in row:
            row["days_since_last_activity"] = (end.date() - max(ts for ts, _ in events).date()).days
        frame = pl.DataFrame([row], schema=snap.signal_schema, orient="row")
        frame_to_temp_table(self.eval_con, "_live_signals", frame)
        matched = evaluate(self.eval_con, [self.intent], "_live_signals")
        return matched["overlay"].to_list()
