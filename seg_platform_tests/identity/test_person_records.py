"""Deduplication of real person records (Febrl 3: 5,000 records of 2,000 persons, up to 6 each)
through the documented crm_contacts contract, judged against the file's ground truth."""

from pathlib import Path

import duckdb
import numpy as np
import pytest

from seg_platform.identity.graph import (
    APART,
    DROPPED_CLUSTER,
    DROPPED_HUB,
    KEPT,
    OVERSIZE,
    TIGHTENED,
    USED,
    components,
    dedup_clusters,
    resolve,
)
from seg_platform_tests.identity.person_records import (
    pairwise_from_clusters,
    read_febrl,
    run_platform,
    write_crm_landing,
)

FEBRL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "febrl"


@pytest.mark.skipif(not FEBRL.is_dir(), reason=f"febrl data not found at {FEBRL}")
def test_febrl3_contacts_are_deduplicated_with_every_check_passing(tmp_path):
    """Before: at most 3 crm_ids per profile and blocking on names with company and role gave
    F1 ~0.3 here; the limit check would also fail on persons with 4-6 records. Splink's own
    febrl3 model on the same columns reaches F1 0.985 (benchmarks/identity_person_records.py);
    the platform 0.9945 (P 1.000, R 0.989)."""
    frame = read_febrl(FEBRL / "dataset3.csv")
    landing = write_crm_landing(frame, tmp_path / "landing")
    run = run_platform(landing, tmp_path / "home")
    assert run["success"], (run["failed_checks"], run["errors"])
    assert run["failed_checks"] == []
    clusters = dict(run["clusters"].iter_rows())
    assert len(clusters) == frame.height
    scores = pairwise_from_clusters(clusters)
    assert scores["true_pairs"] == 6538
    assert scores["precision"] >= 0.99, scores
    # F1 above Splink's model; recall is 0.989, not higher, by choice: a duplicate whose first
    # name Febrl replaced and whose birth date it changed looks like a household member, and
    # the household rule keeps such pairs apart (a missed duplicate costs less than a merge).
    assert scores["f1"] >= 0.99, scores
    # the model learnt from this file is kept: date of birth agreement weighs strongly
    with duckdb.connect(str(tmp_path / "home" / "warehouse.duckdb"), read_only=True) as con:
        weight = con.execute(
            "SELECT match_weight FROM identity.linkage_weights "
            "WHERE comparison = 'date_of_birth' AND level = 'Exact match on date of birth'"
        ).fetchall()
    assert weight and weight[0][0] > 5


def test_duplicate_records_of_one_person_count_once_against_the_limits():
    """Six CRM records of one person (a group) linked to one email: not a hub, one profile.
    Without the group the email would hold 6 crm_ids (limit 3) and lose every link."""
    # nodes 0-5 crm_id (type 0), node 6 email (type 1); limits: crm_id 3, email 5
    src = np.array([0, 1, 2, 3, 4, 5, 0, 0, 0, 0, 0])
    dst = np.array([6, 6, 6, 6, 6, 6, 1, 2, 3, 4, 5])
    evidence = np.ones(len(src), np.int64)
    types = np.array([0, 0, 0, 0, 0, 0, 1])
    limits = np.array([3, 5])
    alone = resolve(7, src, dst, evidence, types, limits)
    assert (alone.edge_status[:6] == DROPPED_HUB).all()
    groups = np.array([0, 0, 0, 0, 0, 0, 6])
    grouped = resolve(7, src, dst, evidence, types, limits, groups=groups)
    assert len(set(grouped.labels.tolist())) == 1
    assert (grouped.edge_status == USED).all()
    refused = np.zeros(len(src), bool)
    refused[6:] = True
    cut = resolve(7, src, dst, evidence, types, limits, groups=np.arange(7), refused=refused)
    assert (cut.edge_status[6:] == DROPPED_CLUSTER).all()


def test_duplicate_clusters_have_safeguards():
    """A chain of 10 look-alikes (9 links of 45 pairs, density 0.2) is clustered again at a
    stricter threshold, which its weak links fail; a strong clique of 4 is kept."""
    chain = [(i, i + 1, 0.95) for i in range(9)]
    clique = [(a, b, 0.9999) for a in range(10, 14) for b in range(a + 1, 14)]
    src, dst, p = (np.array(x) for x in zip(*chain, *clique, strict=True))
    reason = dedup_clusters(14, src, dst, p, max_size=50, min_density=0.25)
    assert (reason[:9] == TIGHTENED).all()
    assert (reason[9:] == KEPT).all()
    # the same chain of 5 records (density 0.4) is an ordinary cluster
    assert (dedup_clusters(5, src[:4], dst[:4], p[:4], 50, 0.25) == KEPT).all()


