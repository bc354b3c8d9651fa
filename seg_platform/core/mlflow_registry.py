"""The MLflow model registry as the groups use it: a client, aliases, versions.

Plain functions over the `mlflow` client. A registered model's `champion` alias names the
version in use; `challenger` the newest candidate waiting for its gates.
"""

from collections import OrderedDict

CHAMPION, CHALLENGER = "champion", "challenger"


def registry_client(tracking_uri: str):
    """An `MlflowClient` on the store at `tracking_uri`."""
    # mlflow takes seconds to import: only when a run needs it, not when Dagster loads code.
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def is_registered(client, name: str) -> bool:
    """Whether the registered model `name` exists."""
    try:
        client.get_registered_model(name)
        return True
    except Exception:
        return False


def alias_version(client, name: str, alias: str = CHAMPION):
    """The version of model `name` holding `alias`, or None (no model or no alias yet)."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except Exception:
        return None


def set_alias(client, name: str, alias: str, version) -> None:
    """Move `alias` of model `name` to `version`."""
    client.set_registered_model_alias(name, alias, str(version))


def versions(client, name: str) -> list:
    """Every version of model `name` as the search returns it (tags, no aliases)."""
    return list(client.search_model_versions(f"name = '{name}'"))


def versions_with_aliases(client, name: str) -> list:
    """Every version of model `name`, each read whole so its aliases are filled in."""
    return [client.get_model_version(name, v.version) for v in versions(client, name)]


def alias_holders(client, name: str, alias: str = CHAMPION) -> list:
    """The versions of model `name` holding `alias` (one, when the registry is sound)."""
    return [v for v in versions_with_aliases(client, name) if alias in v.aliases]


# Models this process registered or loaded, newest last. A registered version never changes,
# and the key holds the id of the MLflow run that logged it (new in every store), so a home
# deleted and made again never finds another store's model here. Loading one back from the
# registry (skops) took about a second; a month of the pipeline loads five or six.
_MODELS: "OrderedDict[tuple[str, str, str, str], object]" = OrderedDict()
_KEEP = 8


def _key(tracking_uri: str, version) -> tuple[str, str, str, str]:
    return (tracking_uri, version.name, str(version.version), str(version.run_id))


def remember_model(tracking_uri: str, version, model) -> None:
    """Keep `model`, just registered as `version` (a ModelVersion), for `load_registered`."""
    _MODELS[_key(tracking_uri, version)] = model
    _MODELS.move_to_end(_key(tracking_uri, version))
    while len(_MODELS) > _KEEP:
        _MODELS.popitem(last=False)


def load_registered(tracking_uri: str, version):
    """The scikit-learn model of `version` (a ModelVersion of the store at `tracking_uri`):
    the object this process registered or loaded before, else loaded from the registry."""
    key = _key(tracking_uri, version)
    if key in _MODELS:
        _MODELS.move_to_end(key)
        return _MODELS[key]
    import mlflow

    model = mlflow.sklearn.load_model(f"models:/{version.name}/{version.version}")
    remember_model(tracking_uri, version, model)
    return model
