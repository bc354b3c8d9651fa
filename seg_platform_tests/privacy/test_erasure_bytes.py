"""Erasure is physical and durable: after the run that processes a request, no byte of the
person is left anywhere under the platform home, and no later run can bring them back."""

import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from seg_platform.core import settings
from seg_platform.runner import run_pipeline

REQUEST_HEADER = "request_id,requested_at,email,phone,user_id,crm_id,customer_key\n"


def _frame(home, sql, params=None) -> pl.DataFrame:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.sql(sql, params=params).pl()


def _person(home, target: str) -> dict[str, list[str]]:
    """Every byte string that identifies the person: identifiers as the sources spelled them
    and as the identity graph normalised them, the profile id and the record ids. Only strings
    that belong to nobody else (not part of any other record's id or identifier), so a hit
    means the person, not a namesake."""
    identifiers = _frame(
        home,
        """SELECT DISTINCT m.value, v.raw_value FROM identity.identity_map m
           LEFT JOIN identity.identifier_values v USING (id_type, value)
           WHERE m.profile_id = ?""",
        [target],
    )
    values = {v for v in identifiers["value"]} | {
        s for v in identifiers["raw_value"] if v for s in (v, v.strip())
    }
    records = set(
        _frame(
            home,
            "SELECT DISTINCT record_key FROM identity.record_profiles WHERE profile_id = ?",
            [target],
        )["record_key"]
    )
    others = _frame(
        home,
        """SELECT record_key AS s FROM identity.record_profiles WHERE profile_id <> ?
           UNION ALL SELECT v.raw_value FROM identity.identifier_values v
           JOIN identity.identity_map m USING (id_type, value) WHERE m.profile_id <> ?""",
        [target, target],
    )["s"].to_list()
    others_text = "\x00".join(o for o in others if o)

    def own(strings) -> list[str]:
        return sorted(s for s in strings if len(s) >= 6 and s not in others_text)

    return {"profile": [target], "identifiers": own(values), "records": own(records)}


def _bytes_left(root, needles: list[str]) -> list[tuple[str, str]]:
    """(file, needle) for every file under `root` holding one of the needles, byte by byte, in
    the spelling given and lower-cased."""
    forms = {n: {n.encode(), n.lower().encode(), n.encode("utf-16-le")} for n in needles}
    hits = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        hits += [
            (str(path.relative_to(root)), n)
            for n, fs in forms.items()
            if any(f in data for f in fs)
        ]
    return hits


def _request(landing, rows: list[str]) -> None:
    (landing / "erasure_requests" / "erasure_requests.csv").write_text(
        REQUEST_HEADER + "".join(f"{r}\n" for r in rows)
    )


def _copy_home(home, landing, to) -> tuple[settings.PlatformHome, Path]:
    shutil.copytree(home.root, to / "home")
    shutil.copytree(landing, to / "landing")
    return settings.platform_home(to / "home"), to / "landing"


@pytest.fixture(scope="module")
def erased(demo_december, demo_erased) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """The person `demo_erased` erased (a customer of the demo's December with at least five
    kinds of identifier, in feeds), read in the demo as it was before the request: their byte
    strings, and the files of the demo's home holding them."""
    demo, _ = demo_december
    person = _person(demo, demo_erased.profile)
    return person, _bytes_left(demo.root, [n for kind in person.values() for n in kind])


def test_no_byte_of_an_erased_person_is_left_under_the_home(demo_erased, erased):
    person, on_disk_before = erased
    needles = [n for kind in person.values() for n in kind]
    assert len(person["identifiers"]) >= 5 and len(person["records"]) >= 5
    assert on_disk_before, "the person must be on disk before the request"
    assert demo_erased.email in person["identifiers"]

    assert demo_erased.succeeded
    assert _bytes_left(demo_erased.home.root, needles) == []
    log = _frame(demo_erased.home, "SELECT request_id, persons FROM privacy.erasure_log")
    assert log.rows() == [(demo_erased.request_id, 1)]


def test_a_malformed_request_never_brings_an_erased_person_back(
    demo_erased, erased, tmp_path, monkeypatch
):
    person, _ = erased
    home, landing = _copy_home(demo_erased.home, demo_erased.landing, tmp_path)
    monkeypatch.setenv(settings.HOME_ENV, str(home.root))
    monkeypatch.setenv("DAGSTER_HOME", str(home.dagster_home))
    monkeypatch.setenv(settings.SOURCES_ENV, str(landing / "sources.yaml"))
    assert demo_erased.succeeded
    assert _bytes_left(home.root, person["identifiers"]) == []

    # Next run, `seg-platform run` (current tables, then the month): the landing files still
    # hold the person (they are the company's), and a second request is malformed (no
    # identifier at all, and a date that is not one).
    _request(landing, [demo_erased.request, "req_dur_2,not-a-date,,,,,"])
    assert run_pipeline(months=1) == 0
    # The person's rows were suppressed at load: never written, not merely deleted later.
    counts = _frame(
        home,
        "SELECT sum(rows_suppressed) AS n FROM raw.source_files WHERE source <> 'erasure_requests'",
    )
    assert counts["n"][0] > 0
    assert _bytes_left(home.root, [n for kind in person.values() for n in kind]) == []
    quarantined = _frame(
        home, "SELECT reason, record FROM raw.quarantine WHERE source = 'erasure_requests'"
    )
    assert quarantined.height == 1 and quarantined["record"][0] is None
    assert "requested_at" in quarantined["reason"][0]