def test_a_cluster_above_the_maximum_size_loses_its_links():
    pairs = [(a, b) for a in range(8) for b in range(a + 1, 8)]
    src, dst = (np.array(x) for x in zip(*pairs, strict=True))
    reason = dedup_clusters(8, src, dst, np.full(len(src), 0.999999), 5, 0.25)
    assert (reason == OVERSIZE).all()
    assert (dedup_clusters(8, src, dst, np.full(len(src), 0.999999), 8, 0.25) == KEPT).all()


@pytest.mark.parametrize(
    ("a", "b", "household"),
    [
        (("anna", "mueller", None), ("boris", "mueller", None), True),  # partners
        (("anna", "mueller", "19800101"), ("boris", "mueler", "19821231"), True),  # + a typo
        (("anna", "mueller", "19800101"), ("boris", "mueller", "19800101"), False),  # same dob
        (("anna", "mueller", None), ("anne", "mueller", None), False),  # a typo
        (("katharina", "mueller", None), ("katrin", "mueller", None), False),  # similar
        (("j.", "mueller", None), ("jakob", "mueller", None), False),  # an initial
        (("chris", "mueller", None), ("christopher", "mueller", None), False),  # a prefix
        (("mueller", "anna", None), ("anna", "mueller", None), False),  # swapped
        (("robert", "mueller", None), ("bob", "mueller", None), False),  # a nickname
        (("bobby", "mueller", None), ("rob", "mueller", None), False),  # two of one name
        (("anna", "mueller", None), ("boris", "schmidt", None), False),  # other family
        ((None, "mueller", None), ("boris", "mueller", None), False),  # first name unknown
        # an initial that is not the other's, nor a nickname's (B. for Robert is Bob)
        (("l", "george", None), ("carmelita", "george", None), True),
        (("l.", "george", None), ("c.", "george", None), True),
        (("b.", "mueller", None), ("robert", "mueller", None), False),
        (("k", "brown", None), ("akrl-georg", "brown", None), False),  # first letters swapped
        # a nickname with a typo (Damny for Danny), a nickname with a middle initial
        (("damny", "mueller", None), ("daniel", "mueller", None), False),
        (("nick d.", "mueller", None), ("nicholas", "mueller", None), False),
    ],
)
def test_household_members_are_told_apart_from_one_person(a, b, household):
    """Two contacts with one family name and clearly different first names, birth dates not
    known to be equal, are two people of one household: the model's evidence (address,
    postcode, city, landline) is shared by the whole family, so the pair is refused."""
    assert _is_household(a, b) == household


@pytest.mark.parametrize(
    ("a", "b", "household"),
    [
        # two names of one length sharing a few letters (Jaro-Winkler 0.7-0.8) are two people
        ("faris", "carin", True),
        ("michael", "charles", True),
        ("patrick", "eric", True),
        ("emily", "marilyn", True),
        # spelling variants of one name stay alike
        ("steven", "stephen", False),
        ("sean", "shawn", False),
        ("caitlin", "kaitlyn", False),
        ("christopher", "kristopher", False),
        # a middle initial after the name; a nickname with a typo
        ("payrick d.", "paddy", False),
        ("patrick d.", "eric", True),
        # a diminutive of a listed nickname (Tommie of Tom, which the list has for Thomas,
        # with Tommy but not Tommie); Robin is no pet form of Rob
        ("tommie", "thomas", False),
        ("robin", "robert", True),
    ],
)
def test_first_names_alike_only_as_variants_where_the_data_keeps_names(a, b, household):
    """Where the data keeps first names (the twins gate), Faris and Carin Contrafatto
    (Jaro-Winkler 0.73) are two people; elsewhere (names replaced in a file's duplicates, as
    in Febrl) only names below 0.7 are."""
    pair = (a, "contrafatto", None), (b, "contrafatto", None)
    assert _is_household(*pair, twins=True) == household
    assert not _is_household(*pair)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("lisa", "monk", None), ("jeff", "lynch", None)),  # a partner with her own name
        (("dalbir", None, None), ("amber", "saabir", None)),  # no family name on one
    ],
)
def test_where_the_data_keeps_first_names_two_first_names_are_two_people(a, b):
    """Lisa Monk and Jeff Lynch share an address, a postcode and a landline; Dalbir (no family
    name) and Amber Saabir an address. Where the data keeps first names, unrelated first names
    are two people whatever the family names say; elsewhere (Febrl) the family name must agree
    before the rule speaks. Before, only one family name made two first names two people."""
    assert _is_household(a, b, twins=True)
    assert not _is_household(a, b)
    # a given and family name swapped is no second person
    assert not _is_household(("monk", "lisa", None), ("lisa", "monk", None), twins=True)


