"""Activation assets (group `activation`); the feeds' side of erasure is `feeds.FeedErasure`.

- `activation_audiences` (monthly): holdouts, consent, each destination's rows and what changed
  since its last feed; blocking checks guard publishing.
- `activation_feeds` (monthly): the CSV and Parquet files and the DuckDB views.
- `survey_triggers` (monthly) and `survey_report`: who is asked what, and what they answered.
- `campaign_lift` (monthly): treated versus control once an activated month's outcomes are in,
  as a table and an MLflow run.
"""

import datetime as dt
import tempfile
from pathlib import Path

import dagster as dg
import polars as pl

from seg_platform.activation import audiences as aud
from seg_platform.activation.config import check_survey_columns, load_destinations, load_surveys
from seg_platform.activation.destinations import (
    DEFAULT_KIND,
    Destination,
    Written,
    make_destination,
)
from seg_platform.activation.feeds import feed_frames, record_written
from seg_platform.activation.lift import lift_table
from seg_platform.activation.resources import ActivationConfig
from seg_platform.activation.spark_feeds import feeds_on_spark
from seg_platform.core.calendar import month_end_before, month_key, month_parameters
from seg_platform.core.failures import config_errors_as_failures
from seg_platform.core.layers import in_layer, layer_key
from seg_platform.core.metadata import markdown
from seg_platform.core.partitions import monthly_partitions
from seg_platform.core.resources import EngineResource, WarehouseResource
from seg_platform.core.tracking import MlflowResource
from seg_platform.core.warehouse import (
    fetch_frame,
    fetch_one,
    frame_to_temp_table,
    quote,
    replace_partition,
    replace_tables,
    table_exists,
)
from seg_platform.core.yaml_files import sql_string
from seg_platform.features.labels import outcome_labels
from seg_platform.predictions.overlays import check_columns, condition_sql, evaluate, load_overlays
from seg_platform.predictions.resources import PredictionsConfig

LIFT = "activation.lift"
TRIGGERS = "activation.survey_triggers"
REPORT = "activation.survey_report"
LIFT_EXPERIMENT = "activation_lift"
IDENTITY_KEYS = [layer_key("identity", "identity_map")]


# ------------------------------------------------------------------------------------------
# Audiences and their checks


AUDIENCES_KEY = layer_key("activation", "activation_audiences")
AUDIENCE_CHECKS = [
    dg.AssetCheckSpec(
        "no_opted_out_customer_in_feeds", asset=AUDIENCES_KEY, blocking=True,
        description="No feed row for a customer whose latest consent change for the "
        "destination's channel (or `all`) is an opt-out.",
    ),
    dg.AssetCheckSpec(
        "no_control_member_in_feeds", asset=AUDIENCES_KEY, blocking=True,
        description="No feed row for a customer in the month's control group.",
    ),
    dg.AssetCheckSpec(
        "feed_segments_are_validated_segments", asset=AUDIENCES_KEY, blocking=True,
        description="Every feed row's segment id and name is one of this month's segments "
        "(segments.segment_profiles, built only when the segment checks passed).",
    ),
    dg.AssetCheckSpec(
        "feed_counts_reconcile", asset=AUDIENCES_KEY, blocking=True,
        description="For every destination and segment it receives: feed rows = segment size "
        "(segments.segment_profiles) - holdout - opted out - unreachable; for overlays: "
        "feed rows = members - holdout - opted out - unreachable.",
    ),
    dg.AssetCheckSpec(
        "hashed_destinations_carry_no_raw_identifiers", asset=AUDIENCES_KEY,
        blocking=True,
        description="Destinations marked hashed_only (ad audiences) carry only 64-hex SHA-256 "
        "values, never a raw email, phone or id.",
    ),
]  # fmt: skip


