"""The whole platform on the synthetic company, judged against the generator's ground truth."""

import json
import os
import shutil
import subprocess
import sys

import dagster as dg
import mlflow
import pytest

from seg_platform.core.paths import SQL_ROOT
from seg_platform.core.warehouse import connect
from seg_platform.definitions import CURRENT_JOB, MONTHLY_JOB, SERVING_KEY, defs, make_definitions
from seg_platform.evaluation import evaluate
from seg_platform.sources.contract import LINKING_SOURCES
from seg_platform.synthetic.company import generate


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    out = tmp_path_factory.mktemp("company")
    generate(customers=600, months=6, seed=7, out=out)
    return out


def segments(home) -> list:
    """The month's segments, without the model version (a new fit registers the next one)."""
    with connect(home.warehouse) as con:
        return con.execute(
            "SELECT * EXCLUDE (model_version) FROM segmentation.customer_segments ORDER BY ALL"
        ).fetchall()


def test_every_planted_malformed_row_is_caught_and_no_valid_row_is(
    home, company, monkeypatch, tmp_path
):
    monkeypatch.setenv("SEG_PLATFORM_SOURCES", str(company / "landing" / "sources.yaml"))
    with dg.DagsterInstance.ephemeral() as instance:
        assert defs.resolve_job_def(CURRENT_JOB).execute_in_process(instance=instance).success
    metrics = evaluate(home, company / "truth")["raw"]
    # the generator plants malformed rows and duplicates in the behaviour sources, which it
    # can attribute to a person; the consent, survey and erasure files are judged by their tests
    assert set(metrics["sources"]) == set(LINKING_SOURCES)
    assert metrics["totals"]["planted_malformed"] >= 100
    assert sum(m["planted_malformed"] > 0 for m in metrics["sources"].values()) >= 6
    for name, m in metrics["sources"].items():
        assert m["malformed_caught"] == m["planted_malformed"], name
        assert m["valid_rows_quarantined"] == 0, name
        assert m["rows_kept"] == m["expected_rows_kept"], name
        if name != "crm_contacts":  # CRM rows are updates of one contact, not planted copies
            assert m["duplicates_removed"] == m["planted_duplicates"], name

    with dg.DagsterInstance.ephemeral() as instance:
        monthly = defs.resolve_job_def(MONTHLY_JOB)
        assert monthly.execute_in_process(instance=instance, partition_key="2025-12-01").success
    first = segments(home)

    # The evaluation reports how well the segments recover the planted archetypes (the 0.8
    # acceptance is measured on the demo's company: segmentation/test_archetype_recovery.py).
    segmentation = evaluate(home, company / "truth")["segmentation"]
    assert segmentation["latest_month"] == "2025-12"
    assert segmentation["profiles"] > 300 and segmentation["churned"] > 0
    assert 0.5 < segmentation["ari"] <= 1

    # That the same inputs give the same tables is test_idempotence.py's, on the demo: every
    # table and view of the warehouse after a second run.

    # A feature broken on purpose (all nulls) fails a blocking check; nothing downstream of it
    # runs, the month's segments stay as they were and the champion alias does not move.
    client = mlflow.MlflowClient(home.mlflow_tracking_uri)
    champion = client.get_model_version_by_alias("customer_segmentation", "champion").version
    sql = shutil.copytree(SQL_ROOT, tmp_path / "sql")
    features_sql = sql / "features" / "customer_features.sql"
    good = "CASE WHEN present.events THEN coalesce(d.sessions_30d, 0) END"
    assert good in features_sql.read_text()
    features_sql.write_text(features_sql.read_text().replace(good, "NULL::BIGINT"))
    broken = make_definitions(sql)
    with dg.DagsterInstance.ephemeral() as instance:
        result = broken.resolve_job_def(MONTHLY_JOB).execute_in_process(
            instance=instance, partition_key="2025-12-01", raise_on_error=False
        )
    assert not result.success
    failed = {e.check_name: e for e in result.get_asset_check_evaluations() if not e.passed}
    assert "null_share_within_limits" in failed
    assert "sessions_30d" in failed["null_share_within_limits"].description  # the UI says why
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"features/customer_features"}
    assert not materialized & {
        "segmentation/customer_segments", "segments/segment_assignments",
        "segments/segmentation_champion",
    }  # fmt: skip
    assert client.get_model_version_by_alias("customer_segmentation", "champion").version == (
        champion
    )
    assert segments(home) == first


@pytest.mark.e2e
def test_demo_command_end_to_end(tmp_path):
    """What `make demo` runs, on a small sample: generate, materialize, evaluate, next steps."""
    env = {**os.environ, "SEG_PLATFORM_HOME": str(tmp_path / "home")}
    env.pop("SEG_PLATFORM_SOURCES", None)
    env.pop("DAGSTER_HOME", None)
    done = subprocess.run(
        [sys.executable, "-m", "seg_platform.cli", "demo", "--customers", "300", "--months", "4"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "The pipeline succeeded." in done.stdout
    # snapshots (features, segmentation) of the last 3 months of data
    assert "Monthly snapshots built: 2025-10 .. 2025-12 (3 months)" in done.stdout
    assert "    2025-12: " in done.stdout and "rule met: True" in done.stdout
    assert "features.customer_features (40 features)" in done.stdout
    assert "http://127.0.0.1:3000" in done.stdout and "http://127.0.0.1:5000" in done.stdout
    metrics = json.loads(done.stdout.split("ground truth")[1].split(":", 1)[1].split("\nNext")[0])
    assert metrics["raw"]["malformed_recall"] == 1.0
    assert metrics["raw"]["valid_rows_quarantined"] == 0
    assert metrics["identity"]["pairwise_precision"] >= 0.99
    assert metrics["segmentation"]["latest_month"] == "2025-12"
    assert metrics["segmentation"]["profiles"] > 100
    # The segment tables of the 3 months, and their migration against the planted switches.
    assert "segments of 2025-12 (segments.segment_profiles" in done.stdout
    assert metrics["segments"]["months"] == ["2025-10", "2025-11", "2025-12"]
    assert 0 <= metrics["segments"]["mean_agreement"] <= 1
    # Nothing outside the platform home: the working directory stays empty.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
    home = tmp_path / "home"
    assert (home / "warehouse.duckdb").exists()
    assert (home / "dagster" / "dagster.yaml").exists()
    assert any((home / "dagster").iterdir())
    # Read here, not in a second interpreter: Dagster is imported already.
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        runs = instance.get_runs()
    # Current tables, 3 monthly runs, then the one publish of the serving snapshot (the last).
    assert len(runs) == 5, runs
    serving = [r for r in runs if r.asset_selection == {SERVING_KEY}]
    assert serving == [runs[0]], [(r.job_name, r.asset_selection) for r in runs]
