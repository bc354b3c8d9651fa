"""Behaviour events posted to the profile service: judged exactly as a landing row of their
source (`sources.ingest.check_records`), then appended durably to that source's landing
folder as one CSV file per accepted batch, which the next run's incremental load reads like any
new landing file (`sources.ledger`).

A batch file is written under a name the source's pattern does not match, fsynced, renamed
into place and its folder fsynced before the service answers 2xx: a service killed after the
answer loses nothing, and a run never reads half a file. Event ids seen in the service's files
are remembered (and re-read at start), so a repeated event id is stored once.
"""

import csv
import datetime as dt
import fnmatch
import glob
import os
import threading
from pathlib import Path

from seg_platform.core.serving import fsync_path
from seg_platform.core.warehouse import memory_connection
from seg_platform.sources.config import SourcesConfig
from seg_platform.sources.ingest import check_records

EVENT_SOURCES = ("web_events", "app_events")
FILE_PREFIX = "serve-events-"


class EventsUnavailable(Exception):
    """Events of a source cannot be landed (not configured, or its files are not plain CSV
    in one folder); the message says why without any customer value."""


class SourceLanding:
    """The landing folder of one event source and the event ids the service wrote there."""

    def __init__(self, config: SourcesConfig, source: str):
        cfg = config.sources.get(source)
        if cfg is None:
            raise EventsUnavailable(f"{source} is not configured in the sources.yaml")
        if cfg.columns or cfg.where or cfg.format not in (None, "csv"):
            raise EventsUnavailable(
                f"{source} maps columns, filters rows or is not CSV in the sources.yaml: the "
                "service writes files with the contract's columns only"
            )
        self.source = source
        self.columns = [c.name for c in cfg.contract.columns]
        self.identifiers = [(c.name, c.identifier) for c in cfg.contract.columns if c.identifier]
        self.pattern = cfg.pattern
        parts = Path(cfg.pattern).parts
        magic = next((i for i, p in enumerate(parts) if glob.has_magic(p)), len(parts) - 1)
        self.folder = Path(*parts[:magic]) if magic else Path(cfg.base_dir)
        probe = self.folder / f"{FILE_PREFIX}probe.csv"
        if not fnmatch.fnmatch(str(probe), cfg.pattern):
            raise EventsUnavailable(
                f"the {source} pattern in the sources.yaml does not match CSV files in "
                f"{self.folder}; the service could not land events there"
            )
        self.seen: set[str] = set()
        self.folder.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.folder.glob(f"{FILE_PREFIX}*.csv")):
            with path.open(newline="") as f:
                self.seen.update(r["event_id"] for r in csv.DictReader(f))
        self.sequence = 0

    def append(self, records: list[dict[str, str | None]]) -> list[bool]:
        """Write the records not written before (by event id) as one new file, durably; for
        each record whether it was new. Call under the service's lock."""
        fresh, ids = [], set()
        for r in records:
            eid = r["event_id"]
            is_new = eid not in self.seen and eid not in ids
            fresh.append(is_new)
            ids.add(eid)
        rows = [r for r, is_new in zip(records, fresh, strict=True) if is_new]
        if rows:
            self.sequence += 1
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
            name = f"{FILE_PREFIX}{stamp}-{os.getpid()}-{self.sequence}.csv"
            partial = self.folder / f".{name}.partial"
            with partial.open("w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(self.columns)
                writer.writerows([[r.get(c) or "" for c in self.columns] for r in rows])
                f.flush()
                os.fsync(f.fileno())
            os.rename(partial, self.folder / name)
            fsync_path(self.folder)
            self.seen.update(r["event_id"] for r in rows if r["event_id"])
        return fresh


class EventIntake:
    """Judges and lands posted events of the event sources the sources.yaml configures."""

    def __init__(self, config: SourcesConfig):
        self.config = config
        self.landings: dict[str, SourceLanding] = {}
        self.unavailable: dict[str, str] = {}
        for source in EVENT_SOURCES:
            try:
                self.landings[source] = SourceLanding(config, source)
            except EventsUnavailable as exc:
                self.unavailable[source] = str(exc)
        self.con = memory_connection()
        self.lock = threading.Lock()

    def judge(self, source: str, events: list[dict]) -> list[tuple[dict, list[str]]]:
        """(typed record, problems) per event: unknown fields, then the contract's rules."""
        landing = self.landings[source]
        known = set(landing.columns)
        texts, problems = [], []
        for event in events:
            extra = sorted(k for k in event if k not in known)
            problems.append([f"unknown field {k}" for k in extra[:5]])
            texts.append({
                c: None if event.get(c) is None else str(event[c]) for c in landing.columns
            })  # fmt: skip
        with self.lock:
            judged = check_records(self.con, self.config, source, texts)
        return [
            (typed, found + (rule.split("; ") if rule else []))
            for (typed, rule), found in zip(judged, problems, strict=True)
        ]

    def land(self, source: str, events: list[dict]) -> list[bool]:
        texts = [
            {c: None if e.get(c) is None else str(e[c]) for c in self.landings[source].columns}
            for e in events
        ]
        with self.lock:
            return self.landings[source].append(texts)