@dg.asset(
    **in_layer("activation"),
    kinds={"duckdb"},
    partitions_def=monthly_partitions,
    deps=[layer_key("segments", "segment_assignments"), layer_key("segments", "segment_profiles"),
          layer_key("predictions", "customer_predictions"), layer_key("raw", "consent"),
          layer_key("identity", "identity_map"), layer_key("privacy", "erasure")],
    check_specs=AUDIENCE_CHECKS,
    description="Who goes to which destination this month: control groups (a deterministic "
    "holdout per segment), consent, each destination's rows with their action (segments and "
    "overlays) and what changed since its last published feed. Tables "
    "`activation.experiment_groups`, `activation.consent_status`, "
    "`activation.audience_members`, `activation.feed_members`, `activation.feed_changes`, "
    "`activation.feed_counts`.",
)  # fmt: skip
def activation_audiences(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    activation: ActivationConfig,
    predictions: PredictionsConfig,
    engine: EngineResource,
):
    with config_errors_as_failures():
        destinations = load_destinations(activation.destinations or None)
        families = load_overlays(predictions.overlays or None)
    as_of_date = month_parameters(context.partition_key)["as_of_date"]
    with warehouse.get_connection() as con:
        aud.ensure_tables(con)
        signals = aud.build_signals(con, as_of_date)
        if signals.is_empty():
            raise dg.Failure(
                f"No segments for {context.partition_key}: build the month's segments first.",
                allow_retries=False,
            )
        with config_errors_as_failures():
            check_columns(families, signals.columns, predictions.overlays or None)
            frame_to_temp_table(con, "_signals", signals)
            overlays = evaluate(con, families, "_signals", predictions.overlays or None)
        if table_exists(con, "identity", "profiled_consent"):
            consent_sql = aud.consent_status_sql()
        else:
            consent_sql = (
                "SELECT NULL::VARCHAR AS profile_id, NULL::VARCHAR AS channel, "
                "NULL::VARCHAR AS status, NULL::TIMESTAMP AS changed_at WHERE false"
            )
        replace_tables(
            con, [(aud.CONSENT, f"CREATE OR REPLACE TABLE {aud.CONSENT} AS {consent_sql}")]
        )
        aud.build_groups(
            con, as_of_date, activation.holdout_salt, activation.holdout_share,
            activation.segment_holdout_shares,
        )  # fmt: skip
        aud.build_contacts(con)
        aud.build_candidates(con, as_of_date, destinations, overlays)
        if engine.is_spark:
            feeds_on_spark(*engine.session(), con, destinations, as_of_date)
        else:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _feed AS {aud.feed_sql(destinations)}")
            con.execute(f"CREATE OR REPLACE TEMP TABLE _changes AS {aud.changes_sql(as_of_date)}")
        con.execute(f"CREATE OR REPLACE TEMP TABLE _counts AS {aud.counts_sql()}")
        for table, temp in (
            (aud.GROUPS, "_groups"), (aud.CANDIDATES, "_candidates"), (aud.FEED, "_feed"),
            (aud.CHANGES, "_changes"), (aud.COUNTS, "_counts"),
        ):  # fmt: skip
            replace_partition(con, table, temp, "as_of_date", as_of_date)
        counts = fetch_frame(
            con,
            f"SELECT destination, sum(members) AS candidates, sum(control) AS control, "
            f"sum(opted_out) AS opted_out, sum(unreachable) AS unreachable, "
            f"sum(published) AS published FROM {aud.COUNTS} WHERE as_of_date = ? "
            "GROUP BY destination ORDER BY destination",
            [as_of_date],
        )
        changes = fetch_frame(
            con,
            f"SELECT destination, change, count(*) AS customers FROM {aud.CHANGES} "
            "WHERE as_of_date = ? GROUP BY ALL ORDER BY ALL",
            [as_of_date],
        )
        groups = fetch_frame(
            con,
            f'SELECT "group", count(*) AS customers FROM {aud.GROUPS} WHERE as_of_date = ? '
            "GROUP BY ALL ORDER BY ALL",
            [as_of_date],
        )
        results = audience_checks(con, as_of_date, destinations)
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": int(counts["published"].sum()),
            "feeds": markdown(counts),
            "changes_since_last_feed": markdown(changes),
            "experiment_groups": markdown(groups),
            "holdout_share": activation.holdout_share,
        }
    )
    yield from results


