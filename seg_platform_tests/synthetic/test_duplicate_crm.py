"""Tests of the duplicate-heavy synthetic CRM: determinism, records per person, messiness
measured against the clean truth (not against the generator's own labels), hard negatives,
truth coverage, pairwise scoring, and a clean load through the crm_contacts contract."""

import hashlib
import json
import re
from pathlib import Path

import duckdb
import polars as pl
import pytest

from seg_platform.sources.config import load_sources_config
from seg_platform.sources.contract import SOURCES
from seg_platform.sources.ingest import ingest_source
from seg_platform.synthetic.duplicate_crm import (
    COLUMNS,
    crm_truth_pairs,
    generate_duplicate_crm,
    pairwise_scores,
)

pytestmark = pytest.mark.unit

PERSONS, SEED = 2000, 11


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dup_crm")
    generate_duplicate_crm(PERSONS, SEED, out)
    return out


@pytest.fixture(scope="module")
def contacts(out) -> pl.DataFrame:
    return pl.read_csv(out / "landing" / "crm_contacts" / "contacts.csv", infer_schema=False)


@pytest.fixture(scope="module")
def truth(out) -> pl.DataFrame:
    return pl.read_parquet(out / "truth" / "crm_persons.parquet")


@pytest.fixture(scope="module")
def people(out) -> pl.DataFrame:
    return pl.read_parquet(out / "truth" / "crm_people.parquet")


@pytest.fixture(scope="module")
def joined(contacts, truth, people) -> pl.DataFrame:
    """Each record next to the clean values of its person (columns suffixed `_true`)."""
    clean = people.select(
        "person_id",
        "household_id",
        pl.col("first_name").alias("first_true"),
        pl.col("last_name").alias("last_true"),
        pl.col("maiden_name").alias("maiden_true"),
        pl.col("date_of_birth").alias("dob_true"),
        pl.col("city").alias("city_true"),
    )
    return contacts.join(truth.select("crm_id", "person_id"), on="crm_id").join(
        clean, on="person_id"
    )


