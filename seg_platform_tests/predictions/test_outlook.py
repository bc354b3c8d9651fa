"""The per-segment outlook (`predictions.outlook`): means over the members with predictions,
and the segments the warning check reports when none of their members has one."""

import datetime as dt

import duckdb
import pytest

from seg_platform.predictions.outlook import segment_outlook, segments_without_outlook

pytestmark = pytest.mark.unit

DECEMBER = dt.date(2025, 12, 31)


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA segments; CREATE SCHEMA predictions")
    con.execute("""CREATE TABLE segments.segment_assignments AS
        SELECT DATE '2025-12-31' AS as_of_date, * FROM (VALUES
            ('a', 0, 'Loyalists'), ('b', 0, 'Loyalists'), ('c', 1, 'Dormant'),
            ('d', 2, 'New')) t(profile_id, segment_id, segment_name)""")
    con.execute("""CREATE TABLE segments.segment_profiles AS
        SELECT DATE '2025-12-31' AS as_of_date, * FROM (VALUES (0), (1), (2)) t(segment_id)""")
    # d (segment 2) has no prediction this month, only last month's
    con.execute("""CREATE TABLE predictions.customer_predictions AS SELECT * FROM (VALUES
        ('a', DATE '2025-12-31', 0.1, 0.8, 100.0), ('b', DATE '2025-12-31', 0.3, 0.6, NULL),
        ('c', DATE '2025-12-31', 0.9, 0.1, 10.0), ('d', DATE '2025-11-30', 0.5, 0.5, 5.0))
        t(profile_id, as_of_date, churn_probability, purchase_probability,
          predicted_value_12m)""")
    yield con
    con.close()


def test_outlook_averages_the_members_with_predictions(con):
    outlook = segment_outlook(con, DECEMBER)
    columns = ["segment_id", "segment_name", "mean_churn_probability",
               "mean_purchase_probability", "mean_predicted_value_12m",
               "total_predicted_value_12m"]  # fmt: skip
    # b has no predicted value: counted as 0 in the mean, as the segment profiles did
    assert outlook.select(columns).rows() == [
        (0, "Loyalists", 0.2, 0.7, 50.0, 100.0),
        (1, "Dormant", 0.9, 0.1, 10.0, 10.0),
    ]
    assert set(outlook["as_of_date"]) == {DECEMBER}


def test_a_segment_without_predictions_is_reported(con):
    assert segments_without_outlook(con, DECEMBER) == (3, [0, 1, 2])  # not built yet
    con.register("_outlook", segment_outlook(con, DECEMBER))
    con.execute("CREATE TABLE predictions.segment_outlook AS FROM _outlook")
    assert segments_without_outlook(con, DECEMBER) == (3, [2])


def test_no_outlook_before_the_tables_exist():
    con = duckdb.connect()
    assert segment_outlook(con, DECEMBER).is_empty()
    assert segments_without_outlook(con, DECEMBER) == (0, [])