def _is_household(a: tuple, b: tuple, twins: bool = False) -> bool:
    from seg_platform.identity.build import _household_sql, _nickname_table

    columns = ("first_name", "last_name", "date_of_birth")
    with duckdb.connect() as con:
        _nickname_table(con)
        row = ", ".join(f"{v!r}" if v else "NULL::VARCHAR" for v in (*a, *b))
        names = ", ".join((*(f"a_{c}" for c in columns), *(f"b_{c}" for c in columns)))
        con.execute(f"CREATE TABLE p ({names.replace(',', ' VARCHAR,')} VARCHAR)")
        con.execute(f"INSERT INTO p VALUES ({row})")
        con.execute(
            "CREATE VIEW a AS SELECT a_first_name AS first_name, a_last_name AS last_name, "
            "a_date_of_birth AS date_of_birth FROM p"
        )
        con.execute(
            "CREATE VIEW b AS SELECT b_first_name AS first_name, b_last_name AS last_name, "
            "b_date_of_birth AS date_of_birth FROM p"
        )
        sql = f"SELECT coalesce({_household_sql(list(columns), twins)}, false) FROM a, b"
        return con.execute(sql).fetchone()[0]


def test_two_people_kept_apart_are_not_joined_through_a_third_record():
    """Records 0 and 2 are two household members (a refused pair); record 1 (an initial, no
    first name) links to both. The cluster {0, 1, 2} holds a pair known to be two people, so
    it is clustered again at a stricter threshold: the weaker link goes."""
    src, dst, p = np.array([0, 1]), np.array([1, 2]), np.array([0.9999, 0.95])
    joined = dedup_clusters(3, src, dst, p, 50, 0.25)
    assert (joined == KEPT).all()
    apart = dedup_clusters(3, src, dst, p, 50, 0.25, apart=(np.array([0]), np.array([2])))
    assert apart.tolist() == [KEPT, APART]


def test_keeping_two_people_apart_keeps_each_persons_own_links():
    """Records 0-2 are one person, linked at 0.995; record 3, a household member of 0 and 1, links
    to record 2 at 0.9995. The cluster is split link by link, strongest first, refusing any
    link that would put 0 or 1 with 3: the person keeps the link between 0 and 1 (raising the
    whole cluster's threshold dropped every one of the person's links)."""
    src, dst = np.array([0, 1, 0, 2]), np.array([1, 2, 2, 3])
    p = np.array([0.995, 0.995, 0.995, 0.9995])
    apart = (np.array([0, 1]), np.array([3, 3]))
    reason = dedup_clusters(4, src, dst, p, 50, 0.25, apart=apart)
    assert reason.tolist() == [KEPT, APART, APART, KEPT]
    # a cluster with no pair kept apart is left alone, and the refused links really separate
    assert (dedup_clusters(4, src, dst, p, 50, 0.25) == KEPT).all()
    labels = components(4, src, dst, reason == KEPT)
    assert labels[0] == labels[1] != labels[3]


def test_two_people_are_kept_apart_whatever_the_links_between_them_score():
    """Records 0 and 2 are two people (a cannot-link); record 1, without a first name, links to
    both near certainly (the household's address, postcode and landline). By default a link at
    the last step (0.99999) or above overrides the rule (a record whose first name was
    replaced); where the data keeps first names (`certain=inf`) no link does, and the record
    goes with the stronger one. Before, both links stayed and the two people were one."""
    src, dst = np.array([0, 1]), np.array([1, 2])
    p = np.array([0.9999999, 0.999999])
    apart = (np.array([0]), np.array([2]))
    assert (dedup_clusters(3, src, dst, p, 50, 0.25, apart=apart) == KEPT).all()
    reason = dedup_clusters(3, src, dst, p, 50, 0.25, apart=apart, certain=np.inf)
    assert reason.tolist() == [KEPT, APART]


@pytest.mark.parametrize(
    ("full_name", "first", "last"),
    [
        ("Dr. John A. Smith", "john", "smith"),
        ("Mrs Mary  Jones", "mary", "jones"),
        ("Smith, John", "john", "smith"),
        ("Drew Barker", "drew", "barker"),  # a given name that starts like a title
    ],
)
def test_the_given_name_is_taken_from_a_full_name_after_its_title(full_name, first, last):
    """A contact with only `full_name` gets its given and family name from it; a title before
    the name ("Dr.", "Mrs") is not the given name, which the model compares."""
    from seg_platform.identity.build import _people_sql

    columns = (
        "crm_id first_name last_name full_name date_of_birth address postcode city email "
        "phone company role country"
    ).split()
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA raw")
        con.execute(f"CREATE TABLE raw.crm_contacts ({', '.join(c + ' VARCHAR' for c in columns)})")
        con.execute(
            "INSERT INTO raw.crm_contacts (crm_id, full_name) VALUES ('c1', ?)", [full_name]
        )
        row = con.execute(f"SELECT first_name, last_name FROM ({_people_sql()})").fetchone()
    assert row == (first, last)


