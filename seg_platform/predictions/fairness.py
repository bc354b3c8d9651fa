"""A fairness audit of the month's segments and scores by sensitive or proxy attributes: age
band (from a CRM date of birth), country, gender (a CRM `gender` column, where one is mapped).

For each attribute present in the data, each group's share of customers in every segment and
its mean churn and purchase probability, each against the group with the highest value (the
"four-fifths rule" ratio: lowest over highest; below the configured ratio is a disparity).
Groups with fewer customers than the configured minimum are suppressed: no row, no count, so
a tiny group's members cannot be singled out. An audit, not a guarantee (docs/fairness.md).

Plain DuckDB and Polars, no Dagster.
"""

import datetime as dt

import polars as pl

from seg_platform.core.warehouse import fetch_frame, table_exists
from seg_platform.identity.countries import country_region

AUDIT = "predictions.fairness_audit"
CRM = "identity.profiled_crm_contacts"  # raw.crm_contacts with each record's profile
UNKNOWN = "unknown"
SCORES = ("churn_probability", "purchase_probability")
# Age bands at the month's end, from the date of birth.
AGE_BANDS = ((0, "under 18"), (18, "18-24"), (25, "25-34"), (35, "35-44"), (45, "45-54"),
             (55, "55-64"), (65, "65+"))  # fmt: skip
AUDIT_SCHEMA = {
    "as_of_date": pl.Date,
    "attribute": pl.String,
    "group_value": pl.String,
    "customers": pl.Int64,
    "metric": pl.String,
    "segment_id": pl.Int64,
    "value": pl.Float64,
    "best_value": pl.Float64,
    "ratio_to_best": pl.Float64,
    "disparity": pl.Boolean,
}


def born_sql(dob: str) -> str:
    """SQL for the date of a YYYY-MM-DD or YYYYMMDD date-of-birth text (NULL otherwise)."""
    text = f"trim(CAST({dob} AS VARCHAR))"
    return f"coalesce(try_strptime({text}, '%Y-%m-%d'), try_strptime({text}, '%Y%m%d'))::DATE"


def age_band(born: pl.Expr, as_of_date: dt.date) -> pl.Expr:
    """The age band at `as_of_date` of a date of birth (NULL when unknown or implausible)."""
    before_birthday = (born.dt.month() * 100 + born.dt.day()) > (
        as_of_date.month * 100 + as_of_date.day
    )
    age = as_of_date.year - born.dt.year() - before_birthday.cast(pl.Int32)
    band = pl.lit(None, dtype=pl.String)
    for low, name in AGE_BANDS:
        band = pl.when(age >= low).then(pl.lit(name)).otherwise(band)
    return pl.when((age >= 0) & (age <= 120)).then(band)


def attributes(con, as_of_date: dt.date) -> tuple[pl.DataFrame, list[str]]:
    """profile_id and one column per sensitive attribute the CRM holds (age_band, country,
    gender), for the profiles of the month's assignments; the attributes found."""
    found: list[str] = []
    if not table_exists(con, "identity", "profiled_crm_contacts"):
        return pl.DataFrame(schema={"profile_id": pl.String}), found
    columns = {r[0] for r in con.execute(f"DESCRIBE {CRM}").fetchall()}
    picks = []
    if "date_of_birth" in columns:
        picks.append(f"{born_sql('date_of_birth')} AS age_band")
        found.append("age_band")
    if "country" in columns:
        picks.append("nullif(trim(country), '') AS country")
        found.append("country")
    if "gender" in columns:
        picks.append("lower(nullif(trim(gender), '')) AS gender")
        found.append("gender")
    if not picks:
        return pl.DataFrame(schema={"profile_id": pl.String}), found
    contacts = fetch_frame(
        con,
        f"SELECT profile_id, {', '.join(picks)} FROM {CRM} WHERE profile_id IS NOT NULL "
        "ORDER BY ALL",
    )
    if "age_band" in found:
        contacts = contacts.with_columns(age_band(pl.col("age_band"), as_of_date))
    if "country" in found:  # "USA", "U.S.", "united states": one ISO code
        codes = {c: country_region(c) for c in contacts["country"].drop_nulls().unique()}
        contacts = contacts.with_columns(
            pl.col("country").replace_strict(codes, default=None, return_dtype=pl.String)
        )
    # A profile with several CRM contacts: its most frequent known value (ties: the smallest).
    frame = (
        contacts.unpivot(index="profile_id", on=found, variable_name="a", value_name="v")
        .drop_nulls("v")
        .group_by("profile_id", "a", "v")
        .len()
        .sort("profile_id", "a", "len", "v", descending=[False, False, True, False])
        .unique(["profile_id", "a"], keep="first", maintain_order=True)
        .pivot(on="a", index="profile_id", values="v")
    )
    for a in found:
        if a not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(a))
    # An attribute no contact has a value for tells nothing.
    found = [a for a in found if frame[a].null_count() < frame.height]
    return frame.select("profile_id", *found), found


