"""Hostile or broken inputs never win: paths stay in the data folder, mapping expressions stay
scalar, implausible values are quarantined, odd files load or say clearly why not, conflicts and
missing columns are visible, and no value from a customer record reaches Dagster."""

import json
import os
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from seg_platform.core.resources import EngineResource, WarehouseResource
from seg_platform.core.warehouse import connect
from seg_platform.sources.assets import (
    CHECK_NAME,
    COLUMNS_CHECK,
    CONFLICTS_CHECK,
    EMPTY_CHECK,
    RAW_ASSETS,
    RAW_CHECKS,
)
from seg_platform.sources.config import SourceConfigError, load_sources_config
from seg_platform.sources.contract import SOURCES
from seg_platform.sources.ingest import ingest_source
from seg_platform.sources.resources import IdentityConfig, SourcesResource

ORDERS_HEADER = "order_line_id,order_id,order_ts,customer_key,email,amount\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def landing(tmp_path: Path, yaml_extra: str = "", source: str = "orders", glob: str = "*.csv"):
    root = tmp_path / "landing"
    root.mkdir(parents=True, exist_ok=True)
    (root / "sources.yaml").write_text(
        f"version: 1\nsources:\n  {source}:\n    path: {source}/{glob}\n{yaml_extra}"
    )
    return root


@pytest.fixture
def con(tmp_path):
    with connect(tmp_path / "w.duckdb") as c:
        yield c


def load(con, root: Path, source: str = "orders", **kwargs):
    return ingest_source(con, SOURCES[source], load_sources_config(root / "sources.yaml"), **kwargs)


# --- Point 9: paths ------------------------------------------------------------------------------


def test_a_path_leading_out_of_the_data_folder_is_refused(tmp_path):
    root = tmp_path / "landing"
    root.mkdir()
    (root / "sources.yaml").write_text(
        "version: 1\nsources:\n  orders:\n    path: ../../../../../../../etc/pass*\n"
    )
    with pytest.raises(SourceConfigError) as err:
        load_sources_config(root / "sources.yaml")
    message = str(err.value)
    assert "sources.orders.path" in message and "allowed_roots" in message
    assert "root:" not in message  # nothing of /etc/passwd is read


def test_a_symlink_out_of_the_data_folder_is_refused_unless_its_folder_is_allowed(tmp_path, con):
    outside = write(
        tmp_path / "elsewhere" / "orders.csv", ORDERS_HEADER + "L1,O1,2025-01-02,K1,,3\n"
    )
    root = landing(tmp_path)
    (root / "orders").mkdir()
    os.symlink(outside, root / "orders" / "orders.csv")
    with pytest.raises(SourceConfigError, match="outside the folders sources may read"):
        load(con, root)
    # Listed under allowed_roots (relative to the yaml), the same file loads.
    text = (root / "sources.yaml").read_text()
    (root / "sources.yaml").write_text(
        text.replace("sources:", "allowed_roots: [../elsewhere]\nsources:")
    )
    assert load(con, root).rows_kept == 1


def test_allowed_roots_must_exist(tmp_path):
    root = landing(tmp_path)
    (root / "sources.yaml").write_text("version: 1\nallowed_roots: [/no/such/dir]\nsources: {}\n")
    with pytest.raises(
        SourceConfigError, match="allowed_roots.0: '/no/such/dir' is not an existing"
    ):
        load_sources_config(root / "sources.yaml")


