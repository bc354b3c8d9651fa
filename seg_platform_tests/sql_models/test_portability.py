"""SQL written once in DuckDB's dialect, compiled for Spark: the rewrites that keep values equal
and the lint that refuses constructs known to diverge (issue 22). Spark itself runs in
seg_platform_tests/spark (make test-spark); here only the compiled text is checked."""

import datetime as dt

import pytest

from seg_platform.core.paths import SQL_ROOT
from seg_platform.sql_models.portability import (
    PortabilityError,
    divergences,
    parameter_literal,
    to_spark,
)
from seg_platform.sql_models.project import load_project

pytestmark = pytest.mark.unit

SCHEMAS = {
    "s": {
        "t": {
            "d1": "DATE",
            "d2": "DATE",
            "ts1": "TIMESTAMP",
            "ts2": "TIMESTAMP",
            "n": "BIGINT",
            "x": "DOUBLE",
        }
    }
}


def spark(sql: str, **params) -> str:
    return to_spark(sql, params, SCHEMAS)


def test_date_minus_date_becomes_datediff_and_date_minus_days_stays():
    out = spark("SELECT d1 - d2 AS a, d1 - 7 AS b FROM s.t")
    assert "DATEDIFF(CAST(t.d1 AS DATE), CAST(t.d2 AS DATE)) AS a" in out
    assert "t.d1 - 7 AS b" in out


def test_date_diff_counts_days_on_dates_and_seconds_on_epochs():
    out = spark(
        "SELECT date_diff('day', ts1, ts2) AS a, date_diff('second', ts1, ts2) AS b FROM s.t"
    )
    assert "DATEDIFF(CAST(t.ts2 AS DATE), CAST(t.ts1 AS DATE)) AS a" in out
    assert "(UNIX_SECONDS(t.ts2) - UNIX_SECONDS(t.ts1)) AS b" in out


def test_divisions_are_in_double_at_every_depth():
    out = spark("SELECT date_diff('second', ts1, ts2) / 86400.0 / nullif(n - 1, 0) AS a FROM s.t")
    # The inner division (a decimal literal on Spark) is rewritten too, not only the outer one.
    assert "CAST(86400.0 AS DOUBLE)" in out
    assert "CAST(NULLIF(t.n - 1, 0) AS DOUBLE)" in out
    # A division of doubles needs nothing.
    assert "t.x / t.x AS b" in spark("SELECT x / x AS b FROM s.t")


def test_parameters_become_typed_literals():
    out = spark(
        "SELECT count(*) FILTER (WHERE ts1 <= $as_of AND d1 > $as_of_date - 7) FROM s.t",
        as_of=dt.datetime(2025, 12, 31, 23, 59, 59, 999999),
        as_of_date=dt.date(2025, 12, 31),
    )
    assert "CAST('2025-12-31 23:59:59.999999' AS TIMESTAMP)" in out
    assert "CAST('2025-12-31' AS DATE) - 7" in out
    assert ":as_of" not in out
    with pytest.raises(PortabilityError, match="no value for parameter"):
        spark("SELECT * FROM s.t WHERE ts1 <= $as_of")
    with pytest.raises(PortabilityError, match="no SQL literal"):
        parameter_literal(object())


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("SELECT hash(n) FROM s.t", "hash()"),
        ("SELECT list_distinct(list(n ORDER BY n)) FROM s.t", "list_distinct()"),
        ("SELECT date_diff('month', d1, d2) FROM s.t", "date_diff('month'"),
        ("SELECT string_agg(CAST(n AS VARCHAR), ',') FROM s.t", "without ORDER BY"),
        ("SELECT list(n) FROM s.t", "without ORDER BY"),
        ("SELECT any_value(n) FROM s.t", "any row's value"),
        ("SELECT first(n) FROM s.t", "any row's value"),
        ("SELECT random() FROM s.t", "random values"),
    ],
)
def test_constructs_known_to_diverge_are_refused(sql, problem):
    assert any(problem in p for p in divergences(sql)), divergences(sql)
    with pytest.raises(PortabilityError, match="not portable to Spark"):
        spark(sql)


def test_ordered_aggregates_and_md5_are_portable():
    assert (
        divergences("SELECT string_agg(CAST(n AS VARCHAR), ',' ORDER BY n), md5('a') FROM s.t")
        == []
    )


def test_every_model_is_portable_and_compiles():
    """The lint over dbt_like_sql: a model using a construct that diverges on Spark fails here,
    before it can give other numbers on the two engines."""
    models = load_project(SQL_ROOT)
    assert models
    for model in models:
        assert divergences(model.sql) == [], model.path