@pytest.mark.parametrize(
    ("first_name", "last_name", "full_name", "first", "last"),
    [
        ("Wolfram", None, "Wolfram Anastasi", "wolfram", "anastasi"),  # no last name
        (None, "Kernan", "Emily Kernan", "emily", "kernan"),  # no first name
        ("", "Murray", "MURRAY, HANNY", "hanny", "murray"),  # an empty first name
        ("Larry", "Molina", "Lawrence Molina", "larry", "molina"),  # both filled: kept
        (None, "Kernan", "Kernan", None, "kernan"),  # a one-word full name
        (None, None, "Cher", "cher", None),  # only a one-word full name: the given name
    ],
)
def test_a_missing_name_is_taken_from_the_full_name(first_name, last_name, full_name, first, last):
    """A record with a first name but no last name (or the other way round) and a full name
    gets the missing half from the full name: without both, the household rule cannot tell
    it from another member of the family sharing its address and landline."""
    from seg_platform.identity.build import _people_sql

    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA raw")
        con.execute(
            "CREATE TABLE raw.crm_contacts (first_name VARCHAR, last_name VARCHAR, "
            "full_name VARCHAR, date_of_birth VARCHAR, email VARCHAR, phone VARCHAR)"
        )
        con.execute(
            "INSERT INTO raw.crm_contacts (first_name, last_name, full_name) VALUES (?, ?, ?)",
            [first_name, last_name, full_name],
        )
        row = con.execute(f"SELECT first_name, last_name FROM ({_people_sql()})").fetchone()
    assert row == (first, last)


@pytest.mark.parametrize(
    ("first_name", "last_name", "email", "first", "last"),
    [
        (None, "Schmidtke", "Jacob.Schmidtke@Fourthcoffee.Example", "jacob", "schmidtke"),
        (None, "van Rooij", "t.vanrooij@gmail.com", "t", "van rooij"),
        (None, "Perkins", "tiffany.perkins47@btinternet.com", "tiffany", "perkins"),
        (None, "Gaynard", "kgaynard+news@example.org", "k", "gaynard"),
        ("Xavier", None, "xavier.akhtar@gmail.com", "xavier", "akhtar"),
        ("Joy", None, "joy_shan@relecloud.example", "joy", "shan"),
        # a family's or a role's address names no given name, or cannot be split
        (None, "Peri", "peri.home@gmail.com", None, "peri"),
        (None, "Smith", "the.smiths@gmail.com", None, "smith"),
        (None, "Smith", "mr.smith@gmail.com", None, "smith"),
        (None, "Smith", "smith@gmail.com", None, "smith"),
        ("Jim", None, "jimmychambers@gmail.com", "jim", None),
        ("Anne", None, "motafamily@hotmail.com", "anne", None),
        # both names given: the e-mail changes nothing
        ("Robert", "Crosby", "robert57@margiestravel.example", "robert", "crosby"),
    ],
)
def test_a_missing_name_is_taken_from_the_persons_own_e_mail(
    first_name, last_name, email, first, last
):
    """A record without a given name whose e-mail is that name (or initial) and then the family
    name ("|Schmidtke| Jacob.Schmidtke@...") names its person, as one without a family name
    whose e-mail is the given name, a separator and one word does. Before: such records had
    no first name, so the model compared one name and the household rule refused their links
    (on the messy CRM, seed 11: "|Schmidtke|" stayed apart from Jacob Schmidtke)."""
    from seg_platform.identity.build import _people_sql

    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA raw")
        con.execute(
            "CREATE TABLE raw.crm_contacts (first_name VARCHAR, last_name VARCHAR, "
            "full_name VARCHAR, date_of_birth VARCHAR, email VARCHAR, phone VARCHAR)"
        )
        con.execute(
            "INSERT INTO raw.crm_contacts (first_name, last_name, email) VALUES (?, ?, ?)",
            [first_name, last_name, email],
        )
        row = con.execute(f"SELECT first_name, last_name FROM ({_people_sql()})").fetchone()
    assert row == (first, last)


@pytest.mark.parametrize(
    ("last_name", "full_name", "last", "suffix"),
    [
        ("Akhtar Jr.", None, "akhtar", "jr"),
        ("Basheerah Jr", None, "basheerah", "jr"),
        ("Smith, Sr.", None, "smith", "sr"),
        (None, "John Smith III", "smith", "iii"),
        ("Junior", None, "junior", None),  # a family name, no suffix
        ("Akhtar", None, "akhtar", None),
    ],
)
def test_a_generational_suffix_is_no_part_of_the_family_name(last_name, full_name, last, suffix):
    """ "Akhtar Jr." is the family name Akhtar with the suffix Jr.: the family-name comparisons
    and the household rules see Akhtar, the suffix rule sees Jr. (before: "akhtar jr." was a
    family name of its own, four edits from the father's)."""
    from seg_platform.identity.build import _people_sql

    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA raw")
        con.execute(
            "CREATE TABLE raw.crm_contacts (first_name VARCHAR, last_name VARCHAR, "
            "full_name VARCHAR, date_of_birth VARCHAR, email VARCHAR, phone VARCHAR)"
        )
        con.execute(
            "INSERT INTO raw.crm_contacts (first_name, last_name, full_name) VALUES ('x', ?, ?)",
            [last_name, full_name],
        )
        row = con.execute(f"SELECT last_name, suffix FROM ({_people_sql()})").fetchone()
    assert row == (last, suffix)