def audit(
    as_of_date: dt.date,
    members: pl.DataFrame,
    attribute_names: list[str],
    min_group: int,
    min_ratio: float,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The audit rows (AUDIT_SCHEMA) of `members` (profile_id, segment_id, the scores and one
    column per attribute; a missing value is the group `unknown`), and per attribute how many
    groups were suppressed for having fewer than `min_group` customers.

    Ratios compare the groups shown, `unknown` included only as a row (it is not a group of
    people, so never the reference nor flagged)."""
    rows: list[pl.DataFrame] = []
    suppressed: dict[str, int] = {}
    segments = sorted(set(members["segment_id"].to_list()))
    for attribute in attribute_names:
        frame = members.with_columns(
            pl.col(attribute).cast(pl.String).fill_null(UNKNOWN).alias("group_value")
        )
        sizes = frame.group_by("group_value").len("customers")
        shown = sizes.filter(pl.col("customers") >= min_group)
        suppressed[attribute] = sizes.height - shown.height
        frame = frame.join(shown, on="group_value")
        if frame.is_empty():
            continue
        parts = [
            frame.group_by("group_value", "customers").agg(
                pl.lit("share_in_segment").alias("metric"),
                pl.lit(s, dtype=pl.Int64).alias("segment_id"),
                (pl.col("segment_id") == s).mean().cast(pl.Float64).alias("value"),
            )
            for s in segments
        ]
        parts += [
            frame.group_by("group_value", "customers").agg(
                pl.lit(f"mean_{score}").alias("metric"),
                pl.lit(None, dtype=pl.Int64).alias("segment_id"),
                pl.col(score).mean().cast(pl.Float64).alias("value"),
            )
            for score in SCORES
            if score in frame.columns and frame[score].null_count() < frame.height
        ]
        long = pl.concat(parts).with_columns(pl.lit(attribute).alias("attribute"))
        known = pl.col("group_value") != UNKNOWN
        long = long.with_columns(
            pl.col("value").filter(known).max().over("metric", "segment_id").alias("best_value")
        ).with_columns(
            pl.when(pl.col("best_value") > 0)
            .then(pl.col("value") / pl.col("best_value"))
            .alias("ratio_to_best")
        ).with_columns(
            (known & (pl.col("ratio_to_best") < min_ratio)).fill_null(False).alias("disparity")
        )  # fmt: skip
        rows.append(long)
    if not rows:
        return pl.DataFrame(schema=AUDIT_SCHEMA), suppressed
    out = (
        pl.concat(rows)
        .with_columns(
            pl.lit(as_of_date).alias("as_of_date"),
            pl.col("value").round(4),
            pl.col("best_value").round(4),
            pl.col("ratio_to_best").round(4),
        )
        .select(list(AUDIT_SCHEMA))
        .cast(AUDIT_SCHEMA)  # type: ignore[arg-type]
        .sort("attribute", "metric", "segment_id", "group_value", nulls_last=True)
    )
    return out, suppressed


def month_members(con, as_of_date: dt.date) -> pl.DataFrame:
    """The month's segment members with their scores (NULL before a model is trained)."""
    scores = ", ".join(f"p.{s}" for s in SCORES)
    has_predictions = table_exists(con, "predictions", "customer_predictions")
    return fetch_frame(
        con,
        f"""SELECT a.profile_id, a.segment_id, {
            scores
            if has_predictions
            else "NULL::DOUBLE AS churn_probability, NULL::DOUBLE AS purchase_probability"
        }
            FROM segments.segment_assignments a
            {
            "LEFT JOIN predictions.customer_predictions p ON p.profile_id = a.profile_id "
            "AND p.as_of_date = a.as_of_date"
            if has_predictions
            else ""
        }
            WHERE a.as_of_date = ? ORDER BY a.profile_id""",
        [as_of_date],
    )
