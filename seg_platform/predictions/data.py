"""What the prediction models read from the warehouse: features as of any instant, labelled
training months and purchase transactions.

Features of a month come from `features.customer_features` when that month is built, and are
otherwise computed with the same SQL model as of the same instant (point-in-time, so the rows
are the ones the table would hold). Training stores what it had to compute, and the labels of
months whose windows are over, in the stored history (`features.history`), and reads them from
there while their inputs are unchanged. Daily scoring computes features as of the end of a day.
"""

import datetime as dt
from collections.abc import Mapping

import polars as pl

from seg_platform.core.calendar import month_parameters
from seg_platform.core.paths import SQL_ROOT
from seg_platform.core.warehouse import fetch_frame, fetch_one, quote, table_exists
from seg_platform.features.history import ON_THE_FLY, History
from seg_platform.sql_models.project import load_project
from seg_platform.sql_models.run import compute_snapshot

FEATURES = "features.customer_features"
ORIGINS = ("monthly table", "stored history", "computed")


def _features_model():
    return next(m for m in load_project(SQL_ROOT) if m.table == FEATURES)


def known_features(con, params: dict[str, object], stored: bool = True) -> pl.DataFrame:
    """Features of every known customer as of `params['as_of']`, sorted by profile_id.

    `stored`: read the snapshot table when it holds that date (month ends); otherwise, or when
    it does not, compute it from the SQL model."""
    _known_features_table(con, params, "_known_features", stored)
    try:
        return con.sql("SELECT * FROM _known_features ORDER BY profile_id").pl()
    finally:
        con.execute("DROP TABLE IF EXISTS _known_features")


def _known_features_table(
    con,
    params: Mapping[str, object],
    into: str,
    stored: bool = True,
    history: History | None = None,
) -> str:
    """Temp table `into`: what `known_features` returns, left in DuckDB. With `history`, a
    month not in the monthly table comes from (or goes to) the stored history. Returns where
    the rows came from: 'monthly table', 'stored history' or 'computed'."""
    as_of_date = params["as_of_date"]
    source = f"(SELECT * FROM {FEATURES} WHERE as_of_date = '{as_of_date}')"
    if not (
        stored
        and table_exists(con, "features", "customer_features")
        and fetch_one(con, f"SELECT count(*) FROM {FEATURES} WHERE as_of_date = ?", [as_of_date])[0]
    ):
        if stored and history is not None:
            source = history.features(params)
        else:
            compute_snapshot(con, _features_model(), params, ON_THE_FLY)
            source = ON_THE_FLY
        origin = "computed" if source == ON_THE_FLY else "stored history"
    else:
        origin = "monthly table"
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {into} AS SELECT f.* FROM {source} f "
            "JOIN identity.profiles p USING (profile_id) WHERE p.known"
        )
    finally:
        con.execute(f"DROP TABLE IF EXISTS {ON_THE_FLY}")
    return origin


class FeatureSnapshots:
    """Month-end features of known customers, each month computed at most once while open.

    The churn and purchase models train on overlapping months (11 distinct of 14 at the
    defaults), and each month not stored in `features.customer_features` would be a full run
    of the features model: it is read from the stored history (`history`), or computed once
    and stored there. Snapshots stay in DuckDB temp tables (which spill to disk), never in
    Python memory, and are dropped on close."""

    def __init__(self, con):
        self.con = con
        self.tables: dict[dt.date, str] = {}
        self.origins: dict[dt.date, str] = {}  # where each month's rows came from
        self.history = History(con, _features_model())

    def __enter__(self) -> "FeatureSnapshots":
        return self

    def __exit__(self, *exc) -> None:
        for table in self.tables.values():
            self.con.execute(f"DROP TABLE IF EXISTS {table}")
        self.tables.clear()

    def summary(self) -> dict[str, int]:
        """Months of features by origin, and months of labels stored now (asset metadata)."""
        counts = {f"feature_months_{k.replace(' ', '_')}": 0 for k in ORIGINS}
        for origin in self.origins.values():
            counts[f"feature_months_{origin.replace(' ', '_')}"] += 1
        return counts | {"label_months_stored_now": len(self.history.stored_labels)}

    def table(self, month: str) -> str:
        """Temp table of `month`'s features (month end) of known customers."""
        params = month_parameters(month)
        as_of_date = params["as_of_date"]
        if as_of_date not in self.tables:
            name = f"_snapshot_{as_of_date:%Y%m%d}"
            self.origins[as_of_date] = _known_features_table(
                self.con, params, name, history=self.history
            )
            self.tables[as_of_date] = name
        return self.tables[as_of_date]


def labelled_rows(
    con,
    snapshots: FeatureSnapshots,
    months: list[str],
    label: str,
    limit: int,
    seed: int,
    labelled_only: bool = True,
) -> tuple[pl.DataFrame, int]:
    """Features with their outcome labels for the known customers of `months`, at most
    `limit` rows, sorted by label month and profile id; and how many rows there were.

    `labelled_only` drops rows whose `label` is not known yet. Beyond `limit`, a deterministic
    uniform sample (rows ordered by md5 of seed, month and profile id) is fetched, so a million
    customers' months never pass through Python whole."""
    con.execute("DROP TABLE IF EXISTS _labelled")
    for i, month in enumerate(months):
        table = snapshots.table(month)
        sql, params = snapshots.history.labels_sql(month, table)
        verb = "CREATE TEMP TABLE _labelled AS" if i == 0 else "INSERT INTO _labelled"
        con.execute(
            f"{verb} SELECT '{month}' AS label_month, * EXCLUDE (as_of_date) FROM ({sql})", params
        )
    try:
        keep = f"WHERE {quote(label)} IS NOT NULL" if labelled_only else ""
        (total,) = fetch_one(con, f"SELECT count(*) FROM _labelled {keep}")
        order = f"md5('{int(seed)}:' || label_month || ':' || profile_id)"
        sample = f"ORDER BY {order} LIMIT {int(limit)}" if total > limit else ""
        con.execute(f"CREATE OR REPLACE TEMP TABLE _picked AS FROM _labelled {keep} {sample}")
        parts = [
            f"SELECT f.*, l.* EXCLUDE (profile_id) FROM {snapshots.table(month)} f "
            f"JOIN _picked l ON l.profile_id = f.profile_id AND l.label_month = '{month}'"
            for month in months
        ]
        frame = con.sql(
            " UNION ALL BY NAME ".join(parts) + " ORDER BY label_month, profile_id"
        ).pl()
    finally:
        con.execute("DROP TABLE IF EXISTS _labelled; DROP TABLE IF EXISTS _picked")
    return frame, int(total)


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