def audience_checks(con, as_of_date: dt.date, destinations) -> list[dg.AssetCheckResult]:
    """The blocking checks, each recomputed from the source tables (not from the statuses)."""
    day = [as_of_date]
    channel = aud.channel_case(destinations)
    (opted_out,) = fetch_one(
        con,
        f"""SELECT count(*) FROM (
            SELECT f.destination, f.profile_id, f.audience,
                   arg_max(c.status, (c.changed_at, c.status = 'opt_out')) AS status
            FROM {aud.FEED} f JOIN {aud.CONSENT} c ON c.profile_id = f.profile_id
             AND c.channel IN (CASE f.destination {channel} END, 'all')
            WHERE f.as_of_date = ? GROUP BY ALL) WHERE status = 'opt_out'""",
        day,
    )
    (control,) = fetch_one(
        con,
        f"""SELECT count(*) FROM {aud.FEED} f JOIN {aud.GROUPS} g
            ON g.as_of_date = f.as_of_date AND g.profile_id = f.profile_id
            WHERE f.as_of_date = ? AND g."group" = 'control'""",
        day,
    )
    (unknown,) = fetch_one(
        con,
        f"""SELECT count(*) FROM {aud.FEED} f ANTI JOIN segments.segment_profiles s
            ON s.as_of_date = f.as_of_date AND s.segment_id = f.segment_id
           AND s.name = f.segment_name
            WHERE f.as_of_date = ?""",
        day,
    )
    mismatches = fetch_frame(
        con,
        f"""WITH fed AS (
                SELECT destination, audience_kind, audience, segment_id, count(*) AS rows
                FROM {aud.FEED} WHERE as_of_date = $d GROUP BY ALL)
            SELECT c.destination, c.audience_kind, c.audience, c.members, s.customers AS size,
                   c.control, c.opted_out, c.unreachable, coalesce(f.rows, 0) AS feed_rows
            FROM {aud.COUNTS} c
            LEFT JOIN segments.segment_profiles s
              ON c.audience_kind = 'segment' AND s.as_of_date = c.as_of_date
             AND s.segment_id = c.segment_id
            LEFT JOIN fed f ON f.destination = c.destination
             AND f.audience_kind = c.audience_kind AND f.audience = c.audience
             AND f.segment_id = c.segment_id
            WHERE c.as_of_date = $d
              AND (coalesce(f.rows, 0) <> c.members - c.control - c.opted_out - c.unreachable
                   OR (c.audience_kind = 'segment' AND c.members <> s.customers))
            ORDER BY ALL""",
        {"d": as_of_date},
    )
    hashed = [d.name for d in destinations if d.hashed_only]
    raw_cols = " OR ".join(
        f"{quote(c)} IS NOT NULL" for c in ("email", "phone", "user_id", "crm_id")
    )
    not_hex = " OR ".join(
        f"({quote(c)} IS NOT NULL AND NOT regexp_full_match({quote(c)}, '[0-9a-f]{{64}}'))"
        for c in ("email_sha256", "phone_sha256")
    )
    (raw_in_hashed,) = (
        fetch_one(
            con,
            f"SELECT count(*) FROM {aud.FEED} WHERE as_of_date = ? AND destination IN "
            f"({', '.join(map(sql_string, hashed))}) AND ({raw_cols} OR {not_hex})",
            day,
        )
        if hashed
        else (0,)
    )

    def result(name: str, bad: int, what: str, extra: dict | None = None):
        return dg.AssetCheckResult(
            check_name=name,
            passed=bad == 0,
            metadata={"observed": bad, "threshold": 0, **(extra or {})},
            description=None if bad == 0 else f"{bad:,} {what}",
        )

    return [
        result("no_opted_out_customer_in_feeds", opted_out, "feed rows of opted-out customers"),
        result("no_control_member_in_feeds", control, "feed rows of control-group members"),
        result("feed_segments_are_validated_segments", unknown,
               "feed rows whose segment is not one of the month's segments"),
        result("feed_counts_reconcile", mismatches.height,
               "destination audiences whose feed rows do not reconcile",
               {"mismatches": markdown(mismatches.head(20))} if mismatches.height else None),
        result("hashed_destinations_carry_no_raw_identifiers", raw_in_hashed,
               "rows of hashed-only destinations with a raw or malformed identifier"),
    ]  # fmt: skip


# ------------------------------------------------------------------------------------------
# Publishing


@dg.asset(
    **in_layer("activation"),
    kinds={"duckdb", "parquet", "csv"},
    partitions_def=monthly_partitions,
    deps=[AUDIENCES_KEY],
    check_specs=[
        dg.AssetCheckSpec(
            "files_match_tables",
            asset=layer_key("activation", "activation_feeds"), blocking=True,
            description="Every published file reads back with as many rows as its table.",
        ),
        dg.AssetCheckSpec(
            "every_feed_reaches_someone",
            asset=layer_key("activation", "activation_feeds"), blocking=False,
            description="Warning: every destination's feed publishes at least one member. A "
            "feed with nobody in it says why: no segment's action goes to its channel, or its "
            "candidates are held out, opted out or unreachable (no identifier it needs).",
        ),
    ],
    description="The month's feed files, one set per destination: "
    "`<home>/activation/<destination>/<destination>_<YYYY-MM>_members.{csv,parquet}` (members "
    "with their audience and action, and the destination's identifiers) and `..._changes` "
    "(entered, exited, changed segment since its last feed). Written atomically; the same "
    "rows give the same bytes. Views `activation.feed_<destination>` over all months; table "
    "`activation.published_feeds` (file, rows, SHA-256).",
)  # fmt: skip
def activation_feeds(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    activation: ActivationConfig,
):
    with config_errors_as_failures():
        destinations = load_destinations(activation.destinations or None)
    as_of_date = month_parameters(context.partition_key)["as_of_date"]
    root = activation.folder()
    with warehouse.get_connection() as con:
        aud.ensure_tables(con)
        targets: dict[str, Destination] = {}
        publications = []
        for d in destinations:
            targets[d.name] = make_destination(d.name, d.kind, root)
            frames = feed_frames(con, d, as_of_date)
            previous = _previous_publication(con, d.name, as_of_date)
            written = targets[d.name].publish(month_key(as_of_date), frames)
            record_written(con, d.name, as_of_date, written)
            publications.append(publication_summary(d.name, frames, previous))
            ids = ", ".join(quote(i) for i in d.identifiers)
            con.execute(
                f"CREATE OR REPLACE VIEW activation.{quote('feed_' + d.name)} AS "
                f"SELECT as_of_date, profile_id, audience_kind, audience, segment_id, "
                f"segment_name, action_type, action, reasons, {ids} FROM {aud.FEED} "
                f"WHERE destination = {sql_string(d.name)}"
            )
        published = fetch_frame(
            con,
            f"SELECT destination, kind, file, rows, sha256 FROM {aud.PUBLISHED} "
            "WHERE as_of_date = ? ORDER BY destination, kind, file",
            [as_of_date],
        )
        reach = _feed_reach(con, as_of_date) if table_exists(
            con, "activation", "feed_counts") else pl.DataFrame()  # fmt: skip
    bad = []
    for (name,), rows in published.group_by("destination", maintain_order=True):
        # A destination published this month and since removed from the file was a file feed.
        target = targets.get(name) or make_destination(name, DEFAULT_KIND, root)
        recorded = [Written(*r) for r in rows.select("kind", "file", "rows", "sha256").rows()]
        bad += target.mismatches(recorded)
    published_at = dt.datetime.now(dt.UTC)
    summary = pl.DataFrame(publications, schema=PUBLICATION_SCHEMA, orient="row").with_columns(
        published_at=pl.lit(published_at.strftime("%Y-%m-%d %H:%M:%S UTC"))
    )
    yield dg.MaterializeResult(
        metadata={
            "folder": dg.MetadataValue.path(str(root)),
            "files": markdown(published.drop("sha256")),
            "last_published": dg.MetadataValue.timestamp(published_at),
            "publications": markdown(summary),
            **publication_metadata(summary),
        }
    )
    yield dg.AssetCheckResult(
        check_name="files_match_tables",
        passed=not bad,
        metadata={"files": published.height, "mismatched": len(bad)},
        description="; ".join(bad) or None,
    )
    yield _empty_feeds_check(reach, destinations)