def test_a_junior_and_a_record_without_the_suffix_link_only_on_something_personal():
    """ "Xavier Akhtar Jr." says two Xavier Akhtars exist; a record without the suffix may be
    the father's or the son's. It links to the Jr. record only on a birth date (up to a typo)
    or an e-mail they share; a Jr. and a Sr. never. Two records without a suffix are left to
    the model."""
    import polars as pl

    from seg_platform.core.warehouse import frame_to_temp_table
    from seg_platform.identity.build import _generations_sql

    contacts = pl.DataFrame(
        {
            "unique_id": ["jr", "father", "son", "born", "senior", "plain"],
            "first_name": ["xavier"] * 6,
            "last_name": ["akhtar"] * 6,
            "date_of_birth": ["19930101", "19510703", None, "19930110", None, None],
            "suffix": ["jr", None, None, None, "sr", None],
            "_email": ["x@trey.com", "x@bt.com", "x@trey.com", None, "x@trey.com", "x@bt.com"],
        }
    )
    names = ["first_name", "last_name", "date_of_birth"]
    with duckdb.connect() as con:
        frame_to_temp_table(con, "_names", contacts)
        sql = (
            f"SELECT b.unique_id, coalesce({_generations_sql(names)}, false) "
            "FROM _names a, _names b WHERE a.unique_id = 'jr' AND b.unique_id <> 'jr'"
        )
        refused = dict(con.execute(sql).fetchall())
        assert refused == {
            "father": True,  # another birth date, another e-mail
            "son": False,  # his work e-mail
            "born": False,  # his birth date with a typo
            "senior": True,  # Jr. and Sr.: two people whatever they share
            "plain": True,
        }
        sql = (
            f"SELECT coalesce({_generations_sql(names)}, false) FROM _names a, _names b "
            "WHERE a.unique_id = 'father' AND b.unique_id = 'plain'"
        )
        assert con.execute(sql).fetchone() == (False,)


def _crm_identity(tmp_path, rows: list[tuple]) -> tuple[dict, list]:
    """Build identity from CRM contacts (crm_id, first, last, email, phone): each record's
    profile, and the phones blocked with their reason."""
    from seg_platform.core.identity_rules import IdentityRules
    from seg_platform.identity.build import build_identity
    from seg_platform.sources.config import load_sources_config
    from seg_platform.sources.contract import SOURCES
    from seg_platform.sources.ingest import ingest_source

    folder = tmp_path / "landing"
    (folder / "crm_contacts").mkdir(parents=True)
    lines = ["crm_id,first_name,last_name,email,phone,created_at"]
    lines += [",".join(v or "" for v in r) + ",2024-01-01" for r in rows]
    (folder / "crm_contacts" / "contacts.csv").write_text("\n".join(lines) + "\n")
    (folder / "sources.yaml").write_text(
        "version: 1\nsources:\n  crm_contacts:\n    path: crm_contacts/contacts.csv\n"
    )
    config = load_sources_config(folder / "sources.yaml")
    with duckdb.connect() as con:
        for source in SOURCES.values():
            ingest_source(con, source, config)
        build_identity(con, IdentityRules(), "test")
        profile = dict(
            con.execute(
                "SELECT record_key, profile_id FROM identity.record_profiles "
                "WHERE source = 'crm_contacts'"
            ).fetchall()
        )
        blocked = con.execute(
            "SELECT raw_value, blocked_reason FROM identity.identifier_values "
            "WHERE id_type = 'phone' AND blocked_reason IS NOT NULL ORDER BY raw_value"
        ).fetchall()
    return profile, blocked


def test_a_landline_or_switchboard_shared_by_different_people_links_nobody(tmp_path):
    """Michael and Barbara Nguyen both gave the household landline, Brenda Snyder and Barbara
    Clark their office switchboard: each number links nobody (blocked with the reason), while
    each person's own records stay together. Before, the landline made Michael and Barbara one
    profile, and the switchboard Brenda and Barbara Clark."""
    from seg_platform.identity.build import SHARED

    landline, office = "+1 617 267 4688", "+1 212 555 0100"
    rows = [
        ("c1", "Michael", "Nguyen", "michael.nguyen@gmail.com", "+1 617 805 5034"),
        ("c2", "Mike", "Nguyen", "michael.nguyen@gmail.com", landline),
        ("c3", "Barbara", "Nguyen", "barbara.nguyen@gmail.com", landline),
        ("c4", "Barbara", "Nguyen", "barbara.nguyen@gmail.com", None),
        ("c5", "Brenda", "Snyder", "brenda.snyder@harboranalytics.com", office),
        ("c6", "Barbara", "Clark", "barbara.clark@harboranalytics.com", office),
    ]
    profile, blocked = _crm_identity(tmp_path, rows)
    assert profile["c1"] == profile["c2"] != profile["c3"] == profile["c4"]
    assert profile["c5"] != profile["c6"]
    assert blocked == [(office, SHARED), (landline, SHARED)]


