"""Benchmark: person-record deduplication, the platform against Splink's febrl3 tutorial model.

    python benchmarks/identity_person_records.py --files dataset3 dataset1 dataset2

For each Febrl file (/work/shared/data/febrl, ground truth in rec_id: `rec-N-org` and
`rec-N-dup-k` are person N), side by side, pairwise precision / recall / F1:

1. Splink's febrl3 example (splink docs/demos/examples/duckdb/febrl3.ipynb), run with the Splink 5
   API on DuckDB, on the columns the platform receives: the example without soc_sec_id (its
   blocking rule, deterministic rule and comparison dropped), because the crm_contacts contract
   has no slot for it;
2. the same example as published, all columns (with soc_sec_id), for reference;
3. the platform: the file as a crm_contacts landing folder, raw asset + identity graph
   materialized in-process in a fresh warehouse, profiles read from identity.record_profiles.

With `--messy-crm SEED ...`, the platform also runs on the generator's duplicate-heavy CRM
(seg_platform/synthetic/duplicate_crm/: `--crm-persons` persons, 4-20 records for the
duplicated ones, typos, nicknames, households, namesakes), scored against its truth, and
beside it Splink's recommended person model built for that file (`splink_crm_model`: the
input cleaned the way the tutorials do, ForenameSurname / DateOfBirth / Email / Postcode
comparisons, prior from deterministic rules, u by sampling, m by EM): its clusters at the
tutorial threshold and at 0.5, 0.9, 0.99, 0.999, its raw pairs at the tutorial threshold,
and the best F1 it reaches at any threshold (picked with the truth, so an upper bound).
`--causes` adds the platform's false-positive and false-negative pairs there by cause
(`error_causes`: twins, households, namesakes, chains through other records, refused links).
`--blank-first-names SHARE` empties the given name of that share of records, drawn at random
(seed 0), in every file before any model sees it (on the messy CRM a record with a
`last_name` also loses its `full_name`, which would give the given name back): does a file
with many missing first names lose recall?

Splink rows are scored twice: the clusters of `cluster_pairwise_predictions_at_threshold` at the
example's threshold (every pair inside a cluster is predicted), and the raw predicted pairs.
Seconds are wall time in this process (the platform's include Dagster's run machinery; a
messy-CRM Splink row's cover preparation, training, prediction and every clustering).
Nothing is downloaded.
"""

import argparse
import itertools
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # seg_platform_tests is not an installed package

from common import work_folder  # noqa: E402  (benchmarks/ is on sys.path)

from seg_platform.core.warehouse import connect as duckdb_connect  # noqa: E402
from seg_platform_tests.identity.person_records import (  # noqa: E402
    blank_first_names,
    pair_scores,
    pairwise_from_clusters,
    pairwise_from_pairs,
    read_febrl,
    run_platform,
    true_pair_count,
    write_crm_landing,
)

FEBRL = REPO.parent / "shared" / "data" / "febrl"
FILES = ("dataset1", "dataset2", "dataset3")
# The example's prediction threshold (`predict(threshold_match_probability=0.2)`); the example
# stops at pairs, so its clusters are taken at the same probability.
TUTORIAL_THRESHOLD = 0.2


