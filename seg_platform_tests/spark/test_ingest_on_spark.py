"""Raw ingestion on Spark keeps DuckDB's contract (issue 22): a landing folder with corrupted
rows (bad dates, missing required fields, bad emails, duplicates, unreadable lines, values out
of range, numbers and timestamps DuckDB reads and refuses) read and checked on Spark local[2]
(`SparkReader`) gives the same raw tables, the same quarantine (rows, positions, reasons,
records, rules) and the same per-file counts as DuckDB's reader."""

import datetime as dt
import gzip
from pathlib import Path

import duckdb
import polars as pl
import pytest

from seg_platform.core.spark import SparkSettings, session
from seg_platform.sources.config import load_sources_config
from seg_platform.sources.contract import SOURCES
from seg_platform.sources.ingest import ingest_source
from seg_platform.sources.spark_ingest import SparkReader

pytestmark = pytest.mark.spark

NOW = dt.datetime(2025, 6, 30, 12, 0)

ORDERS_1 = """\
order_line_id,order_id,order_ts,customer_key,email,amount,status,quantity
L1,O1,2025-01-02 10:00:00,K1,a@x.com,10.5,completed,1
L2,O2,not-a-date,K2,,3,completed,1
L3,O3,2025-01-03 10:00:00,K3,not-an-email,-4,completed,2
L4,O4,2025-01-04 10:00:00,,,4,completed,1
L5,O5,2025-01-05 10:00:00,K5,,abc,Completed,1
L1,O1,2025-01-02 10:00:00,K1,a@x.com,10.5,completed,1
BROKEN,LINE

L6,O6,2025-01-06T10:00:00+02:00,K6, B@X.COM ,6, CANCELLED,1
L7,O7,2025-01-07 10:00:00,K7,@@,7,weird,1
L8,O8,2025-01-08 10:00:00,SKIP,,8,completed,1
L9,O9,1970-01-01 00:00:00,K9,,9,completed,1
L10,O10,2025/01/10,K10,c@x.com,1_000,refunded,2
L10b,O10,2025-01-10 10:00:00,K10,c@x.com,1,refunded,2.5
L11,O11,2025-01-11 10:00,K11,c@x.com,5d,completed,1
L12,O12,2025-01-12 10:00:00,K12,c@x.com,12000000,completed,1
L13,O13,2030-01-01 00:00:00,K13,c@x.com,1,completed,1
L14,O14,2025-01-14 10:00:00,K14,c@x.com,1,completed,1,extra,more
   
,O15,2025-01-15 10:00:00,K15,,15,completed,1
,O15,2025-01-15 10:00:00,K15,,15,completed,1
L16,O16,2025-01-16 10:00:00 UTC,K16,d@x.com,1e3,completed,3
L18,O18,2025-01-18 10:00:00.123456,K18,,0.001,completed,NaN
L17,O17,20250117,K17,d@x.com,0.25,completed,1e7
"""

# A later delivery: L1 again with other content, L2 fixed.
ORDERS_2 = """\
order_line_id,order_id,order_ts,customer_key,email,amount,status,quantity
L1,O1,2025-01-02 10:00:00,K1,a2@x.com,11,completed,1
L2,O2,2025-01-02 11:00:00,K2,,3,completed,1
TRUNCATED
"""

TICKETS = """\
ticket_id,opened_at,closed_at,email,phone,category,satisfaction
T1,2025-02-01 09:00:00,2025-02-01 10:00:00,a@x.com,,billing,5
T2,2025-02-02 09:00:00,2025-02-01 10:00:00,,,bug,9
T3,2025-02-03 09:00:00,,,+44 20 7946 0000,how_to,0
T1,2025-02-01 09:00:00,2025-02-01 11:00:00,a@x.com,,billing,4
T4,,,e@x.com,,other,3
"""

CRM = """\
crm_id,email,first_name,created_at,updated_at
C1,a@x.com,Ann,2025-01-01 00:00:00,2025-01-05 00:00:00
C1,a-new@x.com,Ann,2025-01-01 00:00:00,2025-02-05 00:00:00
C2,bad email,Bob,2025-01-02 00:00:00,2024-12-01 00:00:00
C3,c@x.com,"Smith, Jr",2025-01-03 00:00:00,
C4,d@x.com,Dee,not a date,
"""

