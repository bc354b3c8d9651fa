"""`seg-platform evaluate`: compare the platform's tables with the generator's ground truth.

Prints one JSON object; each layer adds its own key (`raw` here). The truth folder is read only
by this command, never by the pipeline.
"""

from pathlib import Path
from typing import Any, cast

import duckdb
import polars as pl

from seg_platform.core.calendar import add_months
from seg_platform.core.identity_rules import IdentityRules
from seg_platform.core.settings import PlatformHome
from seg_platform.core.warehouse import connect, fetch_one, table_exists
from seg_platform.identity.build import record_identifiers_sql
from seg_platform.sources.contract import LINKING_SOURCES as SOURCES


def evaluate(home: PlatformHome, truth: Path | None, febrl: Path | None = None) -> dict:
    """All metrics available for the tables that exist in the home's warehouse."""
    metrics: dict = {}
    if truth is not None:
        truth = Path(truth).resolve()
        with connect(home.warehouse) as con:
            metrics["raw"] = raw_metrics(con, truth)
            if table_exists(con, "identity", "identity_map"):
                metrics["identity"] = identity_metrics(con, truth)
            if table_exists(con, "segmentation", "customer_segments"):
                metrics["segmentation"] = segmentation_metrics(con, truth)
            if table_exists(con, "segments", "segment_assignments"):
                metrics["segments"] = segment_metrics(con, truth)
            if table_exists(con, "predictions", "customer_predictions"):
                metrics["predictions"] = prediction_metrics(con, truth)
    if febrl is not None:
        from seg_platform.identity.linkage import febrl_link_metrics

        metrics["linkage_febrl"] = febrl_link_metrics(Path(febrl))
    return metrics


