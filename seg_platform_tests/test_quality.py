"""The SQL push-down of the raw suites gives Great Expectations' own outcomes."""

import datetime as dt

import duckdb
import polars as pl
import pytest

from seg_platform.core.quality import Expectation, can_push_down, validate_frame, validate_relation

pytestmark = pytest.mark.unit

LOW, HIGH = dt.datetime(2020, 1, 1), dt.datetime(2026, 1, 1)
SUITE = [
    Expectation("ExpectColumnValuesToNotBeNull", {"column": "key"}),
    Expectation("ExpectColumnValuesToNotBeNull", {"column": "ts"}),
    Expectation("ExpectColumnValuesToBeUnique", {"column": "key"}),
    Expectation(
        "ExpectColumnValuesToBeBetween", {"column": "ts", "min_value": LOW, "max_value": HIGH}
    ),  # fmt: skip
]


def _counts(observed: str) -> str:
    return observed.split(" (e.g.")[0]


@pytest.mark.parametrize(
    "keys,stamps",
    [
        # clean: every expectation met
        (["a", "b", "c", "d"], [dt.datetime(2024, 5, 1)] * 4),
        # a null key, a key used three times, a null and two out-of-range timestamps
        (["a", None, "b", "b", "b", "c"],
         [dt.datetime(2019, 1, 1), dt.datetime(2024, 1, 1), None, dt.datetime(2027, 3, 1),
          dt.datetime(2024, 2, 1), dt.datetime(2025, 12, 31, 23, 59)]),
    ],
)  # fmt: skip
def test_sql_push_down_matches_great_expectations(keys, stamps):
    frame = pl.DataFrame({"key": keys, "ts": stamps}, schema={"key": pl.String, "ts": pl.Datetime})
    assert can_push_down(SUITE)
    gx = validate_frame(frame, SUITE)
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM frame")
    sql = validate_relation(con, "t", SUITE)
    assert [o.success for o in sql] == [o.success for o in gx]
    assert [_counts(o.observed) for o in sql] == [_counts(o.observed) for o in gx]


def test_planted_problems_are_counted_as_gx_counts_them():
    frame = pl.DataFrame(
        {"key": ["a", None, "b", "b", "b", "c"], "ts": [LOW.replace(year=2019)] + [LOW] * 5}
    )
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM frame")
    assert frame.height == 6
    observed = [o.observed for o in validate_relation(con, "t", SUITE)]
    assert observed[0] == "1 of 6 rows unexpected (e.g. None)"
    assert observed[1] == "all 6 rows as expected"
    assert observed[2] == "3 of 6 rows unexpected (e.g. 'b')"  # every row of a repeated key
    assert observed[3].startswith("1 of 6 rows unexpected")


def test_an_expectation_without_a_translation_is_refused():
    other = [Expectation("ExpectColumnValuesToMatchRegex", {"column": "key", "regex": "a"})]
    assert not can_push_down(other)
    with pytest.raises(ValueError, match="cannot be evaluated in SQL"):
        validate_relation(duckdb.connect(), "(SELECT 1 AS key)", other)


def test_a_wrong_row_limit_says_what_is_wrong(monkeypatch):
    from seg_platform.core.quality import MAX_GX_ROWS_ENV, max_gx_rows

    monkeypatch.setenv(MAX_GX_ROWS_ENV, "a lot")
    with pytest.raises(ValueError, match="must be a whole number of rows, not 'a lot'"):
        max_gx_rows()
    monkeypatch.setenv(MAX_GX_ROWS_ENV, "250000")
    assert max_gx_rows() == 250_000
