"""Scoring inside Spark (issue 22): December's propensity models score every demo customer on
the executors as the DuckDB engine stored them (probabilities to 1e-6, the same active flags
and model versions), with the features spread over several partitions."""

import mlflow
import numpy as np
import polars as pl
import pytest

from seg_platform.core.calendar import month_parameters
from seg_platform.core.tracking import MlflowResource
from seg_platform.predictions.data import known_features
from seg_platform.predictions.propensity import TARGETS
from seg_platform.predictions.scoring import PREDICTIONS, scoring_model
from seg_platform.predictions.settings import PredictionsSettings
from seg_platform.predictions.spark_scoring import score_on_spark
from seg_platform_tests.spark.conftest import demo_warehouse

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def december(demo_december):
    """The stored scores, the features they were computed from and the models that scored."""
    with demo_warehouse(demo_december) as (con, tracking_uri):
        features = known_features(con, month_parameters("2025-12"))
        stored = con.sql(
            f"SELECT * FROM {PREDICTIONS} WHERE as_of_date = '2025-12-31' ORDER BY profile_id"
        ).pl()
    tracking = MlflowResource(tracking_uri=tracking_uri)
    client = mlflow.MlflowClient()
    models = {t.name: scoring_model(client, tracking, t, "2025-12") for t in TARGETS}
    return stored, features, models


def test_every_customer_is_scored_on_spark_as_on_duckdb(engine_session, december):
    stored, features, models = december
    assert all(models.values()), "the demo registers a churn and a purchase model"
    frame = engine_session.createDataFrame(features.to_arrow()).repartition(3)
    active_days = PredictionsSettings().active_days
    got = pl.from_arrow(score_on_spark(frame, models, active_days).toArrow()).sort("profile_id")

    assert got.height == stored.height == features.height > 1000
    assert got["profile_id"].to_list() == stored["profile_id"].to_list()
    assert got["active"].to_list() == stored["active"].to_list()
    for target in TARGETS:
        probability, version = f"{target.name}_probability", f"{target.name}_model_version"
        assert got[probability].null_count() == stored[probability].null_count() == 0
        assert np.allclose(got[probability], stored[probability], rtol=0, atol=1e-6)
        assert got[version].to_list() == stored[version].to_list()
