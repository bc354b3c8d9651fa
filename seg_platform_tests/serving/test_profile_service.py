"""The real-time profile service (`seg-platform serve`) on the demo built by the pipeline: lookups
by every identifier type, events that move a customer into an intent overlay, a new snapshot
without a restart, reasons, erasure at once, and no accepted event lost to a SIGKILL."""

import contextlib
import datetime as dt
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import polars as pl
import pytest
import uvicorn

from seg_platform.core.serving import current_version, read_manifest, serving_root
from seg_platform.serving.app import create_app
from seg_platform_tests.conftest import free_port, running_server


@contextlib.contextmanager
def service(home_root: Path, sources: Path | None):
    """The service in this process on a free loopback port; stopped when the block ends."""
    port = free_port()
    config = uvicorn.Config(
        create_app(home_root, sources), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "service did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def call(url: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def rows(home, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _sources(landing: Path) -> Path:
    return landing / "sources.yaml"


def test_the_pipeline_publishes_the_snapshot_once_after_its_last_month(demo_december):
    """`seg-platform run` publishes once, from the finished tables, not after the current
    tables and again after each month (at 1M customers a publish is a minute and GBs)."""
    import dagster as dg

    from seg_platform.serving.assets import SERVING_KEY

    home, _ = demo_december
    with dg.DagsterInstance.from_config(str(home.dagster_home)) as instance:
        published = instance.fetch_materializations(SERVING_KEY, limit=10).records
        runs = instance.get_runs()
    assert len(published) == 1
    # The last of the pipeline's runs, after the current tables' and the month's.
    assert published[0].run_id == runs[0].run_id and len(runs) == 3
    month = rows(home, "SELECT max(as_of_date) FROM segments.segment_assignments")[0][0]
    manifest = read_manifest(current_version(serving_root(home.root)))
    assert manifest["month"] == str(month)


def test_every_identifier_type_resolves_to_its_profile(demo_december):
    home, company = demo_december
    # Raw identifiers as the sources wrote them (emails in capitals, phones in national format)
    # and the profile the identity graph gave their normalised value; a US phone for the
    # default region.
    found = rows(
        home,
        """SELECT v.id_type, v.raw_value, m.profile_id
           FROM identity.identifier_values v JOIN identity.identity_map m USING (id_type, value)
           JOIN segments.segment_assignments a ON a.profile_id = m.profile_id
           WHERE a.as_of_date = (SELECT max(as_of_date) FROM segments.segment_assignments)
             AND (v.id_type <> 'phone' OR v.value LIKE '+1%')
           QUALIFY row_number() OVER (PARTITION BY v.id_type
                                      ORDER BY v.raw_value = v.value, v.raw_value) <= 3""",
    )
    types = {t for t, _, _ in found}
    assert types == {
        "user_id", "billing_customer_id", "crm_id", "customer_key", "email", "phone",
        "device_id", "anonymous_id",
    }  # fmt: skip
    assert any(raw != raw.lower() for t, raw, _ in found if t == "email")
    assert any(not raw.startswith("+") for t, raw, _ in found if t == "phone")
    with service(home.root, _sources(company / "landing")) as url:
        for id_type, raw, profile_id in found:
            code, body = call(url, "/lookup", {"id_type": id_type, "value": f"  {raw} "})
            assert code == 200, (id_type, body)
            assert body["profile_id"] == profile_id, id_type
        anonymous = next(raw for t, raw, _ in found if t == "anonymous_id")
        code, body = call(url, "/lookup", {"id_type": "cookie", "value": anonymous})
        assert code == 200 and body["profile_id"] == next(
            p for t, raw, p in found if raw == anonymous and t == "anonymous_id"
        )
        # The body carries the month's segment, action, scores, consent and overlays.
        profile_id = found[0][2]
        ((segment_id, name, action),) = rows(
            home,
            """SELECT a.segment_id, a.segment_name, p.action FROM segments.segment_assignments a
               JOIN segments.segment_profiles p USING (as_of_date, segment_id)
               WHERE a.profile_id = ? ORDER BY a.as_of_date DESC LIMIT 1""",
            [profile_id],
        )
        code, body = call(url, f"/profiles/{profile_id}")
        assert code == 200
        assert (body["segment_id"], body["segment_name"], body["action"]) == (
            segment_id, name, action
        )  # fmt: skip
        ((churn,),) = rows(
            home,
            "SELECT churn_probability FROM predictions.customer_predictions WHERE profile_id = ? "
            "ORDER BY as_of_date DESC LIMIT 1",
            [profile_id],
        )
        assert body["churn_probability"] == pytest.approx(churn)
        consenting = rows(home, "SELECT profile_id, channel, status FROM "
                                "activation.consent_status LIMIT 1")  # fmt: skip
        if consenting:
            ((pid, channel, status),) = consenting
            assert call(url, f"/profiles/{pid}")[1]["consent"][channel] == status
        assert call(url, "/lookup", {"id_type": "email", "value": "nobody@example.org"})[0] == 404
        assert call(url, "/lookup", {"id_type": "shoe_size", "value": "9"})[0] == 422
        schema = call(url, "/openapi.json")[1]
        assert {"/lookup", "/events", "/profiles/{profile_id}"} <= set(schema["paths"])


def _pricing_prospect(home) -> tuple[str, str]:
    """A segmented customer with a user id and no pricing page view in the last 7 days."""
    ((user_id, profile_id),) = rows(
        home,
        """SELECT min(m.value), m.profile_id FROM identity.identity_map m
           JOIN features.customer_features f USING (profile_id)
           JOIN segments.segment_assignments a USING (profile_id, as_of_date)
           WHERE m.id_type = 'user_id' AND coalesce(f.pricing_views_7d, 0) = 0
             AND f.as_of_date = (SELECT max(as_of_date) FROM features.customer_features)
           GROUP BY m.profile_id ORDER BY m.profile_id LIMIT 1""",
    )
    return user_id, profile_id


def _web_event(event_id: str, user_id: str, path: str = "/pricing") -> dict:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return {
        "event_id": event_id, "event_ts": now, "anonymous_id": "anon_live_test",
        "user_id": user_id, "event_type": "page_view", "page_path": path,
    }  # fmt: skip


def _landed(landing: Path) -> list[str]:
    ids = []
    for path in sorted((landing / "web_events").glob("serve-events-*.csv")):
        ids += pl.read_csv(path, infer_schema=False)["event_id"].to_list()
    return ids


def _intent(body: dict) -> set[str]:
    return {o["overlay"] for o in body["overlays"] if o["family"] == "intent"}


def test_events_move_a_customer_into_the_overlay_and_a_new_snapshot_is_served(demo_copy):
    home, landing = demo_copy
    user_id, profile_id = _pricing_prospect(home)
    with service(home.root, _sources(landing)) as url:
        code, before = call(url, "/lookup", {"id_type": "user_id", "value": user_id})
        assert code == 200 and "pricing_interest" not in _intent(before)

        # A bad event: 422 with the contract's reasons, nothing stored.
        bad = {**_web_event("bad_1", user_id), "event_ts": "last tuesday", "shoe_size": 9}
        del bad["anonymous_id"]
        code, body = call(url, "/events", {"events": [bad]})
        assert code == 422
        reasons = body["errors"][0]["reasons"]
        assert "event_ts is not a timestamp" in reasons
        assert "anonymous_id is missing" in reasons and "unknown field shoe_size" in reasons
        assert _landed(landing) == []

        # Three pricing views (pricing_views_7d >= 3): the next lookup shows the overlay.
        events = [_web_event(f"live_{i}", user_id) for i in range(3)]
        code, body = call(url, "/events", {"events": events[:2]})
        assert code == 200 and body["accepted"] == 2
        assert "pricing_interest" not in _intent(call(url, f"/profiles/{profile_id}")[1])
        code, body = call(url, "/events", {"events": events[1:]})  # live_1 again
        assert code == 200 and (body["accepted"], body["duplicates"]) == (1, 1)
        assert body["results"][1]["profile_id"] == profile_id
        assert "pricing_interest" in body["results"][1]["intent_overlays"]
        after = call(url, "/lookup", {"id_type": "user_id", "value": user_id})[1]
        assert "pricing_interest" in _intent(after)
        assert sorted(_landed(landing)) == ["live_0", "live_1", "live_2"]

        # Reasons appear once the warehouse has them (the latest month's, by rank), and the
        # service switches to the run's new snapshot without a restart.
        old_version = after["snapshot"]
        with duckdb.connect(str(home.warehouse)) as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS segments.assignment_reasons (month DATE, "
                "profile_id VARCHAR, rank INTEGER, feature VARCHAR, customer_value DOUBLE, "
                "segment_average DOUBLE, reason VARCHAR)"
            )
            ((month,),) = con.execute(
                "SELECT max(as_of_date) FROM segments.segment_assignments"
            ).fetchall()
            con.execute(
                "DELETE FROM segments.assignment_reasons WHERE profile_id = ?", [profile_id]
            )
            con.execute(
                "INSERT INTO segments.assignment_reasons VALUES "
                "($m, $p, 2, 'tenure_days', 40, 300, 'second'), "
                "($m, $p, 1, 'pricing_views_7d', 6, 0.4, 'first'), "
                "($m - INTERVAL 1 MONTH, $p, 1, 'orders_90d', 0, 2, 'an older month')",
                {"m": month, "p": profile_id},
            )
        from seg_platform.core.warehouse import connect
        from seg_platform.serving.snapshot import publish_from_warehouse

        with connect(home.warehouse, read_only=True) as con:
            folder = publish_from_warehouse(con, home.root)
        deadline = time.monotonic() + 5
        while call(url, f"/profiles/{profile_id}")[1]["snapshot"] == old_version:
            assert time.monotonic() < deadline, "the new snapshot was not picked up"
            time.sleep(0.05)
        switched = call(url, f"/profiles/{profile_id}")[1]
        assert switched["snapshot"] == folder.name == read_manifest(folder)["version"]
        assert [r["reason"] for r in switched["reasons"]] == ["first", "second"]
        assert switched["reasons"][0]["customer_value"] == 6
        # The live events are newer than the snapshot's features: still counted.
        assert "pricing_interest" in _intent(switched)
        assert [p.name for p in serving_root(home.root).iterdir() if p.is_dir()] == [folder.name]


def test_an_erased_person_is_gone_from_the_service_at_once(demo_copy):
    import dagster as dg

    from seg_platform.definitions import defs
    from seg_platform.identity.assets import SPECS

    home, landing = demo_copy
    ((target, email),) = rows(
        home,
        """SELECT m.profile_id, min(m.value) FROM identity.identity_map m
           JOIN segments.segment_assignments a USING (profile_id)
           WHERE m.id_type = 'email' GROUP BY 1 ORDER BY 1 LIMIT 1""",
    )
    ((other,),) = rows(
        home,
        "SELECT min(profile_id) FROM segments.segment_assignments WHERE profile_id <> ?",
        [target],
    )
    with service(home.root, _sources(landing)) as url:
        assert call(url, "/lookup", {"id_type": "email", "value": email})[0] == 200
        (landing / "erasure_requests" / "erasure_requests.csv").write_text(
            "request_id,requested_at,email,phone,user_id,crm_id,customer_key\n"
            f"req_serve_1,2026-01-05 10:00:00,{email},,,,\n"
        )
        selection = ["raw/erasure_requests", *(f"identity/{n}" for n in SPECS), "privacy/erasure"]
        assets = [a for a in defs.assets if any(k.to_user_string() in selection for k in a.keys)]
        result = dg.materialize(assets, resources=defs.resources, selection=selection)
        assert result.success
        deadline = time.monotonic() + 5
        while call(url, f"/profiles/{target}")[0] != 404:
            assert time.monotonic() < deadline, "the erased person is still served"
            time.sleep(0.05)
        assert call(url, "/lookup", {"id_type": "email", "value": email})[0] == 404
        assert call(url, f"/profiles/{other}")[0] == 200
    # No snapshot file under the home holds the person any more.
    for path in serving_root(home.root).rglob("*.parquet"):
        assert target not in pl.read_parquet(path).cast(pl.String).write_csv(), path
    files = [p for p in serving_root(home.root).rglob("*") if p.is_file()]
    assert any(p.suffix == ".npy" for p in files)  # the mapped indexes too
    for path in files:
        assert target.encode() not in path.read_bytes(), path


@pytest.mark.e2e
def test_a_killed_service_loses_no_accepted_event_and_the_next_load_reads_them(demo_copy):
    home, landing = demo_copy
    user_id, _ = _pricing_prospect(home)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def start():
        port = free_port()
        cmd = [sys.executable, "-m", "seg_platform.cli", "serve", "--home", str(home.root),
               "--sources", str(_sources(landing)), "--port", str(port)]  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        return url, running_server(cmd, env, lambda: call(url, "/health")[0] == 200)

    url, server = start()
    with server as process:
        code, body = call(url, "/events", {"events": [_web_event("kill_1", user_id),
                                                      _web_event("kill_2", user_id)]})  # fmt: skip
        assert code == 200 and body["accepted"] == 2
        os.killpg(process.pid, signal.SIGKILL)  # at once after the 2xx: no clean shutdown
        process.wait(timeout=10)
    assert sorted(_landed(landing)) == ["kill_1", "kill_2"]
    assert not list((landing / "web_events").glob(".*partial"))

    url, server = start()
    with server:
        code, body = call(url, "/events", {"events": [_web_event("kill_2", user_id),
                                                      _web_event("kill_3", user_id)]})  # fmt: skip
        assert code == 200 and (body["accepted"], body["duplicates"]) == (1, 1)
    assert sorted(_landed(landing)) == ["kill_1", "kill_2", "kill_3"]

    # The next run's incremental load reads the service's files like any new landing file.
    import dagster as dg

    from seg_platform.definitions import defs

    selection = ["raw/web_events"]
    assets = [a for a in defs.assets if any(k.to_user_string() in selection for k in a.keys)]
    assert dg.materialize(assets, resources=defs.resources, selection=selection).success
    ((mode, files_loaded),) = rows(
        home,
        "SELECT mode, files_loaded FROM raw.source_loads WHERE source = 'web_events' "
        "ORDER BY loaded_at DESC LIMIT 1",
    )
    assert (mode, files_loaded) == ("incremental", 2)
    loaded = rows(
        home,
        "SELECT event_id, user_id, page_path FROM raw.web_events WHERE event_id LIKE 'kill_%' "
        "ORDER BY 1",
    )
    assert loaded == [(f"kill_{i}", user_id, "/pricing") for i in (1, 2, 3)]
    assert current_version(serving_root(home.root)) is not None


def test_jobs_run_as_the_ui_runs_them_publish_the_snapshot_with_the_day_s_reasons(demo_copy):
    """A refresh and a daily scoring run launched as the UI or a schedule launches them (Dagster
    job execution, not `seg-platform run`): each publishes the snapshot as its last step, the
    service switches to it, and a customer the day placed in a segment has that placement's
    reasons, measured against the month's members of the segment it stored."""
    import dagster as dg

    from seg_platform.definitions import CURRENT_JOB, DAILY_JOB, defs
    from seg_platform.runner import current_definitions
    from seg_platform.serving.assets import SERVING_KEY
    from seg_platform_tests.predictions.test_predictions import NEW_USER, _add_new_customer

    home, landing = demo_copy
    root = serving_root(home.root)
    first = current_version(root)
    _add_new_customer(landing)
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    new_user = {"id_type": "user_id", "value": NEW_USER}
    with service(home.root, _sources(landing)) as url:
        assert call(url, "/lookup", new_user)[0] == 404
        published = []
        with dg.DagsterInstance.get() as instance:
            for job, day in ((CURRENT_JOB, None), (DAILY_JOB, "2026-01-02")):
                result = (
                    current_definitions(defs)
                    .resolve_job_def(job)
                    .execute_in_process(instance=instance, run_config=quiet, partition_key=day)
                )
                assert result.success, job
                (event,) = [
                    e for e in result.get_asset_materialization_events()
                    if e.asset_key == SERVING_KEY
                ]  # fmt: skip
                published.append(event.materialization.metadata["version"].value)
                assert current_version(root).name == published[-1]
        assert first.name not in published and len(set(published)) == 2
        deadline = time.monotonic() + 10
        while call(url, "/lookup", new_user)[0] != 200:
            assert time.monotonic() < deadline, "the daily run's snapshot was not served"
            time.sleep(0.05)
        body = call(url, "/lookup", new_user)[1]
    assert body["snapshot"] == published[-1]
    assert read_manifest(current_version(root))["scores_day"] == "2026-01-02"
    ((segment_id, source),) = rows(
        home,
        "SELECT segment_id, segment_source FROM predictions.daily_scores "
        "WHERE as_of_date = '2026-01-02' AND profile_id = ?",
        [body["profile_id"]],
    )
    assert (body["segment_id"], source) == (segment_id, "daily")
    stored = rows(
        home,
        "SELECT rank, feature, customer_value, segment_average, reason, segmented_as_of "
        "FROM predictions.daily_assignment_reasons WHERE as_of_date = '2026-01-02' "
        "AND profile_id = ? ORDER BY rank",
        [body["profile_id"]],
    )
    assert [r[0] for r in stored] == [1, 2, 3]
    assert [
        (r["rank"], r["feature"], r["customer_value"], r["segment_average"], r["reason"])
        for r in body["reasons"]
    ] == [r[:5] for r in stored]
    # Measured against the stored assignment: the December members of the segment it was
    # placed in (their average of each feature, in its own units).
    for _, feature, value, average, reason, month in stored:
        ((members_average,),) = rows(
            home,
            f"SELECT avg(f.{feature}) FROM segments.segment_assignments a "
            "JOIN features.customer_features f USING (profile_id, as_of_date) "
            "WHERE a.as_of_date = ? AND a.segment_id = ?",
            [month, segment_id],
        )
        assert average == pytest.approx(members_average), feature
        assert reason.endswith("on average in the segment") and value is not None
