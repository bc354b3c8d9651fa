"""Writing feed files: stable names, same bytes for the same rows, never half-written.

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
from pathlib import Path

import polars as pl

KINDS = ("members", "changes")
FORMATS = ("csv", "parquet")
FORMULA_START = r"^[=+\-@\t\r]"


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
