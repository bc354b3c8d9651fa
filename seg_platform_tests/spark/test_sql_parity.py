"""Every SQL model gives the same rows on Spark as on DuckDB (issue 22), on the demo company:
the staging models and December's customer features, compiled from the DuckDB dialect by
sqlglot and the portability pass, run on `local[2]` and on a standalone cluster of two workers.

The inputs are the demo warehouse's tables, copied into a Parquet lake; floats must agree to
1e-9 (relative), everything else exactly.
"""

import duckdb
import polars as pl
import pytest
import sqlglot

from seg_platform.core.calendar import month_parameters
from seg_platform.core.paths import SQL_ROOT
from seg_platform.core.spark import SparkSettings, register, session, table_path
from seg_platform.sql_models.portability import to_spark
from seg_platform.sql_models.project import load_project
from seg_platform.sql_models.run import compute_snapshot

pytestmark = pytest.mark.spark

MONTH = "2025-12"
MODELS = load_project(SQL_ROOT)


@pytest.fixture(scope="module")
def lake(demo_december, tmp_path_factory):
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
            folder = table_path(root, table)
            folder.mkdir(parents=True)
            con.execute(
                f"COPY (SELECT * FROM {table}) TO '{folder}/part-0.parquet' (FORMAT parquet)"
            )
        expected = {}
        for model in MODELS:
            if model.partitioned:
                compute_snapshot(con, model, _params(model), "_expected")
                expected[model.table] = con.sql("SELECT * FROM _expected").pl()
            else:
                expected[model.table] = con.sql(model.sql).pl()
    finally:
        con.close()
    return root, schemas, expected


def _params(model) -> dict:
    return {k: v for k, v in month_parameters(MONTH).items() if k in model.parameters}


@pytest.fixture(scope="module", params=["local", "cluster"])
def spark(request, lake, spark_env):
    """A session on `local[2]`, then one on the standalone cluster, with the lake registered."""
    master = (
        "local[2]" if request.param == "local" else request.getfixturevalue("standalone_cluster")
    )
    root = lake[0]
    settings = SparkSettings(
        master=master, lake=root, shuffle_partitions=2, driver_memory="1g", executor_memory="512m"
    )
    spark = session(settings)
    assert spark.sparkContext.master == master
    for table in sorted({t for m in MODELS for t in m.reads}):
        register(spark, root, table)
    yield spark
    spark.stop()


def assert_same_rows(expected: pl.DataFrame, got: pl.DataFrame, grain: tuple[str, ...]) -> None:
    """Same columns, same rows (ordered by the grain), floats to 1e-9 relative."""
    assert got.columns == expected.columns
    assert got.height == expected.height
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
    assert not differing, f"columns differing between DuckDB and Spark: {differing}"


@pytest.mark.parametrize("model", MODELS, ids=[m.table for m in MODELS])
def test_model_gives_the_same_rows_on_spark(spark, lake, model):
    _, schemas, expected = lake
    got = pl.from_arrow(spark.sql(to_spark(model.sql, _params(model), schemas)).toArrow())
    assert got.height > 0
    assert_same_rows(expected[model.table], got, model.grain)


def test_plain_transpiling_is_not_enough(spark, lake):
    """Without the portability pass the features differ silently on Spark (sqlglot alone never
    raises): the parity test above is what catches it."""
    _, schemas, expected = lake
    model = next(m for m in MODELS if m.table == "features.customer_features")
    plain = sqlglot.transpile(model.sql, read="duckdb", write="spark")[0]
    args = {k: v for k, v in _params(model).items()}
    try:
        got = pl.from_arrow(spark.sql(plain, args=args).toArrow())
    except Exception as exc:  # noqa: BLE001 - a failure is also "not enough"
        assert "DATATYPE_MISMATCH" in str(exc) or "INTERVAL" in str(exc).upper(), str(exc)[:500]
        return
    with pytest.raises(AssertionError, match="columns differing"):
        assert_same_rows(expected[model.table], got, model.grain)