def test_a_landline_on_a_record_without_a_first_name_is_its_e_mails_persons(tmp_path):
    """An "Allen" record without a first name carries Lauren Allen's e-mail and the household
    landline, which Kevin Allen gave too: through its e-mail the record is Lauren's, so the
    landline is shared by Lauren and Kevin and links nobody. Before, the landline joined the
    record to Kevin and its e-mail to Lauren: Lauren and Kevin became one profile."""
    from seg_platform.identity.build import SHARED

    landline = "+1 973 801 6058"
    rows = [
        ("c1", "", "Allen", "lauren.allen@yahoo.com", landline),
        ("c2", "Lauren", "Allen", "lauren.allen@yahoo.com", "+1 862 294 0607"),
        ("c3", "Kevin", "Allen", "allen.kevin@gmail.com", landline),
        ("c4", "Kevin", "Allen", "allen.kevin@gmail.com", None),
    ]
    profile, blocked = _crm_identity(tmp_path, rows)
    assert blocked == [(landline, SHARED)]
    assert profile["c1"] == profile["c2"] != profile["c3"] == profile["c4"]


def test_a_landline_of_a_father_and_his_junior_links_neither(tmp_path):
    """Xavier Akhtar and Xavier Akhtar Jr. both gave the household landline: one name of two
    generations, so the landline is shared by two people and links nobody; each keeps his own
    records (his e-mail). Before, the landline made father and son one profile."""
    from seg_platform.identity.build import SHARED

    landline = "+44 117 295 9930"
    rows = [
        ("c1", "Xavier", "Akhtar", "xavier.akhtar@btinternet.com", landline),
        ("c2", "Xavier", "Akhtar", "xavier.akhtar@btinternet.com", None),
        ("c3", "Xavier", "Akhtar Jr.", "xavier.akhtar@treyresearch.com", landline),
        ("c4", "Xavier", "Akhtar Jr", "xavier.akhtar@treyresearch.com", None),
    ]
    profile, blocked = _crm_identity(tmp_path, rows)
    assert blocked == [(landline, SHARED)]
    assert profile["c1"] == profile["c2"] != profile["c3"] == profile["c4"]


def test_national_phone_numbers_are_read_in_their_records_country(tmp_path):
    """A UK mobile in national format ("07161 566391") on a contact whose country is "UK" is
    +447161566391, the number another record wrote in international format: the two records
    share a phone. Read in the default region (US) it was no phone number at all. A US number on
    a contact filed under the United Kingdom is still read in the default region."""
    landing = tmp_path / "landing"
    (landing / "crm_contacts").mkdir(parents=True)
    (landing / "sources.yaml").write_text(
        "version: 1\nsources:\n  crm_contacts:\n    path: crm_contacts/contacts.csv\n"
    )
    (landing / "crm_contacts" / "contacts.csv").write_text(
        "crm_id,phone,first_name,last_name,country,created_at\n"
        "C1,07161 566391,Karen,Anderson,UK,2024-01-05 10:00:00\n"
        "C2,+44 7161 566391,K.,Anderson,,2024-02-05 10:00:00\n"
        "C3,(267) 255-8450,Mike,Hernandez,United Kingdom,2024-03-05 10:00:00\n"
        "C4,0161 496 0000,Ann,Lee,Scotland,2024-03-06 10:00:00\n"
    )
    run = run_platform(landing / "sources.yaml", tmp_path / "home")
    assert run["success"], run["errors"]
    clusters = dict(run["clusters"].iter_rows())
    assert clusters["C1"] == clusters["C2"]
    with duckdb.connect(str(tmp_path / "home" / "warehouse.duckdb"), read_only=True) as con:
        values = dict(
            con.execute(
                "SELECT raw_value, value FROM identity.identifier_values WHERE id_type = 'phone'"
            ).fetchall()
        )
    assert values == {
        "07161 566391": "+447161566391",
        "+44 7161 566391": "+447161566391",
        "(267) 255-8450": "+12672558450",
        "0161 496 0000": "+441614960000",
    }


