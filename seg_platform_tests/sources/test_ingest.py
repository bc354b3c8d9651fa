"""Loading landing files into raw tables: parsing, quarantine, positions, dedup, atomicity."""

import gzip
import textwrap
from pathlib import Path

import duckdb
import polars as pl
import pytest

from seg_platform.core.warehouse import connect
from seg_platform.sources.config import SourceConfigError, load_sources_config
from seg_platform.sources.contract import SOURCES
from seg_platform.sources.ingest import ingest_source

pytestmark = pytest.mark.unit

ORDERS_CSV = """\
order_line_id,order_id,order_ts,customer_key,email,amount,status
L1,O1,2025-01-02 10:00:00,K1,a@x.com,10.5,completed
L2,O2,not-a-date,K2,,3,completed
L3,O3,2025-01-03 10:00:00,K3,,-4,completed
L4,O4,2025-01-04 10:00:00,,,4,completed
L5,O5,2025-01-05 10:00:00,K5,,abc,Completed
L1,O1,2025-01-02 10:00:00,K1,a@x.com,10.5,completed
BROKEN,LINE
L6,O6,2025-01-06T10:00:00+02:00,K6,,6, CANCELLED
L7,O7,2025-01-07 10:00:00,K7,,7,weird
L8,O8,2025-01-08 10:00:00,SKIP,,8,completed
L9,O9,1970-01-01 00:00:00,K9,,9,completed
"""


ORDERS_YAML = "version: 1\nsources:\n  orders:\n    path: orders/*.csv\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def landing(tmp_path) -> Path:
    root = tmp_path / "landing"
    write(root / "orders" / "orders_1.csv", ORDERS_CSV)
    write(
        root / "sources.yaml",
        """\
        version: 1
        sources:
          orders:
            path: orders/*.csv
            where: "customer_key IS DISTINCT FROM 'SKIP'"
        """,
    )
    return root


@pytest.fixture
def con(tmp_path):
    with connect(tmp_path / "w.duckdb") as c:
        yield c


def load(con, landing: Path, source: str = "orders"):
    return ingest_source(con, SOURCES[source], load_sources_config(landing / "sources.yaml"))


def test_quarantine_holds_every_bad_row_with_position_and_reason(con, landing):
    result = load(con, landing)
    quarantine = con.execute(
        "SELECT source_row, reason FROM raw.quarantine WHERE source = 'orders' ORDER BY 1"
    ).fetchall()
    assert quarantine == [
        (3, "order_ts 'not-a-date' is not a timestamp"),
        (4, "amount -4.0 is below 0"),
        (5, "customer_key is missing"),
        (6, "amount 'abc' is not a number"),
        (8, "unreadable line (missing columns): Expected Number of Columns: 7 Found: 2"),
        (10, "status 'weird' is not one of completed, cancelled, refunded"),
        (12, "order_ts 1970-01-01 00:00:00 is before timestamp_min 2000-01-01"),
    ]
    assert (result.rows_read, result.rows_filtered, result.rows_quarantined) == (11, 1, 7)
    assert (result.duplicates_removed, result.rows_kept) == (1, 2)
    record = con.execute("SELECT record FROM raw.quarantine WHERE source_row = 6").fetchone()[0]
    assert '"amount":"abc"' in record


def test_valid_rows_are_typed_normalised_and_deduplicated(con, landing):
    load(con, landing)
    rows = con.execute(
        "SELECT order_line_id, order_ts::VARCHAR, amount, status, source_file, source_row "
        "FROM raw.orders ORDER BY order_line_id"
    ).fetchall()
    # L1 appears twice: the later delivery (line 7) is kept. L6's +02:00 offset becomes UTC.
    assert rows == [
        ("L1", "2025-01-02 10:00:00", 10.5, "completed", "orders/orders_1.csv", 7),
        ("L6", "2025-01-06 08:00:00", 6.0, "cancelled", "orders/orders_1.csv", 9),
    ]
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'orders'"
        ).fetchall()
    )
    assert types["order_ts"] == "TIMESTAMP" and types["amount"] == "DOUBLE"


