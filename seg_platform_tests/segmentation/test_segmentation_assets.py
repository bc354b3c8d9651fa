"""Segmentation in Dagster with MLflow: runs, metrics, artifacts, registry aliases, checks.

The month's features are planted directly (six well-separated groups of customers), so this
tests the orchestration and tracking, not the feature SQL.
"""

import json
from pathlib import Path

import dagster as dg
import mlflow
import numpy as np
import polars as pl
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from seg_platform.cli import main
from seg_platform.core.resources import EngineResource, WarehouseResource
from seg_platform.core.tracking import MlflowResource
from seg_platform.core.warehouse import connect, frame_to_temp_table
from seg_platform.segmentation.assets import SEGMENTATION_ASSETS, SEGMENTATION_CHECKS
from seg_platform.segmentation.resources import SegmentationConfig
from seg_platform.segments.assets import SEGMENTS_ASSETS, SEGMENTS_CHECKS
from seg_platform.segments.resources import SegmentsConfig

MONTHS = ["2025-10-01", "2025-11-01", "2025-12-01"]
CONFIG = dict(k_min=4, k_max=7, bootstrap=2, selection_sample=1500, silhouette_sample=800,
              quadratic_sample=600)  # fmt: skip
METRICS = {"silhouette", "davies_bouldin", "calinski_harabasz", "smallest_segment_share",
           "bootstrap_stability", "n_segments"}  # fmt: skip


def plant(database, n=1800, seed=0) -> np.ndarray:
    X, y = make_blobs(n_samples=n, centers=6, n_features=5, cluster_std=1.0,
                      center_box=(-10, 10), random_state=seed)  # fmt: skip
    ids = [f"P{i:05d}" for i in range(n)]
    with connect(database) as con:
        con.execute("CREATE SCHEMA identity; CREATE SCHEMA features")
        con.execute(
            "CREATE TABLE identity.profiles AS SELECT unnest($ids) AS profile_id, "
            "TIMESTAMP '2024-01-01' AS first_seen, true AS known",
            {"ids": ids},
        )
        frames = []
        for i, month in enumerate(MONTHS):
            jitter = np.random.default_rng(i).normal(0, 0.05, X.shape)
            frame = pl.DataFrame(X + jitter, schema=[f"f{j}" for j in range(5)])
            frames.append(frame.with_columns(
                pl.Series("profile_id", ids),
                pl.lit(month).str.to_date().dt.month_end().alias("as_of_date"),
            ))  # fmt: skip
        frame_to_temp_table(con, "_f", pl.concat(frames))
        con.execute("CREATE TABLE features.customer_features AS FROM _f")
    return y


def materialize(home, month, **config):
    resources = {
        "warehouse": WarehouseResource(database=str(home.warehouse)),
        "segmentation": SegmentationConfig(**{**CONFIG, **config}),
        "segments": SegmentsConfig(),
        "mlflow_tracking": MlflowResource(),
        "engine": EngineResource(),
    }
    return dg.materialize(
        [*SEGMENTATION_ASSETS, *SEGMENTATION_CHECKS, *SEGMENTS_ASSETS, *SEGMENTS_CHECKS],
        partition_key=month,
        resources=resources,
        raise_on_error=False,
    )


@pytest.fixture(scope="module")
def segmented(tmp_path_factory):
    import os

    from seg_platform.core import settings

    root = tmp_path_factory.mktemp("seg") / "home"
    old = os.environ.get(settings.HOME_ENV)
    os.environ[settings.HOME_ENV] = str(root)
    home = settings.platform_home().ensure()
    truth = plant(home.warehouse)
    results = {m: materialize(home, m) for m in ("2025-11-01", "2025-12-01")}
    yield home, truth, results
    if old is None:
        os.environ.pop(settings.HOME_ENV)
    else:
        os.environ[settings.HOME_ENV] = old


