"""The profile service's memory: the published snapshot as dicts (a lookup is a few dict reads),
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
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

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


def _jsonable(value):
    return value.isoformat() if isinstance(value, dt.date) else value


@dataclass
class Snapshot:
    folder: Path | None
    manifest: dict
    ids: dict[str, str] = field(default_factory=dict)
    raw_ids: dict[str, str] = field(default_factory=dict)
    profiles: dict[str, dict] = field(default_factory=dict)
    overlays: dict[str, list[dict]] = field(default_factory=dict)
    consent: dict[str, dict[str, str]] = field(default_factory=dict)
    reasons: dict[str, list[dict]] = field(default_factory=dict)
    signals: dict[str, dict] = field(default_factory=dict)
    signal_schema: dict = field(default_factory=dict)

    @property
    def version(self) -> str | None:
        return self.manifest.get("version")

    def features_as_of(self) -> dt.date | None:
        value = self.manifest.get("features_as_of")
        return dt.date.fromisoformat(value) if value else None


def load_snapshot(folder: Path) -> Snapshot:
    """A published snapshot folder as dicts keyed by profile id (identifier hash for `ids`)."""
    tables = read_tables(folder)
    snap = Snapshot(folder, read_manifest(folder))
    ids = tables["identifiers"]
    for kind, target in (("value", snap.ids), ("raw", snap.raw_ids)):
        part = ids.filter(pl.col("kind") == kind)
        target.update(zip(part["key"], part["profile_id"], strict=True))
    for row in tables["profiles"].iter_rows(named=True):
        snap.profiles[row["profile_id"]] = {k: _jsonable(v) for k, v in row.items()}
    for pid, family, overlay in tables["overlays"].iter_rows():
        snap.overlays.setdefault(pid, []).append({"family": family, "overlay": overlay})
    for pid, channel, status in tables["consent"].iter_rows():
        snap.consent.setdefault(pid, {})[channel] = status
    for row in tables["reasons"].sort("profile_id", "rank").iter_rows(named=True):
        pid = row.pop("profile_id")
        snap.reasons.setdefault(pid, []).append(row)
    signals = tables["signals"]
    snap.signal_schema = dict(signals.schema)
    snap.signals = {row["profile_id"]: row for row in signals.iter_rows(named=True)}
    return snap


class ProfileStore:
    """The current snapshot and the live events since; `refresh()` switches to a newly
    published snapshot (the service calls it from a watcher thread)."""

    def __init__(self, root: Path, rules: NormalisationRules, intent: Family | None):
        self.root = root
        self.keys = IdentifierKeys(rules)
        self.intent = intent
        self.snapshot = Snapshot(None, {})
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
        try:
            snap = load_snapshot(folder)
        except (OSError, pl.exceptions.PolarsError, ValueError):
            return False  # replaced while being read: the next poll reads the newer one
        with self.lock:
            as_of = snap.features_as_of()
            # Events up to the new features' day are in its counts; people gone are dropped.
            events = {
                pid: kept
                for pid, kept in (
                    (pid, [e for e in evs if as_of is None or e[0].date() > as_of])
                    for pid, evs in self.live_events.items()
                    if pid in snap.profiles
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
        if id_type == "profile_id":
            return value if value in self.snapshot.profiles else None
        snap = self.snapshot
        raw = hashlib.sha256(f"{id_type}:{value}".encode()).hexdigest()
        if raw in snap.raw_ids:
            return snap.raw_ids[raw]
        key = self.keys.key(id_type, value)
        return snap.ids.get(key) if key else None

    def profile(self, profile_id: str) -> dict | None:
        snap = self.snapshot
        row = snap.profiles.get(profile_id)
        if row is None:
            return None
        overlays = snap.overlays.get(profile_id, [])
        live = self.live_intent.get(profile_id)
        if live is not None:
            overlays = [o for o in overlays if o["family"] != INTENT] + [
                {"family": INTENT, "overlay": name} for name in live
            ]
        return {
            **row,
            "overlays": overlays,
            "consent": snap.consent.get(profile_id, {}),
            "reasons": snap.reasons.get(profile_id, []),
            "snapshot": snap.version,
        }

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
        base = snap.signals.get(profile_id)
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
