"""Transaction logs as companies really have them (issue 19): old history, identical order lines
without a line id, and text files with whitespace-aligned columns (the CDNOW master file)."""

import datetime as dt
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from seg_platform.core.resources import EngineResource, WarehouseResource
from seg_platform.core.warehouse import connect
from seg_platform.sources.assets import CHECK_NAME, RAW_ASSETS, RAW_CHECKS
from seg_platform.sources.config import SourceConfigError, load_sources_config
from seg_platform.sources.contract import SOURCES
from seg_platform.sources.ingest import ingest_source, rule_fix
from seg_platform.sources.resources import IdentityConfig, SourcesResource


def write_landing(tmp_path: Path, files: dict[str, str], orders_yaml: str) -> Path:
    """A landing folder with `files` (name -> text) under orders/ and a sources.yaml whose
    orders entry is `orders_yaml` (indented under `orders:`)."""
    root = tmp_path / "landing"
    (root / "orders").mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / "orders" / name).write_text(text)
    body = textwrap.indent(textwrap.dedent(orders_yaml), "    ")
    (root / "sources.yaml").write_text(f"version: 1\nsources:\n  orders:\n{body}")
    return root / "sources.yaml"


@pytest.fixture
def con(tmp_path):
    with connect(tmp_path / "w.duckdb") as c:
        yield c


def load(con, sources_yaml: Path, now: dt.datetime | None = None):
    return ingest_source(con, SOURCES["orders"], load_sources_config(sources_yaml), now=now)


def materialize(home, sources_yaml: Path):
    return dg.materialize(
        [*RAW_ASSETS, *RAW_CHECKS],
        resources={
            "warehouse": WarehouseResource(database=str(home.warehouse)),
            "sources": SourcesResource(config_path=str(sources_yaml)),
            "identity": IdentityConfig(),
            "engine": EngineResource(),
        },
        raise_on_error=False,
    )


def orders_check(result) -> dg.AssetCheckEvaluation:
    (check,) = [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == CHECK_NAME and e.asset_key.to_user_string() == "raw/orders"
    ]
    return check


# --- Point 1: old history names timestamp_min, grouped by rule ---------------------------------

# 300 order lines of a CD shop in 1997-1998, every one with its own timestamp (CDNOW's years).
OLD_TIMES = [dt.datetime(1997, 1, 1, 9) + dt.timedelta(days=i * 2, minutes=i) for i in range(300)]
OLD_ORDERS = "order_id,order_ts,customer_key,amount\n" + "".join(
    f"O{i:04d},{ts:%Y-%m-%d %H:%M:%S},C{i % 97:04d},{10 + i % 40}.77\n"
    for i, ts in enumerate(OLD_TIMES)
)


def test_old_history_names_timestamp_min_and_loads_once_it_is_set(home, tmp_path):
    sources_yaml = write_landing(tmp_path, {"orders.csv": OLD_ORDERS}, "path: orders/*.csv\n")
    result = materialize(home, sources_yaml)
    check = orders_check(result)
    assert not check.passed
    text = check.description
    # One line per rule with its row count and the setting that fixes it; 300 rows, not "1 row"
    # per distinct timestamp.
    assert (
        "300 rows: order_ts is before timestamp_min 2000-01-01; set `timestamp_min` under "
        "sources.orders (or `defaults:`)" in text
    ), text
    # One rule explains every quarantined row: raising the limit would pass an empty table.
    assert "max_quarantine_share" not in text
    # No customer value: no key, no order id, no timestamp of a record.
    assert "C0001" not in text and "O0001" not in text and "1997-" not in text
    by_rule = check.metadata["quarantine_by_rule"].value
    assert by_rule == {"order_ts is before timestamp_min 2000-01-01": 300}
    assert "timestamp_min" in check.metadata["quarantine_rules"].value

    write_landing(
        tmp_path, {}, "path: orders/*.csv\ntimestamp_min: 1997-01-01\n"
    )  # the same files, the setting the message named
    again = materialize(home, sources_yaml)
    assert again.success and orders_check(again).passed
    meta = again.asset_materializations_for_node("raw__orders")[0].metadata  # the op of raw/orders
    assert (meta["dagster/row_count"].value, meta["rows_quarantined"].value) == (300, 0)
    with connect(home.warehouse) as con:
        first, amount = con.execute("SELECT min(order_ts), sum(amount) FROM raw.orders").fetchone()
    assert first == dt.datetime(1997, 1, 1, 9) and amount == pytest.approx(
        sum(10 + i % 40 + 0.77 for i in range(300))
    )