def _osa(a: str, b: str) -> int:
    """Optimal string alignment distance: insert, delete, substitute, transpose."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(
                d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])
            )
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def _share(mask: pl.Series) -> float:
    return float(mask.cast(pl.Float64).mean())


def _norm(col: str) -> pl.Expr:
    return pl.col(col).str.strip_chars().str.to_lowercase()


# -- determinism and layout -------------------------------------------------------------------


def test_same_seed_gives_the_same_bytes_and_another_seed_other_data(out, tmp_path):
    generate_duplicate_crm(PERSONS, SEED, tmp_path / "again")
    files = [
        "landing/sources.yaml",
        "landing/crm_contacts/contacts.csv",
        "truth/crm_persons.parquet",
        "truth/crm_people.parquet",
        "truth/crm_summary.json",
    ]
    for name in files:
        assert (out / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    generate_duplicate_crm(300, SEED + 1, tmp_path / "other")
    other = (tmp_path / "other" / "landing/crm_contacts/contacts.csv").read_bytes()
    assert other != (out / "landing/crm_contacts/contacts.csv").read_bytes()


def test_columns_follow_the_contract_and_times_spread_over_years(contacts):
    contract = [c.name for c in SOURCES["crm_contacts"].columns]
    assert contacts.columns == list(COLUMNS) == contract
    years = contacts["created_at"].str.slice(0, 4).unique()
    assert len(years) >= 6 and years.min() <= "2019"
    both = contacts.filter(pl.col("updated_at").is_not_null())
    assert (both["updated_at"] >= both["created_at"]).all()
    assert 0.2 < _share(contacts["updated_at"].is_null()) < 0.45
    dob = contacts["date_of_birth"].drop_nulls()
    assert dob.str.contains(r"^\d{4}-\d{2}-\d{2}$").all()
    # user_id is rare, and never shared by two persons.
    assert 0 < _share(contacts["user_id"].is_not_null()) < 0.05


# -- records per person --------------------------------------------------------------------------


def test_records_per_person_mix_singletons_pairs_and_a_heavy_tail(truth, people):
    per = truth.group_by("person_id").len()["len"]
    assert per.len() == people.height == PERSONS  # every person has at least one record
    assert per.max() <= 20
    assert 0.5 < _share(per == 1) < 0.7
    assert 0.15 < _share(per.is_between(2, 3)) < 0.35
    heavy = per.filter(per >= 4)
    assert 0.05 < heavy.len() / PERSONS < 0.2
    assert heavy.max() >= 15 and heavy.n_unique() >= 10  # the whole tail, not one size
    assert (
        people.sort("person_id")["records"]
        == truth.group_by("person_id").len().sort("person_id")["len"]
    ).all()


def test_heavy_tail_range_is_a_parameter(tmp_path):
    generate_duplicate_crm(400, 3, tmp_path, min_records=3, max_records=6, share_duplicated=0.8)
    per = pl.read_parquet(tmp_path / "truth" / "crm_persons.parquet").group_by("person_id").len()
    assert per["len"].max() <= 6 and (per["len"] >= 3).any()
    assert 0.7 < _share(per["len"] > 1) < 0.9
    with pytest.raises(ValueError):
        generate_duplicate_crm(10, 3, tmp_path, min_records=5, max_records=4)


# -- messiness, measured against the clean values ------------------------------------------------


def test_missing_fields_at_realistic_rates(contacts):
    assert 0.08 < _share(contacts["email"].is_null()) < 0.25
    assert 0.3 < _share(contacts["phone"].is_null()) < 0.6
    assert 0.05 < _share(contacts["date_of_birth"].is_not_null()) < 0.25
    assert 0.5 < _share(contacts["address"].is_null()) < 0.85
    full_only = (
        contacts["first_name"].is_null()
        & contacts["last_name"].is_null()
        & contacts["full_name"].is_not_null()
    )
    assert 0.08 < _share(full_only) < 0.25
    # A few contacts have no name at all (an email or phone only), as in real CRMs.
    nameless = pl.all_horizontal(pl.col("first_name", "last_name", "full_name").is_null())
    assert 0 < _share(contacts.select(nameless).to_series()) < 0.01


def test_names_carry_typos_nicknames_and_case_at_stated_rates(joined):
    rows = joined.filter(pl.col("last_name").is_not_null() & pl.col("first_name").is_not_null())
    last = rows.select(_norm("last_name"), pl.col("last_true").str.to_lowercase()).rows()
    one_edit = sum(1 for got, want in last if got != want and _osa(got, want) == 1)
    assert 0.015 < one_edit / len(last) < 0.08  # one-edit typos (and close spellings)
    first = rows.select(_norm("first_name"), pl.col("first_true").str.to_lowercase())
    differs = first.to_series(0) != first.to_series(1)
    assert 0.1 < _share(differs) < 0.35  # nicknames, spellings, initials, typos, middle initials
    assert rows.filter(_norm("first_name").is_in(["bob", "bill", "mike", "liz", "jim"])).height
    swapped = rows.filter(_norm("first_name") == pl.col("last_true").str.to_lowercase())
    assert 0.003 < swapped.height / rows.height < 0.04
    upper = rows.filter(
        (pl.col("last_name") == pl.col("last_name").str.to_uppercase())
        & (pl.col("last_name").str.len_chars() > 2)
    )
    assert 0.03 < upper.height / rows.height < 0.15
    spaced = joined.filter(pl.col("first_name") != pl.col("first_name").str.strip_chars())
    assert spaced.height > 0


def test_dates_of_birth_are_often_wrong_in_realistic_ways(joined):
    dob = joined.filter(pl.col("date_of_birth").is_not_null())
    wrong = dob.filter(pl.col("date_of_birth") != pl.col("dob_true"))
    assert 0.03 < wrong.height / dob.height < 0.2
    swapped = wrong.filter(
        pl.col("date_of_birth")
        == pl.concat_str(
            pl.col("dob_true").str.slice(0, 5),
            pl.col("dob_true").str.slice(8, 2),
            pl.lit("-"),
            pl.col("dob_true").str.slice(5, 2),
        )
    )
    assert swapped.height > 0


def test_addresses_phones_and_postcodes_come_in_many_spellings(contacts):
    address = contacts["address"].drop_nulls()
    assert address.str.contains(r"\b(St|Rd|Ave|Dr|Ln)\.?$").any()
    assert address.str.contains(r"\b(Street|Road|Avenue|Drive|Lane)\b").any()
    phone = contacts["phone"].drop_nulls()
    patterns = [r"^\(\d{3}\) \d{3}-\d{4}", r"^\+1\d{10}$", r"^\d{10}$", r"^0\d{3,4} ", r"^\+44"]
    assert all(phone.str.contains(p).any() for p in patterns)
    postcode = contacts["postcode"].drop_nulls()
    assert postcode.str.contains(r"^\d{4}$").any()  # a ZIP that lost its leading zero
    assert postcode.str.contains(r"^[a-z]").any() and postcode.str.contains(r"^\d{5}-").any()


def test_generator_labels_agree_with_the_data(out, contacts):
    summary = json.loads((out / "truth" / "crm_summary.json").read_text())
    share = summary["defect_share"]
    assert summary["records"] == contacts.height
    assert share["email:missing"] == pytest.approx(_share(contacts["email"].is_null()), abs=1e-3)
    for tag, lo, hi in [
        ("first_name:typo", 0.015, 0.06),
        ("last_name:typo", 0.015, 0.06),
        ("first_name:nickname", 0.04, 0.15),
        ("phone:typo", 0.005, 0.03),
        ("name:swapped", 0.005, 0.03),
        ("double_submit", 0.05, 0.2),
        ("address:old", 0.01, 0.08),
        ("job:changed", 0.04, 0.2),
    ]:
        assert lo < share[tag] < hi, tag


# -- hard negatives ---------------------------------------------------------------------------


def _phone_key(col: str) -> pl.Expr:
    digits = pl.col(col).str.replace_all(r"(?i)\s*(x|ext\.?|#)\s*\d+$", "")
    return digits.str.replace_all(r"\D", "").str.slice(-9)


def test_hard_negatives_are_present(joined, people):
    # Distinct persons with one surname in one city (not one household).
    same = (
        people.group_by("last_name", "city")
        .agg(pl.col("person_id").n_unique(), pl.col("household_id").n_unique().alias("hh"))
        .filter(pl.col("hh") >= 2)
    )
    assert same.height >= 20
    # Records of different persons of one household that carry the same phone number.
    shared = (
        joined.filter(pl.col("phone").is_not_null())
        .group_by(_phone_key("phone").alias("key"))
        .agg(pl.col("person_id").n_unique(), pl.col("household_id").n_unique().alias("hh"))
        .filter((pl.col("person_id") >= 2) & (pl.col("hh") == 1))
    )
    assert shared.height >= 10
    # Twins: one household, surname and birth date, different first names.
    twins = people.join(people, on=["household_id", "last_name", "date_of_birth"]).filter(
        (pl.col("person_id") < pl.col("person_id_right"))
        & (pl.col("first_name") != pl.col("first_name_right"))
    )
    assert twins.height >= 3
    assert twins["person_id"].is_in(joined["person_id"].implode()).all()
    # Namesakes as often as in a real list of 2,000 persons: a few, most of them a Jr. and his
    # father (real name frequencies, not a short list that gives hundreds of same-name pairs).
    same = people.join(people, on=["first_name", "last_name"]).filter(
        pl.col("person_id") < pl.col("person_id_right")
    )
    juniors = same.filter(pl.col("household_id") == pl.col("household_id_right"))
    assert 3 <= same.height <= 30 and juniors.height >= 3
    assert (juniors["suffix"] == "Jr.").any() or (juniors["suffix_right"] == "Jr.").any()
    assert people["last_name"].n_unique() > PERSONS / 3
    # A family email used by more than one person.
    emails = (
        joined.filter(pl.col("email").is_not_null())
        .group_by(_norm("email").alias("e"))
        .agg(pl.col("person_id").n_unique())
    )
    assert emails.filter(pl.col("person_id") >= 2).height >= 1


# -- truth and scoring ------------------------------------------------------------------------


def test_truth_covers_every_crm_id_exactly_once(contacts, truth, people):
    assert contacts["crm_id"].n_unique() == contacts.height
    assert truth["crm_id"].n_unique() == truth.height == contacts.height
    assert set(truth["crm_id"]) == set(contacts["crm_id"])
    assert truth["crm_id"].to_list() == contacts["crm_id"].to_list()
    assert truth["person_id"].is_in(people["person_id"].implode()).all()
    assert re.fullmatch(r"C\d{8}", contacts["crm_id"][0])


def test_pairwise_scores_against_the_truth(out, truth):
    pairs = crm_truth_pairs(out)
    counts = truth.group_by("person_id").len()["len"]
    assert pairs == int((counts * (counts - 1) // 2).sum()) > 0
    assert pairs == crm_truth_pairs(out / "truth" / "crm_persons.parquet")

    perfect = pairwise_scores(dict(truth.select("crm_id", "person_id").iter_rows()), out)
    assert (perfect.precision, perfect.recall, perfect.f1) == (1.0, 1.0, 1.0)
    singletons = pairwise_scores({}, out)
    assert (singletons.precision, singletons.recall, singletons.predicted_pairs) == (1.0, 0.0, 0)
    lumped = pairwise_scores(truth.select("crm_id", pl.lit("one").alias("cluster")), out)
    n = truth.height
    assert lumped.recall == 1.0 and lumped.precision == pytest.approx(pairs / (n * (n - 1) / 2))
    # Merging by household: every true pair found, and the families' extra pairs cost precision.
    household = pairwise_scores(dict(truth.select("crm_id", "household_id").iter_rows()), out)
    assert household.recall == 1.0 and household.precision < 1.0
    with pytest.raises(ValueError, match="not in the truth"):
        pairwise_scores({"nope": 1}, out)


# -- the platform's contract ------------------------------------------------------------------


def test_landing_loads_through_the_crm_contract_without_quarantine(out, contacts):
    config = load_sources_config(out / "landing" / "sources.yaml")
    assert list(config.sources) == ["crm_contacts"]
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        result = ingest_source(con, SOURCES["crm_contacts"], config)
        assert result.rows_quarantined == 0, result.top_reasons
        assert result.rows_read == result.rows_kept == contacts.height
        assert (result.duplicates_removed, result.key_conflicts) == (0, 0)
        kept = con.execute("SELECT count(DISTINCT crm_id) FROM raw.crm_contacts").fetchone()[0]
        assert kept == contacts.height
    finally:
        con.close()


# -- the same files as before a change to the generator's code ---------------------------------

# SHA-256 over every written file (relative path, then bytes) for 300 persons and seed 5, taken
# after names moved to real population frequencies (issue 18; before: the digest of the
# generator as split into a package, issue 20). A change to the code that
# should not change the data (moving, renaming, tidying) keeps it; a change meant to change the
# data updates it, and says so.
FILES_DIGEST = "ae3babd226d15207ace0839439ff944fbe8addbfec5a42a2fc510ad5140a4e4f"


def test_files_are_byte_identical_to_the_recorded_digest(tmp_path):
    generate_duplicate_crm(300, 5, tmp_path)
    digest = hashlib.sha256()
    for path in sorted(p for p in tmp_path.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(tmp_path)).encode())
        digest.update(path.read_bytes())
    assert digest.hexdigest() == FILES_DIGEST
