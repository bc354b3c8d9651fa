"""Point-in-time outcome labels: what each customer did *after* the end of month M.

Only events after the as-of instant count, never before, so a label never leaks into the
features of the same month (they stop at the as-of instant). Windows are calendar months, as
the monthly snapshots are: the next month (about 30 days) and the next three (about 90).

- `churned_next_90d`: no web or app event and no order in the next three months;
- `purchased_next_30d`: at least one completed order in the next month;
- `revenue_next_90d`: completed orders plus paid subscription invoices in the next three months.

A label whose window is not over in the data yet is NULL (`horizon_complete_90d` /
`horizon_complete_30d` say which), never a false "did nothing".

The labels are part of the features layer (the segments judge their separation by them, the
predictions train on them), but they are a query run by their readers, not a SQL model: a
month's label windows are open-ended in the data (they close only as later months arrive), so
a monthly table written once would keep "not over yet" NULLs after the data reached them, and
the rebuild would have to follow every later load. Computed when read, they are always as
complete as the staging tables.
"""

import datetime as dt

import polars as pl

from seg_platform.core.calendar import month_parameters, month_start_after
from seg_platform.core.warehouse import fetch_frame, fetch_one, table_exists

LABEL_COLUMNS = ("churned_next_90d", "purchased_next_30d", "revenue_next_90d")


def label_windows(month: str | dt.date) -> dict[str, dt.datetime]:
    """The as-of instant and the (exclusive) ends of the 30- and 90-day windows after it."""
    params = month_parameters(month)
    start = params["month_start"]
    return {
        "as_of": params["as_of"],
        "end_30d": dt.datetime.combine(month_start_after(start, 2), dt.time.min),
        "end_90d": dt.datetime.combine(month_start_after(start, 4), dt.time.min),
    }


def data_end(con) -> dt.datetime | None:
    """The latest event, order or invoice in the staging tables: how far outcomes are known."""
    parts = [
        f"SELECT max({column}) AS ts FROM staging.{table}"
        for table, column in (
            ("stg_events", "event_ts"),
            ("stg_orders", "order_ts"),
            ("stg_invoices", "invoice_ts"),
        )  # fmt: skip
        if table_exists(con, "staging", table)
    ]
    if not parts:
        return None
    return fetch_one(con, f"SELECT max(ts) FROM ({' UNION ALL '.join(parts)})")[0]


def outcome_labels(con, month: str | dt.date, profiles_table: str) -> pl.DataFrame:
    """Labels of the month for every profile in `profiles_table` (a table with `profile_id`).

    Needs staging.stg_events, stg_orders and stg_invoices (all history, current tables).
    """
    return fetch_frame(con, *outcome_labels_sql(con, month, profiles_table))


def outcome_labels_sql(con, month: str | dt.date, profiles_table: str) -> tuple[str, dict]:
    """The query behind `outcome_labels` and its parameters, to keep the rows in DuckDB."""
    windows = label_windows(month)
    end = data_end(con)
    # A window is over when the data reaches its last day.
    last_day = {k: (windows[k] - dt.timedelta(days=1)).date() for k in ("end_30d", "end_90d")}
    complete_30 = end is not None and end.date() >= last_day["end_30d"]
    complete_90 = end is not None and end.date() >= last_day["end_90d"]
    return (
        f"""
        WITH active AS (
            SELECT DISTINCT profile_id FROM staging.stg_events
            WHERE event_ts > $as_of AND event_ts < $end_90d
            UNION SELECT profile_id FROM staging.stg_orders
            WHERE order_ts > $as_of AND order_ts < $end_90d),
        bought AS (
            SELECT DISTINCT profile_id FROM staging.stg_orders
            WHERE status = 'completed' AND order_ts > $as_of AND order_ts < $end_30d),
        revenue AS (
            SELECT profile_id, sum(amount) AS revenue FROM (
                SELECT profile_id, amount FROM staging.stg_orders
                WHERE status = 'completed' AND order_ts > $as_of AND order_ts < $end_90d
                UNION ALL
                SELECT profile_id, amount FROM staging.stg_invoices
                WHERE status = 'paid' AND invoice_ts > $as_of AND invoice_ts < $end_90d)
            GROUP BY ALL)
        SELECT p.profile_id,
               CAST($as_of AS DATE) AS as_of_date,
               CASE WHEN $complete_90 THEN a.profile_id IS NULL END AS churned_next_90d,
               CASE WHEN $complete_30 THEN b.profile_id IS NOT NULL END AS purchased_next_30d,
               CASE WHEN $complete_90 THEN round(coalesce(r.revenue, 0), 2)::DOUBLE END
                   AS revenue_next_90d,
               $complete_30 AS horizon_complete_30d,
               $complete_90 AS horizon_complete_90d
        FROM (SELECT DISTINCT profile_id FROM {profiles_table}) p
        LEFT JOIN active a USING (profile_id)
        LEFT JOIN bought b USING (profile_id)
        LEFT JOIN revenue r USING (profile_id)
        ORDER BY p.profile_id""",
        {**windows, "complete_30": complete_30, "complete_90": complete_90},
    )