# --- Point 8: expressions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "expression", "message"),
    [
        ("columns: {customer_key: ", "'\"Customer ID'}", "an unclosed quote or comment"),
        ("columns: {country: ", "'country /* '}", "an unclosed quote or comment"),
        ("columns: {country: ", "'country -- note'}", "comments are not allowed"),
        ("columns: {country: ", "'(SHOW DATABASES)'}", "scalar expression"),
        ("columns: {country: ", "'(DESCRIBE raw.orders)'}", "scalar expression"),
        ("columns: {country: ", "'(SUMMARIZE raw.orders)'}", "scalar expression"),
        ("columns: {country: ", "'(SELECT 1)'}", "scalar expression"),
        ("columns: {country: ", "\"(FROM read_text('/etc/passwd'))\"}", "scalar expression"),
        ("columns: {country: ", "\"read_text('/etc/passwd')\"}", "calls read_text()"),
        ("columns: {country: ", "\"read_csv('/etc/passwd')\"}", "read_csv"),
        ("columns: {country: ", "\"glob('/etc/*')\"}", "calls glob()"),
        ("columns: {country: ", "\"current_setting('home_directory')\"}", "current_setting"),
        ("columns: {amount: ", "'sum(amount)'}", "aggregate"),
        ("columns: {amount: ", "'row_number() OVER ()'}", "window"),
        ("columns: {amount: ", "'random()'}", "calls random()"),
        ("columns: {amount: ", "'$1'}", "parameter"),
        ("columns: {amount: ", "'1; SELECT 2'}", "single column or expression"),
        ("where: ", "'customer_key IN (SELECT 1)'", "scalar expression"),
        ("where: ", "\"getvariable('x') IS NULL\"", "getvariable"),
    ],
)
def test_mapping_and_where_allow_only_scalar_expressions(tmp_path, setting, expression, message):
    root = landing(tmp_path, f"    {setting}{expression}\n")
    with pytest.raises(SourceConfigError) as err:
        load_sources_config(root / "sources.yaml")
    text = str(err.value)
    where = "sources.orders.where" if setting.startswith("where") else "sources.orders.columns."
    assert where in text and message in text, text
    assert "Traceback" not in text and "sqlglot" not in text


def test_ordinary_expressions_are_accepted(tmp_path):
    root = landing(
        tmp_path,
        textwrap.indent(
            textwrap.dedent("""\
                where: "CustomerID IS NOT NULL AND Country <> 'X'"
                columns:
                  order_line_id: "concat_ws('|', InvoiceNo, StockCode, Quantity, InvoiceDate)"
                  order_ts: "try_strptime(InvoiceDate, '%d/%m/%Y %H:%M')"
                  amount: "abs(TRY_CAST(Quantity AS DOUBLE) * UnitPrice::DOUBLE)"
                  status: "CASE WHEN InvoiceNo LIKE 'C%' THEN 'cancelled' ELSE 'completed' END"
                  country: "upper(trim(coalesce(nullif(Country, ''), 'unknown')))"
                  customer_key: '"Customer ID"'
            """),
            "    ",
        ),
    )
    config = load_sources_config(root / "sources.yaml")
    assert config.sources["orders"].columns["customer_key"] == '"Customer ID"'


# --- Point 10: the typed model's messages -------------------------------------------------------


_O = "version: 1\nsources:\n  orders: "


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (_O + "{path: x.csv, colums: {}}", "sources.orders.colums: unknown setting"),
        (_O + "{format: csv}", "sources.orders.path: required, but missing"),
        (
            _O + "{path: x.csv, max_quarantine_share: 5}",
            "sources.orders.max_quarantine_share: Input should be less than or equal to 1",
        ),
        (_O + "{path: x.csv, format: xls}", "sources.orders.format:"),
        (_O + "{path: x.csv, columns: {amount: [1]}}", "sources.orders.columns.amount:"),
        ("version: 1\ndefaults: {timestamp_min: soon}\nsources: {}", "defaults.timestamp_min:"),
        (
            _O + "{path: x.csv, ranges: {amount: {mx: 1}}}",
            "sources.orders.ranges.amount.mx: unknown setting; the settings here are: min, max",
        ),
        (
            _O + "{path: x.csv, ranges: {status: {max: 1}}}",
            "sources.orders.ranges.status: 'status' is not a numeric column",
        ),
        (
            _O + "{path: x.csv, ranges: {amount: {min: 5, max: 1}}}",
            "sources.orders.ranges.amount: min 5 is above max 1",
        ),
        ("version: 1\nsources:\n  order: {path: x.csv}", "sources.order: unknown source 'order'"),
        ("version: 1\nsources: [orders]", "sources: Input should be a valid dictionary"),
        (_O + "{path: [x.csv", "not valid YAML"),
    ],
)
def test_sources_yaml_mistakes_name_the_file_and_setting_without_a_dump(
    tmp_path, yaml_text, message
):
    (tmp_path / "sources.yaml").write_text(yaml_text)
    with pytest.raises(SourceConfigError) as err:
        load_sources_config(tmp_path / "sources.yaml")
    text = str(err.value)
    assert text.startswith(f"{tmp_path / 'sources.yaml'}: ") and message in text, text
    assert "https://" not in text and "pydantic" not in text and "For further" not in text