def test_every_candidate_is_a_child_run_with_every_metric(segmented):
    home, _, results = segmented
    assert all(r.success for r in results.values())
    mlflow.set_tracking_uri(home.mlflow_tracking_uri)
    runs = mlflow.search_runs(experiment_names=["customer_segmentation"])
    parents = runs[runs["tags.mlflow.parentRunId"].isna()]
    assert sorted(parents["tags.partition"]) == ["2025-11", "2025-12"]
    names = ["kmeans_k4", "kmeans_k5", "kmeans_k6", "kmeans_k7", "gmm_k4", "gmm_k5", "gmm_k6",
             "gmm_k7", "ward_k5", "ward_k6", "ward_k7", "hdbscan"]  # fmt: skip
    for _, parent in parents.iterrows():
        children = runs[runs["tags.mlflow.parentRunId"] == parent["run_id"]]
        assert sorted(children["tags.candidate"]) == sorted(names)
        for _, child in children.iterrows():
            missing = [m for m in METRICS if np.isnan(child[f"metrics.{m}"])]
            assert not missing, (child["tags.candidate"], missing)
            own = {"kmeans": "inertia", "gmm": "bic", "hdbscan": "outlier_share"}
            algorithm = child["params.algorithm"]
            if algorithm in own:
                assert not np.isnan(child[f"metrics.{own[algorithm]}"])
            assert child["tags.dagster_run_id"] and child["tags.features_digest"]
            artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(child["run_id"])}
            assert artifacts == {"segment_profile.csv", "segment_sizes.png", "pca.png",
                                 "silhouette.png"}  # fmt: skip
        artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(parent["run_id"])}
        assert {"candidates.csv", "elbow.png", "selection_rule.md"} <= artifacts
        # the chosen pipeline is an MLflow model of this run, registered as a version
        (version,) = mlflow.MlflowClient().search_model_versions(
            f"name = 'customer_segmentation' and run_id = '{parent['run_id']}'"
        )
        assert version.tags["month"] == parent["tags.partition"][:7]
        assert "highest silhouette" in parent["tags.mlflow.note.content"]
        assert parent["tags.rule_met"] == "True"
        run = mlflow.get_run(parent["run_id"])
        (dataset,) = run.inputs.dataset_inputs
        assert dataset.dataset.name.startswith("features.customer_features@2025-1")
        assert dataset.dataset.digest.startswith("1800-")


