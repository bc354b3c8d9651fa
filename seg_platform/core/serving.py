"""The serving snapshot: the tables the profile service answers from, as Parquet files beside
the warehouse (`<home>/serving/<version>/`), published whole behind an atomic pointer file.

The service never opens the warehouse (a run holds its lock for minutes): it reads the folder
the pointer names and watches the pointer for the next version. Publishing writes a new folder,
renames it into place, then replaces the pointer (write, fsync, rename), so a reader sees the
old version or the new one, never half of one. Older versions are deleted once the pointer
moved on: after an erasure no file under the home keeps an erased person's rows.

Beside the tables (Parquet, what an erasure republishes from), a publish writes what the service
answers from, ready to be memory-mapped (`open_serving`), so that loading a new snapshot is
opening files, with no work and no Python object per customer in the service: each customer's
answer JSON (`answers.arrow`, uncompressed Arrow IPC, in the order of `profiles`: profile_id,
`head` = the answer's JSON but for overlays, `overlays` = the overlays' JSON, `signal_row`), the
signals (`signals.arrow`) and three sorted indexes as `.npy` (keys as fixed-width bytes, sorted,
and the answer row of each): profile ids, normalised identifier hashes, raw identifier hashes.
The manifest's `serving_format` names this layout; for a folder published before it (no
`serving_format`) the service builds the files once, privately; a newer format is refused.
"""

import datetime as dt
import json
import mmap
import os
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.ipc

SERVING_DIR = "serving"
POINTER = "CURRENT"
MANIFEST = "manifest.json"
# Every table of a snapshot; each has a profile_id column (erasure filters on it).
TABLES = ("profiles", "identifiers", "overlays", "consent", "reasons", "signals")
# The columns the served answers are built from (`answers`), beside profile_id.
NEEDED = {
    "identifiers": ("kind", "key"), "overlays": ("family", "overlay"),
    "consent": ("channel", "status"),
    "reasons": ("rank", "feature", "customer_value", "segment_average", "reason"),
}  # fmt: skip
SERVING_FORMAT = 2  # the manifest's `serving_format`: the files below
ANSWERS = "answers.arrow"
SIGNALS = "signals.arrow"
INDEXES = ("profile_id", "value", "raw")  # index_<name>_keys.npy / index_<name>_rows.npy
SIGNALS_ABSENT = -1  # signal_row of a customer without a signals row


class SnapshotFormatError(Exception):
    """A published folder without the files `open_serving` maps (published before they were)."""


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


def _json_list(table: pl.DataFrame, columns: list[str], name: str) -> pl.DataFrame:
    """profile_id and `name`: each customer's rows of `table` as JSON objects of `columns`,
    comma-separated, in the table's order."""
    return (
        table.with_columns(_j=pl.struct(columns).struct.json_encode())
        .group_by("profile_id", maintain_order=True)
        .agg(pl.col("_j").str.join(",").alias(name))
    )