# --- Point 4: plausible ranges -------------------------------------------------------------------


def test_implausible_amounts_are_quarantined_and_ranges_are_configurable(tmp_path, con):
    root = landing(tmp_path)
    write(
        root / "orders" / "o.csv",
        ORDERS_HEADER
        + "L1,O1,2025-01-02,K1,,1e308\n"
        + "L2,O2,2025-01-02,K2,,1e23\n"
        + "L3,O3,2025-01-02,K3,,250000000\n"
        + "L4,O4,2025-01-02,K4,,99.5\n",
    )
    result = load(con, root)
    assert result.rows_kept == 1
    rules = con.execute("SELECT source_row, rule FROM raw.quarantine ORDER BY 1").fetchall()
    assert rules == [(r, "amount is above 10000000") for r in (2, 3, 4)]
    assert dict(result.top_reasons) == {"amount is above 10000000": 3}

    text = (root / "sources.yaml").read_text()
    (root / "sources.yaml").write_text(text + "    ranges: {amount: {max: 1e9}}\n")
    result = load(con, root)
    assert result.rows_kept == 2
    assert dict(result.top_reasons) == {"amount is above 1000000000": 2}


def test_ranges_apply_to_whole_numbers_too(tmp_path, con):
    root = landing(tmp_path)
    write(
        root / "orders" / "o.csv",
        "order_line_id,order_id,order_ts,customer_key,quantity,amount\n"
        "L1,O1,2025-01-02,K1,5000000,1\nL2,O2,2025-01-02,K2,-3,1\n",
    )
    load(con, root)
    assert con.execute("SELECT rule FROM raw.quarantine").fetchall() == [
        ("quantity is above 1000000",)
    ]


# --- Point 5: conflicting duplicates -------------------------------------------------------------


def test_conflicting_duplicates_are_counted_per_file_and_the_latest_kept(tmp_path, con):
    root = landing(tmp_path)
    write(
        root / "orders" / "a.csv",
        ORDERS_HEADER + "L1,O1,2025-01-02,K1,,10\nL2,O2,2025-01-02,K2,,5\n",
    )
    write(
        root / "orders" / "b.csv",
        ORDERS_HEADER + "L1,O1,2025-01-02,K1,,12\nL2,O2,2025-01-02,K2,,5\n",
    )
    result = load(con, root)
    assert con.execute(
        "SELECT order_line_id, amount, source_file FROM raw.orders ORDER BY 1"
    ).fetchall() == [
        ("L1", 12.0, "orders/b.csv"),
        ("L2", 5.0, "orders/b.csv"),
    ]
    assert con.execute(
        "SELECT source_file, key_conflicts FROM raw.source_files ORDER BY 1"
    ).fetchall() == [("orders/a.csv", 1), ("orders/b.csv", 1)]
    assert result.key_conflicts == 2 and result.duplicates_removed == 2
    assert result.conflicts_by_file == {"orders/a.csv": 1, "orders/b.csv": 1}


def test_crm_updates_are_not_conflicts_but_same_version_with_other_content_is(tmp_path, con):
    root = landing(tmp_path, source="crm_contacts")
    write(
        root / "crm_contacts" / "a.csv",
        "crm_id,email,created_at,updated_at\n"
        "C1,a@x.com,2025-01-01,2025-01-02\n"
        "C1,b@x.com,2025-01-01,2025-02-02\n"  # a later update: fine
        "C2,c@x.com,2025-01-01,2025-01-05\n"
        "C2,d@x.com,2025-01-01,2025-01-05\n",  # same version, other content: a conflict
    )
    result = load(con, root, "crm_contacts")
    assert result.key_conflicts == 2


# --- Points 6 and 7: missing columns, empty, UTF-16 and mixed line-ending files ------------------