SOURCES_YAML = """\
version: 1
sources:
  orders:
    path: orders/*.csv*
    where: "customer_key IS DISTINCT FROM 'SKIP'"
  support_tickets:
    path: tickets/*.csv
  crm_contacts:
    path: crm/*.csv
"""


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("landing")
    files = {
        "orders/orders_1.csv": ORDERS_1,
        "tickets/tickets.csv": TICKETS,
        "crm/contacts.csv": CRM,
        "sources.yaml": SOURCES_YAML,
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    with gzip.open(root / "orders" / "orders_2.csv.gz", "wt") as fh:
        fh.write(ORDERS_2)
    return root


@pytest.fixture(scope="module")
def local_session(spark_env, tmp_path_factory):
    spark = session(
        SparkSettings(
            master="local[2]",
            lake=tmp_path_factory.mktemp("ingest-lake"),
            shuffle_partitions=2,
            executor_memory="512m",
            # The first session sizes the driver JVM for the whole tier (pyspark keeps one per
            # process).
            driver_memory="2g",
        )
    )
    try:
        yield spark
    finally:
        spark.stop()


VOLATILE = ("loaded_at",)


def _tables(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, pl.DataFrame]:
    """The source's raw table, its quarantine rows and its per-file counts."""
    frames = {
        "table": con.sql(f"SELECT * FROM raw.{name}").pl(),
        "quarantine": con.sql(f"SELECT * FROM raw.quarantine WHERE source = '{name}'").pl(),
        "files": con.sql(f"SELECT * FROM raw.source_files WHERE source = '{name}'").pl(),
    }
    return {
        key: frame.drop([c for c in frame.columns if c in VOLATILE]).sort(
            frame.columns[:3], nulls_last=True
        )
        for key, frame in frames.items()
    }


def test_raw_tables_and_quarantine_equal_duckdb(landing, local_session, tmp_path):
    config = load_sources_config(landing / "sources.yaml")
    names = ["orders", "support_tickets", "crm_contacts"]
    reader = SparkReader(local_session, tmp_path / "lake")
    with (
        duckdb.connect(str(tmp_path / "duck.duckdb")) as duck,
        duckdb.connect(str(tmp_path / "spark.duckdb")) as spark,
    ):
        for name in names:
            want = ingest_source(duck, SOURCES[name], config, now=NOW)
            got = ingest_source(spark, SOURCES[name], config, now=NOW, reader=reader)
            assert (got.rows_read, got.rows_filtered, got.rows_quarantined, got.rows_kept) == (
                want.rows_read,
                want.rows_filtered,
                want.rows_quarantined,
                want.rows_kept,
            ), name
            expected, actual = _tables(duck, name), _tables(spark, name)
            for key in expected:
                assert actual[key].to_dicts() == expected[key].to_dicts(), f"{name}: {key}"
        (quarantined,) = duck.execute("SELECT count(*) FROM raw.quarantine").fetchone()
        (unreadable,) = duck.execute(
            "SELECT count(*) FROM raw.quarantine WHERE rule LIKE 'unreadable line%'"
        ).fetchone()
    # Every source was read on Spark, and the folder had something to compare.
    assert reader.on_spark == names and not reader.fallbacks
    assert quarantined >= 15 and unreadable >= 3
    # The hand-over files are gone.
    assert not any((tmp_path / "lake" / "_ingest").iterdir())


def test_what_spark_does_not_read_is_read_on_duckdb(local_session, tmp_path):
    root = tmp_path / "landing"
    (root / "orders").mkdir(parents=True)
    (root / "orders" / "o.csv").write_text(ORDERS_2)
    (root / "sources.yaml").write_text(
        "version: 1\nsources:\n  orders:\n    path: orders/*.csv\n"
        "    read_options: {escape: '\"'}\n"
    )
    config = load_sources_config(root / "sources.yaml")
    reader = SparkReader(local_session, tmp_path / "lake")
    with duckdb.connect() as duck, duckdb.connect() as spark:
        want = ingest_source(duck, SOURCES["orders"], config, now=NOW)
        got = ingest_source(spark, SOURCES["orders"], config, now=NOW, reader=reader)
        assert _tables(spark, "orders")["table"].equals(_tables(duck, "orders")["table"])
    assert reader.fallbacks == {"orders": "read_options escape"} and not reader.on_spark
    assert (got.rows_read, got.rows_kept) == (want.rows_read, want.rows_kept) == (3, 2)