def answers(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Per customer (a row of `profiles`, same order): profile_id, the answer's JSON but for its
    overlays (`head`: the profile's fields, dates as ISO text, then consent per channel and the
    reasons by rank; no closing brace), the overlays' JSON objects comma-separated
    (`overlays`) and the customer's row in `signals` (`signal_row`, SIGNALS_ABSENT if none)."""
    profiles = tables["profiles"]
    fields = [
        pl.col(c).cast(pl.String) if t in (pl.Date, pl.Datetime) else pl.col(c)
        for c, t in profiles.schema.items()
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
    signals = tables["signals"].select("profile_id").with_row_index("_s")
    return (
        profiles.select("profile_id", _b=pl.struct(fields).struct.json_encode())
        .join(consent, on="profile_id", how="left", maintain_order="left")
        .join(reasons, on="profile_id", how="left", maintain_order="left")
        .join(overlays, on="profile_id", how="left", maintain_order="left")
        .join(signals, on="profile_id", how="left", maintain_order="left")
        .select(
            "profile_id",
            head=pl.concat_str(
                pl.col("_b").str.head(-1), pl.lit(',"consent":{'), pl.col("_c").fill_null(""),
                pl.lit('},"reasons":['), pl.col("_r").fill_null(""), pl.lit("]"),
            ),
            overlays=pl.col("_o").fill_null(""),
            signal_row=pl.col("_s").cast(pl.Int64).fill_null(SIGNALS_ABSENT),
        )
    )  # fmt: skip


def _fixed_width(keys: pl.Series) -> np.ndarray:
    """`keys` (UTF-8) as NumPy fixed-width bytes, padded with NULs as NumPy pads: made from
    one Arrow buffer, with no Python object per key (4M of them per index at 1M customers)."""
    if not len(keys):
        return np.array([], dtype="S1")
    lengths = keys.str.len_bytes().to_numpy()
    width = max(int(lengths.max()), 1)
    if int(lengths.min()) < width:
        # Shorter keys padded to the width with NULs: one NUL per missing byte.
        key = pl.col(keys.name)
        keys = keys.to_frame().select(
            pl.concat_str(key, pl.lit("\x00").repeat_by(width - key.str.len_bytes()).list.join(""))
        )[keys.name]
    chunk = keys.rechunk().to_arrow().cast(pa.large_binary())
    if isinstance(chunk, pa.ChunkedArray):
        chunk = chunk.combine_chunks()
    offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64)
    start = int(offsets[chunk.offset])
    data = chunk.buffers()[2]
    return np.frombuffer(data, dtype=f"S{width}", count=len(chunk), offset=start)


def _sorted_index(keys: pl.Series, rows: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """`keys` (UTF-8) as sorted fixed-width bytes and the row of each, for np.searchsorted."""
    array = _fixed_width(keys)
    order = np.argsort(array, kind="stable")
    return array[order], rows.cast(pl.Int64).to_numpy()[order]


def write_serving_files(folder: Path, tables: dict[str, pl.DataFrame]) -> None:
    """The files `open_serving` maps, computed from `tables` into `folder`."""
    body = answers(tables)
    rows = body.select("profile_id").with_row_index("_row")
    indexes = {"profile_id": _sorted_index(rows["profile_id"], rows["_row"])}
    for kind in ("value", "raw"):
        # One kind's keys and rows at a time: no joined copy of every identifier.
        part = (
            tables["identifiers"]
            .lazy()
            .filter((pl.col("kind") == kind) & pl.col("key").is_not_null())
            .select("profile_id", "key")
            .join(rows.lazy(), on="profile_id", how="inner")
            .select("key", "_row")
            .collect()
        )
        indexes[kind] = _sorted_index(part["key"], part["_row"])
        del part
    written = [folder / ANSWERS, folder / SIGNALS]
    # One record batch each: the service maps the columns as they are, without a copy.
    body.rechunk().write_ipc(written[0], compression="uncompressed")
    tables["signals"].rechunk().write_ipc(written[1], compression="uncompressed")
    for name, (keys, at) in indexes.items():
        for suffix, array in (("keys", keys), ("rows", at)):
            path = folder / f"index_{name}_{suffix}.npy"
            np.save(path, array)
            written.append(path)
    for path in written:
        fsync_path(path)


def _map(path: Path) -> mmap.mmap:
    """`path` mapped read-only by Python's mmap, its pages faulted in at once (MAP_POPULATE, on
    Linux): the mapping is made and unmapped without holding the interpreter, and lookups then
    take no page fault. Measured on 2 busy cores: lookups stalled 20-25 ms (in 3 of 6 swaps)
    while the snapshot before was unmapped, when their own first touches of the new one's pages
    faulted meanwhile; not with the pages populated. pyarrow's memory_map and NumPy's memmap
    hold the interpreter when they unmap (tens of ms for 100k customers, whose files the next
    publish deleted: their cached pages are freed then)."""
    with open(path, "rb") as file:
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        return mmap.mmap(file.fileno(), 0, flags=flags, prot=mmap.PROT_READ)


def _arrow(path: Path) -> pa.Table:
    return pa.ipc.open_file(pa.py_buffer(_map(path))).read_all()


def _npy(path: Path) -> np.ndarray:
    with open(path, "rb") as file:
        version = np.lib.format.read_magic(file)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read_header(file)
        offset = file.tell()
    count = int(np.prod(shape))
    return np.frombuffer(_map(path), dtype=dtype, count=count, offset=offset).reshape(shape)


def open_serving(folder: Path) -> tuple[dict, pa.Table, pa.Table, dict]:
    """The manifest, answers, signals and indexes ({name: (sorted keys, rows)}) of a published
    folder, memory-mapped: no copy, no work per customer (but once for a folder published
    before these files were written). SnapshotFormatError for a format this code cannot read."""
    manifest = read_manifest(folder)
    found = manifest.get("serving_format")
    if found is not None and found != SERVING_FORMAT:
        raise SnapshotFormatError(
            f"the serving snapshot {folder.name} has serving format {found}, this service "
            f"reads {SERVING_FORMAT}: run the service of the version that published it, or "
            "publish the snapshot again (re-run the job, or materialize serving/serving_snapshot)"
        )
    if found is None:
        # Published before the served files existed (its Parquet tables only): they are built
        # once, in a private folder beside it that is removed as soon as they are mapped.
        private = folder.parent / f".upgrade-{folder.name}-{os.getpid()}"
        shutil.rmtree(private, ignore_errors=True)
        private.mkdir()
        try:
            write_serving_files(private, read_tables(folder))
            return {**manifest, "serving_format": SERVING_FORMAT}, *_open_files(private)
        finally:
            shutil.rmtree(private, ignore_errors=True)  # mapped pages outlive their files
    return manifest, *_open_files(folder)


def _open_files(folder: Path) -> tuple[pa.Table, pa.Table, dict]:
    answer, signals = _arrow(folder / ANSWERS), _arrow(folder / SIGNALS)
    indexes = {
        name: (_npy(folder / f"index_{name}_keys.npy"), _npy(folder / f"index_{name}_rows.npy"))
        for name in INDEXES
    }
    return answer, signals, indexes


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
    for name, columns in NEEDED.items():
        lacking = [c for c in ("profile_id", *columns) if c not in tables[name].columns]
        if lacking:
            raise ValueError(f"the serving table {name} needs the columns {', '.join(lacking)}")
    root.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    version = f"{now:%Y%m%dT%H%M%S%f}-{os.getpid()}"
    staging = root / f".tmp-{version}"
    staging.mkdir()
    for name in TABLES:
        path = staging / f"{name}.parquet"
        tables[name].write_parquet(path)
        fsync_path(path)
    write_serving_files(staging, tables)
    body = {
        **manifest,
        "serving_format": SERVING_FORMAT,
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
