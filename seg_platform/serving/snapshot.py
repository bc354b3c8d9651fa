"""What a run publishes for the profile service (`core.serving`): per customer, the latest
segment with its name and action, propensity and value scores, overlays, consent per channel,
the reasons for the segment and the signals intent overlays are evaluated over.

Identifiers are stored as `sha256('<type>:<normalised value>')` (what
`core.identifiers.identifier_hash_sql` computes) and `sha256('<type>:<raw text>')` for the
spellings the sources hold (`identity.identifier_values`), never as text: the snapshot holds no
raw PII.
"""

from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from seg_platform.core.serving import TABLES, publish_relations, serving_root
from seg_platform.core.warehouse import fetch_one, frame_to_temp_table, table_exists
from seg_platform.predictions.overlays import check_columns, evaluate, load_overlays

PROFILE_COLUMNS: dict[str, Any] = {
    "profile_id": pl.String, "as_of_date": pl.Date, "segment_id": pl.Int64,
    "segment_name": pl.String, "action": pl.String, "churn_probability": pl.Float64,
    "purchase_probability": pl.Float64, "predicted_value_12m": pl.Float64,
    "predicted_value_percentile": pl.Float64,
}  # fmt: skip
EMPTY: dict[str, dict[str, Any]] = {
    "identifiers": {"kind": pl.String, "key": pl.String, "profile_id": pl.String},
    "overlays": {"profile_id": pl.String, "family": pl.String, "overlay": pl.String},
    "consent": {"profile_id": pl.String, "channel": pl.String, "status": pl.String},
    "reasons": {
        "profile_id": pl.String, "rank": pl.Int32, "feature": pl.String,
        "customer_value": pl.Float64, "segment_average": pl.Float64, "reason": pl.String,
    },
    "signals": {"profile_id": pl.String},
}  # fmt: skip


def _latest(con, schema: str, table: str, column: str = "as_of_date"):
    if not table_exists(con, schema, table):
        return None
    return fetch_one(con, f"SELECT max({column}) FROM {schema}.{table}")[0]


def _create(con, name: str, sql: str, params=None, view: bool = False) -> str:
    """`sql`'s rows as the temporary table (or view) `_serving_<name>`; its name."""
    table = f"_serving_{name}"
    con.execute(f"DROP TABLE IF EXISTS {table}")
    kind = "VIEW" if view else "TABLE"
    con.execute(f"CREATE OR REPLACE TEMP {kind} {table} AS {sql}", params or None)
    return table