def identity_metrics(con: duckdb.DuckDBPyConnection, truth: Path) -> dict:
    """Pairwise precision / recall of records against the true person, and traps caught.

    Pairs are counted from cluster sizes, never materialised: records in the same profile are a
    predicted pair, records of the same person a true pair. A record with no profile is alone.
    """
    records = truth / "records.parquet"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _eval_records AS
        SELECT DISTINCT t.source, t.record_key, t.person_id,
               coalesce(rp.profile_id, 'none:' || t.source || ':' || t.record_key) AS cluster
        FROM '{records}' t
        JOIN identity.record_profiles rp USING (source, record_key)
    """)
    tp, predicted, true_pairs, n_records, persons, clusters, split, merged = fetch_one(
        con,
        """
        WITH cells AS (SELECT cluster, person_id, count(*) AS n FROM _eval_records GROUP BY ALL),
             c AS (SELECT cluster, sum(n) AS n, count(*) AS persons FROM cells GROUP BY cluster),
             p AS (SELECT person_id, sum(n) AS n, count(*) AS clusters FROM cells
                   GROUP BY person_id)
        SELECT (SELECT sum(n * (n - 1) / 2) FROM cells)::DOUBLE,
               (SELECT sum(n * (n - 1) / 2) FROM c)::DOUBLE,
               (SELECT sum(n * (n - 1) / 2) FROM p)::DOUBLE,
               (SELECT sum(n) FROM c)::BIGINT,
               (SELECT count(*) FROM p), (SELECT count(*) FROM c),
               (SELECT count(*) FROM p WHERE clusters > 1),
               (SELECT count(*) FROM c WHERE persons > 1)
    """,
    )
    precision = tp / predicted if predicted else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    out = {
        "records": n_records,
        "true_persons": persons,
        "profiles": clusters,
        "pairwise_precision": round(precision, 6),
        "pairwise_recall": round(recall, 6),
        "pairwise_f1": round(2 * precision * recall / (precision + recall), 6)
        if precision + recall
        else 0.0,
        "persons_split_across_profiles": split,
        "profiles_mixing_persons": merged,
    }
    if (truth / "traps.parquet").exists():
        out["traps"] = _traps_caught(con, truth)
    return out


def _traps_caught(con, truth: Path) -> dict:
    """A trap (shared device, shared cookie, family email, junk value) is caught when every
    person who used it still has a profile of their own (their majority profiles differ)."""
    usages = record_identifiers_sql(IdentityRules())
    rows = con.execute(f"""
        WITH traps AS (SELECT * FROM '{truth / "traps.parquet"}'),
        used AS (
            SELECT DISTINCT t.trap, t.id_type, t.value, e.person_id
            FROM traps t
            JOIN ({usages}) u ON u.id_type = t.id_type AND u.raw_value = t.value
            JOIN _eval_records e USING (source, record_key)
        ),
        majority AS (
            SELECT person_id, arg_max(cluster, n) AS cluster FROM (
                SELECT person_id, cluster, count(*) AS n FROM _eval_records
                WHERE person_id IN (SELECT person_id FROM used) GROUP BY ALL)
            GROUP BY person_id
        ),
        per_trap AS (
            SELECT u.trap, u.id_type, u.value, count(DISTINCT u.person_id) AS persons,
                   count(DISTINCT m.cluster) AS profiles
            FROM used u JOIN majority m USING (person_id) GROUP BY ALL
        )
        SELECT trap, count(*) AS planted,
               count(*) FILTER (persons < 2 OR profiles = persons) AS caught
        FROM per_trap GROUP BY trap ORDER BY trap
    """).fetchall()
    return {trap: {"planted": planted, "caught": caught} for trap, planted, caught in rows}


def raw_metrics(con: duckdb.DuckDBPyConnection, truth: Path) -> dict:
    """Rows read / kept / quarantined per source, and planted malformed rows caught."""
    malformed = truth / "malformed.parquet"
    records = truth / "records.parquet"
    con.execute(f"CREATE OR REPLACE TEMP VIEW _truth_malformed AS SELECT * FROM '{malformed}'")
    per_source = {}
    for name in SOURCES:
        loaded = fetch_one(
            con,
            "SELECT count(*) > 0, coalesce(sum(rows_read), 0), coalesce(sum(rows_filtered), 0),"
            " coalesce(sum(rows_quarantined), 0), coalesce(sum(rows_kept), 0) "
            "FROM raw.source_files WHERE source = ?",
            [name],
        )
        if not loaded[0]:
            continue
        _, read, filtered, quarantined, kept = (int(v) for v in loaded)
        planted, caught, wrongly = fetch_one(
            con,
            """
            WITH q AS (
                SELECT regexp_extract(source_file, '[^/]+$') AS file, source_row
                FROM raw.quarantine WHERE source = $1
            ), t AS (SELECT DISTINCT file, source_row FROM _truth_malformed WHERE source = $1)
            SELECT (SELECT count(*) FROM t),
                   (SELECT count(*) FROM t SEMI JOIN q USING (file, source_row)),
                   (SELECT count(*) FROM q ANTI JOIN t USING (file, source_row))
            """,
            [name],
        )
        # Every valid record key in the files must survive exactly once.
        expected_kept = fetch_one(
            con,
            f"""SELECT count(DISTINCT record_key) FROM '{records}'
                WHERE source = $1 AND coalesce(record_key, '') <> ''
                  AND record_key NOT IN (
                      SELECT record_key FROM _truth_malformed
                      WHERE source = $1 AND record_key IS NOT NULL)""",
            [name],
        )[0]
        planted_duplicates = fetch_one(
            con,
            f"SELECT coalesce(sum(copies), 0) FROM '{truth / 'duplicates.parquet'}' "
            "WHERE source = $1",
            [name],
        )[0]
        per_source[name] = {
            "rows_read": read,
            "rows_filtered": filtered,
            "rows_quarantined": quarantined,
            "duplicates_removed": read - filtered - quarantined - kept,
            "rows_kept": kept,
            "planted_malformed": planted,
            "malformed_caught": caught,
            "malformed_recall": round(caught / planted, 6) if planted else 1.0,
            "valid_rows_quarantined": wrongly,
            "planted_duplicates": int(planted_duplicates),
            "expected_rows_kept": expected_kept,
        }
    totals = {
        key: sum(s[key] for s in per_source.values())
        for key in (
            "rows_read",
            "rows_quarantined",
            "duplicates_removed",
            "rows_kept",
            "planted_malformed",
            "malformed_caught",
            "valid_rows_quarantined",
            "expected_rows_kept",
        )
    }
    totals["malformed_recall"] = (
        round(totals["malformed_caught"] / totals["planted_malformed"], 6)
        if totals["planted_malformed"]
        else 1.0
    )
    return {"sources": per_source, "totals": totals}


def _profile_owners(con: duckdb.DuckDBPyConnection, truth: Path) -> pl.DataFrame:
    """Each profile's owner: the person who owns most of its records, and its record count."""
    return con.sql(f"""
        WITH cells AS (
            SELECT rp.profile_id, t.person_id, count(*) AS n
            FROM '{truth / "records.parquet"}' t
            JOIN identity.record_profiles rp USING (source, record_key)
            WHERE rp.profile_id IS NOT NULL GROUP BY ALL)
        SELECT profile_id, arg_max(person_id, n) AS person_id, sum(n) AS records
        FROM cells GROUP BY profile_id""").pl()


