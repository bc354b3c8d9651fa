"""dbt_like_sql/ parsing: dependencies from the SQL, descriptions, catalog, file:line errors."""

import textwrap
from pathlib import Path

import dagster as dg
import pytest

from seg_platform.core.calendar import month_parameters
from seg_platform.core.paths import SQL_ROOT
from seg_platform.core.warehouse import connect
from seg_platform.sql_models.assets import load_sql_assets
from seg_platform.sql_models.project import SqlModelError, load_project
from seg_platform.sql_models.run import build_model


def model_file(root: Path, relative: str, sql: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(sql).lstrip())
    return path


@pytest.mark.parametrize(
    ("sql", "reads"),
    [
        ("SELECT * FROM raw.orders", ["raw.orders"]),
        (
            "WITH o AS (SELECT * FROM staging.stg_orders) "
            "SELECT * FROM o JOIN identity.profiles p USING (profile_id)",
            ["identity.profiles", "staging.stg_orders"],
        ),
        (
            "SELECT * FROM raw.a WHERE x IN (SELECT x FROM raw.b) UNION ALL SELECT * FROM raw.c",
            ["raw.a", "raw.b", "raw.c"],
        ),
        # a string that looks like a table is not one: the SQL is parsed, not pattern-matched
        ("SELECT 'FROM raw.fake' AS note, * FROM raw.orders", ["raw.orders"]),
    ],
)
def test_dependencies_are_the_tables_the_sql_reads(tmp_path, sql, reads):
    model_file(tmp_path, "marts/m.sql", f"-- A model.\n-- grain: x\n{sql}\n")
    (model,) = load_project(tmp_path)
    assert list(model.reads) == reads
    assert model.description == "A model."
    assert model.grain == ("x",)


def test_a_new_sql_file_is_a_new_asset_without_python_changes(tmp_path):
    model_file(
        tmp_path,
        "marts/big_spenders.sql",
        """
        -- Customers who spent over 1,000 in their lifetime, as of each month.
        -- grain: profile_id, as_of_date
        SELECT profile_id, as_of_date
        FROM features.customer_features
        WHERE revenue_lifetime > 1000 AND as_of_date = $as_of_date
        """,
    )
    for path in SQL_ROOT.glob("*/*.sql"):
        model_file(tmp_path, f"{path.parent.name}/{path.name}", path.read_text())
    models, assets, checks = load_sql_assets(tmp_path)
    spec = next(
        s for a in assets for s in a.specs if s.key == dg.AssetKey(["marts", "big_spenders"])
    )
    assert spec.group_name == "marts"
    assert {d.asset_key for d in spec.deps} == {dg.AssetKey(["features", "customer_features"])}
    assert spec.partitions_def is not None  # uses $as_of_date: a monthly snapshot
    assert spec.description.startswith("Customers who spent over 1,000")
    assert any(c.check_specs and next(iter(c.check_specs)).asset_key == spec.key for c in checks)
    assert [m.name for m in models].index("big_spenders") > [m.name for m in models].index(
        "customer_features"
    )


def test_unparseable_sql_names_the_file_and_line(tmp_path):
    path = model_file(
        tmp_path, "staging/broken.sql", "-- Broken.\n-- grain: x\nSELECT x\nFROM raw.a\nWHERE\n"
    )
    with pytest.raises(SqlModelError, match=rf"{path}:5: SQL does not parse"):
        load_project(tmp_path)


def test_a_duckdb_error_names_the_file_and_line(tmp_path):
    path = model_file(
        tmp_path,
        "staging/bad_column.sql",
        "-- Reads a column that does not exist.\n-- grain: x\nSELECT 1 AS x,\n"
        "    no_such_column AS y\nFROM raw.t\n",
    )
    (model,) = load_project(tmp_path)
    with connect(tmp_path / "w.duckdb") as con:
        con.execute("CREATE SCHEMA raw; CREATE TABLE raw.t (a INT)")
        with pytest.raises(SqlModelError, match=rf"{path}:4: Binder Error.*no_such_column"):
            build_model(con, model)
        assert not con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'bad_column'"
        ).fetchall()[0][0]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT 1 AS x FROM raw.a\n", "starts without a `--` comment"),
        ("-- No grain.\nSELECT 1 AS x FROM raw.a\n", "needs a line `-- grain:"),
        ("-- T.\n-- grain: x\nSELECT 1 AS x FROM a\n", "table 'a' has no schema"),
        ("-- T.\n-- grain: x\nSELECT $when AS x FROM raw.a\n", r"unknown parameter\(s\) \$when"),
        (
            "-- T.\n-- grain: x\nSELECT 1 AS x FROM raw.a WHERE ts <= $as_of\n",
            "must select `\\$as_of_date AS as_of_date`",
        ),
        ("-- T.\n-- grain: y\nSELECT 1 AS x FROM raw.a\n", "grain column\\(s\\) y are not"),
        (
            "-- T.\n-- grain: x\nSELECT 1 AS x -- orders | weekly | Meaning.\nFROM raw.a\n",
            ":3: column 'x': window 'weekly'",
        ),
        (
            "-- T.\n-- grain: x\nSELECT 1 AS x -- orders | 7d | M. | nulls <= 2\nFROM raw.a\n",
            ":3: column 'x': rules are",
        ),
    ],
)
def test_model_mistakes_are_clear_errors(tmp_path, sql, message):
    model_file(tmp_path, "staging/m.sql", sql)
    with pytest.raises(SqlModelError, match=message):
        load_project(tmp_path)


def test_cycles_and_missing_models_are_errors(tmp_path):
    model_file(tmp_path, "staging/a.sql", "-- A.\n-- grain: x\nSELECT x FROM staging.b\n")
    model_file(tmp_path, "staging/b.sql", "-- B.\n-- grain: x\nSELECT x FROM staging.a\n")
    with pytest.raises(SqlModelError, match="cycle"):
        load_project(tmp_path)
    (tmp_path / "staging" / "b.sql").unlink()
    with pytest.raises(SqlModelError, match="reads staging.b, which no model"):
        load_project(tmp_path)


def test_catalog_comments_become_entries_with_rules(tmp_path):
    model_file(
        tmp_path,
        "features/f.sql",
        """
        -- Features.
        -- grain: profile_id, as_of_date
        SELECT
            profile_id,
            $as_of_date AS as_of_date,
            1 AS orders_7d, -- orders | 7d | Orders in the last 7 days.
            0.5 AS open_rate, -- email_events, orders | 90d | Opened share. | nulls <= 0.9
            0 AS velocity -- web_events | 30d | Change. | range -1..1
        FROM identity.profiles
        """,
    )
    (model,) = load_project(tmp_path)
    orders, rate, velocity = model.catalog
    assert (orders.name, orders.window, orders.sources, orders.line) == (
        "orders_7d", "7d", ("orders",), 6)  # fmt: skip
    assert (orders.minimum, orders.maximum, orders.max_null_share) == (0.0, None, None)
    assert (rate.sources, rate.max_null_share, rate.maximum) == (
        ("email_events", "orders"), 0.9, 1.0)  # fmt: skip
    assert (velocity.minimum, velocity.maximum) == (-1.0, 1.0)
    assert model.partitioned and model.parameters == {"as_of_date"}


def test_month_parameters_span_the_calendar_month():
    p = month_parameters("2024-02")
    assert str(p["month_start"]) == "2024-02-01"
    assert str(p["as_of_date"]) == "2024-02-29"
    assert str(p["as_of"]) == "2024-02-29 23:59:59.999999"
    assert month_parameters("2024-02-01") == p