def splink_tutorial_model(
    frame: pl.DataFrame, with_soc_sec_id: bool, max_iterations: int, threshold: float
) -> dict:
    """Train and run Splink's febrl3 example model on `frame`; predictions and clusters.

    The example, step by step: blocking for predictions on soc_sec_id, given_name, surname,
    date_of_birth, postcode (one rule each); comparisons NameComparison(given_name),
    NameComparison(surname), DateOfBirthComparison(date_of_birth, string %Y%m%d),
    DamerauLevenshteinAtThresholds(soc_sec_id, [2]), ExactMatch(street_number) and
    ExactMatch(postcode) with term-frequency adjustments; the prior from deterministic rules
    (soc_sec_id; given_name+surname+date_of_birth; names swapped + date_of_birth) at recall
    0.9; u by random sampling (max_pairs 1e6, seed 2); m by EM blocked on date_of_birth, then
    on postcode; predict at 0.2. Without soc_sec_id its three uses are left out.
    """
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    if not with_soc_sec_id:
        frame = frame.drop("soc_sec_id")
    con = duckdb.connect()
    con.register("febrl_input", frame.to_arrow())
    db_api = DuckDBAPI(connection=con)

    start = time.perf_counter()
    blocking = [
        *([block_on("soc_sec_id")] if with_soc_sec_id else []),
        block_on("given_name"),
        block_on("surname"),
        block_on("date_of_birth"),
        block_on("postcode"),
    ]
    comparisons = [
        cl.NameComparison("given_name"),
        cl.NameComparison("surname"),
        cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
        *([cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2])] if with_soc_sec_id else []),
        cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
        cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
    ]
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=blocking,
        comparisons=comparisons,
        retain_intermediate_calculation_columns=True,
        max_iterations=max_iterations,
    )
    linker = Linker(db_api.register(con.table("febrl_input")), settings, log_level="WARNING")
    deterministic = [
        *([block_on("soc_sec_id")] if with_soc_sec_id else []),
        block_on("given_name", "surname", "date_of_birth"),
        "l.given_name = r.surname and l.surname = r.given_name "
        "and l.date_of_birth = r.date_of_birth",
    ]
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=2)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode"))
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    pairs = predictions.as_duckdbpyrelation().select("rec_id_l, rec_id_r").fetchall()
    predict_seconds = time.perf_counter() - start
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold
    )
    cluster_of = dict(clusters.as_duckdbpyrelation().select("rec_id, cluster_id").fetchall())
    cluster_seconds = time.perf_counter() - start
    con.close()
    return {
        "pairs": pairs,
        "clusters": cluster_of,
        "predict_seconds": round(predict_seconds, 2),
        "cluster_seconds": round(cluster_seconds, 2),
    }


# Splink's recommended person model on the messy CRM: the input prepared in SQL (DuckDB), the
# way the tutorials clean their data before a model sees it. `clean` lower-cases, drops accents,
# trims and collapses runs of spaces; '' becomes NULL.
CRM_PREP_SQL = r"""
create or replace macro clean(x) as
    nullif(trim(regexp_replace(lower(strip_accents(x)), '\s+', ' ', 'g')), '');
create or replace table crm_input as
with src as (
    select * from read_csv(?, header = true, all_varchar = true)
), named as (
    select *,
        -- full_name without a leading title, as "last, first" or "first ... last"
        regexp_replace(clean(full_name), '^(dr|mr|mrs|ms|prof)\.?\s+', '') as full_clean
    from src
), split as (
    select *,
        case when full_clean like '%,%'
             then split_part(trim(split_part(full_clean, ',', 2)), ' ', 1)
             else split_part(full_clean, ' ', 1) end as full_first,
        case when full_clean like '%,%'
             then trim(split_part(full_clean, ',', 1))
             else list_last(string_split(full_clean, ' ')) end as full_last
    from named
), prepared as (
    select
        crm_id,
        nullif(trim(user_id), '') as user_id,
        -- a trailing middle initial ("james s.") and dots ("j.") dropped
        nullif(replace(regexp_replace(coalesce(clean(first_name), full_first),
                                      '\s+[a-z]\.?$', ''), '.', ''), '') as first_name,
        -- a generational suffix ("jansen jr.") dropped
        nullif(regexp_replace(coalesce(clean(last_name), nullif(full_last, full_first)),
                              '\s+(jr|sr)\.?$', ''), '') as last_name,
        -- well-known placeholder dates (the top of a date-of-birth profile) as unknown
        case when trim(date_of_birth) in ('1900-01-01', '1901-01-01', '1970-01-01') then null
             else nullif(trim(date_of_birth), '') end as date_of_birth,
        clean(email) as email,
        -- digits only, extension dropped, last ten digits (drops +1 / +44 / 0044 / trunk 0)
        nullif(right(regexp_replace(
            regexp_replace(phone, '\s*(x|ext\.?|#)\s*\d+\s*$', '', 'i'), '[^0-9]', '', 'g'),
            10), '') as phone,
        upper(regexp_replace(coalesce(postcode, ''), '\s+', '', 'g')) as pc,
        clean(address) as address,
        clean(city) as city,
        clean(company) as company
    from split
)
select * exclude (pc),
    case when pc = '' then null
         -- a US ZIP: five digits (ZIP+4 cut, leading zeros a spreadsheet dropped put back)
         when regexp_full_match(pc, '[0-9]{3,5}(-[0-9]{4})?')
             then lpad(split_part(pc, '-', 1), 5, '0')
         -- UK / Canadian codes: outward and inward parts separated by one space
         else left(pc, length(pc) - 3) || ' ' || right(pc, 3) end as postcode,
    first_name || ' ' || last_name as first_name_surname_concat
from prepared
"""
# Thresholds of the sweep (match probability); clusters at each, plus the tutorial's.
SWEEP = (0.5, 0.9, 0.99, 0.999)


