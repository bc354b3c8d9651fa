"""Stored history: month-end features and closed outcome labels kept once computed, so training
reads them instead of running the features model (or the label query) again.

Training needs a dozen past months. A month the monthly job built is read from
`features.customer_features`; any other month used to be computed on the fly at every training
run. Now it is computed once and stored here, with the fingerprint of everything it was
computed from:

- `features.feature_history`: the features model's rows of months computed on the fly (every
  profile it returns; readers keep the known customers, as from the monthly table);
- `features.label_history`: the outcome labels (`features.labels`) of months whose 30- and
  90-day windows are both over in the data, for the profiles they were asked for;
- `features.history_months`: per (kind, as_of_date), the fingerprint the rows were computed
  from and their count (no time stamp: the same inputs leave the same tables).

The rule: stored rows are read only while the fingerprint of their inputs is the one they were
stored with; otherwise they are computed again and replaced. So they are always the rows a
recomputation would give. The fingerprint of a month covers

- the SQL (the features model's file, the label query's text),
- every row the computation can read: for each input table, the rows dated at or before the
  month's end (features) or before the end of its 90-day window (labels), with every column
  the features model may read (the whole row; for `identity.profiles` the id and first_seen)
  or the label query reads (`LABEL_INPUTS`), profile ids included,
- which sources have any row at all (the model's `present` flags, which read the whole tables),
- for labels, the set of profiles asked for.

An identity rebuild that moves a record to another profile, an erasure, a full reload with other
content, or a late row dated inside the month all change it; a new month's rows, dated after,
do not. Rows are hashed with DuckDB's `hash` (a new DuckDB version may only cause a recompute).

Why tables of their own rather than months written into `features.customer_features`: a month
there is a Dagster partition, written by its asset, gated by its blocking checks (and compared
by `features_stable_since_last_month` with the month before) and recorded as materialized; a
month written by training would be a partition Dagster does not know of, whose checks never ran.
The monthly table stays the schedule's record of a month as it was built, and training reads it
first; the history is a cache of what training would otherwise compute, so it must equal a
recomputation now, which the fingerprint guarantees.

Erasure (`privacy.erasure`) deletes an erased person's rows here like in every table keyed by
profile, and (as these tables' names end in `_history`) every row of a profile id the
identity graph no longer has: a month stored before a merge may hold the person's old id.
"""

import datetime as dt
import hashlib
import json
from collections.abc import Mapping

import duckdb

from seg_platform.core.calendar import add_months, month_start
from seg_platform.core.warehouse import fetch_one, quote, replace_partition, table_exists
from seg_platform.features.labels import data_end, label_windows, outcome_labels_sql
from seg_platform.sql_models.project import Model
from seg_platform.sql_models.run import compute_snapshot

FEATURE_HISTORY = "features.feature_history"
LABEL_HISTORY = "features.label_history"
MONTHS = "features.history_months"
ON_THE_FLY = "_features_as_of"