PUBLICATION_SCHEMA = ["destination", "rows", "compared_with", "added", "removed", "changed"]
CHANGE_COUNTS = {"added": "entered", "removed": "exited", "changed": "changed_segment"}


def _previous_publication(con, name: str, as_of_date: dt.date) -> str | None:
    """The month of the destination's last feed before this one (what `changes` is against)."""
    (previous,) = fetch_one(
        con,
        f"SELECT max(as_of_date) FROM {aud.PUBLISHED} WHERE destination = ? AND kind = "
        "'members' AND as_of_date < ?",
        [name, as_of_date],
    )
    return month_key(previous) if previous else None


def publication_summary(
    name: str, frames: dict[str, pl.DataFrame], previous: str | None
) -> tuple[str, int, str, int, int, int]:
    """One destination's feed of the month: member rows, and against its previous feed the
    rows added (entered), removed (exited) and changed (another segment), from `changes`."""
    changes = frames["changes"]["change"].value_counts()
    counts = dict(changes.iter_rows()) if changes.height else {}
    added, removed, changed = (int(counts.get(c, 0)) for c in CHANGE_COUNTS.values())
    previous_month = previous or "none (first feed)"
    return name, frames["members"].height, previous_month, added, removed, changed


def publication_metadata(summary: pl.DataFrame) -> dict[str, int]:
    """Numeric entries per destination (`rows/<destination>`, `added/...`, `removed/...`,
    `changed/...`), so the Dagster UI plots each feed across monthly partitions."""
    return {
        f"{column}/{row['destination']}": int(row[column])
        for row in summary.iter_rows(named=True)
        for column in ("rows", *CHANGE_COUNTS)
    }


def _feed_reach(con, as_of_date: dt.date) -> pl.DataFrame:
    """Per destination of the month: candidates by status (activation.feed_counts)."""
    return fetch_frame(
        con,
        f"SELECT destination, sum(members)::BIGINT AS candidates, sum(control)::BIGINT AS "
        f"control, sum(opted_out)::BIGINT AS opted_out, sum(unreachable)::BIGINT AS "
        f"unreachable, sum(published)::BIGINT AS published FROM {aud.COUNTS} "
        "WHERE as_of_date = ? GROUP BY destination ORDER BY destination",
        [as_of_date],
    )


def _empty_feeds_check(reach: pl.DataFrame, destinations) -> dg.AssetCheckResult:
    """WARN when a destination's feed publishes nobody, saying why in one line each."""
    counts = {r["destination"]: r for r in reach.iter_rows(named=True)}
    empty = []
    for d in destinations:
        row = counts.get(d.name)
        if row is None or not row["candidates"]:
            empty.append(f"{d.name}: no candidates (no segment's action goes to its channel)")
        elif not row["published"]:
            empty.append(
                f"{d.name}: 0 of {row['candidates']:,} candidates published "
                f"({row['unreachable']:,} unreachable: none of {', '.join(d.identifiers)} "
                f"known; {row['opted_out']:,} opted out; {row['control']:,} held out)"
            )
    return dg.AssetCheckResult(
        check_name="every_feed_reaches_someone",
        passed=not empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "empty_feeds": len(empty),
            "threshold": "at least 1 member published per destination",
            "feeds": markdown(reach) if reach.height else "no candidates at all",
        },
        description="; ".join(empty) or None,
    )