def splink_crm_model(contacts_csv: Path, max_iterations: int, thresholds: list[float]) -> dict:
    """Splink's recommended approach for person data, applied to the messy CRM export.

    Input (`CRM_PREP_SQL`): names, email, city, address, company lower-cased, accents dropped,
    trimmed, spaces collapsed; first/last taken from `full_name` where empty ("last, first"
    or first and last word after a title); a trailing middle initial, dots and a Jr/Sr
    suffix dropped; phone as its last ten digits (extension dropped); postcode upper-case, a
    US ZIP as five digits, UK/Canadian codes as "outward inward"; placeholder dates of birth
    (1900-01-01, 1901-01-01, 1970-01-01) as unknown. Country and role are not used.

    Model, after Splink's docs (deduplicate_50k_synthetic, the tutorial, febrl3):
    ForenameSurnameComparison(first_name, last_name) with a concatenated full-name column
    for term frequencies; DateOfBirthComparison(string %Y-%m-%d); EmailComparison;
    PostcodeComparison; ExactMatch with term-frequency adjustments on phone, city, company;
    JaroWinklerAtThresholds(address, [0.9, 0.8]); ExactMatch(user_id).
    Blocking for predictions: email; phone; user_id; first+last; first three letters of
    first + first four of last (the 50k example's rule); last+postcode; last+dob; first+dob;
    postcode+dob.
    Training: the prior from the deterministic rules email and first+last+dob at recall
    0.7 (the tutorial's guess); u by random sampling (max_pairs 1e6, seed 2); m by EM
    blocked on first+last, then date of birth, then email.
    Predictions at the lowest threshold; clusters of `cluster_pairwise_predictions_at_threshold`
    at each threshold in `thresholds`.
    """
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    con = duckdb.connect()
    start = time.perf_counter()
    for statement in CRM_PREP_SQL.split(";\n"):
        con.execute(statement, [str(contacts_csv)] if "?" in statement else None)
    db_api = DuckDBAPI(connection=con)
    settings = SettingsCreator(
        unique_id_column_name="crm_id",
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("email"),
            block_on("phone"),
            block_on("user_id"),
            block_on("first_name", "last_name"),
            # deduplicate_50k_synthetic's rule for names with a typo or a variant ending
            block_on("substr(first_name, 1, 3)", "substr(last_name, 1, 4)"),
            block_on("last_name", "postcode"),
            block_on("last_name", "date_of_birth"),
            block_on("first_name", "date_of_birth"),
            block_on("postcode", "date_of_birth"),
        ],
        comparisons=[
            cl.ForenameSurnameComparison(
                "first_name", "last_name",
                forename_surname_concat_col_name="first_name_surname_concat",
            ),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True),
            cl.EmailComparison("email"),
            cl.ExactMatch("phone").configure(term_frequency_adjustments=True),
            cl.PostcodeComparison("postcode"),
            cl.JaroWinklerAtThresholds("address", [0.9, 0.8]),
            cl.ExactMatch("city").configure(term_frequency_adjustments=True),
            cl.ExactMatch("company").configure(term_frequency_adjustments=True),
            cl.ExactMatch("user_id"),
        ],
        retain_intermediate_calculation_columns=True,
        max_iterations=max_iterations,
    )  # fmt: skip
    linker = Linker(db_api.register(con.table("crm_input")), settings, log_level="WARNING")
    linker.training.estimate_probability_two_random_records_match(
        [block_on("email"), block_on("first_name", "last_name", "date_of_birth")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=2)
    for rule in (
        block_on("first_name", "last_name"),
        block_on("date_of_birth"),
        block_on("email"),
    ):
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    predictions = linker.inference.predict(threshold_match_probability=min(thresholds))
    scored = predictions.as_duckdbpyrelation().select("crm_id_l, crm_id_r, match_probability")
    pairs = scored.fetchall()
    predict_seconds = time.perf_counter() - start
    clusters = {}
    for threshold in thresholds:
        found = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=threshold
        )
        clusters[threshold] = dict(
            found.as_duckdbpyrelation().select("crm_id, cluster_id").fetchall()
        )
    seconds = time.perf_counter() - start
    con.close()
    return {
        "pairs": pairs,
        "clusters": clusters,
        "predict_seconds": round(predict_seconds, 2),
        "seconds": round(seconds, 2),
    }


