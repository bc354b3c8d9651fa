"""Incremental loads: 12 monthly deliveries loaded one at a time give, row for row, the tables a
full load of the 12 files gives; unchanged files are skipped; changed and deleted files too."""

import datetime as dt
import random
from pathlib import Path

import pytest

from seg_platform.core.identifiers import identifier_hash_sql
from seg_platform.core.identity_rules import IdentityRules
from seg_platform.core.warehouse import connect
from seg_platform.sources.config import load_sources_config
from seg_platform.sources.contract import SOURCES
from seg_platform.sources.ingest import ingest_source
from seg_platform.sources.suppression import (
    ERASED,
    ensure_privacy_tables,
    salted,
    suppression_condition,
    suppression_state,
)

NOW = dt.datetime(2026, 1, 15)
ERASED_EMAIL = "gone@x.com"
YAML = """\
version: 1
sources:
  crm_contacts:
    path: crm/*.csv
  orders:
    path: orders/*.csv
  web_events:
    path: web/*.csv
"""
TABLES = ("crm_contacts", "orders", "web_events")
# The per-file counts a full load writes (the ledger's own columns say when and from what).
COUNTS = (
    "source, source_file, rows_read, rows_filtered, rows_quarantined, rows_kept, "
    "rows_suppressed, key_conflicts, missing_columns, file_size, fingerprint, future_min, "
    "provided_columns"
)


def _crm(month: int, rng: random.Random) -> str:
    """Updates to 30 contacts: re-delivered copies, updates, a conflicting copy (same
    updated_at, other email), an older file updating later than a newer one, a bad row, the
    erased person, and (month 6) a file without the `phone` column."""
    with_phone = month != 6
    header = "crm_id,email," + ("phone," if with_phone else "") + "created_at,updated_at"
    lines = [header]
    for i in rng.sample(range(30), 12):
        day = rng.randint(1, 27)
        updated = f"2025-{month:02d}-{day:02d} 10:00:00"
        if month == 3 and i < 5:
            updated = "2025-11-30 10:00:00"  # an old delivery with the latest update
        email = f"c{i}.{rng.randint(0, 2)}@x.com"
        phone = f"+4479{rng.randint(10_000_000, 99_999_999)}," if with_phone else ""
        lines.append(f"C{i},{email},{phone}2024-06-01 00:00:00,{updated}")
        if rng.random() < 0.3:
            lines.append(lines[-1])  # re-delivered as it was
        if rng.random() < 0.15:
            lines.append(f"C{i},other{i}@x.com,{phone}2024-06-01 00:00:00,{updated}")
    phone = "+447900000001," if with_phone else ""
    lines.append(f"C99,b{month}@x.com,{phone}2025-05-01 00:00:00,2025-01-01 00:00:00")  # bad
    if month in (2, 7):
        lines.append(f"C77,{ERASED_EMAIL},{phone}2024-06-01 00:00:00,2025-{month:02d}-02 10:00:00")
    if month == 9:
        lines.append(f"C78,f@x.com,{phone}2024-06-01 00:00:00,2026-06-01 00:00:00")  # future
    return "\n".join(lines) + "\n"


def _orders(month: int, rng: random.Random) -> str:
    """Lines with and without ids: identical keyless lines across months, an id re-delivered
    with another amount, a negative amount, the erased person's order."""
    lines = ["order_line_id,order_id,order_ts,customer_key,email,amount,status"]
    for n in range(15):
        ts = f"2025-{month:02d}-{rng.randint(1, 27):02d} 12:00:00"
        line_id = f"L{month}-{n}" if n % 3 else ""
        lines.append(f"{line_id},O{month}-{n},{ts},K{rng.randint(1, 9)},,{n + 1}.5,completed")
    lines.append(",O0,2025-01-05 12:00:00,K1,,9.99,completed")  # the same line every month
    if month > 1:
        lines.append(f"L{month - 1}-1,O{month - 1}-1,2025-{month - 1:02d}-03 12:00:00,K2,,77,")
    lines.append(f"L{month}-x,O{month}-x,2025-{month:02d}-04 12:00:00,K3,,-5,completed")
    if month == 4:
        lines.append(f"L4-e,O4-e,2025-04-04 12:00:00,K8,{ERASED_EMAIL},20,completed")
    return "\n".join(lines) + "\n"