def test_defaults_timestamp_min_applies_and_a_source_setting_wins(tmp_path, con):
    sources_yaml = write_landing(tmp_path, {"orders.csv": OLD_ORDERS}, "path: orders/*.csv\n")
    sources_yaml.write_text(
        sources_yaml.read_text().replace(
            "sources:\n", "defaults: {timestamp_min: 1998-01-01}\nsources:\n"
        )
    )
    result = load(con, sources_yaml)
    early = sum(ts < dt.datetime(1998, 1, 1) for ts in OLD_TIMES)
    assert result.rows_quarantined == early and result.rows_kept == 300 - early
    assert result.top_reasons == [("order_ts is before timestamp_min 1998-01-01", early)]

    sources_yaml.write_text(sources_yaml.read_text() + "    timestamp_min: 1996-06-30\n")
    result = load(con, sources_yaml)
    assert (result.rows_quarantined, result.rows_kept) == (0, 300)


def test_future_rows_point_at_clock_or_timezone_not_timestamp_min(tmp_path, con):
    now = dt.datetime(2025, 3, 1, 12)
    rows = "order_id,order_ts,customer_key,amount\n" + "".join(
        f"O{i},2025-02-{1 + i % 28:02d} 10:00:00,C{i},5\n" for i in range(20)
    )
    rows += (
        "F1,2025-03-03 10:00:00,C1,5\nF2,2031-01-01 00:00:00,C2,5\nOLD,1999-12-31 00:00:00,C3,5\n"
    )
    sources_yaml = write_landing(tmp_path, {"orders.csv": rows}, "path: orders/*.csv\n")
    result = load(con, sources_yaml, now=now)
    assert dict(result.top_reasons) == {
        "order_ts is in the future (after 2025-03-02)": 2,
        "order_ts is before timestamp_min 2000-01-01": 1,
    }
    future = rule_fix("orders", "order_ts is in the future (after 2025-03-02)")
    assert "clock" in future and "timezone" in future and "timestamp_min" not in future
    assert "timestamp_max_days_ahead" in future
    old = rule_fix("orders", "order_ts is before timestamp_min 2000-01-01")
    assert "`timestamp_min` under sources.orders" in old


def test_several_rules_are_one_line_each_and_only_then_the_limit_is_mentioned(home, tmp_path):
    good = "".join(f"G{i},2025-01-{1 + i % 28:02d} 10:00:00,C{i},5\n" for i in range(40))
    bad = "".join(f"B{i},1990-01-01 00:00:00,C{i},5\n" for i in range(6))
    bad += "".join(f"N{i},2025-01-02 10:00:00,C{i},-{i + 1}\n" for i in range(4))
    sources_yaml = write_landing(
        tmp_path,
        {"orders.csv": "order_id,order_ts,customer_key,amount\n" + good + bad},
        "path: orders/*.csv\n",
    )
    check = orders_check(materialize(home, sources_yaml))
    assert not check.passed
    lines = check.description.splitlines()
    assert any(
        line.startswith("6 rows: order_ts is before timestamp_min 2000-01-01;") for line in lines
    )
    assert any(line.startswith("4 rows: amount is below 0;") for line in lines)
    assert check.metadata["quarantine_by_rule"].value == {
        "order_ts is before timestamp_min 2000-01-01": 6,
        "amount is below 0": 4,
    }
    assert "max_quarantine_share" in lines[-1]


# --- Point 6: identical order lines are kept unless sources.yaml says drop ---------------------

# Two identical CDs on two lines of one order, and a repeated single line: real purchases.
IDENTICAL = """\
order_id,order_ts,customer_key,product_id,amount
O1,2025-01-02 10:00:00,C1,CD-7,11.77
O1,2025-01-02 10:00:00,C1,CD-7,11.77
O2,2025-01-03 10:00:00,C2,CD-1,12.00
O3,2025-01-04 10:00:00,C3,CD-2,9.99
O3,2025-01-04 10:00:00,C3,CD-2,9.99
O3,2025-01-04 10:00:00,C3,CD-2,9.99
"""


