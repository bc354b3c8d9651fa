"""The duplicate model of an identity build is an MLflow run (issue 18): params, counts, Splink's
model, the weights and the match-weight chart, and never a value of a record."""

from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from mlflow.tracking import MlflowClient

from seg_platform.core.resources import EngineResource, WarehouseResource
from seg_platform.core.tracking import MlflowResource
from seg_platform.core.warehouse import connect
from seg_platform.identity.assets import IDENTITY_ASSETS, IDENTITY_CHECKS, IDENTITY_EXPERIMENT
from seg_platform.sources.assets import RAW_ASSETS, RAW_CHECKS
from seg_platform.sources.resources import IdentityConfig, SourcesResource
from seg_platform_tests.identity.person_records import read_febrl, write_crm_landing

FEBRL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "febrl"
ARTIFACTS = {
    "splink_model.json",
    "match_weights.csv",
    "match_weights_chart.html",
    "linkage_report.json",
}


@pytest.mark.skipif(not FEBRL.is_dir(), reason=f"febrl data not found at {FEBRL}")
def test_the_duplicate_model_is_logged_to_mlflow(home, tmp_path):
    """Before: identity_graph logged nothing to MLflow (no `mlflow_run_id` in its metadata)."""
    frame = read_febrl(FEBRL / "dataset3.csv")
    persons = pl.col("rec_id").str.extract(r"^rec-(\d+)-", 1).cast(pl.Int64)
    small = frame.filter(persons < 150).sort("rec_id")  # ~390 records of 150 persons
    landing = write_crm_landing(small, tmp_path / "landing")
    tracking = MlflowResource()
    result = dg.materialize(
        [*RAW_ASSETS, *RAW_CHECKS, *IDENTITY_ASSETS, *IDENTITY_CHECKS],
        resources={
            "warehouse": WarehouseResource(database=str(home.warehouse)),
            "sources": SourcesResource(config_path=str(landing)),
            "identity": IdentityConfig(),
            "mlflow_tracking": tracking,
            "engine": EngineResource(),
        },
        raise_on_error=False,
    )
    assert result.success
    (event,) = [
        m for m in result.get_asset_materialization_events()
        if m.asset_key == dg.AssetKey(["identity", "identity_map"])
    ]  # fmt: skip
    metadata = event.materialization.metadata
    run_id = metadata["mlflow_run_id"].value
    assert run_id in metadata["mlflow_run"].value  # a link to the run in the MLflow UI

    client = MlflowClient(tracking_uri=home.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(IDENTITY_EXPERIMENT)
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_id == run_id
    assert run.data.tags["dagster_run_id"] == result.run_id
    params, metrics = run.data.params, run.data.metrics
    assert params["columns"] == "first_name, last_name, date_of_birth, address, postcode, city"
    assert float(params["threshold"]) == 0.9
    assert 0 < float(params["prior"]) < 1
    assert metrics["profiles"] == metadata["profiles"].value
    assert metrics["probabilistic_links"] == metadata["probabilistic_links"].value > 100
    assert (
        metrics["probabilistic_links_used"] + metrics["probabilistic_links_refused"]
        == (metrics["probabilistic_links"])
    )

    folder = Path(client.download_artifacts(run_id, "", str(tmp_path / "artifacts")))
    assert {p.name for p in folder.iterdir()} == ARTIFACTS
    with connect(home.warehouse, read_only=True) as con:
        table = con.sql("SELECT * FROM identity.linkage_weights").pl()
    logged = pl.read_csv(folder / "match_weights.csv")
    assert logged.height == table.height > 10
    assert logged.equals(table.cast(logged.schema)), (logged, table)
    assert "<html" in (folder / "match_weights_chart.html").read_text().lower()

    # No value of any record reaches MLflow: only the model, its weights and counts.
    logged_text = " ".join(
        [*(p.read_text().lower() for p in folder.iterdir()), *map(str, params.values())]
    )
    values = {
        v.lower()
        for column in ("rec_id", "given_name", "surname", "address_1", "suburb")
        for v in small[column].drop_nulls().to_list()
        if len(v) >= 6
    }
    assert not [v for v in values if v in logged_text]
