"""Tests of the synthetic company generator: determinism, layout, contract compliance of every
valid row, truth that points exactly at each planted defect, and archetypes that behave
differently in the data."""

import csv
import gzip
import hashlib
import json
import re
from collections import Counter
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from seg_platform.sources.contract import SOURCES, Source
from seg_platform.synthetic.generator import ARCHETYPES, MALFORMED_KINDS, generate

CUSTOMERS, MONTHS, SEED = 2000, 12, 7
JUNK = {"null", "n/a", "N/A", "0000", "test@test.com"}
CSV_OPTS = "all_varchar=true, header=true, delim=',', quote='\"', null_padding=true"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synthetic")
    return out, generate(CUSTOMERS, MONTHS, SEED, out)


def _files(out: Path, source: str) -> list[Path]:
    return sorted((out / "landing" / source).glob(f"{source}_*.csv*"))


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """(CSV line number, fields) of every data row; the header is line 1."""
    text = gzip.open(path, "rt", newline="") if path.suffix == ".gz" else path.open(newline="")
    with text as fh:
        reader = csv.reader(fh)
        next(reader)
        out = []
        for fields in reader:
            out.append((reader.line_num, fields))
        return out


def _truth(out: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(out / "truth" / f"{name}.parquet")


def _landing_sql(out: Path, source: str) -> str:
    ext = "csv.gz" if source == "email_events" else "csv"
    path = out / "landing" / source / f"*.{ext}"
    return f"read_csv('{path}', {CSV_OPTS}, filename=true)"


# -- an independent reading of the contract, to check rows against --------------------------


def _parse_ts(value: str) -> datetime | None:
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            pass
    return None


def _violations(src: Source, fields: list[str]) -> list[tuple[str, str | None]]:
    """Every (kind, column) of the contract this row breaks; empty for a valid row."""
    if len(fields) != len(src.columns):
        return [("truncated_line", None)]
    row = {c.name: v.strip() for c, v in zip(src.columns, fields, strict=True)}
    found: list[tuple[str, str | None]] = []
    parsed: dict[str, datetime] = {}
    for col in src.columns:
        value = row[col.name]
        if not value:
            if col.required:
                found.append(("missing_required", col.name))
            continue
        if col.type == "TIMESTAMP":
            ts = _parse_ts(value)
            if ts is None:
                found.append(("bad_timestamp", col.name))
            elif not 2000 <= ts.year <= 2030:
                found.append(("timestamp_out_of_range", col.name))
            else:
                parsed[col.name] = ts
        elif col.type in ("DOUBLE", "BIGINT"):
            try:
                number = float(value) if col.type == "DOUBLE" else int(value)
            except ValueError:
                found.append(("non_numeric_amount", col.name))
                continue
            if col.minimum is not None and number < col.minimum:
                kind = "negative_amount" if col.name == "amount" else "out_of_range"
                found.append((kind, col.name))
            elif col.maximum is not None and number > col.maximum:
                found.append(("out_of_range", col.name))
        if col.accepted and value.lower() not in col.accepted:
            found.append(("bad_accepted_value", col.name))
    for group in src.any_of:
        if not any(row[c] for c in group):
            found.append(("missing_contact", ",".join(group)))
    for earlier, later in src.ordered:
        if earlier in parsed and later in parsed and parsed[later] < parsed[earlier]:
            found.append(("closed_before_opened", later))
    return found


# -- tests ------------------------------------------------------------------------------------


def _digests(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(400, 4, 11, a)
    generate(400, 4, 11, b)
    generate(400, 4, 12, c)
    da, db, dc = _digests(a), _digests(b), _digests(c)
    assert len(da) > 7 * 4 + 7
    assert da == db
    assert da.keys() == dc.keys()
    differing = [k for k in da if da[k] != dc[k]]
    assert len(differing) >= len(da) - 2  # sources.yaml is the same for every seed


def test_output_replaces_landing_and_truth_and_rejects_bad_arguments(tmp_path):
    stale = tmp_path / "landing" / "web_events" / "web_events_1999-01.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    generate(200, 2, 1, tmp_path, end_month="2024-02")
    assert not stale.exists() and keep.exists()
    assert sorted(p.name for p in _files(tmp_path, "billing")) == [
        "billing_2024-01.csv",
        "billing_2024-02.csv",
    ]
    with pytest.raises(ValueError):
        generate(0, 2, 1, tmp_path)
    with pytest.raises(ValueError):
        generate(10, 2, 1, tmp_path, malformed_share=1.5)


def test_zero_shares_give_clean_files(tmp_path):
    summary = generate(300, 3, 5, tmp_path, malformed_share=0, duplicate_share=0)
    assert _truth(tmp_path, "malformed").height == 0
    assert _truth(tmp_path, "duplicates").height == 0
    assert summary["truncated_files"] == []
    for name, src in SOURCES.items():
        for path in _files(tmp_path, name):
            assert not [f for _, f in _rows(path) if _violations(src, f)], path.name


def test_layout_sources_yaml_and_contract_headers(world):
    out, summary = world
    yaml_text = (out / "landing" / "sources.yaml").read_text()
    assert yaml_text.startswith("# Written by seg-platform generate")
    assert "version: 1\nsources:\n" in yaml_text
    for name, src in SOURCES.items():
        ext = "csv.gz" if name == "email_events" else "csv"
        assert f"  {name}:\n    path: {name}/*.{ext}\n" in yaml_text
        files = _files(out, name)
        months = [re.search(r"_(\d{4}-\d{2})\.csv", f.name).group(1) for f in files]
        assert months == [f"2025-{m:02d}" for m in range(1, 13)]
        for f in files:
            opener = gzip.open if ext == "csv.gz" else open
            with opener(f, "rt") as fh:
                assert fh.readline().rstrip("\n") == ",".join(src.column_names)
    if (out / "landing" / "email_events").exists():
        raw = _files(out, "email_events")[0].read_bytes()
        assert raw[:2] == b"\x1f\x8b"
    assert not list((out / "landing").rglob("*.parquet"))  # truth stays out of landing
    truth = {p.name for p in (out / "truth").iterdir()}
    assert truth == {
        "persons.parquet",
        "records.parquet",
        "archetypes.parquet",
        "outcomes.parquet",
        "malformed.parquet",
        "duplicates.parquet",
        "summary.json",
    }
    assert json.loads((out / "truth" / "summary.json").read_text())["rows"] == summary["rows"]
    events = sum(summary["rows"][s] for s in ("web_events", "app_events", "email_events"))
    assert 35 <= events / CUSTOMERS <= 70  # ~50 events per customer over 12 months


def test_valid_rows_meet_the_contract_and_truth_points_at_every_broken_row(world):
    out, summary = world
    truth = _truth(out, "malformed")
    planted = {(r["file"], r["source_row"]): r for r in truth.iter_rows(named=True)}
    assert len(planted) == truth.height
    found = {}
    for name, src in SOURCES.items():
        rows = 0
        for path in _files(out, name):
            for line, fields in _rows(path):
                rows += 1
                broken = _violations(src, fields)
                if broken:
                    found[(path.name, line)] = broken
        assert rows == summary["rows"][name]
    assert found.keys() == planted.keys()
    for where, broken in found.items():
        row = planted[where]
        assert len(broken) == 1, (where, broken)  # exactly one rule broken: unambiguous kind
        assert broken[0] == (row["kind"], row["column"]), (where, broken, row)
    kinds = Counter(truth["kind"])
    assert set(kinds) <= set(MALFORMED_KINDS)
    assert len(kinds) >= 8, kinds
    assert kinds["truncated_line"] >= 1
    for name in SOURCES:
        assert summary["malformed"][name] == truth.filter(pl.col("source") == name).height
        # at least one malformed row in every file of 200 rows or more
        for path in _files(out, name):
            if len(_rows(path)) >= 200:
                assert truth.filter(pl.col("file") == path.name).height >= 1, path.name


def test_malformed_lines_as_duckdb_reads_them(world):
    out, _ = world
    truth = _truth(out, "malformed").filter(pl.col("kind") != "truncated_line")
    con = duckdb.connect()
    for kind in ("negative_amount", "bad_accepted_value", "bad_timestamp", "missing_required"):
        sample = truth.filter(pl.col("kind") == kind).head(3)
        assert sample.height, kind
        for row in sample.iter_rows(named=True):
            src = SOURCES[row["source"]]
            path = out / "landing" / row["source"] / row["file"]
            # Line n of the file is data row n-1 (header on line 1), in file order.
            values = con.sql(
                f"SELECT * FROM read_csv('{path}', {CSV_OPTS}) "
                f"LIMIT 1 OFFSET {row['source_row'] - 2}"
            ).fetchall()[0]
            value = dict(zip(src.column_names, values, strict=True))[row["column"]]
            if kind == "negative_amount":
                assert float(value) < 0
            elif kind == "bad_accepted_value":
                assert value.strip().lower() not in src.column(row["column"]).accepted
            elif kind == "bad_timestamp":
                assert _parse_ts(value) is None
            else:
                assert value is None or not value.strip()


def test_every_record_has_a_person_and_keys_are_never_reused(world):
    out, summary = world
    records = _truth(out, "records")
    persons = _truth(out, "persons")
    assert records.height == summary["rows_total"]
    assert records["person_id"].null_count() == 0
    assert set(records["person_id"].unique()) <= set(persons["person_id"])
    malformed = _truth(out, "malformed")
    for name, src in SOURCES.items():
        keys = duckdb.sql(
            f"SELECT {src.key} AS k FROM {_landing_sql(out, name)} WHERE {src.key} IS NOT NULL"
        ).pl()["k"]
        mine = records.filter(pl.col("source") == name)
        assert mine.height == summary["rows"][name]
        assert set(keys) <= set(mine["record_key"].drop_nulls())
        # Malformed rows are new records: their keys never appear on any other row.
        bad_keys = set(malformed.filter(pl.col("source") == name)["record_key"].drop_nulls())
        counts = Counter(mine["record_key"].drop_nulls())
        assert all(counts[k] == 1 for k in bad_keys)
    missing_key = malformed.filter(pl.col("record_key").is_null())
    assert missing_key.height and set(missing_key["kind"]) == {"missing_required"}


def test_duplicates_truth_matches_the_files(world):
    out, summary = world
    dups = _truth(out, "duplicates")
    for name in ("web_events", "app_events", "email_events", "billing", "orders"):
        key = SOURCES[name].key
        counts = duckdb.sql(
            f"SELECT {key} AS k, count(*) - 1 AS copies FROM {_landing_sql(out, name)} "
            f"WHERE {key} IS NOT NULL GROUP BY 1 HAVING count(*) > 1 ORDER BY 1"
        ).pl()
        expected = dups.filter(pl.col("source") == name).select("record_key", "copies")
        assert counts.height > 0, name
        assert sorted(counts.rows()) == sorted(expected.rows()), name
        assert summary["duplicates"][name] == expected["copies"].sum()
    # Some copies are re-delivered in the next month's file, some sit in the same file.
    web = duckdb.sql(
        f"SELECT event_id, count(DISTINCT filename) AS files FROM {_landing_sql(out, 'web_events')}"
        " WHERE event_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1"
    ).pl()
    assert set(web["files"]) == {1, 2}


def test_late_events_land_in_the_next_months_file(world):
    out, summary = world
    for name, col in (("web_events", "event_ts"), ("app_events", "event_ts")):
        late = duckdb.sql(
            f"SELECT count(*) FILTER (WHERE regexp_extract(filename, '(\\d{{4}}-\\d{{2}})', 1) "
            f"> substr({col}, 1, 7)) AS late, count(*) AS n "
            f"FROM {_landing_sql(out, name)} WHERE {col} LIKE '2025-%'"
        ).fetchall()[0]
        assert 0.01 < late[0] / late[1] < 0.035, (name, late)
        assert summary["late"][name] > 0


def test_identifier_noise_is_planted(world):
    out, _ = world
    persons = _truth(out, "persons")
    crm = duckdb.sql(f"SELECT * FROM {_landing_sql(out, 'crm_contacts')}").pl()
    emails = crm["email"].drop_nulls()
    assert emails.str.contains(r"^\s|\s$").sum() > 0  # stray spaces
    assert emails.str.contains(r"[A-Z]").sum() > 0  # mixed case
    assert emails.str.contains(r"\+\w+@gmail\.com").sum() > 0  # gmail plus tags
    phones = crm["phone"].drop_nulls()
    formats = {re.sub(r"\d", "9", p) for p in phones if p not in JUNK}
    assert len(formats) >= 5, formats
    for p in persons["phone"]:
        assert re.fullmatch(r"\+1[2-9]\d\d[2-9]\d{6}", p) and p[2:5] != "555" and p[5:8] != "555"
    # junk placeholders sit in optional identifier columns only
    assert set(crm["email"].drop_nulls()) & JUNK and set(phones) & JUNK
    web = duckdb.sql(f"SELECT user_id FROM {_landing_sql(out, 'web_events')}").pl()
    assert set(web["user_id"].drop_nulls()) & JUNK
    app = duckdb.sql(f"SELECT user_id, device_id FROM {_landing_sql(out, 'app_events')}").pl()
    assert set(app["device_id"].drop_nulls()) & JUNK
    assert not set(app["user_id"].drop_nulls()) & JUNK
    # shared family devices: one device id used by several accounts
    shared = (
        app.filter(~pl.col("device_id").is_in(list(JUNK)))
        .group_by("device_id")
        .agg(pl.col("user_id").n_unique().alias("users"))
    )
    assert shared.filter(pl.col("users") >= 2).height > 0
    assert persons["has_shared_device"].sum() > 0
    # second CRM contacts: a different crm_id for the same person, with a typo in the name
    second = persons.filter(pl.col("has_second_crm"))
    assert second.height > 0
    contacts = crm.unique("crm_id").join(
        second.select("crm_id_2", "first_name", "last_name"),
        left_on="crm_id",
        right_on="crm_id_2",
    )
    assert contacts.height == second.height
    assert (
        (contacts["first_name"] != contacts["first_name_right"])
        | (contacts["last_name"] != contacts["last_name_right"])
    ).all()
    # billing addresses that differ from the main email (work vs personal): ~10%
    billed = persons.filter(pl.col("has_billing"))
    share = (billed["billing_email"] != billed["email"]).mean()
    assert 0.05 < share < 0.16
    # account, CRM and billing coverage close to the brief
    assert 0.8 < persons["has_account"].mean() < 0.9
    assert 0.55 < persons["has_crm"].mean() < 0.65


def test_crm_contacts_reappear_with_later_updates(world):
    out, _ = world
    crm = duckdb.sql(
        f"SELECT crm_id, created_at, updated_at, filename FROM {_landing_sql(out, 'crm_contacts')}"
    ).pl()
    again = crm.group_by("crm_id").agg(pl.col("filename").n_unique().alias("files"))
    assert again.filter(pl.col("files") > 1).height > 0


def test_archetypes_switch_and_outcomes_cover_every_person_month(world):
    out, _ = world
    arch = _truth(out, "archetypes")
    persons = _truth(out, "persons")
    outcomes = _truth(out, "outcomes")
    assert set(arch["archetype"]) == set(ARCHETYPES) and len(ARCHETYPES) >= 6
    switched = (
        arch.sort("person_id", "month")
        .with_columns(prev=pl.col("archetype").shift(1).over("person_id"))
        .filter(pl.col("prev").is_not_null() & (pl.col("prev") != pl.col("archetype")))
    )
    person_months = arch.filter(pl.col("active")).height
    assert 0.04 < switched.height / person_months < 0.12  # switch_share 0.08
    # every person-month since sign-up has one archetype and one outcome
    expected = persons.select(
        "person_id", first=pl.max_horizontal(pl.col("signup_month"), pl.lit("2025-01"))
    )
    counts = arch.group_by("person_id").agg(pl.len().alias("n"), pl.col("month").min())
    check = counts.join(expected, on="person_id")
    assert (check["month"] == check["first"]).all()
    assert arch.height == outcomes.height
    assert arch.select("person_id", "month").equals(outcomes.select("person_id", "month"))
    assert outcomes["as_of"].dt.strftime("%H:%M:%S").unique().to_list() == ["23:59:59"]
    assert signups_spread(persons)


def signups_spread(persons: pl.DataFrame) -> bool:
    in_window = persons.filter(pl.col("signup_month") >= "2025-01")["signup_month"]
    return in_window.n_unique() == 12 and 0.3 < len(in_window) / persons.height < 0.6


def test_archetypes_behave_differently(world):
    out, _ = world
    con = duckdb.connect()
    con.register("persons", _truth(out, "persons"))
    con.register("arch", _truth(out, "archetypes"))
    con.register("outcomes", _truth(out, "outcomes"))
    con.register("records", _truth(out, "records"))

    def per_archetype(source: str, ts: str, where: str = "true") -> dict[str, float]:
        """Valid events per active person-month, by the archetype of that month."""
        sql = f"""
            WITH ev AS (
                SELECT r.person_id, substr(e.{ts}, 1, 7) AS month
                FROM {_landing_sql(out, source)} e
                JOIN (SELECT DISTINCT record_key, person_id FROM records
                      WHERE source = '{source}') r ON r.record_key = e.{SOURCES[source].key}
                WHERE {where}
            )
            SELECT a.archetype, count(ev.person_id) / count(DISTINCT (a.person_id, a.month))
            FROM arch a LEFT JOIN ev USING (person_id, month)
            WHERE a.active GROUP BY 1
        """
        return dict(con.sql(sql).fetchall())

    app = per_archetype("app_events", "event_ts")
    assert app["power_user"] > 3 * max(app["dormant_at_risk"], app["bargain_hunter"])
    errors = per_archetype("app_events", "event_ts", "e.event_name IN ('error', 'retry')")
    assert errors["setup_struggler"] == max(errors.values())
    pricing = per_archetype(
        "web_events", "event_ts", "e.page_path = '/pricing' OR e.page_path LIKE '/compare/%'"
    )
    assert pricing["pricing_curious"] == max(pricing.values())
    carts = per_archetype("web_events", "event_ts", "e.event_type = 'add_to_cart'")
    assert carts["bargain_hunter"] == max(carts.values())
    orders = per_archetype("orders", "order_ts", "lower(trim(e.status)) = 'completed'")
    assert orders["pricing_curious"] == 0
    churn = dict(
        con.sql(
            "SELECT a.archetype, avg(o.churned_next_90d::int) FROM arch a "
            "JOIN outcomes o USING (person_id, month) WHERE a.active GROUP BY 1"
        ).fetchall()
    )
    assert churn["dormant_at_risk"] == max(churn.values())
    assert churn["dormant_at_risk"] > 2 * churn["power_user"]
    revenue = dict(
        con.sql(
            "SELECT a.archetype, avg(o.revenue_next_90d) FROM arch a "
            "JOIN outcomes o USING (person_id, month) WHERE a.active GROUP BY 1"
        ).fetchall()
    )
    assert revenue["high_value_loyal"] == max(revenue.values())
    satisfaction = con.sql(
        f"""SELECT a.archetype, avg(e.satisfaction::int)
            FROM {_landing_sql(out, "support_tickets")} e
            JOIN records r ON r.source = 'support_tickets' AND r.record_key = e.ticket_id
            JOIN arch a ON a.person_id = r.person_id AND a.month = substr(e.opened_at, 1, 7)
            WHERE e.satisfaction IN ('1', '2', '3', '4', '5') GROUP BY 1"""
    ).fetchall()
    satisfaction = dict(satisfaction)
    assert satisfaction["setup_struggler"] == min(satisfaction.values())


def test_outcomes_follow_from_the_activity(world):
    """churned_next_90d is true exactly when no web, app or order record follows in 3 months."""
    out, _ = world
    con = duckdb.connect()
    con.register("records", _truth(out, "records"))
    con.register("outcomes", _truth(out, "outcomes"))
    con.register("malformed", _truth(out, "malformed"))
    active_months = con.sql(
        f"""
        WITH ev AS (
            SELECT e.event_id AS k, substr(e.event_ts, 1, 7) AS month
            FROM {_landing_sql(out, "web_events")} e
            UNION ALL SELECT e.event_id, substr(e.event_ts, 1, 7)
            FROM {_landing_sql(out, "app_events")} e
            UNION ALL SELECT e.order_line_id, substr(e.order_ts, 1, 7)
            FROM {_landing_sql(out, "orders")} e
        )
        SELECT DISTINCT r.person_id, ev.month FROM ev
        JOIN records r ON r.record_key = ev.k
        WHERE ev.k NOT IN (SELECT record_key FROM malformed WHERE record_key IS NOT NULL)
        """
    ).pl()
    con.register("active_months", active_months)
    # Months inside the window: outcomes for Jan-Sep look only at written months.
    wrong = con.sql(
        """
        SELECT count(*) FROM outcomes o
        WHERE o.month <= '2025-09' AND o.churned_next_90d <> NOT EXISTS (
            SELECT 1 FROM active_months a WHERE a.person_id = o.person_id
            AND a.month > o.month
            AND a.month <= strftime(o.as_of + INTERVAL 3 MONTH, '%Y-%m'))
        """
    ).fetchall()[0][0]
    assert wrong == 0