def threshold_curve(pairs: list[tuple[str, str, float]], person_of: dict[str, str]) -> list:
    """Pairwise scores of the connected components at every threshold, highest first.

    Adds the scored pairs as edges in descending probability (union-find) and keeps, per
    component, its records per true person, so the predicted and correct pair counts change
    by one merge at a time: exact at every distinct probability, no clustering per threshold.
    Returns (threshold, predicted_pairs, correct_pairs) after all edges at that probability.
    """
    parent: dict[str, str] = {}
    members: dict[str, Counter] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    predicted = correct = 0
    curve = []
    ordered = sorted(pairs, key=lambda p: -p[2])
    for i, (left, right, probability) in enumerate(ordered):
        a, b = root(left), root(right)
        if a != b:
            ca = members.pop(a, None) or Counter({person_of[left]: 1})
            cb = members.pop(b, None) or Counter({person_of[right]: 1})
            if sum(ca.values()) < sum(cb.values()):
                a, b, ca, cb = b, a, cb, ca
            predicted += sum(ca.values()) * sum(cb.values())
            correct += sum(ca[p] * n for p, n in cb.items())
            ca.update(cb)
            parent[b], members[a] = a, ca
        if i + 1 == len(ordered) or ordered[i + 1][2] != probability:
            curve.append((probability, predicted, correct))
    return curve


def row(file: str, method: str, records: int, scores: dict, seconds: float, **extra) -> dict:
    return {
        "file": file,
        "method": method,
        "records": records,
        **scores,
        "seconds": seconds,
        **extra,
    }


def messy_crm_row(seed: int, persons: int, folder: Path, blank: float = 0.0) -> dict:
    """The platform on the generator's duplicate-heavy CRM, scored against its truth."""
    from seg_platform.synthetic.duplicate_crm import generate_duplicate_crm, pairwise_scores

    landing = generate_duplicate_crm(persons, seed, folder)
    if blank:
        csv = folder / "landing" / "crm_contacts" / "contacts.csv"
        contacts = pl.read_csv(csv, infer_schema=False)
        blank_first_names(contacts, blank, "first_name").write_csv(csv)
    run = run_platform(landing, folder / "home")
    clusters = run["clusters"]
    scores = pairwise_scores(
        dict(zip(clusters[:, 0].to_list(), clusters[:, 1].to_list(), strict=True)), folder
    )
    extra = {"profiles": clusters[:, 1].n_unique()}
    if not run["success"]:
        extra["error"] = "Dagster run failed: " + "; ".join(run["errors"])[:300]
    return row(
        f"crm s{seed}", "platform crm_contacts (messy CRM)", clusters.height,
        {"true_pairs": scores.true_pairs, "predicted_pairs": scores.predicted_pairs,
         "correct_pairs": scores.correct_pairs, "precision": round(scores.precision, 4),
         "recall": round(scores.recall, 4), "f1": round(scores.f1, 4)},
        run["seconds"], **extra,
    )  # fmt: skip


