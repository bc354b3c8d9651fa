"""What the prediction models read from the warehouse: features as of any instant, labelled
training months and purchase transactions.

Features of a month come from `features.customer_features` when that month is built, and are
otherwise computed with the same SQL model as of the same instant (point-in-time, so the rows
are the ones the table would hold). Daily scoring computes them as of the end of a day.
"""

import datetime as dt

import polars as pl

from seg_platform.predictions.labels import outcome_labels
from seg_platform.sql_models.project import month_parameters
from seg_platform.warehouse import fetch_frame, fetch_one, frame_to_temp_table, table_exists

FEATURES = "features.customer_features"
ON_THE_FLY = "_features_as_of"


def _features_model():
    from seg_platform.sql_models.assets import SQL_ROOT
    from seg_platform.sql_models.project import load_project

    return next(m for m in load_project(SQL_ROOT) if m.table == FEATURES)


def day_parameters(day: dt.date) -> dict[str, object]:
    """As-of parameters for the end of `day` (the SQL models' `$as_of`, `$as_of_date`)."""
    return {
        "as_of": dt.datetime.combine(day, dt.time.max),
        "as_of_date": day,
        "month_start": day.replace(day=1),
    }


def known_features(con, params: dict[str, object], stored: bool = True) -> pl.DataFrame:
    """Features of every known customer as of `params['as_of']`, sorted by profile_id.

    `stored`: read the snapshot table when it holds that date (month ends); otherwise, or when
    it does not, compute it from the SQL model."""
    from seg_platform.sql_models.run import compute_snapshot

    as_of_date = params["as_of_date"]
    if stored and table_exists(con, "features", "customer_features"):
        (rows,) = fetch_one(
            con, f"SELECT count(*) FROM {FEATURES} WHERE as_of_date = ?", [as_of_date]
        )
        if rows:
            return _known(con, f"(SELECT * FROM {FEATURES} WHERE as_of_date = '{as_of_date}')")
    compute_snapshot(con, _features_model(), params, ON_THE_FLY)
    try:
        return _known(con, ON_THE_FLY)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {ON_THE_FLY}")


def _known(con, relation: str) -> pl.DataFrame:
    return con.sql(
        f"SELECT f.* FROM {relation} f JOIN identity.profiles p USING (profile_id) "
        "WHERE p.known ORDER BY f.profile_id"
    ).pl()


def labelled_month(con, month: str, labels: tuple[str, ...]) -> pl.DataFrame:
    """One month's features of known customers with their outcome labels (rows whose labels
    are not known yet are dropped; the caller checks that a month is complete)."""
    features = known_features(con, month_parameters(month))
    frame_to_temp_table(con, "_label_profiles", features.select("profile_id"))
    try:
        outcome = outcome_labels(con, month, "_label_profiles")
    finally:
        con.execute("DROP TABLE IF EXISTS _label_profiles")
    joined = features.join(outcome.drop("as_of_date"), on="profile_id", how="left")
    return joined.with_columns(pl.lit(month).alias("label_month"))


def transactions(con, until: dt.datetime) -> pl.DataFrame:
    """Completed shop orders up to `until`, one row per customer and purchase day."""
    if not table_exists(con, "staging", "stg_orders"):
        return pl.DataFrame(schema={"profile_id": pl.String, "day": pl.Date, "value": pl.Float64})
    return fetch_frame(
        con,
        """
        SELECT profile_id, CAST(order_ts AS DATE) AS day, sum(amount)::DOUBLE AS value
        FROM staging.stg_orders
        WHERE status = 'completed' AND order_ts <= ? AND profile_id IS NOT NULL
        GROUP BY ALL ORDER BY profile_id, day""",
        [until],
    )