def _build_crm(tmp_path, header: str, rows: list[str]) -> dict[str, str]:
    """`rows` (CSV lines under `header`) as the only source, the identity layer built in
    memory; each record's profile."""
    from seg_platform.core.identity_rules import IdentityRules
    from seg_platform.identity.build import build_identity
    from seg_platform.sources.config import load_sources_config
    from seg_platform.sources.contract import SOURCES
    from seg_platform.sources.ingest import ingest_source

    folder = tmp_path / "landing"
    (folder / "crm_contacts").mkdir(parents=True)
    (folder / "crm_contacts" / "contacts.csv").write_text("\n".join([header, *rows]) + "\n")
    (folder / "sources.yaml").write_text(
        "version: 1\nsources:\n  crm_contacts:\n    path: crm_contacts/contacts.csv\n"
    )
    config = load_sources_config(folder / "sources.yaml")
    with duckdb.connect() as con:
        for source in SOURCES.values():
            ingest_source(con, source, config)
        build_identity(con, IdentityRules(), "test")
        return dict(
            con.execute(
                "SELECT record_key, profile_id FROM identity.record_profiles "
                "WHERE source = 'crm_contacts'"
            ).fetchall()
        )


# Other people of the same CRM, so the model has random pairs to learn from.
_OTHERS = [
    "o1,Mary,Johnson,1972-05-30,12 Elm St,60614,Chicago,mary.j@gmail.com",
    "o2,Robert,Brown,1990-08-12,4 Pine Rd,98101,Seattle,rbrown@outlook.com",
    "o3,Linda,Garcia,1955-01-21,77 Bay St,33101,Miami,lgarcia@yahoo.com",
    "o4,David,Miller,1983-11-09,9 Lake Ave,80202,Denver,dmiller@gmail.com",
    "o5,Susan,Davis,1969-02-17,31 Hill Rd,85001,Phoenix,sdavis@aol.com",
    "o6,James,Wilson,1977-07-04,5 Oak Ln,30301,Atlanta,jwilson@gmail.com",
    "o7,Karen,Moore,1992-12-25,18 Ash St,19104,Philadelphia,kmoore@outlook.com",
    "o8,Paul,Taylor,1960-03-03,2 Cedar Ct,94103,San Francisco,ptaylor@yahoo.com",
    "o9,Nancy,Thomas,1988-06-14,60 Birch Rd,10001,New York,nthomas@gmail.com",
    "o10,Mark,Jackson,1975-10-10,8 Maple Dr,75201,Dallas,mjackson@aol.com",
]


def test_two_birth_dates_split_a_cluster_joined_through_a_record_without_one(tmp_path):
    """John Smith and his son John Smith, one address, born 1961 and 1985: each has two records
    with his birth date, and a fifth record (name and address, no birth date) matches both.
    One person has one birth date, and 19610314 / 19851102 is no typo of it, so the two stay
    two profiles and the fifth record goes with one of them. Before, the record without a
    birth date joined father and son into one profile."""
    header = "crm_id,first_name,last_name,date_of_birth,address,postcode,city,email,created_at"
    smiths = [
        "s1,John,Smith,1961-03-14,14 Oak Street,02115,Boston,john.smith61@gmail.com",
        "s2,John,Smith,1961-03-14,14 Oak St,02115,Boston,",
        "s3,John,Smith,,14 Oak Street,02115,Boston,",
        "s4,John,Smith,1985-11-02,14 Oak Street,02115,Boston,jsmith85@yahoo.com",
        "s5,John,Smith,1985-11-02,14 Oak St.,02115,Boston,",
    ]
    rows = [f"{r},2024-01-0{i % 9 + 1}" for i, r in enumerate([*smiths, *_OTHERS])]
    profile = _build_crm(tmp_path, header, rows)
    assert profile["s1"] == profile["s2"]
    assert profile["s4"] == profile["s5"]
    assert profile["s1"] != profile["s4"]
    assert profile["s3"] in (profile["s1"], profile["s4"])
    # typos of one birth date do not split a person: a digit wrong, a placeholder
    rows = [
        "t1,Ann,Lee,1985-03-10,3 Elm Street,02116,Boston,ann.lee@gmail.com",
        "t2,Ann,Lee,1985-08-10,3 Elm Street,02116,Boston,",
        "t3,Ann,Lee,,3 Elm St,02116,Boston,",
        "t4,Ann,Lee,1900-01-01,3 Elm Street,02116,Boston,",
    ]
    rows = [f"{r},2024-01-0{i % 9 + 1}" for i, r in enumerate([*rows, *_OTHERS])]
    profile = _build_crm(tmp_path / "typos", header, rows)
    assert len({profile[f"t{i}"] for i in range(1, 5)}) == 1, profile


