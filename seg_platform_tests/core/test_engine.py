"""The engine switch (issue 22): `SEG_PLATFORM_ENGINE` chooses DuckDB (the default) or Spark,
an unknown engine is refused with a clear message, Spark runs steps side by side; and tables
cross between the warehouse and the lake whole, with DuckDB's types. No Spark needed here."""

import datetime as dt
import multiprocessing
import time

import dagster as dg
import duckdb
import pytest

from seg_platform.core.engine import ENGINE_ENV, EngineError, engine_name, from_lake, to_lake
from seg_platform.core.resources import EngineResource, WarehouseResource, engine_executor
from seg_platform.core.spark import current_location, table_path
from seg_platform.core.warehouse import WarehouseLockedError, connect


@pytest.mark.parametrize(
    ("value", "engine"),
    [(None, "duckdb"), ("", "duckdb"), ("spark", "spark"), (" Spark ", "spark")],
)
def test_the_engine_comes_from_the_environment(monkeypatch, value, engine):
    if value is None:
        monkeypatch.delenv(ENGINE_ENV, raising=False)
    else:
        monkeypatch.setenv(ENGINE_ENV, value)
    assert engine_name() == engine
    assert EngineResource().name == engine
    assert EngineResource().is_spark == (engine == "spark")


def test_an_unknown_engine_is_refused_by_name(monkeypatch):
    monkeypatch.setenv(ENGINE_ENV, "flink")
    with pytest.raises(
        EngineError, match=r"SEG_PLATFORM_ENGINE='flink' is not an engine: use duckdb"
    ):
        engine_name()
    with pytest.raises(EngineError, match="not an engine"):
        EngineResource(engine="polars").name  # noqa: B018


def test_spark_runs_steps_side_by_side_and_duckdb_one_after_another():
    assert engine_executor("duckdb") is dg.in_process_executor
    assert engine_executor("spark") is dg.multiprocess_executor


def test_the_resource_builds_spark_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("SEG_PLATFORM_SPARK_MASTER", "spark://127.0.0.1:7077")
    monkeypatch.setenv("SEG_PLATFORM_LAKE", str(tmp_path / "lake"))
    got = EngineResource(engine="spark").settings()
    assert got.master == "spark://127.0.0.1:7077" and got.lake == tmp_path / "lake"
    assert EngineResource(engine="spark", master="sc://127.0.0.1:15002").settings().master == (
        "sc://127.0.0.1:15002"
    )
    with pytest.raises(ValueError, match="is not one of local"):
        EngineResource(engine="spark", master="http://example").settings()


def test_a_table_crosses_to_the_lake_and_back_with_duckdbs_types(tmp_path):
    lake = tmp_path / "lake"
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging")
    con.execute(
        "CREATE TABLE staging.t AS SELECT i::INTEGER AS i, i * 1.5 AS x, "
        "DATE '2025-12-31' - i::INTEGER AS d, 'n' || i AS s FROM range(5) r(i)"
    )
    first = to_lake(con, lake, "staging.t")
    assert current_location(lake, "staging.t") == first
    con.execute("UPDATE staging.t SET s = 'changed'")
    second = to_lake(con, lake, "staging.t")
    assert current_location(lake, "staging.t") == second and first.is_dir()  # kept for readers
    types = con.execute("DESCRIBE staging.t").fetchall()
    from_lake(con, lake, "staging.t", [(r[0], r[1]) for r in types], into="staging.back")
    assert con.execute("DESCRIBE staging.back").fetchall() == types
    assert con.execute("FROM staging.back EXCEPT FROM staging.t").fetchall() == []
    from_lake(con, lake, "staging.t", into="_month", where="d = DATE '2025-12-29'")
    assert con.execute("SELECT i, s, d FROM _month").fetchall() == [
        (2, "changed", dt.date(2025, 12, 29))
    ]
    assert sorted(p.name for p in table_path(lake, "staging.t").glob("v*")) == sorted(
        [first.name, second.name]
    )


def _hold(path, seconds: float, ready) -> None:
    with connect(path):
        ready.set()
        time.sleep(seconds)