def _web(month: int, rng: random.Random) -> str:
    """Events, some re-sent in the next month's file, one with other content (a conflict)."""
    lines = ["event_id,event_ts,anonymous_id,email,page_path"]
    for n in range(20):
        ts = f"2025-{month:02d}-{rng.randint(1, 27):02d} 08:00:00"
        lines.append(f"E{month}-{n},{ts},A{rng.randint(1, 9)},,/p{n}")
    if month > 1:
        lines.append(f"E{month - 1}-0,2025-{month - 1:02d}-01 08:00:00,A1,,/late")
    lines.append(f"E{month}-bad,yesterday,A1,,/p")
    return "\n".join(lines) + "\n"


WRITERS = {"crm": _crm, "orders": _orders, "web": _web}


def _deliver(landing: Path, month: int, variant: int = 0) -> None:
    for folder, writer in WRITERS.items():
        text = writer(month, random.Random(month * 1000 + variant))
        path = landing / folder / f"{folder}_2025-{month:02d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _erase(con) -> None:
    salt = ensure_privacy_tables(con)
    hashed = salted(salt, identifier_hash_sql(IdentityRules(), "email", f"'{ERASED_EMAIL}'"))
    con.execute(f"INSERT OR IGNORE INTO {ERASED} SELECT {hashed}")


def _load(con, landing: Path, incremental: bool, now: dt.datetime = NOW) -> dict:
    config = load_sources_config(landing / "sources.yaml")
    rules = IdentityRules()
    results = {}
    for name in TABLES:
        source = SOURCES[name]
        results[name] = ingest_source(
            con,
            source,
            config,
            now=now,
            suppress=lambda c, s=source: suppression_condition(c, s, rules),
            suppression_state=suppression_state(con, rules),
            incremental=incremental,
        )
    return results


def _tables(con) -> dict:
    """Everything a load writes, row for row (raw tables sorted as a full load stores them;
    an incremental load inserts in place, so the stored order may differ)."""
    out = {
        name: con.execute(
            f"SELECT * FROM raw.{name} ORDER BY {SOURCES[name].timestamp}, {SOURCES[name].key}, "
            "source_file, source_row"
        ).fetchall()
        for name in TABLES
    }
    out["quarantine"] = con.execute("SELECT * FROM raw.quarantine ORDER BY ALL").fetchall()
    out["files"] = con.execute(
        f"SELECT {COUNTS} FROM raw.source_files ORDER BY source, source_file"
    ).fetchall()
    out["rows"] = con.execute("SELECT * FROM raw.source_rows ORDER BY ALL").fetchall()
    return out


def _full_load(tmp_path: Path, landing: Path, name: str, now: dt.datetime = NOW) -> dict:
    with connect(tmp_path / f"{name}.duckdb") as con:
        _erase(con)
        _load(con, landing, incremental=False, now=now)
        return _tables(con)


@pytest.fixture
def monthly(tmp_path):
    """A warehouse loaded one monthly delivery at a time (12 incremental loads)."""
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "sources.yaml").write_text(YAML)
    with connect(tmp_path / "incremental.duckdb") as con:
        _erase(con)
        for month in range(1, 13):
            _deliver(landing, month)
            results = _load(con, landing, incremental=True)
        yield con, landing, results


