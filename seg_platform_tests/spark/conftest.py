"""Spark for the `spark` tier (make test-spark): a standalone cluster of pyspark's own master and
two workers on 127.0.0.1, started and stopped here, and sessions on it or on `local[2]`.

Everything binds the loopback interface; nothing is downloaded (the classes ship with pyspark).
"""

import json
import os
import signal
import socket
import sys
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from seg_platform.core import settings
from seg_platform.core.calendar import month_parameters
from seg_platform.core.paths import SQL_ROOT
from seg_platform.core.spark import SparkSettings, new_version, session, switch_to
from seg_platform.sql_models.project import load_project
from seg_platform.sql_models.run import compute_snapshot
from seg_platform_tests.conftest import free_port, running_server

WORKERS = 2
MONTH = "2025-12"
MODELS = load_project(SQL_ROOT)
# Not compared between two runs' warehouses: when the rows were loaded, and by which run.
VOLATILE = ("loaded_at", "run_id", "dagster_run_id", "created_at", "changed_at_run")


def _spark_env(root: Path) -> dict:
    try:
        import pyspark
    except ImportError:  # the default run deselects these tests; `make test-spark` installs it
        pytest.fail("the spark tier needs pyspark: run it with `make test-spark`")
    home = Path(pyspark.__file__).parent
    return {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(root / "logs"),
        "SPARK_WORKER_DIR": str(root / "work"),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }


def _alive_workers(ui_port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as response:
        return int(json.load(response).get("aliveworkers", 0))


@pytest.fixture(scope="session")
def standalone_cluster(tmp_path_factory):
    """`spark://127.0.0.1:<port>`: a master and two one-core workers, stopped after the tests."""
    root = tmp_path_factory.mktemp("spark-cluster")
    # No REST submission server (it would take the fixed port 6066): jobs come from sessions.
    env = {**_spark_env(root), "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false"}
    spark_class = str(Path(env["SPARK_HOME"]) / "bin" / "spark-class")
    port, ui_port = free_port(), free_port()
    url = f"spark://127.0.0.1:{port}"
    master = [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
    master += ["--port", str(port), "--webui-port", str(ui_port)]
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                running_server(master, env, lambda: _alive_workers(ui_port) >= 0, timeout=180)
            )
        ]
        for n in range(WORKERS):
            worker = [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1"]
            worker += ["--cores", "1", "--memory", "1g", "--webui-port", str(free_port())]
            worker += ["--work-dir", str(root / f"work{n}"), url]
            servers.append(
                stack.enter_context(
                    running_server(
                        worker, env, lambda n=n: _alive_workers(ui_port) >= n + 1, timeout=180
                    )
                )
            )
        yield url
        # A test cluster has nothing to save: killed at once (the JVMs take ~30 s each to
        # stop on SIGTERM); running_server then finds them stopped.
        for server in reversed(servers):
            try:
                os.killpg(server.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="session")
def spark_env(tmp_path_factory):
    """The environment variables a Spark driver in this process needs (set for the session)."""
    env = _spark_env(tmp_path_factory.mktemp("spark-driver"))
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: env[k] for k in env if k.startswith(("SPARK_", "PYSPARK_"))})
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def connect_server(tmp_path_factory):
    """`sc://127.0.0.1:<port>`: a Spark Connect server (pyspark's own jar) on `local[2]`."""
    root = tmp_path_factory.mktemp("spark-connect")
    env = _spark_env(root)
    port = free_port()
    command = [str(Path(env["SPARK_HOME"]) / "bin" / "spark-submit")]
    command += ["--class", "org.apache.spark.sql.connect.service.SparkConnectServer"]
    command += ["--master", "local[2]", "--conf", "spark.ui.enabled=false"]
    command += ["--conf", "spark.connect.grpc.binding.address=127.0.0.1"]
    command += ["--conf", f"spark.connect.grpc.binding.port={port}", "spark-internal"]

    def listening() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True

    with running_server(command, env, listening, timeout=180) as server:
        yield f"sc://127.0.0.1:{port}"
        os.killpg(server.pid, signal.SIGKILL)  # nothing to save; SIGTERM takes ~30 s


@pytest.fixture(scope="module", params=["local", "cluster", "connect"])
def engine_session(request, spark_env, tmp_path_factory):
    """A Spark session on `local[2]`, then (the module's tests again) one on the standalone
    cluster, then one through a Spark Connect server; stopped after the module."""
    if request.param == "local":
        master = "local[2]"
    elif request.param == "cluster":
        master = request.getfixturevalue("standalone_cluster")
    else:
        master = request.getfixturevalue("connect_server")
    settings = SparkSettings(
        master=master,
        lake=tmp_path_factory.mktemp(f"lake-{request.param}"),
        shuffle_partitions=2,
        executor_memory="512m",
        # The first session sizes the driver JVM for the whole tier (pyspark keeps one per
        # process); local[N] keeps its cached blocks and broadcasts in that heap too.
        driver_memory="2g",
    )
    spark = session(settings)
    if request.param != "connect":  # a Connect client has no SparkContext
        assert spark.sparkContext.master == master
    yield spark
    spark.stop()