def _relation(a: dict, b: dict) -> str:
    """How two different true persons of the messy CRM (rows of truth/crm_people) relate."""
    same_name = a["first_name"] == b["first_name"] and a["last_name"] == b["last_name"]
    if a["twin_of"] == b["person_id"] or b["twin_of"] == a["person_id"]:
        return "twins (one surname, birth date, address)"
    if a["household_id"] == b["household_id"]:
        if same_name:
            return "household: father and son of one name"
        return "household: other members"
    if same_name:
        return "namesakes (one full name)"
    if a["last_name"] == b["last_name"]:
        return "unrelated, one surname"
    if a["first_name"] == b["first_name"]:
        return "unrelated, one first name"
    if a["company"] and a["company"] == b["company"]:
        return "colleagues"
    return "unrelated, other"


# Attributes whose disagreement could tell two persons apart (email is no such attribute:
# one person has several).
_TELLING = ("date_of_birth", "postcode", "city", "phone")


def error_causes(folder: Path) -> dict:
    """The platform's false-positive and false-negative pairs on the messy CRM of `folder`,
    by cause, counted as record pairs (the unit of pairwise precision and recall).

    False positives, by how the two true persons in one profile relate (`_relation`), whether
    a used probabilistic link joins them directly or only through other records or hard
    identifiers, and, for persons of one full name, whether anything but the email differs
    between their records (else no linker can tell them apart from the records alone).
    False negatives (a person in several profiles), by the best link between the parts: refused
    (with its reason) or none at or above the threshold.
    """
    truth = pl.read_parquet(folder / "truth" / "crm_persons.parquet")
    people = {
        r["person_id"]: r
        for r in pl.read_parquet(folder / "truth" / "crm_people.parquet").to_dicts()
    }
    person_of = dict(zip(truth["crm_id"], truth["person_id"], strict=True))
    with duckdb_connect(folder / "home" / "warehouse.duckdb", read_only=True) as con:
        profile_of = dict(
            con.execute(
                "SELECT record_key, profile_id FROM identity.record_profiles "
                "WHERE source = 'crm_contacts'"
            ).fetchall()
        )
        links = {
            frozenset((left, right)): (probability, status, reason)
            for left, right, probability, status, reason in con.execute(
                "SELECT left_value, right_value, probability, status, reason "
                "FROM identity.identity_edges WHERE rule = 'probabilistic'"
            ).fetchall()
        }
        values = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT crm_id, nullif(trim(date_of_birth), ''), "
                "upper(regexp_replace(postcode, '\\s', '', 'g')), lower(trim(city)), "
                "right(regexp_replace(phone, '[^0-9]', '', 'g'), 9) FROM raw.crm_contacts"
            ).fetchall()
        }

    def differ(x: str, y: str) -> bool:
        return any(a and b and a != b for a, b in zip(values[x], values[y], strict=True))

    false_pos: Counter = Counter()
    by_profile: dict = {}
    for crm_id, profile in profile_of.items():
        by_profile.setdefault(profile, {}).setdefault(person_of[crm_id], []).append(crm_id)
    for persons in by_profile.values():
        for p1, p2 in itertools.combinations(sorted(persons), 2):
            r1, r2 = persons[p1], persons[p2]
            cause = _relation(people[p1], people[p2])
            direct = any(
                links.get(frozenset((x, y)), (0, None, None))[1] == "used" for x in r1 for y in r2
            )
            cause += ", direct link" if direct else ", through other records"
            if "one name" in cause or "one full name" in cause:
                if not any(differ(x, y) for x in r1 for y in r2):
                    cause += ", nothing but the email differs"
            false_pos[cause] += len(r1) * len(r2)
    false_neg: Counter = Counter()
    by_person: dict = {}
    for crm_id, profile in profile_of.items():
        by_person.setdefault(person_of[crm_id], {}).setdefault(profile, []).append(crm_id)
    for parts in by_person.values():
        for r1, r2 in itertools.combinations(parts.values(), 2):
            found = [links[k] for x in r1 for y in r2 if (k := frozenset((x, y))) in links]
            if found:
                best = max(found, key=lambda link: link[0])
                cause = f"refused: {best[2] or best[1]}"
            else:
                cause = "no link at or above the threshold"
            false_neg[cause] += len(r1) * len(r2)
    return {
        "false_positive_pairs": dict(false_pos.most_common()),
        "false_negative_pairs": dict(false_neg.most_common()),
    }