def test_parallel_steps_take_turns_at_the_warehouse(tmp_path, monkeypatch):
    path = tmp_path / "warehouse.duckdb"
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    holder = context.Process(target=_hold, args=(path, 3.0, ready))
    holder.start()
    try:
        assert ready.wait(60)
        monkeypatch.delenv(ENGINE_ENV, raising=False)
        with pytest.raises(WarehouseLockedError, match="in use by another process"):
            with WarehouseResource(database=str(path)).get_connection():
                pass
        monkeypatch.setenv(ENGINE_ENV, "spark")
        with WarehouseResource(database=str(path)).get_connection() as con:
            assert con.execute("SELECT 1").fetchall() == [(1,)]
    finally:
        holder.join(30)


def test_the_pipeline_refuses_an_unknown_engine_before_it_starts(home, monkeypatch, capsys):
    from seg_platform.runner import run_pipeline

    monkeypatch.setenv(ENGINE_ENV, "flink")
    assert run_pipeline(quiet=True) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: SEG_PLATFORM_ENGINE='flink' is not an engine")
    assert "Traceback" not in err


def test_the_definitions_follow_the_engine(home, monkeypatch):
    from seg_platform.definitions import MAIN_JOB, MONTHLY_JOB, make_definitions

    monkeypatch.setenv(ENGINE_ENV, "spark")
    on_spark = make_definitions()
    for job in (MAIN_JOB, MONTHLY_JOB):
        assert on_spark.resolve_job_def(job).executor_def is dg.multiprocess_executor
    assert isinstance(on_spark.resources["engine"], EngineResource)
    monkeypatch.delenv(ENGINE_ENV)
    assert make_definitions().resolve_job_def(MAIN_JOB).executor_def is dg.in_process_executor
    monkeypatch.setenv(ENGINE_ENV, "flink")
    with pytest.raises(EngineError, match="not an engine"):
        make_definitions()


def _without_pyspark(monkeypatch):
    """pyspark cannot be imported, whether or not the spark extra is installed here."""
    import sys

    for name in ("pyspark", "pyspark.sql"):
        monkeypatch.setitem(sys.modules, name, None)


def test_the_pipeline_refuses_spark_without_pyspark_before_it_starts(home, monkeypatch, capsys):
    from seg_platform.runner import run_pipeline

    _without_pyspark(monkeypatch)
    monkeypatch.setenv(ENGINE_ENV, "spark")
    assert run_pipeline(quiet=True) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Spark was asked for but pyspark is not installed")
    assert "pip install 'seg-platform[spark]'" in err
    assert "Traceback" not in err
    assert not home.warehouse.exists()


def test_the_raw_and_identity_steps_follow_the_engine_resource(home, monkeypatch, tmp_path):
    """Spark chosen in the `engine` resource (the environment says nothing) is what the raw
    and identity steps run on: here, where pyspark cannot be imported, each fails with what
    to install instead of quietly running on DuckDB."""
    from seg_platform.core.tracking import MlflowResource
    from seg_platform.identity.assets import IDENTITY_ASSETS
    from seg_platform.sources.assets import RAW_ASSETS
    from seg_platform.sources.resources import IdentityConfig, SourcesResource
    from seg_platform.synthetic.company import generate

    monkeypatch.delenv(ENGINE_ENV, raising=False)
    _without_pyspark(monkeypatch)
    generate(40, 1, 7, tmp_path / "company")
    crm = [a for a in RAW_ASSETS if a.key.path[-1] == "crm_contacts"]

    def materialize(assets, engine):
        return dg.materialize(
            assets,
            resources={
                "warehouse": WarehouseResource(database=str(home.warehouse)),
                "sources": SourcesResource(
                    config_path=str(tmp_path / "company" / "landing" / "sources.yaml")
                ),
                "identity": IdentityConfig(),
                "mlflow_tracking": MlflowResource(),
                "engine": EngineResource(engine=engine),
            },
            raise_on_error=False,
        )

    def failure(result) -> str:
        assert not result.success
        (event,) = result.get_step_failure_events()
        return event.step_failure_data.user_failure_data.description

    message = failure(materialize(crm, "spark"))
    assert message.startswith("Spark was asked for but pyspark is not installed")
    assert not home.warehouse.exists()  # the step stopped before the warehouse was opened
    # On DuckDB (the resource's default) the same step loads the contacts; identity on Spark
    # then fails the same way, leaving no identity table behind.
    assert materialize(crm, None).success
    message = failure(materialize(IDENTITY_ASSETS, "spark"))
    assert message.startswith("Spark was asked for but pyspark is not installed")
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.crm_contacts").fetchone()[0] > 0
        assert not con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'identity'"
        ).fetchone()[0]