def build_relations(con: duckdb.DuckDBPyConnection, overlays_path: str | Path | None = None):
    """The snapshot's tables, as temporary tables of `con` built from the warehouse behind it
    ({table: its temporary table or view}, and `_ids`, the view of the customers' ids the
    others are restricted to; `drop_relations` drops them), and the manifest. Built in DuckDB:
    at 1M customers the identifiers alone are 13M rows, which Python never holds."""
    names = {n: "" for n in TABLES}
    for n, schema in {**EMPTY, "profiles": PROFILE_COLUMNS}.items():
        frame_to_temp_table(con, f"_serving_{n}", pl.DataFrame(schema=schema))
        names[n] = f"_serving_{n}"
    month = _latest(con, "segments", "segment_assignments")
    if month is None or not table_exists(con, "identity", "identity_map"):
        return names, {"month": None, "overlays_day": None}
    day = _latest(con, "predictions", "daily_scores")
    predicted = _latest(con, "predictions", "customer_predictions")
    value_cols = (
        "p.churn_probability, p.purchase_probability, p.predicted_value_12m, "
        "p.predicted_value_percentile"
        if predicted is not None
        else "NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE"
    )
    joins = (
        "LEFT JOIN predictions.customer_predictions p "
        "ON p.profile_id = a.profile_id AND p.as_of_date = $predicted"
        if predicted is not None
        else ""
    )
    # The day's scores (daily scoring) when newer than the month: the segment of a customer new
    # since the fit and the refreshed propensities.
    daily = day is not None and day > month
    base = (
        "SELECT profile_id, as_of_date, segment_id, segment_name, churn_probability, "
        "purchase_probability FROM predictions.daily_scores WHERE as_of_date = $day"
        if daily
        else "SELECT profile_id, as_of_date, segment_id, segment_name, NULL::DOUBLE AS "
        "churn_probability, NULL::DOUBLE AS purchase_probability "
        "FROM segments.segment_assignments WHERE as_of_date = $month"
    )
    params = {"month": month, **({"day": day} if daily else {})}
    if predicted is not None:
        params["predicted"] = predicted
    _create(
        con,
        "profiles",
        f"""
        SELECT a.profile_id::VARCHAR AS profile_id, a.as_of_date::DATE AS as_of_date,
               a.segment_id::BIGINT AS segment_id, a.segment_name::VARCHAR AS segment_name,
               sp.action::VARCHAR AS action,
               coalesce(a.churn_probability, c.churn_probability)::DOUBLE AS churn_probability,
               coalesce(a.purchase_probability, c.purchase_probability)::DOUBLE
                   AS purchase_probability,
               c.predicted_value_12m::DOUBLE AS predicted_value_12m,
               c.predicted_value_percentile::DOUBLE AS predicted_value_percentile
        FROM ({base}) a
        LEFT JOIN segments.segment_profiles sp
          ON sp.segment_id = a.segment_id AND sp.as_of_date = $month
        LEFT JOIN (SELECT a.profile_id, {value_cols}
                   FROM segments.segment_assignments a {joins}
                   WHERE a.as_of_date = $month) c
          ON c.profile_id = a.profile_id
        ORDER BY a.profile_id
        """,
        params,
    )
    # The customers the snapshot answers for, to restrict every other table to (a view: the
    # profiles' other columns must not meet the joined tables' own, e.g. as_of_date).
    _create(con, "ids", "SELECT profile_id FROM _serving_profiles", view=True)
    # Keyed by the normalised value (what a lookup normalises to) and, for the spellings the
    # sources hold, by the raw text as written: a lookup in a spelling seen before needs no
    # normalisation at all (and a phone gets the region its records' country gave it).
    raw = (
        "UNION ALL SELECT 'raw' AS kind, sha256(v.id_type || ':' || v.raw_value) AS key, "
        "m.profile_id FROM identity.identifier_values v JOIN identity.identity_map m "
        "USING (id_type, value) JOIN _serving_ids USING (profile_id) "
        "WHERE v.raw_value IS NOT NULL"
        if table_exists(con, "identity", "identifier_values")
        else ""
    )
    _create(
        con,
        "identifiers",
        "SELECT DISTINCT * FROM (SELECT 'value' AS kind, sha256(id_type || ':' || value) AS key, "
        "m.profile_id FROM identity.identity_map m JOIN _serving_ids USING (profile_id) "
        f"WHERE value IS NOT NULL {raw}) ORDER BY kind, key",
        view=True,  # computed once, as it is written to Parquet: never held in memory
    )
    if table_exists(con, "activation", "consent_status"):
        _create(
            con,
            "consent",
            "SELECT profile_id, channel, status FROM activation.consent_status "
            "JOIN _serving_ids USING (profile_id) ORDER BY ALL",
        )
    reasons_month = _latest(con, "segments", "assignment_reasons", "month")
    reason_cols = "profile_id, rank, feature, customer_value, segment_average, reason"
    parts = []
    if reasons_month is not None and daily:
        # The reasons of the segment each customer has on the day: the assignment's month's
        # for a segment kept from the monthly fit, the day's for one daily scoring placed.
        parts.append(
            f"SELECT r.{reason_cols.replace(', ', ', r.')} FROM segments.assignment_reasons r "
            "JOIN predictions.daily_scores d ON d.profile_id = r.profile_id "
            "AND r.month = d.segmented_as_of "
            "WHERE d.as_of_date = $day AND d.segment_source = 'monthly'"
        )
    elif reasons_month is not None:
        parts.append(
            f"SELECT {reason_cols} FROM segments.assignment_reasons WHERE month = $reasons_month"
        )
    if daily and table_exists(con, "predictions", "daily_assignment_reasons"):
        parts.append(
            f"SELECT {reason_cols} FROM predictions.daily_assignment_reasons "
            "WHERE as_of_date = $day"
        )
    if parts:
        reason_params = {"reasons_month": reasons_month} if not daily else {"day": day}
        _create(
            con,
            "reasons",
            "SELECT profile_id::VARCHAR AS profile_id, rank::INTEGER AS rank, "
            "feature::VARCHAR AS feature, customer_value::DOUBLE AS customer_value, "
            "segment_average::DOUBLE AS segment_average, reason::VARCHAR AS reason "
            f"FROM ({' UNION ALL '.join(parts)}) JOIN _serving_ids "
            "USING (profile_id) ORDER BY profile_id, rank",
            reason_params,
        )
    features_month = _latest(con, "features", "customer_features")
    if features_month is not None:
        _create(
            con,
            "signals",
            "SELECT p.profile_id, p.segment_id, p.segment_name, p.churn_probability, "
            "p.purchase_probability, f.* EXCLUDE (profile_id, as_of_date) "
            "FROM _serving_profiles p LEFT JOIN features.customer_features f "
            "ON f.profile_id = p.profile_id AND f.as_of_date = ? ORDER BY p.profile_id",
            [features_month],
        )
    overlays_day = _latest(con, "predictions", "customer_overlays")
    if overlays_day is not None:
        _create(
            con,
            "overlays",
            "SELECT profile_id, family, overlay FROM predictions.customer_overlays "
            "JOIN _serving_ids USING (profile_id) WHERE as_of_date = ? ORDER BY ALL",
            [overlays_day],
        )
    elif features_month is not None:
        # No daily scoring yet: the overlays as daily scoring would give them over the month.
        families = load_overlays(overlays_path)
        signal_columns = [r[0] for r in con.sql("DESCRIBE _serving_signals").fetchall()]
        check_columns(families, signal_columns, overlays_path)
        frame_to_temp_table(
            con, "_serving_overlays", evaluate(con, families, "_serving_signals", overlays_path)
        )
    manifest = {
        "month": month,
        "scores_day": day if daily else None,
        "features_as_of": features_month,
        "overlays_day": overlays_day,
        "reasons_month": reasons_month,
        "reasons_day": day if daily else None,
    }
    return {**names, "_ids": "_serving_ids"}, manifest


def drop_relations(con: duckdb.DuckDBPyConnection, names: dict[str, str]) -> None:
    """Drop the temporary tables and views `build_relations` made (views first: they read
    the tables)."""
    views = {
        r[0] for r in con.sql("SELECT view_name FROM duckdb_views() WHERE temporary").fetchall()
    }
    for name in sorted(names.values(), key=lambda n: n not in views):
        con.execute(f"DROP {'VIEW' if name in views else 'TABLE'} IF EXISTS {name}")


def publish_from_warehouse(
    con: duckdb.DuckDBPyConnection, home_root: Path, overlays_path: str | Path | None = None
) -> Path:
    """Build the snapshot from the warehouse and publish it under the home; its folder."""
    names, manifest = build_relations(con, overlays_path)
    try:
        return publish_relations(
            serving_root(home_root), con, names, manifest, lambda: drop_relations(con, names)
        )
    finally:
        drop_relations(con, names)