def test_twelve_monthly_loads_equal_one_full_load(tmp_path, monthly):
    con, landing, results = monthly
    incremental = _tables(con)
    full = _full_load(tmp_path, landing, "full")
    # The data has the mess the rules are about (else equality would prove little).
    assert incremental == full
    counts = {r[0]: r for r in con.execute(
        "SELECT source, sum(rows_quarantined), sum(rows_suppressed), sum(key_conflicts), "
        "count(*) FILTER (len(missing_columns) > 0) FROM raw.source_files GROUP BY source"
    ).fetchall()}  # fmt: skip
    assert counts["crm_contacts"][2] == 2  # the erased contact, in months 2 and 7
    assert counts["crm_contacts"][4] == 1  # month 6 has no phone column
    assert all(counts[s][1] >= 12 for s in TABLES)  # a bad row in every delivery
    assert counts["crm_contacts"][3] > 0 and counts["orders"][3] > 0  # key conflicts
    assert counts["orders"][2] == 1  # the erased person's order line
    # The last load read one file per source and skipped the 11 it already had.
    for name in TABLES:
        assert (results[name].mode, results[name].files_loaded) == ("incremental", 1)
        assert results[name].files_unchanged == 11


def test_unchanged_rerun_reads_no_file(monthly):
    con, landing, _ = monthly
    before = _tables(con)
    results = _load(con, landing, incremental=True)
    assert {n: (r.mode, r.files_loaded, r.files_unchanged) for n, r in results.items()} == {
        n: ("incremental", 0, 12) for n in TABLES
    }
    assert _tables(con) == before


def test_changed_older_file_and_deleted_file_give_the_full_result(tmp_path, monthly):
    con, landing, _ = monthly
    _deliver(landing, 3, variant=1)  # month 3 again, with other rows
    for folder in WRITERS:
        (landing / folder / f"{folder}_2025-05.csv").unlink()
    results = _load(con, landing, incremental=True)
    assert {n: (r.files_loaded, r.files_changed, r.files_removed) for n, r in results.items()} == {
        n: (1, 1, 1) for n in TABLES
    }
    assert _tables(con) == _full_load(tmp_path, landing, "full_after_change")


def test_future_rows_come_back_when_their_day_arrives(tmp_path, monthly):
    con, landing, _ = monthly
    later = dt.datetime(2026, 7, 1)
    results = _load(con, landing, incremental=True, now=later)
    assert results["crm_contacts"].files_changed == 1  # month 9 read again
    assert results["orders"].files_loaded == 0
    assert _tables(con) == _full_load(tmp_path, landing, "full_later", now=later)


def test_new_erasure_reloads_in_full(tmp_path, monthly):
    con, landing, _ = monthly
    salt = ensure_privacy_tables(con)
    hashed = salted(salt, identifier_hash_sql(IdentityRules(), "email", "'c1.0@x.com'"))
    con.execute(f"INSERT INTO {ERASED} SELECT {hashed}")
    results = _load(con, landing, incremental=True)
    assert results["crm_contacts"].reload_reason == "erasure list changed"
    with connect(tmp_path / "fresh.duckdb") as fresh:
        _erase(fresh)
        fresh.execute(
            f"INSERT INTO {ERASED} SELECT {hashed.replace(salt, ensure_privacy_tables(fresh))}"
        )
        _load(fresh, landing, incremental=False)
        assert _tables(con) == _tables(fresh)


def _raw_metadata(result, name: str) -> dict:
    (event,) = [
        m.materialization
        for m in result.get_asset_materialization_events()
        if m.materialization.asset_key.path[-1] == name
    ]
    return {k: getattr(v, "value", v) for k, v in event.metadata.items()}


def test_asset_says_what_it_read_and_full_reload_is_one_setting(home, tmp_path):
    import dagster as dg

    from seg_platform.core.resources import EngineResource, WarehouseResource
    from seg_platform.sources.assets import RAW_ASSETS
    from seg_platform.sources.resources import IdentityConfig, SourcesResource

    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "sources.yaml").write_text(YAML)
    for month in (1, 2):
        _deliver(landing, month)
    crm = [a for a in RAW_ASSETS if a.key.path[-1] == "crm_contacts"]
    resources = {
        "warehouse": WarehouseResource(database=str(home.warehouse)),
        "sources": SourcesResource(config_path=str(landing / "sources.yaml")),
        "identity": IdentityConfig(),
        "engine": EngineResource(),
    }
    seen = []
    # Run config replaces the resource's whole config (as the launchpad does).
    full = {"config_path": str(landing / "sources.yaml"), "full_reload": True}
    for run_config in (None, None, None, {"resources": {"sources": {"config": full}}}):
        if len(seen) == 2:
            _deliver(landing, 3)
        result = dg.materialize(crm, resources=resources, run_config=run_config)
        meta = _raw_metadata(result, "crm_contacts")
        seen.append((meta["load_mode"], meta["files_loaded"], meta["files_unchanged"]))
    assert seen == [("full", 2, 0), ("incremental", 0, 2), ("incremental", 1, 2), ("full", 3, 0)]


