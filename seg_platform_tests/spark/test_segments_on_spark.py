"""Segment assignment inside Spark (issue 22): December's registered segmentation places every
demo customer on the executors exactly as the DuckDB engine stored them (same segment and
runner-up for every customer, so ARI 1.0; distances to 1e-9; probability null where the
clusterer has none), with the features spread over several partitions."""

import mlflow
import numpy as np
import polars as pl
import pytest
from sklearn.metrics import adjusted_rand_score

from seg_platform.core.mlflow_registry import load_registered
from seg_platform.segmentation.data import SEGMENTS, feature_columns, load_features
from seg_platform.segmentation.spark_assign import assign_on_spark
from seg_platform_tests.spark.conftest import demo_warehouse

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def december(demo_december):
    """The stored assignments, the features they were made from and the registered model."""
    with demo_warehouse(demo_december) as (con, tracking_uri):
        stored = con.sql(
            f"SELECT * FROM {SEGMENTS} WHERE as_of_date = '2025-12-31' ORDER BY profile_id"
        ).pl()
        features = load_features(con, stored["as_of_date"][0])
    version = mlflow.MlflowClient().get_model_version(
        "customer_segmentation", str(stored["model_version"][0])
    )
    return stored, features, load_registered(tracking_uri, version)


def test_every_customer_is_placed_on_spark_as_on_duckdb(engine_session, december):
    stored, features, pipeline = december
    columns = feature_columns(features)
    frame = engine_session.createDataFrame(features.select(["profile_id", *columns]).to_arrow())
    got = pl.from_arrow(assign_on_spark(pipeline, frame.repartition(3), columns).toArrow()).sort(
        "profile_id"
    )

    assert got.height == stored.height == features.height > 1000
    assert got["profile_id"].to_list() == stored["profile_id"].to_list()
    assert got["segment"].to_list() == stored["segment"].to_list()
    assert adjusted_rand_score(stored["segment"], got["segment"]) == 1.0
    assert got["runner_up"].to_list() == stored["runner_up"].to_list()
    assert np.allclose(got["distance"], stored["distance"], rtol=1e-9, atol=1e-12)
    assert got["probability"].null_count() == stored["probability"].null_count()
    known = stored["probability"].is_not_null()
    assert np.allclose(got["probability"].filter(known), stored["probability"].filter(known))