# The tables the features model and the labels read, each with the column that dates a row
# and the columns hashed (None: the whole row). A table the model reads that is not here is
# hashed whole, every month: always correct, never reused once new data arrives.
DATED: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "staging.stg_events": ("event_ts", None),
    "staging.stg_orders": ("order_ts", None),
    "staging.stg_email_events": ("event_ts", None),
    "staging.stg_tickets": ("opened_at", None),
    "staging.stg_invoices": ("invoice_ts", None),
    "identity.profiles": ("first_seen", ("profile_id", "first_seen")),
}
# What the label query (`features.labels`) reads of each table: only these columns are hashed.
LABEL_INPUTS = {
    "staging.stg_events": ("profile_id", "event_ts"),
    "staging.stg_orders": ("profile_id", "order_ts", "status", "amount"),
    "staging.stg_invoices": ("profile_id", "invoice_ts", "status", "amount"),
}
# Labels are read from the 30- and 90-day windows: the three months after the month.
LABEL_MONTHS_AFTER = 3


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def writable(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the connection may write (a read-only reader computes without storing)."""
    return not fetch_one(
        con, "SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()"
    )[0]


class Inputs:
    """Per input table, rows and a sum of row hashes by calendar month, read once and summed up
    to any cutoff: the fingerprints of every month cost one pass over each table (one per set
    of columns hashed)."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self._months: dict[tuple, dict[dt.date | None, tuple[int, int]]] = {}
        self._present: dict[tuple, list[str]] = {}

    def _read(self, key: tuple[str, tuple[str, ...] | None]) -> None:
        table, hashed = key
        schema, name = table.split(".")
        columns = [
            r[0]
            for r in self.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                "AND table_name = ? ORDER BY ordinal_position",
                [schema, name],
            ).fetchall()
        ]
        dated = DATED[table][0] if table in DATED else None
        row = f"hash({', '.join(quote(c) for c in hashed)})" if hashed else "hash(t)"
        month = f"date_trunc('month', {quote(dated)})::DATE" if dated else "NULL::DATE"
        source = "source" if "source" in columns else "NULL"
        rows = self.con.execute(
            f"SELECT {month} AS m, {source} AS s, count(*), sum({row})::HUGEINT "
            f"FROM {table} t GROUP BY ALL"
        ).fetchall()
        by_month: dict[dt.date | None, tuple[int, int]] = {}
        for m, _s, n, h in rows:
            before = by_month.get(m, (0, 0))
            by_month[m] = (before[0] + n, before[1] + int(h or 0))
        self._months[key] = by_month
        # What the model's `present` flags see: any row at all, per source where there is one.
        self._present[key] = sorted({str(s) for _m, s, _n, _h in rows})

    def upto(
        self, table: str, last_month: dt.date, hashed: tuple[str, ...] | None = None
    ) -> tuple[object, ...]:
        """(rows, hash sum, sources present) of `table`'s rows dated in or before the month
        starting `last_month` (a table without a date column: all its rows), hashing the
        columns `hashed` (default: DATED's)."""
        key = (table, hashed or (DATED[table][1] if table in DATED else None))
        if key not in self._months:
            self._read(key)
        months = self._months[key]
        undated = table not in DATED
        n = sum(v[0] for m, v in months.items() if undated or (m is not None and m <= last_month))
        h = sum(v[1] for m, v in months.items() if undated or (m is not None and m <= last_month))
        return n, str(h % 2**128), self._present[key]