def test_a_warehouse_from_before_the_ledger_upgrades_in_place(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "sources.yaml").write_text(YAML)
    _deliver(landing, 1)
    with connect(tmp_path / "old.duckdb") as con:
        # raw.source_files as the version before the ledger wrote it.
        con.execute("CREATE SCHEMA raw")
        con.execute(
            "CREATE TABLE raw.source_files (source VARCHAR, source_file VARCHAR, "
            "rows_read BIGINT, rows_filtered BIGINT, rows_quarantined BIGINT, rows_kept BIGINT, "
            "rows_suppressed BIGINT, key_conflicts BIGINT, missing_columns VARCHAR[])"
        )
        con.execute(
            "INSERT INTO raw.source_files VALUES ('crm_contacts', 'x.csv', 1, 0, 0, 1, 0, 0, [])"
        )
        _erase(con)
        first = _load(con, landing, incremental=True)["crm_contacts"]
        second = _load(con, landing, incremental=True)["crm_contacts"]
    assert (first.mode, first.reload_reason) == ("full", "first load with a ledger")
    assert (second.mode, second.files_loaded, second.files_unchanged) == ("incremental", 0, 1)


def test_a_failed_incremental_load_leaves_the_previous_tables(tmp_path, monkeypatch):
    import duckdb

    import seg_platform.sources.ingest as ingest
    from seg_platform.sources.config import SourceConfigError

    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "sources.yaml").write_text(YAML)
    _deliver(landing, 1)
    with connect(tmp_path / "w.duckdb") as con:
        _erase(con)
        _load(con, landing, incremental=True)
        before = _tables(con)
        # A bad new file: a clear error, nothing changed.
        (landing / "crm" / "crm_2025-02.csv").write_bytes(b"\x00\xff\xfe binary \x00" * 50)
        with pytest.raises(SourceConfigError, match="crm_2025-02.csv"):
            _load(con, landing, incremental=True)
        assert _tables(con) == before
        # A database error inside the swap: rolled back, nothing changed.
        _deliver(landing, 2)
        monkeypatch.setattr(ingest, "_ledger_insert_sql", lambda *a: "SELECT * FROM no_such")
        with pytest.raises(duckdb.Error):
            _load(con, landing, incremental=True)
        assert _tables(con) == before


def test_keyless_duplicates_dropped_incrementally_as_in_a_full_load(tmp_path):
    """`exact_duplicates: drop`: identical lines without an id are one record across files
    (the same line arrives every month), also when an older file changes."""
    landing = tmp_path / "landing"
    landing.mkdir()
    drop = "    path: orders/*.csv\n    exact_duplicates: drop\n"
    (landing / "sources.yaml").write_text(YAML.replace("    path: orders/*.csv\n", drop))
    with connect(tmp_path / "incremental.duckdb") as con:
        _erase(con)
        for month in range(1, 7):
            _deliver(landing, month)
            _load(con, landing, incremental=True)
        (landing / "orders" / "orders_2025-06.csv").write_text(
            (landing / "orders" / "orders_2025-06.csv").read_text().replace("O0,", "O0b,")
        )
        result = _load(con, landing, incremental=True)["orders"]
        assert (result.mode, result.files_changed) == ("incremental", 1)
        kept = con.execute("SELECT count(*) FROM raw.orders WHERE order_id = 'O0'").fetchone()
        assert kept == (1,)  # one of six identical lines, from the latest file still holding it
        assert _tables(con) == _full_load(tmp_path, landing, "full")