@contextmanager
def demo_warehouse(demo_december):
    """The demo's warehouse, read-only, with MLflow pointed at the demo's tracking store."""
    import mlflow

    home, _ = demo_december
    mlflow.set_tracking_uri(home.mlflow_tracking_uri)
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        yield con, home.mlflow_tracking_uri
    finally:
        con.close()


@pytest.fixture(scope="session")
def demo_lake(demo_december, tmp_path_factory):
    """The tables the models read, as Parquet; the DuckDB types of every table; and each
    model's rows as DuckDB computes them."""
    home, _ = demo_december
    root = tmp_path_factory.mktemp("lake")
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        schemas: dict = {}
        for schema, table, column, type_ in con.sql(
            "SELECT table_schema, table_name, column_name, data_type "
            "FROM information_schema.columns ORDER BY table_schema, table_name, ordinal_position"
        ).fetchall():
            schemas.setdefault(schema, {}).setdefault(table, {})[column] = type_
        for table in sorted({t for m in MODELS for t in m.reads}):
            version = new_version(root, table)
            version.mkdir()
            con.execute(f"COPY (FROM {table}) TO '{version}/part-0.parquet' (FORMAT parquet)")
            switch_to(root, table, version)
        expected = {}
        for model in MODELS:
            if model.partitioned:
                compute_snapshot(con, model, model_params(model), "_expected")
                expected[model.table] = con.sql("SELECT * FROM _expected").pl()
            else:
                expected[model.table] = con.sql(model.sql).pl()
    finally:
        con.close()
    return root, schemas, expected


def model_params(model) -> dict:
    return {k: v for k, v in month_parameters(MONTH).items() if k in model.parameters}


def assert_same_rows(
    expected: pl.DataFrame, got: pl.DataFrame, grain: tuple[str, ...], what: str = ""
) -> None:
    """Same columns, same rows (ordered by the grain), floats to 1e-9 relative."""
    assert got.columns == expected.columns, what
    assert got.height == expected.height, f"{what}: {expected.height} rows, {got.height} on Spark"
    key = list(grain)
    expected, got = expected.sort(key), got.sort(key)
    differing = []
    for name in expected.columns:
        a, b = expected[name], got[name]
        if a.dtype.is_float() or b.dtype.is_float():
            pair = pl.DataFrame({"a": a.cast(pl.Float64), "b": b.cast(pl.Float64)})
            a_, b_ = pl.col("a"), pl.col("b")
            tolerance = 1e-9 * pl.max_horizontal(pl.lit(1.0), a_.abs())
            close = ((a_ - b_).abs() <= tolerance).fill_null(False)
            same = pair.select(close | (a_.is_null() & b_.is_null())).to_series()
        elif a.dtype != b.dtype and not (a.dtype.is_integer() and b.dtype.is_integer()):
            differing.append(f"{name} ({a.dtype} on DuckDB, {b.dtype} on Spark)")
            continue
        else:
            same = a.eq_missing(b.cast(a.dtype))
        if not same.all():
            differing.append(f"{name} ({(~same).sum()} rows)")
    assert not differing, f"{what} columns differing between DuckDB and Spark: {differing}"


def stop_active_session() -> str | None:
    """Stop the driver's active Spark session (a run on the Spark engine leaves it running,
    and the next module's sessions start their own); its master, or None without one."""
    from seg_platform.core.spark import _pyspark

    active = _pyspark().SparkSession.getActiveSession()
    if active is None:
        return None
    master = active.sparkContext.master
    active.stop()
    return master


def read(home: settings.PlatformHome, sql: str) -> pl.DataFrame:
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        return con.sql(sql).pl()
    finally:
        con.close()


def same_table(
    both_engines, table: str, where: str = "", allow_empty: bool = False
) -> pl.DataFrame:
    """The table's rows in both warehouses (`both_engines`: DuckDB's home, Spark's home, ...)
    are the same, volatile columns aside: the same schema, the same values, floats to 1e-9
    relative. Returns DuckDB's."""
    frames = []
    for home in both_engines[:2]:
        frame = read(home, f"SELECT * FROM {table} {where}")
        frames.append(frame.drop([c for c in frame.columns if c in VOLATILE]))
    assert allow_empty or frames[0].height > 0, f"{table} is empty: nothing compared"
    assert frames[0].schema == frames[1].schema, f"{table}: the engines' columns differ"
    floats = [c for c, t in frames[0].schema.items() if t.is_float()]
    # Ordered by the exact columns first: a float's last bits never reorder the rows.
    order = tuple(c for c in frames[0].columns if c not in floats) + tuple(floats)
    assert_same_rows(frames[0], frames[1], order, what=table)
    return frames[0].sort(order, nulls_last=True)


def metadata_of(home: settings.PlatformHome, key: list[str], entry: str) -> str:
    """One metadata entry of an asset's latest materialization in the home's instance."""
    with dg.DagsterInstance.from_config(str(home.dagster_home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(key))
    assert event is not None and event.asset_materialization is not None, key
    return str(event.asset_materialization.metadata[entry].value)
