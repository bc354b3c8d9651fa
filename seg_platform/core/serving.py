"""The serving snapshot: the tables the profile service answers from, as Parquet files beside
the warehouse (`<home>/serving/<version>/`), published whole behind an atomic pointer file.

The service never opens the warehouse (a run holds its lock for minutes): it reads the folder
the pointer names and watches the pointer for the next version. Publishing writes a new folder,
renames it into place, then replaces the pointer (write, fsync, rename), so a reader sees the
old version or the new one, never half of one. Older versions are deleted once the pointer
moved on: after an erasure no file under the home keeps an erased person's rows.
"""

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import polars as pl

SERVING_DIR = "serving"
POINTER = "CURRENT"
MANIFEST = "manifest.json"
# Every table of a snapshot; each has a profile_id column (erasure filters on it).
TABLES = ("profiles", "identifiers", "overlays", "consent", "reasons", "signals")


def serving_root(home_root: Path) -> Path:
    """The folder of the snapshots for the platform home at `home_root`."""
    return Path(home_root) / SERVING_DIR


def current_version(root: Path) -> Path | None:
    """The folder the pointer names, or None when nothing was published yet."""
    try:
        name = (root / POINTER).read_text().strip()
    except FileNotFoundError:
        return None
    folder = root / name
    # The pointer only ever names a sibling folder of ours; anything else is not followed.
    if not name or "/" in name or name.startswith(".") or not folder.is_dir():
        return None
    return folder


def read_manifest(folder: Path) -> dict:
    return json.loads((folder / MANIFEST).read_text())


def read_tables(folder: Path) -> dict[str, pl.DataFrame]:
    return {name: pl.read_parquet(folder / f"{name}.parquet") for name in TABLES}


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's entry to disk (a folder: the names in it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(root: Path, tables: dict[str, pl.DataFrame], manifest: dict) -> Path:
    """Write `tables` (every name of TABLES) as a new version and point the pointer at it;
    delete the versions before. Returns the new folder."""
    missing = sorted(set(TABLES) - set(tables))
    if missing:
        raise ValueError(f"a serving snapshot needs the tables {', '.join(missing)}")
    root.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    version = f"{now:%Y%m%dT%H%M%S%f}-{os.getpid()}"
    staging = root / f".tmp-{version}"
    staging.mkdir()
    for name in TABLES:
        path = staging / f"{name}.parquet"
        tables[name].write_parquet(path)
        fsync_path(path)
    body = {
        **manifest,
        "version": version,
        "published_at": now.isoformat(timespec="seconds"),
        "rows": {name: tables[name].height for name in TABLES},
    }
    (staging / MANIFEST).write_text(json.dumps(body, indent=1, default=str))
    fsync_path(staging / MANIFEST)
    fsync_path(staging)
    folder = root / version
    os.rename(staging, folder)
    pointer = root / f".{POINTER}.tmp"
    pointer.write_text(version + "\n")
    fsync_path(pointer)
    os.replace(pointer, root / POINTER)
    fsync_path(root)
    for old in root.iterdir():
        if old.is_dir() and old.name != version:
            shutil.rmtree(old, ignore_errors=True)
    return folder


def republish_without(root: Path, profile_ids: list[str]) -> Path | None:
    """Publish the current snapshot less every row of `profile_ids` (erased people) and delete
    the version that held them. None when nothing was published or nobody is in it."""
    folder = current_version(root)
    if folder is None:
        return None
    tables = read_tables(folder)
    gone = pl.Series(list(profile_ids), dtype=pl.String)
    if not any(t["profile_id"].is_in(gone.implode()).any() for t in tables.values()):
        return None
    kept = {n: t.filter(~pl.col("profile_id").is_in(gone.implode())) for n, t in tables.items()}
    manifest = read_manifest(folder)
    manifest = {k: v for k, v in manifest.items() if k not in ("version", "published_at", "rows")}
    return publish(root, kept, {**manifest, "republished_after_erasure": True})