def splink_crm_rows(
    seed: int, folder: Path, max_iterations: int, tutorial_threshold: float
) -> list[dict]:
    """Splink's recommended person model on the messy CRM of `folder`, scored with its truth.

    Rows: clusters at the tutorial threshold and at each `SWEEP` threshold; the raw pairs
    at the tutorial threshold; and the best F1 over every threshold (exact, from
    `threshold_curve`) - an oracle, since the threshold is picked with the truth.
    """
    from seg_platform.synthetic.duplicate_crm import pairwise_scores

    thresholds = sorted({tutorial_threshold, *SWEEP})
    fit = splink_crm_model(
        folder / "landing" / "crm_contacts" / "contacts.csv", max_iterations, thresholds
    )
    truth = pl.read_parquet(folder / "truth" / "crm_persons.parquet")
    person_of = dict(zip(truth["crm_id"], truth["person_id"], strict=True))
    records = truth.height
    file = f"crm s{seed}"
    rows = []
    for threshold in thresholds:
        scores = pairwise_scores(fit["clusters"][threshold], folder)
        label = "tutorial " if threshold == tutorial_threshold else ""
        rows.append(
            row(file, f"splink recommended [clusters {label}{threshold}]", records,
                pair_scores(scores.predicted_pairs, scores.correct_pairs, scores.true_pairs),
                fit["seconds"], threshold=threshold,
                profiles=len(set(fit["clusters"][threshold].values())))
        )  # fmt: skip
    true_pairs = rows[0]["true_pairs"]
    at_tutorial = [(left, right) for left, right, p in fit["pairs"] if p >= tutorial_threshold]
    correct = sum(person_of[left] == person_of[right] for left, right in at_tutorial)
    rows.append(
        row(file, f"splink recommended [pairs {tutorial_threshold}]", records,
            pair_scores(len(at_tutorial), correct, true_pairs), fit["predict_seconds"],
            threshold=tutorial_threshold)
    )  # fmt: skip
    curve = threshold_curve(fit["pairs"], person_of)
    best = max(curve, key=lambda point: 2 * point[2] / (point[1] + true_pairs))
    rows.append(
        row(file, f"splink recommended [best F1, p>={best[0]:.4g}]", records,
            pair_scores(best[1], best[2], true_pairs), fit["seconds"], threshold=best[0],
            oracle="threshold chosen with the truth")
    )  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="+", choices=FILES, default=["dataset3"])
    parser.add_argument("--data", type=Path, default=FEBRL, help="folder of the Febrl CSVs")
    parser.add_argument(
        "--max-iterations", type=int, default=25,
        help="EM iterations per training session (25 is Splink's default, which the example uses)",
    )  # fmt: skip
    parser.add_argument("--threshold", type=float, default=TUTORIAL_THRESHOLD)
    parser.add_argument("--skip-platform", action="store_true")
    parser.add_argument(
        "--messy-crm",
        type=int,
        nargs="*",
        default=[],
        metavar="SEED",
        help="also run the platform on the generator's messy CRM, one per seed",
    )
    parser.add_argument("--crm-persons", type=int, default=2000)
    parser.add_argument(
        "--causes", action="store_true",
        help="with --messy-crm: the platform's false-positive and false-negative pairs by cause",
    )  # fmt: skip
    parser.add_argument(
        "--blank-first-names", type=float, default=0.0, metavar="SHARE",
        help="empty the given name of this share of records in every file (seeded)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    rows = []
    with work_folder("identity-person-records-", args.keep) as work:
        for name in args.files:
            frame = blank_first_names(
                read_febrl(args.data / f"{name}.csv"), args.blank_first_names, "given_name"
            )
            ids = frame["rec_id"].to_list()
            records = len(ids)
            for label, with_ssn in (("platform columns", False), ("all columns", True)):
                fit = splink_tutorial_model(frame, with_ssn, args.max_iterations, args.threshold)
                method = f"splink tutorial, {label}"
                rows.append(
                    row(name, f"{method} [clusters]", records,
                        pairwise_from_clusters(fit["clusters"], all_ids=ids),
                        fit["cluster_seconds"])
                )  # fmt: skip
                rows.append(
                    row(name, f"{method} [pairs]", records,
                        pairwise_from_pairs(fit["pairs"], ids), fit["predict_seconds"])
                )  # fmt: skip
            if args.skip_platform:
                continue
            landing = write_crm_landing(frame, work / name / "landing")
            try:
                run = run_platform(landing, work / name / "home")
            except Exception as exc:  # the identity code may be mid-rewrite: report, go on
                rows.append(
                    row(name, "platform crm_contacts", records,
                        {"true_pairs": true_pair_count(ids)}, 0.0,
                        error=f"{type(exc).__name__}: {exc}"[:300])
                )  # fmt: skip
                continue
            clusters = dict(run["clusters"].iter_rows())
            extra = {"records_out": len(clusters), "profiles": len(set(clusters.values()))}
            if not run["success"]:
                extra["error"] = "Dagster run failed: " + "; ".join(run["errors"])[:300]
            if run["failed_checks"]:
                extra["failed_checks"] = run["failed_checks"]
            rows.append(
                row(name, "platform crm_contacts", records,
                    pairwise_from_clusters(clusters, all_ids=ids), run["seconds"], **extra)
            )  # fmt: skip

        causes = {}
        for seed in args.messy_crm:
            rows.append(
                messy_crm_row(seed, args.crm_persons, work / f"crm_{seed}", args.blank_first_names)
            )
            if args.causes:
                causes[f"crm s{seed}"] = error_causes(work / f"crm_{seed}")
            rows.extend(
                splink_crm_rows(seed, work / f"crm_{seed}", args.max_iterations, args.threshold)
            )

    header = (
        f"{'file':<9} {'method':<46}{'records':>8}{'true':>7}{'pred':>8}"
        f"{'P':>8}{'R':>8}{'F1':>8}{'s':>8}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['file']:<9} {r['method']:<46}{r['records']:>8}{r['true_pairs']:>7}"
            f"{r.get('predicted_pairs', '-')!s:>8}{r.get('precision', '-')!s:>8}"
            f"{r.get('recall', '-')!s:>8}{r.get('f1', '-')!s:>8}{r['seconds']:>8}"
            + (f"  {r['error']}" if "error" in r else "")
        )
    for r in rows:
        print(json.dumps(r))
    for file, found in causes.items():
        for kind, counts in found.items():
            print(f"{file} {kind.replace('_', ' ')} by cause ({sum(counts.values())}):")
            for cause, n in counts.items():
                print(f"  {n:6d}  {cause}")


if __name__ == "__main__":
    main()