def test_a_file_missing_a_column_its_siblings_have_is_reported(tmp_path, con):
    root = landing(tmp_path)
    write(root / "orders" / "2025-01.csv", ORDERS_HEADER + "L1,O1,2025-01-02,K1,a@x.com,3\n")
    write(
        root / "orders" / "2025-02.csv",
        "order_line_id,order_id,order_ts,customer_key,amount\nL2,O2,2025-02-02,K2,4\n",
    )
    result = load(con, root)
    assert result.missing_columns == {"orders/2025-02.csv": ["email"]}
    assert con.execute(
        "SELECT source_file, missing_columns FROM raw.source_files ORDER BY 1"
    ).fetchall() == [("orders/2025-01.csv", []), ("orders/2025-02.csv", ["email"])]


def test_an_empty_file_is_zero_rows_with_a_warning(tmp_path, con):
    root = landing(tmp_path)
    write(root / "orders" / "a.csv", ORDERS_HEADER + "L1,O1,2025-01-02,K1,,3\n")
    (root / "orders" / "b.csv").write_bytes(b"")
    result = load(con, root)
    assert (result.rows_kept, result.empty_files) == (1, ["orders/b.csv"])
    assert result.missing_columns == {}  # an empty file has no columns to miss
    # A source whose only file is empty is an empty table, not a "column not mapped" error.
    (root / "orders" / "a.csv").unlink()
    result = load(con, root)
    assert (result.rows_read, result.rows_kept, result.empty_files) == (0, 0, ["orders/b.csv"])


def test_a_utf16_file_names_its_encoding_and_the_fix_quoting_no_data(tmp_path, con):
    root = landing(tmp_path)
    text = ORDERS_HEADER + "L1,O1,2025-01-02,K1,secret.person@example.com,3\n"
    (root / "orders").mkdir()
    (root / "orders" / "o.csv").write_bytes(text.encode("utf-16"))
    with pytest.raises(SourceConfigError) as err:
        load(con, root)
    message = str(err.value)
    assert "UTF-16" in message and "encoding: utf-16" in message and "UTF-8" in message
    assert "secret" not in message and "L1" not in message and "K1" not in message
    # Without a byte-order mark, and as Latin-1: the same kind of message.
    (root / "orders" / "o.csv").write_bytes(text.encode("utf-16-le"))
    with pytest.raises(SourceConfigError, match="UTF-16"):
        load(con, root)
    (root / "orders" / "o.csv").write_bytes(text.replace("secret", "séc").encode("latin-1"))
    with pytest.raises(SourceConfigError, match="encoding: latin-1"):
        load(con, root)
    # With the encoding set, the file loads.
    (root / "orders" / "o.csv").write_bytes(text.encode("utf-16"))
    (root / "sources.yaml").write_text(
        (root / "sources.yaml").read_text() + "    read_options: {encoding: utf-16}\n"
    )
    assert load(con, root).rows_kept == 1


def test_a_headerless_file_is_not_quoted_in_the_missing_column_message(tmp_path, con):
    root = landing(tmp_path)
    write(root / "orders" / "o.csv", "L1,O1,2025-01-02,K1,secret@example.com,3\n")
    with pytest.raises(SourceConfigError) as err:
        load(con, root)
    assert "does not look like a header" in str(err.value)
    assert "secret" not in str(err.value) and "K1" not in str(err.value)


def test_mixed_line_endings_load_with_their_positions(tmp_path, con):
    root = landing(tmp_path)
    (root / "orders").mkdir()
    (root / "orders" / "o.csv").write_bytes(
        b"order_line_id,order_id,order_ts,customer_key,amount,status\r\n"
        b"L1,O1,2025-01-02 10:00:00,K1,3,completed\n"
        b"L2,O2,2025-01-03 10:00:00,K2,4,completed\r\n"
        b"L3,O3,2025-01-04 10:00:00,K3,5,cancelled\n"
    )
    result = load(con, root)
    assert result.rows_quarantined == 0
    assert con.execute(
        "SELECT order_line_id, status, amount, source_row FROM raw.orders ORDER BY 1"
    ).fetchall() == [
        ("L1", "completed", 3.0, 2),
        ("L2", "completed", 4.0, 3),
        ("L3", "cancelled", 5.0, 4),
    ]


# --- The suppression hook ------------------------------------------------------------------------


