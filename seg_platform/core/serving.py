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
answer JSON (`answers.arrow`, uncompressed Arrow IPC, by profile id: profile_id,
`head` = the answer's JSON but for overlays, `overlays` = the overlays' JSON, `signal_row`), the
signals (`signals.arrow`) and three sorted indexes as `.npy` (keys as fixed-width bytes, sorted,
and the answer row of each): profile ids, normalised identifier hashes, raw identifier hashes.
The manifest's `serving_format` names this layout; for a folder published before it (no
`serving_format`) the service builds the files once, privately; a newer format is refused.

All of it is computed by DuckDB (`publish_relations`): the tables are written to Parquet from
the relations given, and the JSON and sorted keys are built from those files, so Python holds
one served file's columns at a time, never a table (at 1M customers: 13M identifier keys).
"""

import datetime as dt
import json
import mmap
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.ipc

from seg_platform.core.warehouse import memory_connection, quote
from seg_platform.core.yaml_files import sql_string

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


def _finite(column: str, kind: str) -> str:
    """`column` as JSON gives it: non-finite floats as null (JSON has no NaN), as polars does."""
    if kind in ("DOUBLE", "FLOAT", "REAL"):
        return f"CASE WHEN isfinite({column}) THEN {column} END"
    return column


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.sql(f"DESCRIBE SELECT * FROM {relation}").fetchall()]


def _json_object(con: duckdb.DuckDBPyConnection, relation: str, alias: str, columns=None) -> str:
    """SQL for a row of `relation` (as `alias`) as a JSON object of `columns` (default: every
    column, in order), dates as ISO text, non-finite floats as null."""
    described = _columns(con, relation)
    if columns is not None:
        described = [(c, t) for c, t in described if c in columns]
        described.sort(key=lambda ct: columns.index(ct[0]))
    fields = ", ".join(
        f"{sql_string(c)}: {_finite(f'{alias}.{quote(c)}', t)}" for c, t in described
    )
    return f"to_json({{{fields}}})::VARCHAR"


def _answers_sql(con: duckdb.DuckDBPyConnection, names: dict[str, str]) -> str:
    """Per customer (a row of `profiles`, by profile id): profile_id, the answer's JSON but for
    its overlays (`head`: the profile's fields, dates as ISO text, then consent per channel and
    the reasons by rank; no closing brace), the overlays' JSON objects comma-separated
    (`overlays`) and the customer's row in `signals` (`signal_row`, SIGNALS_ABSENT if none)."""
    reason = _json_object(con, names["reasons"], "r", list(NEEDED["reasons"]))
    overlay = _json_object(con, names["overlays"], "o", list(NEEDED["overlays"]))
    return f"""
        WITH c AS (
            SELECT profile_id, string_agg(to_json(channel)::VARCHAR || ':'
                   || to_json(status)::VARCHAR, ',' ORDER BY channel, status) AS c
            FROM {names["consent"]} GROUP BY profile_id),
        r AS (
            SELECT r.profile_id, string_agg({reason}, ',' ORDER BY r.rank, r.feature) AS r
            FROM {names["reasons"]} r GROUP BY r.profile_id),
        o AS (
            SELECT o.profile_id, string_agg({overlay}, ',' ORDER BY o.family, o.overlay) AS o
            FROM {names["overlays"]} o GROUP BY o.profile_id),
        s AS (
            SELECT profile_id, min(s) AS s FROM (
                SELECT profile_id, row_number() OVER (ORDER BY profile_id) - 1 AS s
                FROM {names["signals"]}) GROUP BY profile_id)
        SELECT p.profile_id,
               left({_json_object(con, names["profiles"], "p")}, -1) || ',"consent":{{'
                   || coalesce(c.c, '') || '}},"reasons":[' || coalesce(r.r, '') || ']' AS head,
               coalesce(o.o, '') AS overlays,
               coalesce(s.s, {SIGNALS_ABSENT})::BIGINT AS signal_row
        FROM {names["profiles"]} p
        LEFT JOIN c ON c.profile_id = p.profile_id
        LEFT JOIN r ON r.profile_id = p.profile_id
        LEFT JOIN o ON o.profile_id = p.profile_id
        LEFT JOIN s ON s.profile_id = p.profile_id
        ORDER BY p.profile_id
    """


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


