"""The Splink reference of benchmarks/identity_person_records.py: its input preparation and the
exact precision/recall-by-threshold curve its best-F1 row is read from."""

import importlib
import random
import sys
from itertools import combinations
from pathlib import Path

import duckdb
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    # benchmarks/ is a folder of scripts, not a package: its modules import `common` from it
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("identity_person_records")
    finally:
        sys.path.remove(str(BENCHMARKS))


def _components(edges: list[tuple[str, str]], nodes: set[str]) -> dict[str, str]:
    label = {n: n for n in nodes}
    changed = True
    while changed:  # label propagation to a fixed point: slow, obviously right
        changed = False
        for a, b in edges:
            low = min(label[a], label[b])
            for n in (a, b):
                if label[n] != low:
                    label[n], changed = low, True
    return label


def _pairs_in_clusters(label: dict[str, str], person: dict[str, str]) -> tuple[int, int]:
    together = [(a, b) for a, b in combinations(sorted(label), 2) if label[a] == label[b]]
    return len(together), sum(person[a] == person[b] for a, b in together)


def test_threshold_curve_by_hand(bench):
    person = {"a": "P1", "b": "P1", "c": "P1", "d": "P2", "e": "P2"}
    pairs = [("a", "b", 0.9), ("b", "c", 0.8), ("d", "e", 0.8), ("c", "d", 0.3)]
    # at 0.8 two merges land together; at 0.3 the two persons chain into one cluster
    assert bench.threshold_curve(pairs, person) == [(0.9, 1, 1), (0.8, 4, 4), (0.3, 10, 4)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_threshold_curve_matches_connected_components_at_every_threshold(bench, seed):
    rng = random.Random(seed)
    nodes = [f"r{i}" for i in range(40)]
    person = {n: f"P{rng.randrange(12)}" for n in nodes}
    pairs = [
        (a, b, rng.choice([0.1, 0.3, 0.5, 0.7, 0.95]))
        for a, b in combinations(nodes, 2)
        if rng.random() < (0.5 if person[a] == person[b] else 0.03)
    ]
    curve = bench.threshold_curve(pairs, person)
    assert [t for t, _, _ in curve] == sorted({p for _, _, p in pairs}, reverse=True)
    for threshold, predicted, correct in curve:
        kept = [(a, b) for a, b, p in pairs if p >= threshold]
        label = _components(kept, set(nodes))
        assert (predicted, correct) == _pairs_in_clusters(label, person)


def test_crm_input_is_prepared_like_a_careful_splink_user_would(bench, tmp_path):
    csv = tmp_path / "contacts.csv"
    csv.write_text(
        "crm_id,user_id,email,phone,first_name,last_name,full_name,date_of_birth,address,"
        "postcode,city,company,role,country,created_at,updated_at\n"
        'C1,, John.Smith@Gmail.COM ,+44 (0)7316 653336,,,"Smith, John",1900-01-01,'
        "18  Franklin Street,ls11uw,Leeds,,,UK,2020-01-01,\n"
        "C2,,,020 8862 9448 ext. 1879,,,Dr. José A. Smith,1985-02-03,,6114-7753,,,,US,"
        "2020-01-01,\n"
        "C3,,,(212) 270-5930,James S.,Jansen Jr.,,,,M5V 5T8,,,,CA,2020-01-01,\n"
    )
    con = duckdb.connect()
    for statement in bench.CRM_PREP_SQL.split(";\n"):
        con.execute(statement, [str(csv)] if "?" in statement else None)
    got = con.sql(
        "select crm_id, first_name, last_name, date_of_birth, email, phone, postcode, address,"
        " first_name_surname_concat from crm_input order by crm_id"
    ).fetchall()
    assert got == [
        ("C1", "john", "smith", None, "john.smith@gmail.com", "7316653336", "LS1 1UW",
         "18 franklin street", "john smith"),
        ("C2", "jose", "smith", "1985-02-03", None, "2088629448", "06114", None, "jose smith"),
        ("C3", "james", "jansen", None, None, "2122705930", "M5V 5T8", None, "james jansen"),
    ]  # fmt: skip
