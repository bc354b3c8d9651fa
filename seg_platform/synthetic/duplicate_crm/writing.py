"""Writing the CRM export, its sources.yaml and the ground truth (`generate_duplicate_crm`)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from seg_platform.synthetic.duplicate_crm.population import Population, epoch
from seg_platform.synthetic.duplicate_crm.randomness import Rand
from seg_platform.synthetic.duplicate_crm.rates import (
    CHANNEL_MIX,
    CHANNELS,
    DOUBLE_SUBMIT_RATE,
    YEARS,
)
from seg_platform.synthetic.duplicate_crm.records import record, record_times, records_per_person
from seg_platform.synthetic.duplicate_crm.vocabulary import COLUMNS, SOURCE
from seg_platform.synthetic.duplicate_crm.work import COMPANIES


def _ts(seconds: int) -> str:
    return (datetime(1970, 1, 1) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def _write_parquet(frame: pl.DataFrame, path: Path) -> None:
    # Through pyarrow with fixed settings so the bytes depend only on the data.
    pq.write_table(frame.to_arrow(), path, compression="zstd")


def pairs(counts) -> int:
    return int(sum(int(n) * (int(n) - 1) // 2 for n in counts))


SOURCES_YAML = (
    "# Written by seg_platform.synthetic.duplicate_crm: a duplicate-heavy CRM export.\n"
    "version: 1\n"
    "sources:\n"
    f"  {SOURCE}:\n"
    f"    path: {SOURCE}/contacts.csv\n"
)


def generate_duplicate_crm(
    persons: int,
    seed: int,
    out: Path,
    *,
    min_records: int = 4,
    max_records: int = 20,
    share_duplicated: float = 0.4,
    end: str = "2025-12-31",
) -> Path:
    """Write a duplicate-heavy CRM export and its ground truth under `out`.

    Args:
        persons: distinct real persons (each has at least one record).
        seed: the same arguments give byte-identical files.
        out: folder; `out/landing/` and `out/truth/` are replaced, anything else is left.
        min_records, max_records: range of the heavy tail: of the persons with more than one
            record, 30% have `min_records`..`max_records` (power law, exponent 2), the others
            2..`min_records - 1`.
        share_duplicated: share of persons with more than one record.
        end: last day (YYYY-MM-DD) of the records, which go back nine years.

    Writes:
        `landing/crm_contacts/contacts.csv` in the crm_contacts contract's columns and
        `landing/sources.yaml` declaring that source only; `truth/crm_persons.parquet`
        (crm_id, person_id, household_id, channel, defects: one row per record),
        `truth/crm_people.parquet` (one row per person: the clean values, household,
        relation, twin), and `truth/crm_summary.json` (records per person, defect rates,
        hard-negative counts).

    Returns:
        The path of the written sources.yaml.

    Example:
        >>> sources = generate_duplicate_crm(1000, seed=7, out=tmp)  # doctest: +SKIP
        >>> load_sources_config(sources).sources["crm_contacts"].files()  # doctest: +SKIP
    """
    if persons < 1:
        raise ValueError("persons must be at least 1")
    if seed < 0:
        raise ValueError("seed must not be negative")
    if not 2 <= min_records <= max_records:
        raise ValueError("need 2 <= min_records <= max_records")
    if not 0 <= share_duplicated <= 1:
        raise ValueError("share_duplicated must be in [0, 1]")
    out = Path(out)
    stop = epoch(datetime.fromisoformat(end) + timedelta(days=1)) - 1
    start = stop - int(YEARS * 365.25 * 86400)

    pop = Population(persons, Rand(seed, 0), start, stop)
    r = Rand(seed, 1)
    rows: list[dict] = []
    truth: list[tuple] = []
    for p in pop.people:
        p.n_records = records_per_person(r, share_duplicated, min_records, max_records)
        times = record_times(r, p.n_records, start, stop)
        prev: tuple[dict, list[str], int] | None = None
        for i, t in enumerate(times):
            ch = int(r.weighted(range(len(CHANNELS)), CHANNEL_MIX))
            if prev is not None and t - times[i - 1] < 3 * 86400 and r.p(DOUBLE_SUBMIT_RATE):
                # The same form sent again (or an import of the same list): a copy.
                row, tags = dict(prev[0]), [*prev[1], "double_submit"]
                ch = prev[2]
            else:
                row, tags = record(r, pop, p, t, ch)
            prev = (row, [g for g in tags if g != "double_submit"], ch)
            if ch == 1:  # imports land in a nightly batch
                t = t // 86400 * 86400 + 2 * 3600
            row = dict(row)
            row["created_at"] = _ts(t)
            if r.p(0.7):
                later = t + int(r.g.exponential(200 * 86400))
                row["updated_at"] = _ts(later if later <= stop else r.int(t, stop))
            rows.append(row)
            truth.append((p.pid, p.household.hid, CHANNELS[ch], sorted(set(tags))))

    # CRM ids that say nothing about creation order or person.
    ids = r.g.choice(90_000_000, size=len(rows), replace=False) + 10_000_000
    for row, i in zip(rows, ids, strict=True):
        row["crm_id"] = f"C{int(i)}"
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["created_at"], rows[i]["crm_id"]))

    landing, truth_dir = out / "landing", out / "truth"
    for folder in (landing, truth_dir):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    (landing / SOURCE).mkdir()
    contacts = pl.DataFrame([rows[i] for i in order], schema=dict.fromkeys(COLUMNS, pl.String))
    contacts.write_csv(landing / SOURCE / "contacts.csv")
    sources = landing / "sources.yaml"
    sources.write_text(SOURCES_YAML)

    records = pl.DataFrame(
        {
            "crm_id": contacts["crm_id"],
            "person_id": [truth[i][0] for i in order],
            "household_id": [truth[i][1] for i in order],
            "channel": [truth[i][2] for i in order],
            "defects": pl.Series([truth[i][3] for i in order], dtype=pl.List(pl.String)),
        }
    )
    _write_parquet(records, truth_dir / "crm_persons.parquet")
    people = _people_frame(pop)
    _write_parquet(people, truth_dir / "crm_people.parquet")
    summary = _summary(persons, seed, min_records, max_records, share_duplicated, records, people)
    (truth_dir / "crm_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return sources


def _people_frame(pop: Population) -> pl.DataFrame:
    ps = pop.people
    return pl.DataFrame(
        {
            "person_id": [p.pid for p in ps],
            "household_id": [p.household.hid for p in ps],
            "relation": [p.relation for p in ps],
            "sex": [p.sex for p in ps],
            "first_name": [p.first for p in ps],
            "middle_initial": [p.middle or None for p in ps],
            "last_name": [p.last for p in ps],
            "maiden_name": [p.maiden for p in ps],
            "suffix": [p.suffix or None for p in ps],
            "date_of_birth": [p.dob.isoformat() for p in ps],
            "country": [p.household.country for p in ps],
            "city": [p.household.city.name for p in ps],
            "moved": [p.household.prev_address is not None for p in ps],
            "twin_of": [p.twin_of for p in ps],
            "company": [COMPANIES[p.jobs[-1].company][0] if p.jobs else None for p in ps],
            "changed_job": [len(p.jobs) > 1 for p in ps],
            "has_landline": [p.household.landline is not None for p in ps],
            "has_family_email": [p.household.family_email is not None for p in ps],
            "records": [p.n_records for p in ps],
        },
        schema_overrides={"maiden_name": pl.String, "twin_of": pl.String},
    )


def _summary(
    persons: int,
    seed: int,
    min_records: int,
    max_records: int,
    share_duplicated: float,
    records: pl.DataFrame,
    people: pl.DataFrame,
) -> dict:
    n = records.height
    per_person = Counter(people["records"].to_list())
    # Records carrying each defect (the lists hold each tag once).
    kinds = Counter(tag for tags in records["defects"].to_list() for tag in tags)
    same = people.group_by("last_name", "city").len()["len"]
    namesakes = people.group_by("first_name", "last_name").len()["len"]
    households = people.group_by("household_id").len()["len"]
    landline = people.filter("has_landline").group_by("household_id").len()["len"]
    twins = people.filter(pl.col("twin_of").is_not_null()).height // 2
    colleagues = people.filter(pl.col("company").is_not_null()).group_by("company").len()["len"]
    return {
        "persons": persons,
        "seed": seed,
        "min_records": min_records,
        "max_records": max_records,
        "share_duplicated": share_duplicated,
        "records": n,
        "true_pairs": pairs(people["records"].to_list()),
        "records_per_person": {str(k): per_person[k] for k in sorted(per_person)},
        "defect_share": {k: round(kinds[k] / n, 4) for k in sorted(kinds)},
        "hard_negative_pairs": {
            "same_last_name_and_city": pairs(same),
            "same_first_and_last_name": pairs(namesakes),
            "same_household": pairs(households),
            "same_household_landline": pairs(landline),
            "twins": twins,
            "same_company": pairs(colleagues),
        },
    }