def test_positions_survive_broken_lines_in_a_large_file(con, tmp_path):
    lines = ["event_id,event_ts,email,event_type"]
    for i in range(1, 200_001):
        lines.append(f"e{i},2025-03-01 00:00:00,p{i}@x.com,sent")
    for broken in (50_000, 120_000, 120_001):
        lines[broken] = "TRUNCATED"
    path = tmp_path / "landing" / "email" / "big.csv.gz"
    path.parent.mkdir(parents=True)
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    write(
        tmp_path / "landing" / "sources.yaml",
        "version: 1\nsources:\n  email_events:\n    path: email/*.csv.gz\n",
    )
    load(con, tmp_path / "landing", "email_events")
    rejected = con.execute("SELECT source_row FROM raw.quarantine ORDER BY 1").fetchall()
    assert rejected == [(50_001,), (120_001,), (120_002,)]
    # Every kept row's position is its line number: e<i> sits on line i + 1.
    wrong = con.execute(
        "SELECT count(*) FROM raw.email_events WHERE source_row <> substr(event_id, 2)::INT + 1"
    ).fetchone()[0]
    assert wrong == 0
    assert con.execute("SELECT count(*) FROM raw.email_events").fetchone()[0] == 200_000 - 3


def test_parquet_with_mapping_expressions(con, tmp_path):
    frame = pl.DataFrame(
        {
            "Invoice": ["1", "2", "C3"],
            "Qty": [2, 1, -1],
            "Price": [1.5, 2.0, 3.0],
            "When": ["2025-01-01 10:00:00", "2025-01-02 10:00:00", "2025-01-03 10:00:00"],
            "Cust": [7, None, 9],
        }
    ).with_columns(pl.col("When").str.to_datetime())
    (tmp_path / "l").mkdir()
    frame.write_parquet(tmp_path / "l" / "orders.parquet")
    write(
        tmp_path / "l" / "sources.yaml",
        """\
        version: 1
        sources:
          orders:
            path: orders.parquet
            columns:
              order_id: Invoice
              order_ts: '"When"'
              customer_key: Cust
              amount: abs(Qty * Price)
              status: "CASE WHEN Invoice LIKE 'C%' THEN 'cancelled' ELSE 'completed' END"
        """,
    )
    result = load(con, tmp_path / "l")
    assert con.execute(
        "SELECT order_id, customer_key, amount, status, source_row FROM raw.orders "
        "ORDER BY order_id"
    ).fetchall() == [
        ("1", "7", 3.0, "completed", 1),
        ("C3", "9", 3.0, "cancelled", 3),
    ]
    assert con.execute("SELECT source_row, reason FROM raw.quarantine").fetchall() == [
        (2, "customer_key is missing")
    ]
    assert result.rows_read == 3


def test_crm_keeps_latest_update_and_checks_order_of_dates(con, tmp_path):
    write(
        tmp_path / "l" / "crm" / "a.csv",
        """\
        crm_id,email,created_at,updated_at
        C1,  Ann@X.com ,2025-01-01 00:00:00,2025-01-02 00:00:00
        C2,b@x.com,2025-01-05 00:00:00,2025-01-01 00:00:00
        """,
    )
    write(
        tmp_path / "l" / "crm" / "b.csv",
        """\
        crm_id,email,created_at,updated_at
        C1,ann@x.com,2025-01-01 00:00:00,2025-03-01 00:00:00
        """,
    )
    write(
        tmp_path / "l" / "sources.yaml",
        "version: 1\nsources:\n  crm_contacts:\n    path: crm/*.csv\n",
    )
    load(con, tmp_path / "l", "crm_contacts")
    assert con.execute("SELECT crm_id, email, source_file FROM raw.crm_contacts").fetchall() == [
        ("C1", "ann@x.com", "crm/b.csv")
    ]
    assert con.execute("SELECT reason FROM raw.quarantine").fetchall() == [
        ("updated_at is before created_at",)
    ]


