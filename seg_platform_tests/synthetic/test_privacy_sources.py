"""The generator's privacy and feedback sources: consent changes, survey answers and the
(empty) erasure-request file. Written from streams of their own, deterministic, realistic in
their shares and archetype tendencies, and clean through the platform's ingestion."""

import csv
import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from seg_platform.core.warehouse import connect
from seg_platform.sources.config import load_sources_config
from seg_platform.sources.contract import LINKING_SOURCES, SOURCES
from seg_platform.sources.ingest import ingest_source
from seg_platform.synthetic.company import generate, generation

pytestmark = pytest.mark.unit

CUSTOMERS, MONTHS, SEED = 500, 4, 3
LABELS = ["2025-09", "2025-10", "2025-11", "2025-12"]
FEEDBACK = ("consent", "survey_responses", "erasure_requests")
SURVEY_ANSWERS = {
    "nps": set(),
    "setup_blocker": {"integrations", "data_import", "permissions", "billing", "other"},
    "pricing_hesitation": {
        "price",
        "missing_feature",
        "comparing_alternatives",
        "need_approval",
        "other",
    },
    "churn_reason": {"price", "switched_competitor", "no_longer_needed", "product_issues", "other"},
}


@pytest.fixture(scope="module")
def company(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("privacy")
    return out, generate(CUSTOMERS, MONTHS, SEED, out)


@pytest.fixture(scope="module")
def bigger(tmp_path_factory) -> Path:
    """A company large enough for shares and archetype tendencies to show (~2 s)."""
    out = tmp_path_factory.mktemp("privacy_big")
    generate(4000, 6, 5, out)
    return out


def _read(out: Path, source: str) -> pl.DataFrame:
    files = sorted((out / "landing" / source).glob("*.csv"))
    return pl.concat([pl.read_csv(f, infer_schema=False) for f in files])


def _with_person(out: Path, frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with the person_id of each row, from its email (trimmed, lower case), user id
    or phone (last ten digits), through truth/persons.parquet."""
    persons = pl.read_parquet(out / "truth" / "persons.parquet")
    keys = [
        persons.select(
            kind=pl.lit("email"), key=pl.col("email").str.to_lowercase(), pid="person_id"
        ),
        persons.select(kind=pl.lit("user_id"), key="user_id", pid="person_id"),
        persons.select(
            kind=pl.lit("phone"),
            key=pl.col("phone").str.replace_all(r"\D", "").str.slice(-10),
            pid="person_id",
        ),
    ]
    lookup = pl.concat(keys).drop_nulls("key")
    assert lookup.select("kind", "key").is_unique().all()
    parts = {
        "email": pl.col("email").str.strip_chars().str.to_lowercase(),
        "user_id": pl.col("user_id"),
        "phone": pl.col("phone").str.replace_all(r"\D", "").str.slice(-10),
    }
    frame = frame.with_row_index("_row")
    found = []
    for kind, expr in parts.items():
        if kind not in frame.columns:
            continue
        rows = frame.select("_row", key=expr).drop_nulls("key").with_columns(kind=pl.lit(kind))
        found.append(rows.join(lookup, on=["kind", "key"], how="left").select("_row", "pid"))
    ids = pl.concat(found).group_by("_row").agg(person_id=pl.col("pid").drop_nulls().unique())
    return frame.join(ids, on="_row", how="left").drop("_row")


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_files_headers_and_sources_yaml(company):
    out, summary = company
    landing = out / "landing"
    for source in ("consent", "survey_responses"):
        files = sorted((landing / source).iterdir())
        assert [f.name for f in files] == [f"{source}_{m}.csv" for m in LABELS]
        for f in files:
            with f.open(newline="") as fh:
                assert next(csv.reader(fh)) == SOURCES[source].column_names
    assert [p.name for p in (landing / "erasure_requests").iterdir()] == ["erasure_requests.csv"]
    assert (landing / "erasure_requests" / "erasure_requests.csv").read_text() == (
        "request_id,requested_at,email,phone,user_id,crm_id,customer_key\n"
    )
    yaml_text = (landing / "sources.yaml").read_text()
    for source in FEEDBACK:
        assert f"  {source}:\n    path: {source}/*.csv\n" in yaml_text
    # Row counts sit apart from the linking sources' figures, which they leave alone.
    saved = json.loads((out / "truth" / "summary.json").read_text())
    assert saved["feedback_rows"] == summary["feedback_rows"]
    assert set(saved["rows"]) == set(LINKING_SOURCES)
    assert saved["rows_total"] == sum(saved["rows"].values())
    assert saved["feedback_rows"]["consent"] == _read(out, "consent").height > 0
    assert saved["feedback_rows"]["survey_responses"] == _read(out, "survey_responses").height > 0
    assert saved["feedback_rows"]["erasure_requests"] == 0


def test_deterministic_and_seeded(tmp_path, company):
    out, _ = company
    again = tmp_path / "again"
    generate(CUSTOMERS, MONTHS, SEED, again)
    assert _digests(out / "landing") == _digests(again / "landing")
    other = tmp_path / "other"
    generate(CUSTOMERS, MONTHS, SEED + 1, other)
    a, b = _digests(out / "landing"), _digests(other / "landing")
    for source in ("consent", "survey_responses"):
        assert all(a[k] != b[k] for k in a if k.startswith(source))


def test_linking_sources_and_truth_do_not_depend_on_them(company, tmp_path, monkeypatch):
    """Without the feedback writer every other file comes out byte-identical: the new sources
    share no random stream or id counter with the rest."""
    out, _ = company
    monkeypatch.setattr(generation, "write_feedback", lambda world, landing: {})
    bare = tmp_path / "bare"
    generate(CUSTOMERS, MONTHS, SEED, bare)
    full, without = _digests(out), _digests(bare)
    skip = ("truth/summary.json", "landing/sources.yaml")
    assert {k: v for k, v in without.items() if k not in skip} == {
        k: v
        for k, v in full.items()
        if k not in skip and not k.startswith(tuple(f"landing/{s}/" for s in FEEDBACK))
    }


def test_rows_are_valid_in_the_window_and_belong_to_existing_persons(company):
    out, _ = company
    persons = pl.read_parquet(out / "truth" / "persons.parquet").select("person_id", "signup_ts")
    for source, ts_col in (("consent", "changed_at"), ("survey_responses", "responded_at")):
        frame = _with_person(out, _read(out, source))
        key = SOURCES[source].key
        assert frame[key].is_unique().all() and frame[key].null_count() == 0
        ts = frame[ts_col].str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=True)
        assert str(ts.min()) >= "2025-09-01" and str(ts.max()) < "2026-01-01"
        # Every row names exactly one person, who had signed up by then.
        assert (frame["person_id"].list.len() == 1).all(), source
        frame = frame.with_columns(ts=ts, person_id=pl.col("person_id").list.first()).join(
            persons, on="person_id"
        )
        assert (frame["ts"] >= frame["signup_ts"]).all(), source
        # Each row falls into the file of its month.
        for f in (out / "landing" / source).iterdir():
            month = f.stem.rsplit("_", 1)[1]
            times = pl.read_csv(f, infer_schema=False)[ts_col]
            assert times.str.starts_with(month).all(), f.name


def test_consent_shares_and_identifiers(bigger):
    consent = _with_person(bigger, _read(bigger, "consent"))
    n = pl.read_parquet(bigger / "truth" / "persons.parquet").height
    assert set(consent["channel"]) <= {"email", "sms", "ads", "all"}
    assert set(consent["status"]) == {"opt_in", "opt_out"}
    consent = consent.with_columns(pl.col("person_id").list.first())
    out = (
        consent.filter(pl.col("status") == "opt_out")
        .group_by("channel")
        .agg(share=pl.col("person_id").n_unique() / n)
    )
    shares = dict(out.iter_rows())
    for channel, want in (("email", 0.06), ("ads", 0.03), ("all", 0.01), ("sms", 0.02)):
        assert want * 0.6 < shares[channel] < want * 1.4, (channel, shares)
    # About 10% of the opt-outs are undone later: the latest change is an opt-in.
    latest = (
        consent.sort("changed_at")
        .group_by("person_id", "channel")
        .agg(last=pl.col("status").last(), out=(pl.col("status") == "opt_out").any())
        .filter("out")
    )
    back = (latest["last"] == "opt_in").mean()
    assert 0.04 < back < 0.18, back
    # Opt-ins around sign-up: ~20% of the persons signing up in the window (6 of 6+36 months).
    opt_in = consent.filter((pl.col("channel") == "email") & (pl.col("status") == "opt_in"))
    assert 0.2 * 0.45 * 0.6 < opt_in["person_id"].n_unique() / n < 0.2 * 0.45 * 1.4
    # Mostly by email (some in another case or with spaces), ~20% by user id, a few by phone.
    by_email = consent["email"].is_not_null().mean()
    by_user = consent["user_id"].is_not_null().mean()
    by_phone = consent["phone"].is_not_null().mean()
    assert by_email > 0.7 and 0.1 < by_user < 0.3 and 0 < by_phone < 0.08
    emails = consent["email"].drop_nulls()
    varied = (emails != emails.str.strip_chars().str.to_lowercase()).mean()
    assert 0.05 < varied < 0.3
    one = consent.select(
        pl.sum_horizontal(pl.col("email", "phone", "user_id").is_not_null()) == 1
    ).to_series()
    assert one.all()


def test_survey_answers_follow_the_archetypes(bigger):
    surveys = _with_person(bigger, _read(bigger, "survey_responses"))
    assert set(surveys["survey_id"]) == set(SURVEY_ANSWERS)
    for survey_id, answers in SURVEY_ANSWERS.items():
        rows = surveys.filter(pl.col("survey_id") == survey_id)
        if survey_id == "nps":
            assert rows["answer"].null_count() == rows.height
            scores = rows["score"].cast(pl.Int64)
            assert scores.null_count() == 0 and scores.min() >= 0 and scores.max() <= 10
        else:
            assert rows["score"].null_count() == rows.height
            assert set(rows["answer"]) <= answers
    assert 0.6 < surveys["email"].is_not_null().mean() < 0.8
    assert (surveys["email"].is_null() ^ surveys["user_id"].is_null()).all()

    archetypes = pl.read_parquet(bigger / "truth" / "archetypes.parquet")
    surveys = surveys.with_columns(
        person_id=pl.col("person_id").list.first(), month=pl.col("responded_at").str.slice(0, 7)
    ).join(archetypes, on=["person_id", "month"], how="left")
    assert surveys["archetype"].null_count() == 0 and surveys["active"].all()
    # Roughly 3-5% of the month's active persons answer one survey.
    per_month = surveys.group_by("month").len()
    active = archetypes.filter("active").group_by("month").agg(active=pl.len())
    share = per_month.join(active, on="month").select(pl.col("len") / pl.col("active"))
    assert share.to_series().is_between(0.025, 0.055).all(), share
    assert surveys.select("person_id", "month").is_unique().all()

    def mix(archetype: str) -> dict[str, float]:
        rows = surveys.filter(pl.col("archetype") == archetype)
        return {k: v / rows.height for k, v in rows["survey_id"].value_counts().iter_rows()}

    nps = surveys.filter(pl.col("survey_id") == "nps").with_columns(pl.col("score").cast(int))
    mean = dict(nps.group_by("archetype").agg(pl.col("score").mean()).iter_rows())
    assert mean["power_user"] > 8 and mean["high_value_loyal"] > 8
    assert 5 < mean["bargain_hunter"] < 8
    assert mean["dormant_at_risk"] < 5
    assert mean["power_user"] > mean["bargain_hunter"] > mean["dormant_at_risk"]
    for archetype in ("power_user", "high_value_loyal", "bargain_hunter"):
        assert mix(archetype) == {"nps": 1.0}
    assert mix("setup_struggler")["setup_blocker"] > 0.75
    assert mix("pricing_curious")["pricing_hesitation"] > 0.75
    assert mix("dormant_at_risk")["churn_reason"] > 0.5

    def top(survey_id: str, archetype: str) -> set[str]:
        rows = surveys.filter(
            (pl.col("survey_id") == survey_id) & (pl.col("archetype") == archetype)
        )
        counts = rows["answer"].value_counts(sort=True)
        return set(counts["answer"].head(2))

    assert top("setup_blocker", "setup_struggler") == {"integrations", "data_import"}
    assert top("pricing_hesitation", "pricing_curious") == {"price", "comparing_alternatives"}


def test_new_files_load_cleanly_through_ingestion(company, tmp_path):
    out, summary = company
    config = load_sources_config(out / "landing" / "sources.yaml")
    with connect(tmp_path / "w.duckdb") as con:
        for source in FEEDBACK:
            result = ingest_source(con, SOURCES[source], config)
            assert result.configured, source
            assert result.rows_quarantined == 0, (source, result.top_reasons)
            assert result.rows_read == summary["feedback_rows"][source]
            assert result.rows_kept == summary["feedback_rows"][source]
        quarantined = con.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0]
        assert quarantined == 0
        statuses = con.execute("SELECT DISTINCT status FROM raw.consent ORDER BY 1").fetchall()
        assert statuses == [("opt_in",), ("opt_out",)]