# ------------------------------------------------------------------------------------------
# Surveys


@dg.asset(
    **in_layer("activation"),
    kinds={"duckdb"},
    partitions_def=monthly_partitions,
    deps=[AUDIENCES_KEY],
    check_specs=[
        dg.AssetCheckSpec(
            "survey_triggers_are_valid",
            asset=layer_key("activation", "survey_triggers"), blocking=True,
            description="Each trigger is for a treatment-group member of a validated segment, "
            "at most once per customer and survey, and no survey is asked again within its "
            "cooldown.",
        )
    ],
    description="Which customer gets which question this month, triggered by which behaviour, "
    "in which segment (surveys YAML; the control group is never asked). Table "
    "`activation.survey_triggers`.",
)  # fmt: skip
def survey_triggers(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    activation: ActivationConfig,
):
    with config_errors_as_failures():
        surveys = load_surveys(activation.surveys or None)
    as_of_date = month_parameters(context.partition_key)["as_of_date"]
    with warehouse.get_connection() as con:
        signals = aud.build_signals(con, as_of_date)
        with config_errors_as_failures():
            check_survey_columns(surveys, signals.columns, activation.surveys or None)
        frame_to_temp_table(con, "_signals", signals)
        has_history = table_exists(con, "activation", "survey_triggers")
        parts = []
        for s in surveys:
            themes = (
                "AND s.segment_theme IN (" + ", ".join(map(sql_string, s.segments)) + ")"
                if s.segments else ""
            )  # fmt: skip
            cooldown = (
                f"AND s.profile_id NOT IN (SELECT profile_id FROM {TRIGGERS} WHERE survey_id = "
                f"{sql_string(s.id)} AND as_of_date < $d AND as_of_date > $d - INTERVAL "
                f"{int(s.cooldown_days)} DAY)"
                if has_history else ""
            )  # fmt: skip
            parts.append(f"""
                SELECT CAST($d AS DATE) AS as_of_date, s.profile_id, s.segment_id,
                       s.segment_name, {sql_string(s.id)} AS survey_id,
                       {sql_string(s.question)} AS question, {sql_string(s.trigger)} AS trigger
                FROM _signals s JOIN {aud.GROUPS} g
                  ON g.profile_id = s.profile_id AND g.as_of_date = $d AND g."group" = 'treatment'
                WHERE ({condition_sql(s.when, "s")}) {themes} {cooldown}""")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _triggers AS "
            f"SELECT * FROM ({' UNION ALL '.join(parts)}) ORDER BY survey_id, profile_id",
            {"d": as_of_date},
        )
        replace_partition(con, TRIGGERS, "_triggers", "as_of_date", as_of_date)
        counts = fetch_frame(
            con,
            f"SELECT survey_id, segment_name, count(*) AS customers FROM {TRIGGERS} "
            "WHERE as_of_date = ? GROUP BY ALL ORDER BY ALL",
            [as_of_date],
        )
        (bad,) = fetch_one(
            con,
            f"""SELECT count(*) FROM {TRIGGERS} t
                LEFT JOIN {aud.GROUPS} g ON g.profile_id = t.profile_id
                 AND g.as_of_date = t.as_of_date
                LEFT JOIN segments.segment_profiles s ON s.as_of_date = t.as_of_date
                 AND s.segment_id = t.segment_id
                WHERE t.as_of_date = $d AND (g."group" IS DISTINCT FROM 'treatment'
                      OR s.segment_id IS NULL)""",
            {"d": as_of_date},
        )
        (repeated,) = fetch_one(
            con,
            f"SELECT count(*) - count(DISTINCT (profile_id, survey_id)) FROM {TRIGGERS} "
            "WHERE as_of_date = ?",
            [as_of_date],
        )
    yield dg.MaterializeResult(
        metadata={"dagster/row_count": int(counts["customers"].sum()), "triggers": markdown(counts)}
    )
    yield dg.AssetCheckResult(
        check_name="survey_triggers_are_valid",
        passed=bad == 0 and repeated == 0,
        metadata={"invalid_rows": bad, "repeated": repeated},
    )


UNTRIGGERED = "(not triggered by the platform)"