def test_identical_lines_without_a_line_id_are_kept_by_default(tmp_path, con):
    sources_yaml = write_landing(tmp_path, {"orders.csv": IDENTICAL}, "path: orders/*.csv\n")
    result = load(con, sources_yaml)
    rows, total = con.execute("SELECT count(*), sum(amount) FROM raw.orders").fetchone()
    assert (rows, total) == (6, pytest.approx(2 * 11.77 + 12.00 + 3 * 9.99))
    assert (result.duplicates_removed, result.identical_rows_kept) == (0, 3)


def test_identical_lines_are_dropped_and_counted_when_the_setting_says_so(tmp_path, con):
    sources_yaml = write_landing(
        tmp_path, {"orders.csv": IDENTICAL}, "path: orders/*.csv\nexact_duplicates: drop\n"
    )
    result = load(con, sources_yaml)
    rows, total = con.execute("SELECT count(*), sum(amount) FROM raw.orders").fetchone()
    assert (rows, total) == (3, pytest.approx(11.77 + 12.00 + 9.99))
    assert (result.duplicates_removed, result.identical_rows_kept) == (3, 0)


def test_a_repeated_line_id_is_a_redelivery_whatever_the_setting(tmp_path, con):
    with_ids = IDENTICAL.replace("order_id,", "order_line_id,order_id,", 1)
    lines = with_ids.splitlines(True)
    with_ids = lines[0] + "".join(f"L{i},{line}" for i, line in enumerate(lines[1:]))
    with_ids += "L0,O1,2025-01-02 10:00:00,C1,CD-7,11.77\n"  # L0 delivered again
    sources_yaml = write_landing(
        tmp_path, {"orders.csv": with_ids}, "path: orders/*.csv\nexact_duplicates: keep\n"
    )
    result = load(con, sources_yaml)
    assert con.execute("SELECT count(*) FROM raw.orders").fetchone()[0] == 6
    assert (result.duplicates_removed, result.identical_rows_kept) == (1, 0)


def test_exact_duplicates_is_validated(tmp_path):
    root = tmp_path
    (root / "sources.yaml").write_text(
        "version: 1\nsources:\n  orders: {path: x.csv, exact_duplicates: maybe}\n"
    )
    with pytest.raises(SourceConfigError, match=r"sources.orders.exact_duplicates: .*'keep'"):
        load_sources_config(root / "sources.yaml")
    (root / "sources.yaml").write_text(
        "version: 1\nsources:\n  billing: {path: x.csv, exact_duplicates: keep}\n"
    )
    with pytest.raises(SourceConfigError, match=r"sources.billing.exact_duplicates: .*invoice_id"):
        load_sources_config(root / "sources.yaml")


def test_the_asset_reports_what_was_dropped_and_kept(home, tmp_path):
    sources_yaml = write_landing(
        tmp_path, {"orders.csv": IDENTICAL}, "path: orders/*.csv\nexact_duplicates: drop\n"
    )
    result = materialize(home, sources_yaml)
    meta = result.asset_materializations_for_node("raw__orders")[0].metadata  # the op of raw/orders
    assert meta["exact_duplicates"].value == "drop"
    assert meta["duplicates_removed"].value == 3 and meta["dagster/row_count"].value == 3


# --- Point 8: text with whitespace-aligned columns ----------------------------------------------

# The CDNOW master file's layout: customer, date, CDs bought, dollars, aligned with runs of
# spaces; here with a tab, a CRLF line, a blank line and two broken lines.
ALIGNED = (
    "00001 19970101  1  11.77\n"
    "00002 19970112  1  12.00\n"
    "   00002\t19970112  5  77.00\r\n"
    "\n"
    "00003 19970102  2\n"
    "00004 19970103  1  20.76  9\n"
    "01234 19980630 12 199.50\n"
)
ALIGNED_YAML = """\
path: orders/*.txt
format: text
timestamp_format: "%Y%m%d"
timestamp_min: 1997-01-01
columns:
  customer_key: column0
  order_id: "column0 || '-' || column1"
  order_ts: column1
  quantity: column2
  amount: column3
"""


