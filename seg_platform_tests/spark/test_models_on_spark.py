"""The SQL models built on Spark into the lake (issue 22): from the identity tables alone, the
staging tables and December's (then November's) features come out as DuckDB builds them; and a
run killed while writing leaves the previous table current and readable."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap

import polars as pl
import pytest

from seg_platform.core.spark import (
    SparkSettings,
    current_location,
    register,
    session,
    table_path,
    tables,
)
from seg_platform.core.warehouse import KILL_BEFORE_COMMIT_ENV
from seg_platform.privacy.spark_erasure import erase_in_lake
from seg_platform.sql_models.run_spark import build_model_on_spark
from seg_platform_tests.spark.conftest import MODELS, MONTH, assert_same_rows

pytestmark = pytest.mark.spark

BUILT = {m.table for m in MODELS}
INPUTS = sorted({t for m in MODELS for t in m.reads} - BUILT)
FEATURES = next(m for m in MODELS if m.table == "features.customer_features")


@pytest.fixture(scope="module")
def built(demo_lake, spark_env, tmp_path_factory):
    """A lake holding only the identity tables; every model built on `local[2]` into it."""
    lake = tmp_path_factory.mktemp("built-lake")
    for table in INPUTS:
        shutil.copytree(table_path(demo_lake[0], table), table_path(lake, table))
    spark = session(SparkSettings(master="local[2]", lake=lake, shuffle_partitions=2))
    for table in INPUTS:
        register(spark, lake, table)
    results = {
        m.table: build_model_on_spark(spark, m, lake, MONTH if m.partitioned else None)
        for m in MODELS
    }
    yield spark, lake, results
    spark.stop()


def _rows(spark, table: str) -> pl.DataFrame:
    return pl.from_arrow(spark.table(table).toArrow())


def test_models_built_on_spark_are_the_tables_duckdb_builds(built, demo_lake):
    spark, lake, results = built
    assert INPUTS and all(t.startswith("identity.") for t in INPUTS)
    for model in MODELS:
        got = _rows(spark, model.table)
        assert results[model.table].total_rows == got.height > 0
        assert_same_rows(demo_lake[2][model.table], got, model.grain)
        assert (table_path(lake, model.table) / "_CURRENT").is_file()


def test_a_second_month_keeps_the_first(built, demo_lake):
    spark, lake, results = built
    december = results[FEATURES.table].rows
    november = build_model_on_spark(spark, FEATURES, lake, "2025-11")
    assert 0 < november.rows and november.total_rows == december + november.rows
    stored = _rows(spark, FEATURES.table)
    assert_same_rows(
        demo_lake[2][FEATURES.table],
        stored.filter(pl.col("as_of_date") == pl.date(2025, 12, 31)),
        FEATURES.grain,
    )


KILLED_BUILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from seg_platform.core.spark import SparkSettings, register, session
    from seg_platform.core.paths import SQL_ROOT
    from seg_platform.sql_models.project import load_project
    from seg_platform.sql_models.run_spark import build_model_on_spark

    lake = Path(sys.argv[1])
    model = next(m for m in load_project(SQL_ROOT) if m.table == "features.customer_features")
    spark = session(SparkSettings(master="local[1]", lake=lake, shuffle_partitions=2))
    for table in model.reads:
        register(spark, lake, table)
    build_model_on_spark(spark, model, lake, "2025-12")
    print("not killed")
""")


def test_a_run_killed_while_writing_leaves_the_previous_table(built, tmp_path):
    spark, lake, _ = built
    folder = table_path(lake, FEATURES.table)
    before_location = current_location(lake, FEATURES.table)
    before = pl.read_parquet(before_location / "*.parquet")
    versions_before = {p.name for p in folder.glob("v*")}

    env = {**os.environ, KILL_BEFORE_COMMIT_ENV: FEATURES.table}
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_BUILD, str(lake)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        start_new_session=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert "not killed" not in killed.stdout

    # The killed run had written its version; the pointer still names the previous one.
    assert {p.name for p in folder.glob("v*")} - versions_before
    assert current_location(lake, FEATURES.table) == before_location
    register(spark, lake, FEATURES.table)
    after = _rows(spark, FEATURES.table)
    assert_same_rows(before, after, (*FEATURES.grain,))

    # The next run succeeds and removes the killed run's leftover version.
    build_model_on_spark(spark, FEATURES, lake, MONTH)
    assert len(list(folder.glob("v*"))) == 2  # the new version and the one before it


def test_erasure_removes_the_people_from_every_version_of_every_table(built):
    """Runs last in this module: it changes the lake."""
    spark, lake, _ = built
    features = _rows(spark, FEATURES.table)
    erased = features["profile_id"].unique().sort().head(3).to_list()
    assert len(erased) == 3
    before = {}
    for table in tables(lake):
        register(spark, lake, table)
        if "profile_id" in spark.table(table).columns:
            before[table] = _rows(spark, table)
    assert FEATURES.table in before and "staging.stg_events" in before
    assert len(list(table_path(lake, FEATURES.table).glob("v*"))) == 2  # a previous version

    deleted = erase_in_lake(spark, lake, erased)

    assert set(deleted) == set(before)
    assert deleted[FEATURES.table] >= 3
    for table, rows in before.items():
        folder = table_path(lake, table)
        versions = [p for p in folder.glob("v*") if p.is_dir()]
        assert versions == [current_location(lake, table)], table  # no older version is left
        on_disk = pl.read_parquet(f"{folder}/**/*.parquet")
        assert on_disk.filter(pl.col("profile_id").is_in(erased)).height == 0, table
        kept = rows.filter(~pl.col("profile_id").is_in(erased))
        assert rows.height - kept.height == deleted[table], table
        assert_same_rows(kept, _rows(spark, table), tuple(rows.columns))


def test_the_spark_extra_leaves_great_expectations_importable_everywhere():
    """pyspark alone makes GX's import exit the process silently (status 0) wherever the main
    module has no file, as in `python -c` and pytest-xdist workers: GX imports pyspark's Spark
    Connect client, which exits when its own dependencies are missing. The extra installs them
    (`pyspark[connect]`)."""
    done = subprocess.run(
        [sys.executable, "-c", "import great_expectations; print('imported')"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "imported" in done.stdout, done.stderr[-1000:]