def test_the_mlflow_ui_compares_candidates_side_by_side(segmented):
    """What the MLflow UI needs to open on runs and compare candidates: the experiment's kind
    and run-table view, plots under one name in every candidate run (at the artifact root,
    where the compare view looks), the curves across k on the parent, the chosen candidate
    tagged, and a description on each registered version."""
    home, _, results = segmented
    client = mlflow.MlflowClient(home.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name("customer_segmentation")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    # The asset links to the run table in the machine-learning view, with the metric columns.
    (segments,) = [
        m
        for m in results["2025-12-01"].asset_materializations_for_node("segmentation_sweep")
        if m.asset_key == dg.AssetKey(["segmentation", "customer_segments"])
    ]
    assert segments.metadata["mlflow_experiment"].value.endswith(
        f"/#/experiments/{experiment.experiment_id}/runs?workflowType=machine_learning"
        "&viewStateShareKey=seg_platform"
    )
    view = json.loads(experiment.tags["mlflow.sharedViewState.seg_platform"])
    assert {"metrics.`silhouette`", "metrics.`davies_bouldin`",
            "metrics.`bootstrap_stability`"} <= set(view["selectedColumns"])  # fmt: skip
    runs = client.search_runs([experiment.experiment_id], max_results=500)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 2
    for parent in parents:
        children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        plots = [
            {a.path for a in client.list_artifacts(c.info.run_id) if a.path.endswith(".png")}
            for c in children
        ]
        assert set.intersection(*plots) == {"segment_sizes.png", "pca.png", "silhouette.png"}
        chosen = [c for c in children if c.data.tags["seg.chosen"] == "true"]
        assert [c.data.tags["candidate"] for c in chosen] == [parent.data.tags["chosen_candidate"]]
        assert {c.data.tags["seg.chosen"] for c in children} == {"true", "false"}
        for metric in ("silhouette", "davies_bouldin", "bootstrap_stability", "n_segments"):
            assert parent.data.metrics[metric] == chosen[0].data.metrics[metric]
        parent_files = {a.path for a in client.list_artifacts(parent.info.run_id)}
        assert "selection_metrics_by_k.png" in parent_files
        curves = client.download_artifacts(parent.info.run_id, "selection_metrics_by_k.png")
        assert Path(curves).stat().st_size > 20_000  # four panels, not an empty figure
        (version,) = client.search_model_versions(
            f"name = 'customer_segmentation' and run_id = '{parent.info.run_id}'"
        )
        description = client.get_model_version("customer_segmentation", version.version).description
        month = parent.data.tags["partition"]
        name = parent.data.tags["chosen_candidate"]
        assert description.startswith(f"Customer segmentation of {month}: {name} with ")
        assert parent.info.run_id in description


def test_existing_experiments_get_the_ui_tags(home):
    """An experiment created before the UI tags existed gets them the next time it is used."""
    client = mlflow.MlflowClient(home.mlflow_tracking_uri)
    old = client.create_experiment("customer_segmentation")
    assert "mlflow.experimentKind" not in client.get_experiment(old).tags
    tracking = MlflowResource()
    before = mlflow.get_tracking_uri()
    try:
        assert tracking.setup() == old
    finally:
        mlflow.set_tracking_uri(before)  # setup() points the global client at `home`
    assert client.get_experiment(old).tags["mlflow.experimentKind"] == "custom_model_development"
    url = tracking.run_url(old, "abc")
    assert url.endswith(f"/#/experiments/{old}/runs/abc?workflowType=machine_learning")


def test_the_champion_recovers_the_planted_groups_and_scores_like_the_table(segmented):
    home, truth, results = segmented
    client = mlflow.MlflowClient(home.mlflow_tracking_uri)
    versions = [
        client.get_model_version("customer_segmentation", v.version)
        for v in client.search_model_versions("name = 'customer_segmentation'")
    ]
    holders = [v.version for v in versions if "champion" in v.aliases]
    assert len(holders) == 1  # exactly one champion
    champion = client.get_model_version_by_alias("customer_segmentation", "champion")
    assert champion.tags["month"] == "2025-12"
    with connect(home.warehouse) as con:
        table = con.sql(
            "SELECT s.profile_id, s.segment, f.* EXCLUDE (profile_id, as_of_date) "
            "FROM segmentation.customer_segments s JOIN features.customer_features f "
            "USING (profile_id, as_of_date) WHERE as_of_date = '2025-12-31' ORDER BY profile_id"
        ).pl()
    assert adjusted_rand_score(truth, table["segment"]) > 0.98
    model = mlflow.sklearn.load_model("models:/customer_segmentation@champion")
    scored = model.predict(table.select(f"f{j}" for j in range(5)).to_numpy())
    assert np.array_equal(scored, table["segment"].to_numpy())


def test_an_older_month_never_takes_the_champion_alias(segmented):
    home, _, _ = segmented
    assert materialize(home, "2025-10-01").success
    client = mlflow.MlflowClient(home.mlflow_tracking_uri)
    champion = client.get_model_version_by_alias("customer_segmentation", "champion")
    assert champion.tags["month"] == "2025-12"
    october = [v for v in client.search_model_versions("name = 'customer_segmentation'")
               if v.tags["month"] == "2025-10"]  # fmt: skip
    assert october
    aliases = client.get_model_version("customer_segmentation", october[0].version).aliases
    assert "champion" not in aliases


def test_failed_validation_keeps_the_new_version_a_challenger(segmented):
    home, _, _ = segmented
    # A floor no candidate can meet: the blocking check fails and the alias must not move.
    result = materialize(home, "2025-12-01", min_segment_share=0.3)
    assert not result.success
    failed = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
    assert {"selection_rule_met", "smallest_segment_share_above_floor"} <= failed
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "segments/segmentation_champion" not in materialized
    client = mlflow.MlflowClient(home.mlflow_tracking_uri)
    newest = max(
        client.search_model_versions("name = 'customer_segmentation'"), key=lambda v: int(v.version)
    )
    newest = client.get_model_version("customer_segmentation", newest.version)
    assert newest.aliases == ["challenger"]
    assert client.get_model_version_by_alias("customer_segmentation", "champion").version != (
        newest.version
    )


def test_candidates_command_prints_the_month_side_by_side(segmented, capsys):
    assert main(["candidates", "--month", "2025-11"]) == 0
    out = capsys.readouterr().out
    assert "Segmentation candidates for 2025-11" in out
    assert all(name in out for name in ("kmeans_k4", "gmm_k7", "ward_k6", "hdbscan"))
    assert sum(line.strip().startswith("*") for line in out.splitlines()) == 1


def test_segment_tables_keep_ids_across_months_and_name_every_segment(segmented):
    home, truth, results = segmented
    assert results["2025-12-01"].success
    with connect(home.warehouse, read_only=True) as con:
        assignments = con.sql(
            "SELECT profile_id, strftime(as_of_date, '%Y-%m') AS month, segment_id, segment_name "
            "FROM segments.segment_assignments ORDER BY profile_id, month"
        ).pl()
        profiles = con.sql("FROM segments.segment_profiles ORDER BY as_of_date, segment_id").pl()
        migration = con.sql("FROM segments.segment_migration ORDER BY ALL").pl()
    nov = assignments.filter(pl.col("month") == "2025-11")
    dec = assignments.filter(pl.col("month") == "2025-12")
    assert nov.height == dec.height == len(truth)
    # The planted groups are recovered and keep their ids from one month to the next.
    assert adjusted_rand_score(truth, dec["segment_id"]) > 0.98
    assert (nov["segment_id"] == dec["segment_id"]).mean() > 0.99
    december = profiles.filter(pl.col("as_of_date").dt.month() == 12)
    assert set(december["lineage"]) == {"continues"}
    assert december["continues_segment_id"].to_list() == december["segment_id"].to_list()
    # Names from the data (no theme fits f0..f4, so the standing-out features), all unique.
    names = december["name"].to_list()
    assert len(set(names)) == len(names) == 6
    assert all(n.startswith(("High F", "Low F")) for n in names), names
    assert december["action"].null_count() == 0
    # A segment that continues keeps its name and, with it, its action.
    november = profiles.filter(pl.col("as_of_date").dt.month() == 11)
    kept = ["segment_id", "name", "theme", "high_value", "action"]
    assert december.select(kept).sort("segment_id").equals(november.select(kept).sort("segment_id"))
    assert december["customers"].sum() == len(truth)
    # Migration: everyone stayed; the counts add up to the segment sizes.
    moves = migration.filter(pl.col("as_of_date").dt.month() == 12)
    assert set(moves["movement"]) <= {"stayed", "moved"}
    assert moves.filter(pl.col("movement") == "stayed")["customers"].sum() > 0.99 * len(truth)
    assert moves["customers"].sum() == len(truth)
    checks = {e.check_name: e.passed for e in results["2025-12-01"].get_asset_check_evaluations()}
    for name in ("every_profile_assigned_once", "names_unique_and_readable",
                 "migration_reconciles", "unchanged_customers_keep_their_segment",
                 "segments_differ_in_later_outcomes"):  # fmt: skip
        assert checks[name], name


def test_segment_sizes_and_shares_are_numeric_metadata_per_month(segmented):
    """Issue 21 point 7: one number per segment name and month, so the UI plots them."""
    home, truth, results = segmented
    with connect(home.warehouse, read_only=True) as con:
        profiles = con.sql(
            "SELECT strftime(as_of_date, '%Y-%m-01') AS month, name, customers "
            "FROM segments.segment_profiles"
        ).pl()
    for month, result in results.items():
        (event,) = [
            e for e in result.get_asset_materialization_events()
            if e.asset_key.to_user_string() == "segments/segment_profiles"
        ]  # fmt: skip
        metadata = {k: v.value for k, v in event.materialization.metadata.items()}
        table = dict(profiles.filter(pl.col("month") == month).select("name", "customers").rows())
        sizes = {k.removeprefix("size/"): v for k, v in metadata.items() if k.startswith("size/")}
        shares = {
            k.removeprefix("share_pct/"): v
            for k, v in metadata.items()
            if k.startswith("share_pct/")
        }
        assert sizes == table
        assert all(isinstance(v, int) for v in sizes.values())
        assert all(isinstance(v, float) for v in shares.values())
        assert metadata["customers_assigned"] == sum(sizes.values()) == len(truth)
        assert metadata["segment_count"] == len(table)
        assert sum(shares.values()) == pytest.approx(100.0, abs=0.01 * len(shares))
        for name, customers in table.items():
            assert shares[name] == pytest.approx(100.0 * customers / len(truth), abs=0.005)
        assert "share_pct" in metadata["segments"]


def _report_link(result) -> str:
    (event,) = [
        e for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "segments/segment_profiles"
    ]  # fmt: skip
    return event.materialization.metadata["segment_report"].value


def test_the_logged_report_shows_the_months_sizes_side_by_side(segmented):
    home, truth, results = segmented
    run_id = _report_link(results["2025-12-01"]).split("/runs/")[1].split("/")[0]
    with connect(home.warehouse, read_only=True) as con:
        december = con.sql(
            "SELECT name, customers, share FROM segments.segment_profiles "
            "WHERE as_of_date = DATE '2025-12-31'"
        ).pl()
    client = mlflow.MlflowClient(home.mlflow_tracking_uri)
    page = Path(client.download_artifacts(run_id, "segment_report_2025-12.html")).read_text()
    assert 'alt="size trends"' in page
    assert "<th>2025-11</th><th>2025-12</th>" in page
    for name, customers, share in december.iter_rows():
        assert f"{customers} ({round(share * 100, 1)}%)" in page, name


def test_the_report_is_one_link_away_from_the_asset_page_and_the_demo(segmented, capsys):
    from seg_platform.runner import print_next_steps

    home, truth, results = segmented
    link = _report_link(results["2025-12-01"])
    assert link.startswith("http://127.0.0.1:5000/#/experiments/")
    assert "/artifacts/segment_report_2025-12.html" in link
    print_next_steps(home)
    out = capsys.readouterr().out
    (printed,) = [line.strip() for line in out.splitlines() if "/artifacts/" in line]
    assert printed.startswith("http://127.0.0.1:5000/#/experiments/"), out
    run_id, name = printed.split("?")[0].split("/runs/")[1].split("/artifacts/")
    # (Earlier tests here re-ran December with failing checks: its newest sweep has no report.)
    assert name.startswith("segment_report_2025-1") and f"; {name})" in out, out
    client = mlflow.MlflowClient(home.mlflow_tracking_uri)
    assert name in {a.path for a in client.list_artifacts(run_id)}


def test_the_outlook_logs_the_report_again_with_churn_and_value(segmented):
    """Predictions come after the segment tables: `segment_outlook` logs the month's report
    again with each segment's churn (percent) and predicted value."""
    from seg_platform.definitions import defs

    home, truth, results = segmented
    with connect(home.warehouse) as con:
        assignments = con.sql(
            "SELECT profile_id, as_of_date, segment_id FROM segments.segment_assignments "
            "WHERE as_of_date = DATE '2025-12-31'"
        ).pl()
        rng = np.random.default_rng(7)
        predictions = assignments.select(
            "profile_id", "as_of_date",
            pl.Series("churn_probability", rng.uniform(0, 1, assignments.height)),
            pl.Series("purchase_probability", rng.uniform(0, 1, assignments.height)),
            pl.Series("predicted_value_12m", rng.uniform(0, 500, assignments.height)),
        )  # fmt: skip
        con.execute("CREATE SCHEMA IF NOT EXISTS predictions")
        frame_to_temp_table(con, "_p", predictions)
        con.execute("CREATE OR REPLACE TABLE predictions.customer_predictions AS FROM _p")
        names = dict(con.sql(
            "SELECT segment_id, name FROM segments.segment_profiles "
            "WHERE as_of_date = DATE '2025-12-31'").fetchall())  # fmt: skip
    (outlook_asset,) = [a for a in defs.assets
                        if dg.AssetKey(["predictions", "segment_outlook"]) in a.keys]  # fmt: skip
    result = dg.materialize(
        [outlook_asset],
        partition_key="2025-12-01",
        resources={
            "warehouse": WarehouseResource(database=str(home.warehouse)),
            "mlflow_tracking": MlflowResource(),
        },
    )
    (event,) = result.get_asset_materialization_events()
    link = event.materialization.metadata["segment_report"].value
    run_id, name = link.split("?")[0].split("/runs/")[1].split("/artifacts/")
    assert name == "segment_report_2025-12.html"
    client = mlflow.MlflowClient(home.mlflow_tracking_uri)
    page = Path(client.download_artifacts(run_id, name)).read_text()
    assert "No predictions for this month yet" not in page
    expected = (
        predictions.join(assignments, on=["profile_id", "as_of_date"])
        .group_by("segment_id")
        .agg(pl.col("churn_probability").mean(), pl.col("predicted_value_12m").mean())
    )
    for sid, churn, value in expected.iter_rows():
        # Churn in percent (of the 4-decimal mean), then the mean predicted value.
        cells = f"<td>{sid}</td><td>{names[sid]}</td><td>{round(round(churn, 4) * 100, 1)}</td>"
        assert cells in page, (cells, page[-3000:])
        assert f"<td>{round(value, 2)}</td>" in page
