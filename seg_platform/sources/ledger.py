"""The ledger of landing files: what each file was when it was loaded, so a run reads only the
files that are new or changed since (docs/sources.md, "Incremental loads").

Plain Python and DuckDB, no Dagster. `plan_load` compares the files a source's pattern matches
today with the ledger rows in `raw.source_files` and says which files to load, which to drop,
and whether the whole source must be rebuilt instead (first load, settings or erasure list
changed, `full_reload`).
"""

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from seg_platform.sources.config import SourceConfig
from seg_platform.sources.contract import Source

# Bump when a change of the loading code alters what a file's rows become (parsing, checks,
# reasons): every source is then rebuilt once, as the settings fingerprint changes.
LOAD_RULES_VERSION = "1"

# Per valid row of every loaded file (not its values): the dedup group it belongs to and the
# content hash the conflict count compares, so a later file can be deduplicated against the
# earlier ones, and their conflict counts kept exact, without reading them again.
ROWS_TABLE = "raw.source_rows"
ROWS_COLUMNS = (
    ("source", "VARCHAR"),
    ("source_file", "VARCHAR"),
    ("source_row", "BIGINT"),
    ("part", "UHUGEINT"),  # md5 of the record id, or of the whole row for keyless dedup
    ("version", "VARCHAR"),  # the dedup_order values (an update is not a conflict)
    ("content", "UBIGINT"),  # hash of the row's values (keyed rows only)
    ("conflict", "BOOLEAN"),  # another row of this record id and version differs
)

# One row per load of a source: what the ledger decided (the CLI's summary reads the latest).
LOADS_TABLE = "raw.source_loads"
LOADS_COLUMNS = (
    ("source", "VARCHAR"),
    ("loaded_at", "TIMESTAMP"),
    ("mode", "VARCHAR"),  # full or incremental
    ("reason", "VARCHAR"),  # why full
    ("files_loaded", "BIGINT"),
    ("files_unchanged", "BIGINT"),
    ("files_changed", "BIGINT"),
    ("files_removed", "BIGINT"),
)

# The ledger columns added to raw.source_files (one row per source and file).
LEDGER_COLUMNS = (
    ("file_size", "BIGINT"),
    ("fingerprint", "VARCHAR"),  # SHA-256 of the file's bytes
    ("loaded_at", "TIMESTAMP"),
    ("load_settings", "VARCHAR"),  # fingerprint of the settings the rows were loaded with
    ("suppression", "VARCHAR"),  # fingerprint of the erased-identifier list at that load
    ("timestamp_max", "DATE"),  # the upper timestamp bound of that load (now + days ahead)
    ("future_min", "TIMESTAMP"),  # earliest value quarantined as in the future, if any
    ("provided_columns", "VARCHAR[]"),  # optional columns the file has (NULL: no rows)
)


@dataclass(frozen=True)
class FileState:
    """One landing file as found now."""

    index: int  # position in the source's sorted file list (the dedup's delivery order)
    path: Path
    name: str  # as stored with each row (`source_file`)
    size: int
    fingerprint: str


@dataclass
class LoadPlan:
    """What a run does for one source."""

    files: list[FileState]
    full: bool  # rebuild the source from every file
    reason: str = ""  # why a full rebuild (empty for an incremental load)
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # Unchanged files whose future-dated rows are no longer in the future: reloaded.
    expired: list[str] = field(default_factory=list)
    timestamp_max: str = ""
    # The bound the stored quarantine reasons quote, when it moved ("" otherwise).
    previous_timestamp_max: str = ""

    @property
    def to_load(self) -> list[str]:
        """Files whose rows are (re)read: every file for a full rebuild."""
        if self.full:
            return [f.name for f in self.files]
        return sorted({*self.new, *self.changed, *self.expired})

    @property
    def to_drop(self) -> list[str]:
        """Files whose stored rows are removed first (changed, deleted, expired)."""
        return sorted({*self.changed, *self.removed, *self.expired})


def fingerprint(path: Path) -> str:
    """SHA-256 of a file's bytes (read in blocks; about 1 GB/s)."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def file_states(cfg: SourceConfig) -> list[FileState]:
    return [
        FileState(i, p, cfg.display_name(p), p.stat().st_size, fingerprint(p))
        for i, p in enumerate(cfg.files())
    ]


def settings_fingerprint(source: Source, cfg: SourceConfig, timestamp_min: str) -> str:
    """Everything besides a file's bytes that decides what its rows become: the contract, the
    source's settings and the loading rules' version. A change rebuilds the source."""
    parts = (
        LOAD_RULES_VERSION,
        repr(source),
        cfg.format,
        sorted(cfg.read_options.items()),
        sorted(cfg.columns.items()),
        cfg.where,
        cfg.timestamp_format,
        sorted(cfg.ranges.items()),
        cfg.exact_duplicates,
        timestamp_min,
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def plan_load(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    files: list[FileState],
    settings: str,
    suppression: str | None,
    timestamp_max: str,
    full_reload: bool = False,
) -> LoadPlan:
    """Compare today's files with the ledger: what to load, drop, or whether to rebuild.

    The rules (docs/sources.md): a file is new when its name is not in the ledger, changed
    when its SHA-256 differs, removed when it no longer matches the pattern; a changed or
    removed file's rows leave the raw table, quarantine and ledger, and a changed file is read
    again. The whole source is rebuilt on a first load, with `full_reload`, for a
    pseudonymised source, when its settings or the erased-identifier list changed, or when the
    clock moved back."""
    plan = LoadPlan(files=files, full=True, timestamp_max=timestamp_max)
    if full_reload:
        plan.reason = "full reload asked for"
        return plan
    if source.pseudonymised:
        plan.reason = "pseudonymised source: always reloaded in full"
        return plan
    if suppression is None:
        plan.reason = "no erasure list given"
        return plan
    rows = con.execute(
        "SELECT source_file, fingerprint, load_settings, suppression, timestamp_max, "
        "future_min FROM raw.source_files WHERE source = ?",
        [source.name],
    ).fetchall()
    if not rows or any(r[1] is None for r in rows):
        plan.reason = "first load with a ledger"
        return plan
    if any(r[2] != settings for r in rows):
        plan.reason = "settings or contract changed"
        return plan
    if any(r[3] != suppression for r in rows):
        plan.reason = "erasure list changed"
        return plan
    stored_max = {str(r[4]) for r in rows}
    if len(stored_max) != 1 or min(stored_max) > timestamp_max:
        plan.reason = "timestamp bound moved back"
        return plan
    plan.full = False
    previous = stored_max.pop()
    plan.previous_timestamp_max = previous if previous != timestamp_max else ""
    bound = dt.datetime.fromisoformat(timestamp_max)
    ledger = {r[0]: r for r in rows}
    for f in files:
        old = ledger.get(f.name)
        if old is None:
            plan.new.append(f.name)
        elif old[1] != f.fingerprint:
            plan.changed.append(f.name)
        elif old[5] is not None and old[5] <= bound:
            plan.expired.append(f.name)  # a row quarantined as future is not any more
        else:
            plan.unchanged.append(f.name)
    present = {f.name for f in files}
    plan.removed = sorted(name for name in ledger if name not in present)
    return plan