def test_suppressed_rows_reach_neither_the_table_nor_the_quarantine(tmp_path, con):
    root = landing(tmp_path)
    write(
        root / "orders" / "a.csv",
        ORDERS_HEADER
        + "L1,O1,2025-01-02,K1,gone@x.com,3\n"
        + "L1,O1,2025-01-02,K1,gone@x.com,3\n"  # a duplicate of an erased person's row
        + "L2,O2,not-a-date,K1,gone@x.com,3\n"  # a broken row of the erased person
        + "L3,O3,2025-01-02,K3,kept@x.com,3\n",
    )
    write(root / "orders" / "b.csv", ORDERS_HEADER + "L4,O4,2025-01-02,K4,GONE@x.com,3\n")
    result = load(
        con, root, suppress=lambda c: "customer_key = 'K1' OR lower(email) = 'gone@x.com'"
    )
    assert con.execute("SELECT order_line_id FROM raw.orders").fetchall() == [("L3",)]
    assert con.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0] == 0
    assert con.execute(
        "SELECT source_file, rows_read, rows_suppressed, rows_kept FROM raw.source_files ORDER BY 1"
    ).fetchall() == [("orders/a.csv", 4, 3, 1), ("orders/b.csv", 1, 1, 0)]
    assert (result.rows_suppressed, result.duplicates_removed, result.rows_kept) == (4, 0, 1)
    # None: nothing is suppressed.
    assert load(con, root, suppress=lambda c: None).rows_suppressed == 0


def test_tables_written_by_an_older_version_gain_the_new_columns(tmp_path, con):
    con.execute("CREATE SCHEMA raw")
    con.execute(
        "CREATE TABLE raw.quarantine (source VARCHAR, source_file VARCHAR, source_row BIGINT, "
        "reason VARCHAR, record VARCHAR)"
    )
    con.execute(
        "CREATE TABLE raw.source_files (source VARCHAR, source_file VARCHAR, rows_read BIGINT, "
        "rows_filtered BIGINT, rows_quarantined BIGINT, rows_kept BIGINT)"
    )
    root = landing(tmp_path)
    write(root / "orders" / "a.csv", ORDERS_HEADER + "L1,O1,not-a-date,K1,,3\n")
    load(con, root)
    assert con.execute("SELECT rule FROM raw.quarantine").fetchall() == [
        ("order_ts is not a timestamp",)
    ]


# --- Point 3 and erasure requests, through Dagster ----------------------------------------------

CRM_VALUES = ("Zephyrine", "Quuxworth", "Frobnicorp", "Archmage", "zeph@frob.example", "CRM-SECRET")


def _materialize(home, sources_yaml, instance):
    return dg.materialize(
        [*RAW_ASSETS, *RAW_CHECKS],
        resources={
            "warehouse": WarehouseResource(database=str(home.warehouse)),
            "sources": SourcesResource(config_path=str(sources_yaml)),
            "identity": IdentityConfig(),
            "engine": EngineResource(),
        },
        instance=instance,
        raise_on_error=False,
    )


def _everything_dagster_recorded(instance, result) -> str:
    """Every event of the run as text: messages, metadata, check descriptions, failures."""
    parts = []
    for record in instance.all_logs(result.run_id):
        parts.append(record.user_message or "")
        parts.append(repr(record.dagster_event) if record.dagster_event else "")
    return "\n".join(parts)


