"""Where activation feeds go: the `Destination` interface, its kinds, and the file feed.

A destination receives a month's feed frames (`members`, `changes`) and, after an erasure,
removes the erased persons from what it received. The feed and erasure assets call only this
interface; `DESTINATION_KINDS` maps the `kind` of a destination in destinations.yaml to its
class, so another kind (an API push) is one class and one entry here.

The file kind (`FileDestination`, the default):

Files live under `<platform home>/activation/<destination>/` as
`<destination>_<YYYY-MM>_members.{csv,parquet}` and `..._changes.{csv,parquet}`. Each is
written to a hidden temporary file in the same folder, flushed to disk and renamed over the
old one (`os.replace` is atomic on one file system), so a reader sees the old file or the new
one, never a part. Rows are sorted and the writers deterministic, so publishing the same rows
again gives byte-identical files.

CSV feeds are made safe to open in a spreadsheet (OWASP, "CSV Injection"): a text cell that
starts with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with a single quote, so
it is shown as text and never run as a formula. Only text columns are touched (numbers stay
numbers); Parquet feeds keep every value as it is.
"""

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

import polars as pl

KINDS = ("members", "changes")
FORMATS = ("csv", "parquet")
FORMULA_START = r"^[=+\-@\t\r]"


class Written(NamedTuple):
    """One thing a destination wrote: the feed kind, where (a file relative to the activation
    folder, or another locator), its rows and the SHA-256 of what was sent."""

    kind: str
    file: str
    rows: int
    sha256: str


class Destination(Protocol):
    """A place feeds are sent. Made by its kind's class as `cls(name, folder)`: the
    destination's name in destinations.yaml and the activation folder (for any local state)."""

    name: str

    def publish(self, month: str, frames: Mapping[str, pl.DataFrame]) -> list[Written]:
        """Send the month's frames (feed kind -> rows); what was written."""
        ...

    def erase(
        self,
        month: str,
        profile_ids: Sequence[str],
        remaining: Mapping[str, pl.DataFrame],
    ) -> list[Written]:
        """Remove `profile_ids` from what was published for `month`. `remaining` holds the
        month's frames without them, for destinations that replace rather than delete (and
        carries the identifiers the destination received, hashed where it is hashed-only)."""
        ...

    def mismatches(self, written: Sequence[Written]) -> list[str]:
        """What the destination holds that differs from `written` (the rows recorded in
        `activation.published_feeds`), one line each; empty when all matches."""
        ...

    def describe(self) -> dict[str, str]:
        """What and where this destination is, for run metadata and logs."""
        ...


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Text cells a spreadsheet would run as a formula, prefixed with `'` (OWASP)."""
    text = [c for c, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(FORMULA_START))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in text
    )


def feed_folder(root: Path, destination: str) -> Path:
    return root / destination


def feed_path(root: Path, destination: str, month: str, kind: str, fmt: str) -> Path:
    return feed_folder(root, destination) / f"{destination}_{month}_{kind}.{fmt}"


def write_atomic(frame: pl.DataFrame, path: Path) -> str:
    """Write `frame` to `path` (CSV or Parquet by suffix) atomically; returns its SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if path.suffix == ".csv":
            neutralise_formulas(frame).write_csv(
                tmp, datetime_format="%Y-%m-%d %H:%M:%S", date_format="%Y-%m-%d"
            )
        else:
            frame.write_parquet(tmp, compression="zstd", statistics=False)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def publish_files(root: Path, destination: str, month: str, frames: dict[str, pl.DataFrame]):
    """Write each kind's frame as CSV and Parquet; (kind, file, rows, sha256) per file."""
    written = []
    for kind, frame in frames.items():
        for fmt in FORMATS:
            path = feed_path(root, destination, month, kind, fmt)
            digest = write_atomic(frame, path)
            written.append((kind, str(path.relative_to(root)), frame.height, digest))
    return written


class FileDestination:
    """CSV and Parquet files under `<folder>/<name>/` (module doc); erasing writes the month's
    files again from the rows that remain."""

    kind = "file"

    def __init__(self, name: str, folder: Path):
        self.name = name
        self.folder = Path(folder)

    def publish(self, month: str, frames: Mapping[str, pl.DataFrame]) -> list[Written]:
        return [Written(*w) for w in publish_files(self.folder, self.name, month, dict(frames))]

    def erase(
        self,
        month: str,
        profile_ids: Sequence[str],
        remaining: Mapping[str, pl.DataFrame],
    ) -> list[Written]:
        # A file cannot lose rows in place: writing it again without them is the erasure.
        return self.publish(month, remaining)

    def mismatches(self, written: Sequence[Written]) -> list[str]:
        bad = []
        for w in written:
            path = self.folder / w.file
            rows = (
                pl.scan_parquet(path).select(pl.len()).collect().item()
                if path.suffix == ".parquet"
                else pl.scan_csv(path, infer_schema=False).select(pl.len()).collect().item()
            )
            if rows != w.rows:
                bad.append(f"{w.file}: {rows} rows, table says {w.rows}")
        return bad

    def describe(self) -> dict[str, str]:
        return {"kind": self.kind, "folder": str(feed_folder(self.folder, self.name))}


# kind (destinations.yaml) -> class; add a kind here (README, "Activation").
DESTINATION_KINDS: dict[str, Callable[[str, Path], Destination]] = {"file": FileDestination}
DEFAULT_KIND = "file"


def make_destination(name: str, kind: str, folder: Path) -> Destination:
    """The destination `name` of `kind`; a `KeyError` naming the kinds when it is unknown
    (destinations.yaml is validated against `DESTINATION_KINDS` before this is reached)."""
    try:
        cls = DESTINATION_KINDS[kind]
    except KeyError:
        known = sorted(DESTINATION_KINDS)
        raise KeyError(f"unknown destination kind {kind!r}; known: {known}") from None
    return cls(name, folder)
