"""A new home's MLflow store is a copy of one migrated empty store (`core.tracking.home_store`),
never a replacement of a store that holds runs."""

import sqlite3

import mlflow

from seg_platform.core import settings
from seg_platform.core.tracking import CACHE_ENV, home_store


def _schema(db) -> tuple[dict, list, str]:
    """Tables with their columns, indexes, and the migration version: MLflow's own migrations
    write a table's constraints in varying order, so its SQL text is not compared."""
    with sqlite3.connect(db) as con:
        names = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        tables = {n: con.execute(f"PRAGMA table_info('{n}')").fetchall() for (n,) in sorted(names)}
        indexes = con.execute(
            "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' ORDER BY name"
        ).fetchall()
        version = con.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    return tables, indexes, version


def test_a_seeded_store_has_the_schema_mlflow_migrates_and_takes_runs(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    migrated = tmp_path / "migrated.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{migrated}").search_experiments()

    first = settings.platform_home(tmp_path / "a").ensure()
    second = settings.platform_home(tmp_path / "b").ensure()
    uris = [home_store(first), home_store(second)]

    assert len(list((tmp_path / "cache").glob("mlflow-*.db"))) == 1
    for home in (first, second):
        assert _schema(home.mlflow_dir / "mlflow.db") == _schema(migrated)
    client = mlflow.MlflowClient(tracking_uri=uris[1])
    run = client.create_run(client.create_experiment("seeded"))
    client.log_metric(run.info.run_id, "silhouette", 0.5)
    assert client.get_run(run.info.run_id).data.metrics == {"silhouette": 0.5}
    # The other home's store is its own copy.
    other = mlflow.MlflowClient(tracking_uri=uris[0])
    assert [e.name for e in other.search_experiments()] == ["Default"]


def test_a_store_with_runs_is_never_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    home = settings.platform_home(tmp_path / "home").ensure()
    client = mlflow.MlflowClient(tracking_uri=home_store(home))
    run = client.create_run(client.create_experiment("kept"))

    for _ in range(2):
        client = mlflow.MlflowClient(tracking_uri=home_store(home))
    assert client.get_run(run.info.run_id).info.run_id == run.info.run_id


def test_without_a_writable_cache_mlflow_creates_the_store(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv(CACHE_ENV, str(blocked / "cache"))  # a folder under a file: no cache
    home = settings.platform_home(tmp_path / "home").ensure()
    client = mlflow.MlflowClient(tracking_uri=home_store(home))
    assert [e.name for e in client.search_experiments()] == ["Default"]
    assert (home.mlflow_dir / "mlflow.db").exists()


def test_a_failing_seed_leaves_the_store_to_mlflow(tmp_path, monkeypatch):
    from seg_platform.core import tracking

    def broken(db):
        raise RuntimeError("sqlite cannot lock the cache here")

    monkeypatch.setattr(tracking, "_seed", broken)
    home = settings.platform_home(tmp_path / "home").ensure()
    client = mlflow.MlflowClient(tracking_uri=home_store(home))
    assert [e.name for e in client.search_experiments()] == ["Default"]