@pytest.mark.parametrize(
    ("a", "b", "conflict"),
    [
        ("19610314", "19851102", True),  # father and son
        ("19850310", "19850311", False),  # a digit wrong
        ("19850310", "19580310", False),  # two digits swapped
        ("19850310", "19851003", False),  # day and month swapped
        ("19850310", "19000101", False),  # a placeholder
        ("19850310", "19700101", False),  # the epoch, a placeholder
        ("19850310", "19860411", True),  # two digits wrong
        ("19850310", None, False),  # unknown
    ],
)
def test_two_birth_dates_are_two_people_unless_a_typo_explains_them(a, b, conflict):
    """One person has one birth date: two dates are two people unless one typo, a day/month
    swap or a placeholder explains them."""
    from seg_platform.identity.build import _birth_dates_conflict_sql

    with duckdb.connect() as con:
        con.execute("CREATE TABLE a (date_of_birth VARCHAR)")
        con.execute("CREATE TABLE b (date_of_birth VARCHAR)")
        con.execute("INSERT INTO a VALUES (?)", [a])
        con.execute("INSERT INTO b VALUES (?)", [b])
        sql = f"SELECT coalesce({_birth_dates_conflict_sql(['date_of_birth'])}, false) FROM a, b"
        assert con.execute(sql).fetchall() == [(conflict,)]


@pytest.mark.parametrize(
    ("unrelated_first_names_m", "apart"),
    [(0.03, True), (0.2, False), (None, False)],
)
def test_twins_are_kept_apart_when_the_data_keeps_first_names(unrelated_first_names_m, apart):
    """Anna and Boris Mueller, born the same day: twins, unless the data shows that a person's
    records often carry a wholly different first name (Febrl replaced ~20% of its duplicates'
    first names; EM learns that share). Only a share learnt from the data counts (None: EM
    did not train it, and the pair is left to the model as before)."""
    from seg_platform.identity.build import _household_sql, _nickname_table, _twins_apart

    names = ["first_name", "last_name", "date_of_birth"]
    linkage = {"unrelated_first_names_m": unrelated_first_names_m}
    twins = _twins_apart(linkage, names)
    assert twins is apart
    assert linkage["twins_kept_apart"] is apart
    with duckdb.connect() as con:
        _nickname_table(con)
        con.execute("CREATE TABLE a AS SELECT 'anna' AS first_name, 'mueller' AS last_name, "
                    "'19800101' AS date_of_birth")  # fmt: skip
        con.execute("CREATE TABLE b AS SELECT 'boris' AS first_name, 'mueller' AS last_name, "
                    "'19800101' AS date_of_birth")  # fmt: skip
        sql = f"SELECT coalesce({_household_sql(names, twins)}, false) FROM a, b"
        assert con.execute(sql).fetchall() == [(apart,)]


def test_a_record_without_a_first_name_links_only_on_something_personal():
    """ "Kernan" without a first name, at the Kernans' postcode with their landline, may be
    Emily or Lawrence; so may a second "Kernan" record: a family name, an address and a
    landline are the household's. A birth date (up to a typo) or an e-mail says which member
    it is. Where the data does not keep first names (Febrl's duplicates lost or changed them at
    random) the rule is off. Before, only a record at a place where two named members were
    seen was refused: Sara McLaverty took William's "McLaverty" record (his named record had
    no address)."""
    import polars as pl

    from seg_platform.core.warehouse import frame_to_temp_table
    from seg_platform.identity.build import _ambiguous_pair_sql

    contacts = pl.DataFrame(
        {
            "unique_id": ["kernan", "emily", "lawrence", "kernan2", "mail", "typo", "mobile"],
            "first_name": [None, "emily", "lawrence", None, "emily", "lawrence", "emily"],
            "last_name": ["kernan"] * 7,
            "date_of_birth": ["19770213", None, "19770213", None, None, "19770231", None],
            "_email": ["k@x.com", "e@x.com", None, "k2@x.com", "k@x.com", None, None],
            # the phone of one person (no two different people carry it); a landline shared
            # by Emily and Lawrence is no `_phone` (NULL), as `_probabilistic_edges` writes it
            "_phone": ["+15550001", None, None, None, None, None, "+15550001"],
        }
    )
    names = ["first_name", "last_name", "date_of_birth"]
    with duckdb.connect() as con:
        frame_to_temp_table(con, "_names", contacts)

        def refused(kept: bool) -> dict:
            sql = (
                f"SELECT b.unique_id, coalesce({_ambiguous_pair_sql(names, kept)}, false) "
                "FROM _names a, _names b WHERE a.unique_id = 'kernan' AND b.unique_id <> 'kernan'"
            )
            return dict(con.execute(sql).fetchall())

        assert refused(True) == {
            "emily": True,  # only household evidence
            "lawrence": False,  # the birth date says it is him
            "typo": False,  # ... also with a typo in it
            "kernan2": True,  # two records without a first name: which members?
            "mail": False,  # the e-mail says it is Emily's record
            "mobile": False,  # ... as a phone no one else carries does
        }
        assert not any(refused(False).values())
        assert _ambiguous_pair_sql(["last_name", "date_of_birth"], True) == "false"