def _sorted_index(keys: pl.Series, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`keys` (UTF-8, sorted by DuckDB) as fixed-width bytes and the row of each, for
    np.searchsorted; sorted again here only where NumPy's byte order disagrees."""
    array = _fixed_width(keys)
    if len(array) > 1 and not bool(np.all(array[:-1] <= array[1:])):
        order = np.argsort(array, kind="stable")
        return array[order], rows[order]
    return array, rows


def _arrow_table(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """A query's result as one Arrow record batch (what the service maps without a copy),
    strings with 64-bit offsets."""
    rows = con.sql(f"SELECT count(*) FROM ({sql})").fetchall()[0][0]
    con.execute("SET arrow_large_buffer_size = true")
    try:
        table = con.sql(sql).arrow(batch_size=max(rows, 1))
        if isinstance(table, pa.RecordBatchReader):  # DuckDB 2 streams the batches
            table = table.read_all()
    finally:
        con.execute("RESET arrow_large_buffer_size")
    return table.combine_chunks() if any(c.num_chunks > 1 for c in table.columns) else table


def write_serving_files(folder: Path, con: duckdb.DuckDBPyConnection, names: dict[str, str]):
    """The files `open_serving` maps, computed in DuckDB from the snapshot's tables (`names`:
    each of TABLES to the relation `con` reads it from) into `folder`. DuckDB builds the JSON
    and sorts the keys; Python holds one file's columns at a time."""
    written = [folder / ANSWERS, folder / SIGNALS]
    body = _arrow_table(con, _answers_sql(con, names))
    with pa.OSFile(str(written[0]), "wb") as sink, pa.ipc.new_file(sink, body.schema) as out:
        out.write_table(body)
    del body
    signals = _arrow_table(con, f"SELECT * FROM {names['signals']} ORDER BY profile_id")
    with pa.OSFile(str(written[1]), "wb") as sink, pa.ipc.new_file(sink, signals.schema) as out:
        out.write_table(signals)
    del signals
    # A customer's row in answers.arrow: their rank by profile id (the answers' order).
    rows = (
        "(SELECT profile_id, row_number() OVER (ORDER BY profile_id) - 1 AS _row "
        f"FROM {names['profiles']})"
    )
    queries = {
        "profile_id": f"SELECT profile_id AS key, _row FROM {rows} ORDER BY key, _row",
        **{
            kind: f"SELECT i.key, a._row FROM {names['identifiers']} i JOIN {rows} a "
            f"USING (profile_id) WHERE i.kind = '{kind}' AND i.key IS NOT NULL "
            "ORDER BY i.key, a._row"
            for kind in ("value", "raw")
        },
    }
    for name, sql in queries.items():
        # One index at a time: its keys as DuckDB sorted them, then fixed-width bytes.
        found = con.sql(sql).pl()
        keys, at = _sorted_index(found["key"], found["_row"].cast(pl.Int64).to_numpy())
        for suffix, array in (("keys", keys), ("rows", at)):
            path = folder / f"index_{name}_{suffix}.npy"
            np.save(path, array)
            written.append(path)
        del found, keys, at
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
            with memory_connection() as con:
                write_serving_files(private, con, parquet_views(con, folder))
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


def _register(con: duckdb.DuckDBPyConnection, tables: dict[str, pl.DataFrame]) -> dict:
    """`tables` (polars) as relations of `con`: {table: the name it is read by}."""
    names = {}
    for name in TABLES:
        con.register(f"_snapshot_{name}", tables[name])
        names[name] = f"_snapshot_{name}"
    return names


def parquet_views(
    con: duckdb.DuckDBPyConnection, folder: Path, where: str = "", prefix: str = "_published"
) -> dict:
    """The Parquet tables of a published `folder` as views `<prefix>_<table>` of `con` (rows
    filtered by `where`, SQL over profile_id, when given)."""
    names = {}
    for name in TABLES:
        path = sql_string(str(folder / f"{name}.parquet"))
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {prefix}_{name} AS "
            f"SELECT * FROM read_parquet({path}) {where}"
        )
        names[name] = f"{prefix}_{name}"
    return names


def publish(root: Path, tables: dict[str, pl.DataFrame], manifest: dict) -> Path:
    """Write `tables` (polars frames, every name of TABLES) as a new version and point the
    pointer at it; delete the versions before. Returns the new folder."""
    missing = sorted(set(TABLES) - set(tables))
    if missing:
        raise ValueError(f"a serving snapshot needs the tables {', '.join(missing)}")
    with memory_connection() as con:
        return publish_relations(root, con, _register(con, tables), manifest)


def publish_relations(
    root: Path,
    con: duckdb.DuckDBPyConnection,
    names: dict[str, str],
    manifest: dict,
    release: Callable[[], None] | None = None,
) -> Path:
    """Write the snapshot's tables (`names`: every name of TABLES to the relation `con` reads
    it from: a table, a view, a registered frame) as a new version, computed in DuckDB, and
    point the pointer at it; delete the versions before. Returns the new folder.

    The tables are written to Parquet first; the served files are then built from those files,
    after `release` (when given) dropped the relations: DuckDB holds no copy of them while it
    builds the answers."""
    missing = sorted(set(TABLES) - set(names))
    if missing:
        raise ValueError(f"a serving snapshot needs the tables {', '.join(missing)}")
    for name, columns in NEEDED.items():
        present = {c for c, _ in _columns(con, names[name])}
        lacking = [c for c in ("profile_id", *columns) if c not in present]
        if lacking:
            raise ValueError(f"the serving table {name} needs the columns {', '.join(lacking)}")
    root.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    version = f"{now:%Y%m%dT%H%M%S%f}-{os.getpid()}"
    staging = root / f".tmp-{version}"
    staging.mkdir()
    for name in TABLES:
        path = staging / f"{name}.parquet"
        con.execute(
            f"COPY (SELECT * FROM {names[name]}) TO {sql_string(str(path))} (FORMAT parquet)"
        )
        fsync_path(path)
    if release is not None:
        release()
    written = parquet_views(con, staging)
    try:
        write_serving_files(staging, con, written)
        rows = {n: con.sql(f"SELECT count(*) FROM {written[n]}").fetchall()[0][0] for n in TABLES}
    finally:
        for view in written.values():
            con.execute(f"DROP VIEW IF EXISTS {view}")
    body = {
        **manifest,
        "serving_format": SERVING_FORMAT,
        "version": version,
        "published_at": now.isoformat(timespec="seconds"),
        "rows": rows,
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
    with memory_connection() as con:
        con.register("_erased_frame", pl.DataFrame({"profile_id": list(profile_ids)},
                                                   schema={"profile_id": pl.String}))  # fmt: skip
        con.execute("CREATE TEMP TABLE _erased AS SELECT DISTINCT profile_id FROM _erased_frame")
        every = parquet_views(con, folder, prefix="_held")
        held = " UNION ALL ".join(
            f"SELECT profile_id FROM {every[n]} WHERE profile_id IN (SELECT * FROM _erased)"
            for n in TABLES
        )
        if not con.sql(f"SELECT count(*) FROM ({held})").fetchall()[0][0]:
            return None
        kept = parquet_views(
            con, folder, "WHERE profile_id NOT IN (SELECT * FROM _erased)", prefix="_kept"
        )
        manifest = read_manifest(folder)
        manifest = {k: v for k, v in manifest.items()
                    if k not in ("version", "published_at", "rows")}  # fmt: skip
        return publish_relations(root, con, kept, {**manifest, "republished_after_erasure": True})
