"""The profile service's memory: the published snapshot, memory-mapped (a lookup is one or two
binary searches and two string reads; each answer's JSON was rendered when it was published),
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
import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from seg_platform.core.identifiers import (
    IDENTIFIER_TYPES,
    NormalisationRules,
    fill_phone_table,
    identifier_hash_sql,
)
from seg_platform.core.serving import (
    SIGNALS_ABSENT,
    SnapshotFormatError,
    current_version,
    open_serving,
)
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


log = logging.getLogger("seg_platform.serving")


class SortedIndex:
    """Rows by a text key: the keys as sorted fixed-width bytes (a memory-mapped .npy written at
    publish, `core.serving`), one binary search per lookup, the key compared before a row is
    returned."""

    def __init__(self, keys: np.ndarray, rows: np.ndarray):
        self.keys = keys
        self.rows = rows

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, key: str) -> int | None:
        wanted = key.encode()
        if not wanted or b"\0" in wanted:  # (fixed-width bytes drop trailing NULs)
            return None
        i = int(np.searchsorted(self.keys, wanted))
        if i < len(self.keys) and self.keys[i] == wanted:
            return int(self.rows[i])
        return None


def _empty_index() -> SortedIndex:
    return SortedIndex(np.zeros(0, dtype="S1"), np.zeros(0, dtype=np.int64))


def _empty_text() -> pa.Array:
    return pa.array([], pa.large_string())


def _column(table: pa.Table, name: str) -> pa.Array:
    column = table.column(name)
    # One record batch as published: the mapped array itself, no copy.
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


@dataclass
class Snapshot:
    """A published snapshot, memory-mapped: per customer (a row of `profiles`) the answer's JSON
    but for its overlays (`head`), the overlays' JSON (`overlays`) and its row in the signals
    intent overlays are evaluated over; sorted indexes by profile id and identifier hash.
    Loading it is opening the files the publish wrote (`core.serving.open_serving`): no work
    and no Python object per customer, so a new 100k snapshot loads beside the served one
    without holding the interpreter the lookups need, and is swapped in as one reference."""

    folder: Path | None
    manifest: dict
    profile_ids: pa.Array = field(default_factory=_empty_text)
    head: pa.Array = field(default_factory=_empty_text)
    overlays: pa.Array = field(default_factory=_empty_text)
    by_profile: SortedIndex = field(default_factory=_empty_index)
    ids: SortedIndex = field(default_factory=_empty_index)
    raw_ids: SortedIndex = field(default_factory=_empty_index)
    signals: pa.Table | None = None
    signal_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    signal_schema: dict = field(default_factory=dict)

    @property
    def version(self) -> str | None:
        return self.manifest.get("version")

    @property
    def customers(self) -> int:
        return len(self.head)

    def features_as_of(self) -> dt.date | None:
        value = self.manifest.get("features_as_of")
        return dt.date.fromisoformat(value) if value else None

    def row(self, profile_id: str) -> int | None:
        return self.by_profile.find(profile_id)

    def profile_of(self, index: SortedIndex, key: str) -> str | None:
        row = index.find(key)
        return None if row is None else self.profile_ids[row].as_py()

    def signal_row(self, profile_id: str) -> dict | None:
        row = self.row(profile_id)
        if row is None or self.signals is None or self.signal_rows[row] == SIGNALS_ABSENT:
            return None
        return pl.DataFrame(self.signals.slice(int(self.signal_rows[row]), 1)).row(0, named=True)


def load_snapshot(folder: Path) -> Snapshot:
    """A published snapshot folder as a `Snapshot` (its rows answered by profile id or by
    identifier hash), its files memory-mapped."""
    manifest, answers, signals, indexes = open_serving(folder)
    return Snapshot(
        folder,
        manifest,
        profile_ids=_column(answers, "profile_id"),
        head=_column(answers, "head"),
        overlays=_column(answers, "overlays"),
        by_profile=SortedIndex(*indexes["profile_id"]),
        ids=SortedIndex(*indexes["value"]),
        raw_ids=SortedIndex(*indexes["raw"]),
        signals=signals,
        signal_rows=_column(answers, "signal_row").to_numpy(),
        signal_schema=dict(pl.DataFrame(signals.slice(0, 0)).schema),
    )


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
        self.refused: str | None = None  # a version published in an older format, if any
        self.retired: Snapshot | None = None  # the snapshot before the last swap (see refresh)
        self.live_events: dict[str, list[tuple[dt.datetime, str | None]]] = defaultdict(list)
        self.live_intent: dict[str, list[str]] = {}
        self.lock = threading.Lock()  # live state and snapshot switch
        self.eval_con = memory_connection()
        self.refresh()

    # -- snapshot -------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Load the published snapshot if the pointer moved; whether it switched."""
        # The snapshot swapped out at the call before (a poll ago) is let go here, on the
        # watcher thread, once no lookup still reads it: its files are unmapped here, not at
        # the end of a lookup on the event loop.
        self.retired = None
        folder = current_version(self.root)
        if folder is None or folder == self.snapshot.folder or folder.name == self.refused:
            return False
        self.loading = folder.name
        try:
            snap = load_snapshot(folder)
        except SnapshotFormatError as exc:
            self.refused = folder.name  # said once; the next publish is read
            log.warning("%s", exc)
            return False
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
            self.retired, self.snapshot = self.snapshot, snap
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
        overlays = snap.overlays[row].as_py()
        live = self.live_intent.get(profile_id)
        if live is not None:
            kept = [o for o in json.loads(f"[{overlays}]") if o["family"] != INTENT]
            kept += [{"family": INTENT, "overlay": name} for name in live]
            overlays = json.dumps(kept)[1:-1]
        version = json.dumps(snap.version)
        return f'{snap.head[row].as_py()},"overlays":[{overlays}],"snapshot":{version}}}'.encode()

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