def test_aligned_text_loads_through_the_mapping_and_quarantines_bad_lines(tmp_path, con):
    sources_yaml = write_landing(tmp_path, {"cdnow_master.txt": ALIGNED}, ALIGNED_YAML)
    result = load(con, sources_yaml)
    rows = con.execute(
        "SELECT customer_key, order_id, order_ts::DATE::VARCHAR, quantity, amount, source_row "
        "FROM raw.orders ORDER BY source_row"
    ).fetchall()
    assert rows == [
        ("00001", "00001-19970101", "1997-01-01", 1, 11.77, 1),
        ("00002", "00002-19970112", "1997-01-12", 1, 12.0, 2),
        ("00002", "00002-19970112", "1997-01-12", 5, 77.0, 3),
        ("01234", "01234-19980630", "1998-06-30", 12, 199.5, 7),
    ]
    quarantine = con.execute(
        "SELECT source_file, source_row, reason, rule, record FROM raw.quarantine ORDER BY 2"
    ).fetchall()
    assert [(q[0], q[1], q[3]) for q in quarantine] == [
        ("orders/cdnow_master.txt", 5, "unreadable line (3 fields, expected 4)"),
        ("orders/cdnow_master.txt", 6, "unreadable line (5 fields, expected 4)"),
    ]
    assert quarantine[0][4] == "00003 19970102  2"  # the line's text stays in the warehouse
    # The fix names the line, not CSV reader settings a text file does not have.
    assert "delim" not in rule_fix("orders", quarantine[0][3])
    assert (result.rows_read, result.rows_quarantined, result.rows_kept) == (6, 2, 4)


def test_aligned_text_with_a_header_names_its_fields(tmp_path, con):
    text = "customer  date      cds  dollars\n" + ALIGNED.split("\n\n")[0] + "\n"
    sources_yaml = write_landing(
        tmp_path,
        {"cdnow.txt": text},
        """\
        path: orders/*.txt
        format: text
        read_options: {header: true}
        timestamp_format: "%Y%m%d"
        timestamp_min: 1997-01-01
        columns:
          customer_key: customer
          order_id: "customer || '-' || date"
          order_ts: date
          quantity: cds
          amount: dollars
        """,
    )
    result = load(con, sources_yaml)
    assert (result.rows_kept, result.rows_quarantined) == (3, 0)
    assert con.execute("SELECT sum(quantity), max(source_row) FROM raw.orders").fetchone() == (7, 4)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            "format: text\nread_options: {delim: ';'}",
            "sources.orders.read_options: unknown setting(s) delim. Allowed: header, skip",
        ),
        (ALIGNED_YAML.replace("amount: column3", "amount: column7"), "does not work on cdnow.txt"),
        (
            "format: text\ncolumns: {customer_key: column0}",
            "required column 'order_id' (Order (invoice) id; several lines may share it.) is "
            "neither mapped nor present in cdnow.txt, whose columns are: column0, column1, "
            "column2, column3.",
        ),
        ("format: text\nread_options: {header: true}", "does not look like column names"),
        ("format: text\nread_options: {skip: -1}", "read_options.skip: must be a whole number"),
    ],
)
def test_aligned_text_mistakes_are_one_clear_line(tmp_path, con, settings, message):
    settings = settings.replace("path: orders/*.txt\n", "")
    sources_yaml = write_landing(
        tmp_path, {"cdnow.txt": ALIGNED}, f"path: orders/*.txt\n{settings}\n"
    )
    with pytest.raises(SourceConfigError) as err:
        load(con, sources_yaml)
    assert message in str(err.value)
    assert "\n" not in str(err.value) and "00001" not in str(err.value)


def test_aligned_text_survives_a_reload_unchanged(tmp_path, con):
    sources_yaml = write_landing(tmp_path, {"cdnow.txt": ALIGNED}, ALIGNED_YAML)
    load(con, sources_yaml)
    first = con.execute("SELECT * FROM raw.orders ORDER BY ALL").fetchall()
    load(con, sources_yaml)
    assert con.execute("SELECT * FROM raw.orders ORDER BY ALL").fetchall() == first
    assert len(first) == 4