def _with_archetypes(con, truth: Path, table: str, segment: str) -> pl.DataFrame:
    """Each segmented profile of `table` per month with its owner's archetype that month."""
    con.register("_eval_owners", _profile_owners(con, truth))
    try:
        return con.sql(f"""
            SELECT strftime(s.as_of_date, '%Y-%m') AS month, s.profile_id,
                   s.{segment} AS segment, a.person_id, a.archetype, a.active, o.records
            FROM {table} s
            JOIN _eval_owners o USING (profile_id)
            JOIN '{truth / "archetypes.parquet"}' a ON a.person_id = o.person_id
                 AND a.month = strftime(s.as_of_date, '%Y-%m')
            ORDER BY month, profile_id""").pl()
    finally:
        con.unregister("_eval_owners")


def _main_profiles(frame: pl.DataFrame) -> pl.DataFrame:
    """Each person once per month: by the profile holding most of their records."""
    return frame.sort(["month", "records", "profile_id"], descending=[False, True, False]).unique(
        ["month", "person_id"], keep="first", maintain_order=True
    )


def segmentation_metrics(con: duckdb.DuckDBPyConnection, truth: Path) -> dict:
    """Adjusted Rand index of each month's segments against the planted archetype of that month.

    A profile stands for the person who owns most of its records. `ari` counts each person
    active in the month (signed up and not churned) once, by their largest profile: the
    archetype is what a person does while a customer, and a person who churned keeps their
    last archetype in the truth with no behaviour left to show it. Beside it:
    `ari_all_profiles` also counts the smaller profiles of persons the identity graph split
    (fragments holding part of a person's behaviour; see `identity`), `ari_with_churned`
    counts every segmented profile.
    """
    from sklearn.metrics import adjusted_rand_score

    frame = _with_archetypes(con, truth, "segmentation.customer_segments", "segment")

    def ari(part: pl.DataFrame) -> float:
        return round(adjusted_rand_score(part["archetype"], part["segment"]), 4)

    months = {}
    for (month,), part in frame.group_by(["month"], maintain_order=True):
        active = part.filter(pl.col("active"))
        main = _main_profiles(active)
        months[month] = {
            "profiles": part.height,
            "churned": part.height - active.height,
            "segments": part["segment"].n_unique(),
            "ari": ari(main),
            "ari_all_profiles": ari(active),
            "ari_with_churned": ari(part),
        }
    latest = max(months) if months else None
    return {"latest_month": latest, **(months[latest] if latest else {}), "months": months}


