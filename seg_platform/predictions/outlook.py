"""Each segment's outlook for a month: its members' mean churn and purchase probability and
predicted value over the next 12 months (`predictions.segment_outlook`), read from the segment
assignments and the customer predictions. Plain DuckDB.

The outlook is downstream of both, so the segment tables never wait for the predictions."""

import datetime as dt

import polars as pl

from seg_platform.core.warehouse import fetch_frame, table_exists

OUTLOOK = "predictions.segment_outlook"
ASSIGNMENTS = "segments.segment_assignments"
PROFILES = "segments.segment_profiles"
PREDICTIONS = "predictions.customer_predictions"
SCHEMA = {
    "as_of_date": pl.Date,
    "segment_id": pl.Int64,
    "segment_name": pl.String,
    "mean_churn_probability": pl.Float64,
    "mean_purchase_probability": pl.Float64,
    "mean_predicted_value_12m": pl.Float64,
    "total_predicted_value_12m": pl.Float64,
}


def segment_outlook(con, as_of_date: dt.date) -> pl.DataFrame:
    """One row per segment of the month whose members have predictions (none when either table
    is missing); probabilities NULL before a model is trained, values NULL before a fit."""
    if not (table_exists(con, "segments", "segment_assignments")
            and table_exists(con, "predictions", "customer_predictions")):  # fmt: skip
        return pl.DataFrame(schema=SCHEMA)
    return fetch_frame(
        con,
        f"""SELECT a.as_of_date, a.segment_id::BIGINT AS segment_id,
               any_value(a.segment_name) AS segment_name,
               round(avg(p.churn_probability), 4) AS mean_churn_probability,
               round(avg(p.purchase_probability), 4) AS mean_purchase_probability,
               CASE WHEN count(p.predicted_value_12m) > 0
                   THEN round(avg(coalesce(p.predicted_value_12m, 0)), 2) END
                   AS mean_predicted_value_12m,
               round(sum(p.predicted_value_12m), 2) AS total_predicted_value_12m
        FROM {ASSIGNMENTS} a
        JOIN {PREDICTIONS} p ON p.profile_id = a.profile_id AND p.as_of_date = a.as_of_date
        WHERE a.as_of_date = ?
        GROUP BY a.as_of_date, a.segment_id
        ORDER BY segment_id""",
        [as_of_date],
    ).cast(SCHEMA)  # type: ignore[arg-type]


def segments_without_outlook(con, as_of_date: dt.date) -> tuple[int, list[int]]:
    """The month's segments (`segments.segment_profiles`) and those without an outlook row."""
    if not table_exists(con, "segments", "segment_profiles"):
        return 0, []
    outlook = (
        f"SELECT segment_id FROM {OUTLOOK} WHERE as_of_date = $d"
        if table_exists(con, "predictions", "segment_outlook")
        else "SELECT NULL::BIGINT AS segment_id WHERE false"
    )
    rows = con.execute(
        f"""SELECT segment_id, segment_id IN ({outlook}) FROM {PROFILES}
            WHERE as_of_date = $d ORDER BY segment_id""",
        {"d": as_of_date},
    ).fetchall()
    return len(rows), [int(sid) for sid, covered in rows if not covered]
