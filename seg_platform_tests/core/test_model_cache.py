"""A model this process registered or loaded is used again, never another store's model."""

from types import SimpleNamespace

import mlflow
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from seg_platform.core import mlflow_registry
from seg_platform.core.mlflow_registry import load_registered, registry_client, remember_model


@pytest.fixture(autouse=True)
def _own_store_and_cache():
    """The tracking URI and the model cache as the other tests left them."""
    uri, models = mlflow.get_tracking_uri(), dict(mlflow_registry._MODELS)
    yield
    mlflow.set_tracking_uri(uri)
    mlflow_registry._MODELS.clear()
    mlflow_registry._MODELS.update(models)


def _register(tmp_path, name: str):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id=mlflow.create_experiment(
        "e", artifact_location=(tmp_path / "artifacts").as_uri()))  # fmt: skip
    X, y = np.arange(20.0).reshape(-1, 1), np.arange(20) % 2
    model = LogisticRegression().fit(X, y)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
    version = mlflow.register_model(info.model_uri, name)
    return uri, registry_client(uri).get_model_version(name, version.version), model


def test_a_registered_model_is_not_loaded_back(tmp_path, monkeypatch):
    uri, version, model = _register(tmp_path, "m")
    remember_model(uri, version, model)

    def no_load(*_):
        raise AssertionError("loaded from the registry")

    monkeypatch.setattr(mlflow.sklearn, "load_model", no_load)
    assert load_registered(uri, version) is model


def test_another_store_with_the_same_name_and_version_is_loaded(tmp_path):
    uri, version, model = _register(tmp_path / "a", "m")
    remember_model(uri, version, model)
    # The same home made again: same URI, name and version, another run (and model).
    other = SimpleNamespace(name="m", version=version.version, run_id="another-run")
    assert mlflow_registry._key(uri, other) != mlflow_registry._key(uri, version)
    again_uri, again, _ = _register(tmp_path / "b", "m")
    loaded = load_registered(again_uri, again)
    assert loaded is not model
    assert np.array_equal(loaded.coef_, model.coef_)
    assert load_registered(again_uri, again) is loaded  # and kept for the next step


def test_only_the_latest_models_are_kept():
    for i in range(mlflow_registry._KEEP + 3):
        remember_model("uri", SimpleNamespace(name="m", version=i, run_id=str(i)), object())
    assert len(mlflow_registry._MODELS) == mlflow_registry._KEEP
    assert ("uri", "m", "0", "0") not in mlflow_registry._MODELS