def segment_metrics(con: duckdb.DuckDBPyConnection, truth: Path) -> dict:
    """Segment tables against the planted archetype switches, between consecutive months.

    Persons active in both months, each by their largest profile. A planted switch is a change
    of archetype; an observed move a change of stable segment id. Per month pair: how many of
    each, `agreement` (share of persons where switched == moved), `switches_detected` (recall)
    and `moves_explained` (precision). Features look back up to 90 days, so a switch can show
    a month late: `switches_detected_within_2_months` counts a move in the month of the switch
    or the next. `stable_ids`: per archetype, the segment id holding most of its (unswitched)
    persons in each month, and whether it stayed the same over the months.
    """
    frame = _main_profiles(
        _with_archetypes(con, truth, "segments.segment_assignments", "segment_id")
    )
    months = sorted(frame["month"].unique().to_list())
    pairs: dict[str, dict[str, Any]] = {}
    for before, after in zip(months, months[1:], strict=False):
        a = frame.filter(pl.col("month") == before, pl.col("active"))
        b = frame.filter(pl.col("month") == after, pl.col("active"))
        both = a.join(b, on="person_id", suffix="_next")
        switched = both["archetype"] != both["archetype_next"]
        moved = both["segment"] != both["segment_next"]
        n_switched, n_moved = int(switched.sum()), int(moved.sum())
        n_both = int((switched & moved).sum())
        agreement = float(cast(float, (switched == moved).mean())) if both.height else None
        pairs[after] = {
            "persons_in_both_months": both.height,
            "planted_switches": n_switched,
            "observed_moves": n_moved,
            "agreement": round(agreement, 4) if agreement is not None else None,
            "switches_detected": round(n_both / n_switched, 4) if n_switched else None,
            "moves_explained": round(n_both / n_moved, 4) if n_moved else None,
        }
    # A switch in month m shows as a move into m or into m + 1.
    detected_late = []
    for before, after, later in zip(months, months[1:], months[2:], strict=False):
        parts = [
            frame.filter(pl.col("month") == m, pl.col("active")) for m in (before, after, later)
        ]
        j = (
            parts[0]
            .join(parts[1], on="person_id", suffix="_1")
            .join(parts[2], on="person_id", suffix="_2")
        )
        switched = j["archetype"] != j["archetype_1"]
        moved = (j["segment"] != j["segment_1"]) | (j["segment_1"] != j["segment_2"])
        if int(switched.sum()):
            detected_late.append(int((switched & moved).sum()) / int(switched.sum()))
    stable: dict[str, dict[str, Any]] = {}
    for (archetype,), part in frame.filter(pl.col("active")).group_by(["archetype"]):
        majority = (
            part.group_by("month", "segment").len()
            .sort(["month", "len", "segment"], descending=[False, True, False])
            .unique("month", keep="first").sort("month")
        )  # fmt: skip
        ids = majority["segment"].to_list()
        stable[archetype] = {"segment_ids_by_month": ids, "same_id_throughout": len(set(ids)) == 1}
    totals = {
        "planted_switches": sum(p["planted_switches"] for p in pairs.values()),
        "observed_moves": sum(p["observed_moves"] for p in pairs.values()),
        "mean_agreement": round(sum(p["agreement"] for p in pairs.values()) / len(pairs), 4)
        if pairs
        else None,
        "switches_detected_within_2_months": round(sum(detected_late) / len(detected_late), 4)
        if detected_late
        else None,
        "archetypes_with_stable_id": sum(v["same_id_throughout"] for v in stable.values()),
        "archetypes": len(stable),
    }
    return {"months": months, **totals, "pairs": pairs, "stable_ids": dict(sorted(stable.items()))}


def prediction_metrics(con: duckdb.DuckDBPyConnection, truth: Path) -> dict:
    """Churn probability against the generator's planted churn (no activity in the next three
    months), per month whose three months the truth covers. Each person once, by their main
    profile; `churn_roc_auc` over the customers the platform calls active (an event or order
    in the last 90 days), `churn_roc_auc_all` over every one."""
    from sklearn.metrics import roc_auc_score

    con.register("_eval_owners", _profile_owners(con, truth))
    try:
        frame = con.sql(f"""
            SELECT strftime(p.as_of_date, '%Y-%m') AS month, p.profile_id, p.active,
                   p.churn_probability, o.person_id, o.records, t.churned_next_90d AS churned
            FROM predictions.customer_predictions p
            JOIN _eval_owners o USING (profile_id)
            JOIN '{truth / "outcomes.parquet"}' t ON t.person_id = o.person_id
                 AND t.month = strftime(p.as_of_date, '%Y-%m')
            WHERE p.churn_probability IS NOT NULL""").pl()
        (last,) = con.sql(f"SELECT max(month) FROM '{truth / 'outcomes.parquet'}'").fetchall()[0]
    finally:
        con.unregister("_eval_owners")
    months = {}
    for (month,), part in frame.group_by(["month"], maintain_order=True):
        if add_months(month, 3) > last:
            continue  # the truth does not cover the three months after
        main = _main_profiles(part)
        active = main.filter(pl.col("active"))

        def auc(rows: pl.DataFrame) -> float | None:
            y = rows["churned"].to_numpy()
            both = 0 < y.sum() < len(y)
            return round(float(roc_auc_score(y, rows["churn_probability"])), 4) if both else None

        months[month] = {
            "persons": main.height,
            "churn_rate_active": round(float(cast(float, active["churned"].mean())), 4),
            "churn_roc_auc": auc(active),
            "churn_roc_auc_all": auc(main),
        }
    latest = max(months) if months else None
    note = None if months else "no predicted month has its next three months in the truth"
    return {"latest_month": latest, **(months[latest] if latest else {"note": note}),
            "months": dict(sorted(months.items()))}  # fmt: skip