class History:
    """The stored history of one warehouse connection, for one training run (the input
    fingerprints are read once, at first need, and assume the inputs do not change meanwhile).

    `computed` counts the months whose features had to be computed (tests and metadata)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, model: Model):
        self.con = con
        self.model = model
        self.inputs = Inputs(con)
        self.store = writable(con)
        self.computed: list[dt.date] = []
        self.stored_labels: list[dt.date] = []
        self._data_end: list[dt.datetime | None] = []

    # -- fingerprints ---------------------------------------------------------------------

    def features_fingerprint(self, as_of_date: dt.date) -> str:
        last = month_start(as_of_date)
        tables = sorted(set(self.model.reads) | {"identity.profiles"})
        return _digest(
            {
                "sql": hashlib.sha256(self.model.sql.encode()).hexdigest(),
                "inputs": {t: self.inputs.upto(t, last) for t in tables},
            }
        )

    def labels_fingerprint(self, month: str, profiles_table: str) -> str:
        last = month_start(add_months(month, LABEL_MONTHS_AFTER))
        sql, _ = outcome_labels_sql(self.con, month, "profiles_table")
        (profiles,) = fetch_one(
            self.con,
            f"SELECT sum(hash(profile_id))::HUGEINT FROM (SELECT DISTINCT profile_id "
            f"FROM {profiles_table})",
        )
        return _digest(
            {
                "sql": hashlib.sha256(sql.encode()).hexdigest(),
                "inputs": {t: self.inputs.upto(t, last, c) for t, c in LABEL_INPUTS.items()},
                "profiles": str(profiles),
            }
        )

    def _stored(self, kind: str, as_of_date: dt.date) -> str | None:
        if not table_exists(self.con, "features", MONTHS.split(".")[1]):
            return None
        row = self.con.execute(
            f"SELECT inputs FROM {MONTHS} WHERE kind = ? AND as_of_date = ?", [kind, as_of_date]
        ).fetchall()
        return row[0][0] if row else None

    def _save(self, kind: str, table: str, source: str, as_of_date: dt.date, inputs: str) -> None:
        """Replace the month's rows of `table` with `source`'s, then record their fingerprint
        (forgotten first: interrupted in between, the month is computed again)."""
        self.con.execute("CREATE SCHEMA IF NOT EXISTS features")
        self.con.execute(
            f"CREATE TABLE IF NOT EXISTS {MONTHS} (kind VARCHAR, as_of_date DATE, "
            "inputs VARCHAR, rows BIGINT)"
        )
        self.con.execute(
            f"DELETE FROM {MONTHS} WHERE kind = ? AND as_of_date = ?", [kind, as_of_date]
        )
        replace_partition(self.con, table, source, "as_of_date", as_of_date)
        (rows,) = fetch_one(self.con, f"SELECT count(*) FROM {source}")
        self.con.execute(
            f"INSERT INTO {MONTHS} VALUES (?, ?, ?, ?)",
            [kind, as_of_date, inputs, rows],
        )

    # -- reads ----------------------------------------------------------------------------

    def features(self, params: Mapping[str, object]) -> str:
        """A relation (SQL text) with the features model's rows as of the month's end: the
        stored ones while valid, else computed now (and stored, when the connection may
        write). A computed month stays in the temp table `_features_as_of` until the caller
        drops it."""
        as_of_date = params["as_of_date"]
        assert isinstance(as_of_date, dt.date)
        stored = self._stored("features", as_of_date)
        # A reader that can neither find nor store the month needs no fingerprint.
        inputs = self.features_fingerprint(as_of_date) if stored or self.store else None
        if inputs is not None and stored == inputs:
            return f"(SELECT * FROM {FEATURE_HISTORY} WHERE as_of_date = '{as_of_date}')"
        compute_snapshot(self.con, self.model, params, ON_THE_FLY)
        self.computed.append(as_of_date)
        if self.store and inputs is not None:
            self._save("features", FEATURE_HISTORY, ON_THE_FLY, as_of_date, inputs)
        return ON_THE_FLY

    def labels_sql(self, month: str, profiles_table: str) -> tuple[str, dict]:
        """`outcome_labels_sql(con, month, profiles_table)`, or a query of the same rows from
        `features.label_history` once the month's windows are over (stored at first need)."""
        sql, params = outcome_labels_sql(self.con, month, profiles_table)
        if not self._closed(month):
            return sql, params
        as_of_date = params["as_of"].date()
        stored = self._stored("labels", as_of_date)
        if not (stored or self.store):
            return sql, params
        inputs = self.labels_fingerprint(month, profiles_table)
        if stored != inputs:
            if not self.store:
                return sql, params
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE _labels_new AS {sql}", params)
            try:
                self._save("labels", LABEL_HISTORY, "_labels_new", as_of_date, inputs)
            finally:
                self.con.execute("DROP TABLE IF EXISTS _labels_new")
            self.stored_labels.append(as_of_date)
        return (
            f"SELECT * FROM {LABEL_HISTORY} WHERE as_of_date = $as_of_date ORDER BY profile_id",
            {"as_of_date": as_of_date},
        )

    def _closed(self, month: str) -> bool:
        """Both label windows are over in the data (the labels cannot turn NULL or appear)."""
        if not self._data_end:
            self._data_end.append(data_end(self.con))
        end = self._data_end[0]
        last_day = label_windows(month)["end_90d"] - dt.timedelta(days=1)
        return end is not None and end.date() >= last_day.date()