@dg.asset(
    **in_layer("activation"),
    kinds={"duckdb"},
    partitions_def=monthly_partitions,
    deps=[layer_key("activation", "survey_triggers"), layer_key("raw", "survey_responses"),
          layer_key("identity", "identity_map"), layer_key("privacy", "erasure")],
    check_specs=[
        dg.AssetCheckSpec(
            "every_response_accounted_for",
            asset=layer_key("activation", "survey_report"), blocking=False,
            description="Responses in the month's report (matched to a trigger, answered "
            "without one, or from someone the identity graph does not know), plus those "
            "answering surveys asked after the month, add up to the raw responses.",
        )
    ],
    description="Survey answers by survey, trigger and segment, as of each month: customers "
    "asked up to the month's end, their responses so far, response rate, mean score (0-10 "
    "questions) and the most common answer. A response counts for the customer's latest "
    "trigger of that survey within the response window (responses to surveys asked after the "
    f"month belong to a later month's report); others are reported under '{UNTRIGGERED}' "
    "with the customer's segment. Built in the monthly job right after `survey_triggers`, so "
    "one run reports the triggers it has just written. Table `activation.survey_report`, one "
    "partition per `as_of_date`.",
)  # fmt: skip
def survey_report(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    activation: ActivationConfig,
):
    # This report used to be a current table in the refresh job, which runs before the
    # monthly job: it reported the triggers of the *previous* run (none on the first run), so
    # the same inputs gave 4 rows on one run and 16 on the next. As a monthly asset it runs
    # after survey_triggers and reads only months up to its own.
    days = int(activation.survey_response_days)
    as_of_date = month_parameters(context.partition_key)["as_of_date"]
    with warehouse.get_connection() as con:
        aud.ensure_tables(con)
        has_triggers = table_exists(con, "activation", "survey_triggers")
        triggers = TRIGGERS if has_triggers else (
            "(SELECT NULL::DATE AS as_of_date, NULL::VARCHAR AS profile_id, NULL::BIGINT AS "
            "segment_id, NULL::VARCHAR AS segment_name, NULL::VARCHAR AS survey_id, "
            "NULL::VARCHAR AS question, NULL::VARCHAR AS trigger WHERE false)"
        )  # fmt: skip
        responses = (
            "identity.profiled_survey_responses"
            if table_exists(con, "identity", "profiled_survey_responses")
            else "(SELECT NULL::VARCHAR AS response_id, NULL::TIMESTAMP AS responded_at, "
            "NULL::VARCHAR AS survey_id, NULL::BIGINT AS score, NULL::VARCHAR AS answer, "
            "NULL::VARCHAR AS profile_id WHERE false)"
        )
        sent = f"(SELECT *, as_of_date::TIMESTAMP + INTERVAL 1 DAY AS sent FROM {triggers})"
        latest_segment = (
            "(SELECT arg_max(a.segment_name, a.as_of_date) FROM segments.segment_assignments a "
            "WHERE a.profile_id = m.profile_id AND a.as_of_date <= m.responded_at::DATE)"
            if table_exists(con, "segments", "segment_assignments")
            else "NULL"
        )
        # Matched against every trigger, so an answer to a later month's survey is not taken
        # for an untriggered one; it is left to that month's report.
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _matched AS
            SELECT r.response_id, r.survey_id, r.score, r.answer, r.profile_id,
                   r.responded_at, t.trigger, t.segment_name AS trigger_segment,
                   t.as_of_date AS triggered_as_of,
                   t.as_of_date + INTERVAL {days} DAY >= r.responded_at::DATE AS in_window
            FROM {responses} r
            ASOF LEFT JOIN {sent} t
              ON t.profile_id = r.profile_id AND t.survey_id = r.survey_id
             AND r.responded_at >= t.sent""")
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _resp AS
            SELECT m.*,
                   CASE WHEN in_window THEN trigger ELSE {sql_string(UNTRIGGERED)} END
                       AS trigger_label,
                   coalesce(CASE WHEN in_window THEN trigger_segment END, {latest_segment},
                            '(no segment)') AS segment_name
            FROM _matched m
            WHERE m.profile_id IS NOT NULL
              AND (in_window IS NOT TRUE OR triggered_as_of <= $d)""",
            {"d": as_of_date},
        )
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _report AS
            WITH asked AS (
                SELECT survey_id, trigger AS trigger_label, segment_name, count(*) AS asked
                FROM {triggers} WHERE as_of_date <= $d GROUP BY ALL),
            answered AS (
                SELECT survey_id, trigger_label, segment_name, count(*) AS responses,
                       round(avg(score), 2) AS mean_score, mode(answer) AS top_answer,
                       count(*) FILTER (score >= 9) AS promoters,
                       count(*) FILTER (score <= 6) AS detractors
                FROM _resp GROUP BY ALL)
            SELECT CAST($d AS DATE) AS as_of_date, survey_id, trigger_label AS trigger,
                   segment_name, coalesce(asked, 0) AS asked,
                   coalesce(responses, 0) AS responses,
                   CASE WHEN asked > 0 THEN round(coalesce(responses, 0) / asked, 4) END
                       AS response_rate,
                   mean_score, top_answer,
                   CASE WHEN survey_id = 'nps' AND responses > 0
                        THEN round(100.0 * (promoters - detractors) / responses, 1) END AS nps
            FROM asked FULL JOIN answered USING (survey_id, trigger_label, segment_name)
            ORDER BY survey_id, trigger, segment_name""",
            {"d": as_of_date},
        )
        replace_partition(con, REPORT, "_report", "as_of_date", as_of_date)
        report = fetch_frame(
            con, f"SELECT * EXCLUDE (as_of_date) FROM {REPORT} WHERE as_of_date = ?", [as_of_date]
        )
        (raw,) = fetch_one(con, "SELECT count(*) FROM raw.survey_responses") if table_exists(
            con, "raw", "survey_responses") else (0,)  # fmt: skip
        (unknown,) = fetch_one(con, f"SELECT count(*) FROM {responses} WHERE profile_id IS NULL")
        (later,) = fetch_one(
            con,
            "SELECT count(*) FROM _matched WHERE profile_id IS NOT NULL AND in_window "
            "AND triggered_as_of > $d",
            {"d": as_of_date},
        )
        con.execute("DROP TABLE _matched; DROP TABLE _resp; DROP TABLE _report")
    reported = int(report["responses"].sum()) if report.height else 0
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": report.height,
            "responses": reported,
            "responses_from_unknown_persons": unknown,
            "responses_to_later_months": later,
            "report": markdown(report.head(30)),
        }
    )
    yield dg.AssetCheckResult(
        check_name="every_response_accounted_for",
        passed=reported + unknown + later == raw,
        metadata={
            "raw_responses": raw, "reported": reported, "unknown_person": unknown,
            "to_later_months": later,
        },
    )  # fmt: skip


# ------------------------------------------------------------------------------------------
# Lift


@dg.asset(
    **in_layer("activation"),
    kinds={"duckdb", "mlflow"},
    partitions_def=monthly_partitions,
    deps=[layer_key("activation", "activation_feeds")],
    check_specs=[
        dg.AssetCheckSpec(
            "lift_covers_every_segment",
            asset=layer_key("activation", "campaign_lift"), blocking=False,
            description="Every segment of a measured month has a lift row per measured metric, "
            "with treated and control counts adding up to the segment's size.",
        )
    ],
    description="Lift of acting on the segments, per segment and overall, with confidence "
    "intervals. Once a month's outcomes are in: conversion (a purchase in the next month) for "
    "last month's activation, churn and revenue (next 3 months) for the activation 3 months "
    "back. Analysis `sent`: the members actually published to a feed versus the control "
    "members who could have been (reachable, with consent); `intent_to_treat`: every member "
    "not held out versus every control member, sent or not. No lift at all for a month that "
    "sent nobody. Table `activation.lift`; an MLflow run per measured activation month "
    "(experiment `activation_lift`).",
)  # fmt: skip
def campaign_lift(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    activation: ActivationConfig,
    mlflow_tracking: MlflowResource,
):
    as_of_date = month_parameters(context.partition_key)["as_of_date"]
    plan = {  # activation month -> metrics measured for it now
        month_end_before(as_of_date, 1): ("conversion",),
        month_end_before(as_of_date, 3): ("churn", "revenue"),
    }
    frames, notes = [], []
    with warehouse.get_connection() as con:
        aud.ensure_tables(con)
        for month, metrics in plan.items():
            groups = lift_groups(con, month)
            if groups.is_empty():
                notes.append(f"{month:%Y-%m}: not activated, nothing to measure")
                continue
            sent = int(groups["sent"].sum())
            if not sent:
                notes.append(
                    f"{month:%Y-%m}: no lift, 0 members were sent (every feed published "
                    "nobody: no reachable identifier with consent)"
                )
                continue
            frame_to_temp_table(con, "_lift_members", groups.select("profile_id"))
            labels = outcome_labels(con, month, "_lift_members")
            joined = groups.join(labels, on="profile_id", how="left").select(
                "segment_id", "segment_name", "group", "sent", "reachable",
                pl.col("purchased_next_30d").alias("converted"),
                pl.col("churned_next_90d").alias("churned"),
                pl.col("revenue_next_90d").alias("revenue"),
            )  # fmt: skip
            table = lift_analyses(joined, activation.confidence, activation.min_group)
            table = table.filter(pl.col("metric").is_in(list(metrics)) & pl.col("treated_n").gt(0))
            if table.is_empty():
                notes.append(f"{month:%Y-%m}: outcomes not complete yet")
                continue
            frames.append(
                table.with_columns(as_of_date=pl.lit(as_of_date), activation_month=pl.lit(month))
            )
        result = (
            pl.concat(frames, how="vertical_relaxed").select(
                "as_of_date", "activation_month", "analysis",
                pl.exclude("as_of_date", "activation_month", "analysis"),
            )
            if frames else None
        )  # fmt: skip
        if result is not None:
            frame_to_temp_table(con, "_lift_new", result)
            replace_partition(con, LIFT, "_lift_new", "as_of_date", as_of_date)
        elif table_exists(con, "activation", "lift"):
            con.execute(f"DELETE FROM {LIFT} WHERE as_of_date = ?", [as_of_date])
        sizes = fetch_frame(
            con,
            f"SELECT as_of_date AS activation_month, segment_id::VARCHAR AS segment_id, "
            f"count(*) AS size FROM {aud.GROUPS} GROUP BY ALL",
        )

    run_url = None
    if result is not None:
        run_url = _log_lift(mlflow_tracking, context.partition_key, result)
    missing = 0
    if result is not None:
        per = result.filter(pl.col("segment_id") != "all").join(
            sizes, on=["activation_month", "segment_id"], how="left"
        )
        missing = per.filter(
            pl.col("size").is_null() | (pl.col("treated_n") + pl.col("control_n") > pl.col("size"))
        ).height
    shown = (
        result.select("activation_month", "analysis", "segment_name", "metric", "treated_n",
                      "control_n", "lift", "ci_low", "ci_high")
        if result is not None else pl.DataFrame()
    )  # fmt: skip
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": 0 if result is None else result.height,
            "lift": markdown(shown) if result is not None else "none",
            "notes": "; ".join(notes) or "all measured",
            **({"mlflow_run": dg.MetadataValue.url(run_url)} if run_url else {}),
        }
    )
    yield dg.AssetCheckResult(
        check_name="lift_covers_every_segment",
        passed=missing == 0,
        metadata={"rows_not_reconciled": missing},
    )


def lift_groups(con, month: dt.date) -> pl.DataFrame:
    """The month's experiment groups with, per member, whether a feed published them (`sent`)
    and whether one could have (`reachable`: consent and an identifier, held out or not)."""
    if not table_exists(con, "activation", "experiment_groups"):
        return pl.DataFrame()
    columns = {r[0] for r in con.execute(f"DESCRIBE {aud.CANDIDATES}").fetchall()} if (
        table_exists(con, "activation", "audience_members")) else set()  # fmt: skip
    # Months activated before `reachable` was recorded: only what was published is known.
    reachable = "bool_or(reachable)" if "reachable" in columns else "false"
    members = (
        f"SELECT profile_id, bool_or(status = 'published') AS sent, {reachable} AS reachable "
        f"FROM {aud.CANDIDATES} WHERE as_of_date = $d GROUP BY profile_id"
        if columns
        else "SELECT NULL::VARCHAR AS profile_id, false AS sent, false AS reachable"
    )
    return fetch_frame(
        con,
        f"""SELECT g.profile_id, g.segment_id::VARCHAR AS segment_id, g.segment_name, g."group",
                   coalesce(m.sent, false) AS sent, coalesce(m.reachable, false) AS reachable
            FROM {aud.GROUPS} g LEFT JOIN ({members}) m USING (profile_id)
            WHERE g.as_of_date = $d ORDER BY g.profile_id""",
        {"d": month},
    )


def lift_analyses(joined: pl.DataFrame, confidence: float, min_group: int) -> pl.DataFrame:
    """Both analyses of one activation month, labelled in `analysis`: `sent` (members sent
    versus reachable control members) and `intent_to_treat` (everyone, sent or not)."""
    treated = pl.col("group") == "treatment"
    sent = joined.filter(pl.when(treated).then(pl.col("sent")).otherwise(pl.col("reachable")))
    parts = [
        lift_table(frame.drop("sent", "reachable"), confidence, min_group).with_columns(
            analysis=pl.lit(name)
        )
        for name, frame in (("sent", sent), ("intent_to_treat", joined))
    ]
    return pl.concat(parts)


def _log_lift(tracking: MlflowResource, month: str, table: pl.DataFrame) -> str:
    """One MLflow run for the measurement: lift and interval per segment and metric, and the
    table as CSV (aggregates only: no customer appears in MLflow)."""
    import mlflow

    experiment = tracking.setup(LIFT_EXPERIMENT)
    with mlflow.start_run(run_name=f"lift {month}") as run:
        mlflow.set_tags({
            "measured_month": month,
            "method": "randomised holdout; analysis `sent` (members sent vs reachable control) "
            "and `intent_to_treat` (all members, sent or not)",
        })  # fmt: skip
        metrics = {}
        for row in table.iter_rows(named=True):
            key = (
                f"{row['analysis']}_{row['metric']}_{row['activation_month']:%Y_%m}_"
                f"seg_{row['segment_id']}"
            )
            for stat in ("lift", "ci_low", "ci_high", "treated_mean", "control_mean"):
                if row[stat] is not None:
                    metrics[f"{key}_{stat}"] = float(row[stat])
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "lift.csv"
            table.write_csv(path)
            mlflow.log_artifact(str(path))
    return tracking.run_url(experiment, run.info.run_id)


ACTIVATION_ASSETS = [
    activation_audiences,
    activation_feeds,
    survey_triggers,
    survey_report,
    campaign_lift,
]