def test_no_value_from_a_customer_record_reaches_dagster(home, tmp_path):
    root = landing(tmp_path, source="crm_contacts")
    first, last, company, role, email, crm_id = CRM_VALUES
    good = "".join(
        f"{crm_id}{i},{email.replace('@', f'{i}@')},{first},{last},{company},{role},"
        f"2025-01-0{1 + i % 9} 00:00:00\n"
        for i in range(10)
    )
    bad = "".join(
        f"{crm_id}B{i},x{i}@frob.example,{first},{last},{company},{role},Zorblax{i}\n"
        for i in range(5)
    )
    write(
        root / "crm_contacts" / "crm.csv",
        "crm_id,email,first_name,last_name,company,role,created_at\n"
        + good
        + bad
        + "BROKEN,LINE\n",
    )
    with dg.DagsterInstance.ephemeral() as instance:
        result = _materialize(home, root / "sources.yaml", instance)
        recorded = _everything_dagster_recorded(instance, result)
    assert not result.success  # 6 of 16 rows quarantined: the contract check blocks
    for value in (*CRM_VALUES, "Zorblax", "frob.example", "BROKEN"):
        assert value not in recorded, value
    assert "<text>" in recorded and "<email>" in recorded  # the preview is there, masked
    check = next(
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == CHECK_NAME and e.asset_key.to_user_string() == "raw/crm_contacts"
    )
    assert "\n5 rows: created_at is not a timestamp; `timestamp_format`" in check.description

    # A failed file's message quotes no row either (a UTF-16 file's first row is its "header").
    (root / "crm_contacts" / "crm.csv").write_bytes(
        ("crm_id,email,created_at\n" + f"{crm_id},{email},2025-01-01\n").encode("utf-16")
    )
    with dg.DagsterInstance.ephemeral() as instance:
        result = _materialize(home, root / "sources.yaml", instance)
        recorded = _everything_dagster_recorded(instance, result)
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "UTF-16" in failure.step_failure_data.error.message
    for value in (email, crm_id):
        assert value not in recorded


def test_warn_checks_name_conflicting_files_missing_columns_and_empty_files(home, tmp_path):
    root = landing(tmp_path)
    write(root / "orders" / "2025-01.csv", ORDERS_HEADER + "L1,O1,2025-01-02,K1,a@x.com,3\n")
    write(
        root / "orders" / "2025-02.csv",
        "order_line_id,order_id,order_ts,customer_key,amount\nL1,O1,2025-01-02,K1,4\n",
    )
    (root / "orders" / "2025-03.csv").write_bytes(b"")
    with dg.DagsterInstance.ephemeral() as instance:
        result = _materialize(home, root / "sources.yaml", instance)
    assert result.success  # advisory checks never block
    checks = {
        e.check_name: e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == "raw/orders"
    }
    assert checks[CHECK_NAME].passed
    for name in (CONFLICTS_CHECK, COLUMNS_CHECK, EMPTY_CHECK):
        assert not checks[name].passed and checks[name].severity == dg.AssetCheckSeverity.WARN
    assert "orders/2025-01.csv (1), orders/2025-02.csv (1)" in checks[CONFLICTS_CHECK].description
    assert "orders/2025-02.csv (email)" in checks[COLUMNS_CHECK].description
    assert "orders/2025-03.csv" in checks[EMPTY_CHECK].description
    meta = result.asset_materializations_for_node("raw__orders")[0].metadata  # the op of raw/orders
    assert meta["key_conflicts"].value == 2
    assert meta["files_missing_columns"].value == {"orders/2025-02.csv": ["email"]}
    assert meta["empty_files"].value == ["orders/2025-03.csv"]
    assert meta["rows_suppressed"].value == 0
    others = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() != "raw/orders"
    ]
    assert all(e.passed for e in others)


def test_malformed_erasure_requests_never_block_the_valid_ones(home, tmp_path):
    root = landing(tmp_path, source="erasure_requests")
    write(
        root / "erasure_requests" / "r.csv",
        "request_id,requested_at,email,customer_key\n"
        "R1,2025-03-01 00:00:00,keep.me@x.com,\n"
        "R2,not a date at all,bad.one@x.com,\n"
        "R3,,other@x.com,\n"
        "R4,2025-03-01 00:00:00,,\n",
    )
    with dg.DagsterInstance.ephemeral() as instance:
        result = _materialize(home, root / "sources.yaml", instance)
        recorded = _everything_dagster_recorded(instance, result)
    assert result.success
    with connect(home.warehouse) as con:
        assert con.execute("SELECT request_id FROM raw.erasure_requests").fetchall() == [("R1",)]
        quarantined = con.execute(
            "SELECT source_row, reason, record FROM raw.quarantine ORDER BY 1"
        ).fetchall()
    assert quarantined == [
        (3, "requested_at is not a timestamp", None),
        (4, "requested_at is missing", None),
        (5, "needs at least one of email, phone, user_id, crm_id, customer_key", None),
    ]
    assert "not a date" not in json.dumps(quarantined) and "bad.one" not in recorded