def test_unconfigured_source_is_an_empty_typed_table(con, landing):
    result = load(con, landing, "web_events")
    assert not result.configured
    assert con.execute("SELECT count(*) FROM raw.web_events").fetchone()[0] == 0
    columns = [r[0] for r in con.execute("DESCRIBE raw.web_events").fetchall()]
    assert columns == [*SOURCES["web_events"].column_names, "source_file", "source_row"]


def test_reloading_the_same_files_gives_identical_tables(con, landing):
    load(con, landing)
    first = (
        con.execute("SELECT * FROM raw.orders").fetchall(),
        con.execute("SELECT * FROM raw.quarantine").fetchall(),
    )
    load(con, landing)
    second = (
        con.execute("SELECT * FROM raw.orders").fetchall(),
        con.execute("SELECT * FROM raw.quarantine").fetchall(),
    )
    assert first == second


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("version: 1\nsources:\n  order: {path: x.csv}\n", "unknown source 'order'"),
        (
            "version: 1\nsources:\n  orders: {path: nope/*.csv}\n",
            "Source 'orders': no file matches",
        ),
        (
            ORDERS_YAML + "    columns: {amount: 'Amt'}\n",
            "sources.orders.columns.amount = 'Amt' does not work on orders_1.csv",
        ),
        (
            ORDERS_YAML + "    columns: {amout: amount}\n",
            "'amout' is not a column of the orders contract",
        ),
        (
            ORDERS_YAML + "    columns: {amount: 'sum('}\n",
            "is not a valid SQL expression",
        ),
        (
            "version: 1\nsources:\n  orders:\n    path: orders/*.csv\n    colums: {}\n",
            "sources.orders.colums: unknown setting; the settings here are: path,",
        ),
        (
            ORDERS_YAML + "    columns:\n      order_ts: 'NULL'\n      order_id: nope_col\n",
            "sources.orders.columns.order_id = 'nope_col' does not work",
        ),
    ],
)
def test_user_mistakes_give_one_clear_error(con, landing, yaml_text, message):
    (landing / "sources.yaml").write_text(yaml_text)
    with pytest.raises(SourceConfigError) as err:
        load(con, landing)
    assert message in str(err.value)


def test_required_column_absent_from_file_names_the_fix(con, landing):
    write(landing / "orders" / "orders_1.csv", "order_id,order_ts,amount\nO1,2025-01-01,3\n")
    with pytest.raises(
        SourceConfigError,
        match=r"required column 'customer_key'.*Add "
        r"`customer_key: <your column",
    ):
        load(con, landing)


def test_unreadable_file_is_named(con, landing):
    (landing / "orders" / "orders_1.csv").unlink()
    (landing / "orders" / "orders_2.csv").write_bytes(b"\x00\xff\xfe binary \x00" * 50)
    with pytest.raises(SourceConfigError, match="orders_2.csv"):
        load(con, landing)


def test_missing_sources_yaml_says_how_to_get_one(tmp_path):
    with pytest.raises(SourceConfigError, match="seg-platform generate"):
        load_sources_config(tmp_path / "nope.yaml")


def test_failed_load_leaves_previous_table_intact(con, landing):
    load(con, landing)
    before = con.execute("SELECT * FROM raw.orders ORDER BY ALL").fetchall()
    (landing / "orders" / "orders_9.csv").write_bytes(b"\x1f\x8b corrupt")
    with pytest.raises(SourceConfigError):
        load(con, landing)
    assert con.execute("SELECT * FROM raw.orders ORDER BY ALL").fetchall() == before


def test_duckdb_error_inside_the_swap_rolls_back(con, landing, monkeypatch):
    load(con, landing)
    before = con.execute("SELECT count(*) FROM raw.quarantine").fetchone()
    import seg_platform.sources.ingest as ingest

    monkeypatch.setattr(ingest, "_quarantine_sql", lambda source, **kw: ["SELECT * FROM no_such"])
    with pytest.raises(duckdb.Error):
        load(con, landing)
    assert con.execute("SELECT count(*) FROM raw.quarantine").fetchone() == before
    assert con.execute("SELECT count(*) FROM raw.orders").fetchone()[0] == 2
