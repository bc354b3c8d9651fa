"""Segment tables (group `segments`), one partition per month: what teams use.

`segment_assignments`, `segment_profiles` and `segment_migration` are built in one step from
the month's clustering (`customer_segments`) and last month's segments: stable ids, names from
the data, one action per segment from the playbook, migration counts. Their checks are
blocking (but for the month-over-month stability one, a warning). `segmentation_champion`
(here, group `segments`) depends on these tables, so the MLflow alias `champion` moves only
when every one passes; its check `exactly_one_champion` watches the alias.
"""

import datetime as dt

import dagster as dg
import numpy as np
import polars as pl

from seg_platform.core.calendar import month_end_before, month_key, month_parameters
from seg_platform.core.failures import config_errors_as_failures
from seg_platform.core.layers import in_layer, layer_key, layer_specs
from seg_platform.core.metadata import markdown
from seg_platform.core.mlflow_registry import (
    CHAMPION,
    alias_holders,
    alias_version,
    load_registered,
    set_alias,
)
from seg_platform.core.partitions import monthly_partitions
from seg_platform.core.quality import Expectation, validate_frame
from seg_platform.core.resources import WarehouseResource
from seg_platform.core.tracking import MlflowResource
from seg_platform.core.warehouse import (
    fetch_frame,
    fetch_one,
    frame_to_temp_table,
    quote,
    replace_partition,
    table_exists,
)
from seg_platform.core.yaml_files import sql_string
from seg_platform.features.labels import outcome_labels
from seg_platform.segmentation.data import (
    CANDIDATES,
    SEGMENTS,
    feature_columns,
    load_features,
)
from seg_platform.segments.playbook import ACTION_TYPES, load_playbook
from seg_platform.segments.reasons import (
    REASONS_TABLE,
    feature_labels,
    feature_meanings,
    reasons_by_customer,
)
from seg_platform.segments.resources import SegmentsConfig

ASSIGNMENTS = "segments.segment_assignments"
PROFILES = "segments.segment_profiles"
MIGRATION = "segments.segment_migration"
OUTCOME_DAYS = 90


def load_previous(con, as_of_date: dt.date, columns: list[str]):
    """Last month's segments, or None when they were not built (first month, or a backfill
    running ahead of its predecessor: ids then start afresh, and the asset says so)."""
    from seg_platform.segments.build import Previous

    if not table_exists(con, "segments", "segment_assignments"):
        return None
    prev = month_end_before(as_of_date)
    assignments = fetch_frame(
        con,
        f"SELECT profile_id, segment_id FROM {ASSIGNMENTS} WHERE as_of_date = ? "
        "ORDER BY profile_id",
        [prev],
    )
    if assignments.is_empty():
        return None
    features = load_features(con, prev)
    joined = assignments.join(features, on="profile_id", how="left", maintain_order="left")
    X = joined.select(columns).to_numpy().astype(np.float64)
    names, themes, high_value = {}, {}, {}
    columns_now = {r[0] for r in con.execute(f"DESCRIBE {PROFILES}").fetchall()}
    # Tables written before `high_value` existed: read it off the name.
    high_sql = "high_value" if "high_value" in columns_now else (
        "name LIKE '%High-Value%' OR name LIKE '%Dormant Big Spenders%'")  # fmt: skip
    for sid, name, theme, high in con.execute(
        f"SELECT segment_id, name, theme, {high_sql} FROM {PROFILES} WHERE as_of_date = ?",
        [prev],
    ).fetchall():
        names[sid], themes[sid], high_value[sid] = name, theme, bool(high)
    (highest,) = fetch_one(
        con, f"SELECT max(segment_id) FROM {PROFILES} WHERE as_of_date < ?", [as_of_date]
    )
    next_id = (highest if highest is not None else -1) + 1
    return Previous(assignments, X, names, themes, next_id, high_value)


def channel_reach(con, profile_ids: pl.Series, channels: dict) -> dict[str, np.ndarray]:
    """Per action channel (playbook `channels`), whether each profile can be reached there:
    one of the channel's identifiers is in the identity map and the latest consent change for
    its consent channel (or `all`) is not an opt-out. The same rule activation applies."""
    if not channels:
        return {}
    has_map = table_exists(con, "identity", "identity_map")
    has_consent = table_exists(con, "identity", "profiled_consent")
    profiles = pl.DataFrame({"profile_id": profile_ids}).with_row_index("_i")
    frame_to_temp_table(con, "_reach_profiles", profiles)
    columns = []
    for name, spec in channels.items():
        types = ", ".join(sql_string(t) for t in spec.identifiers)
        known = (
            f"EXISTS (SELECT 1 FROM identity.identity_map m WHERE m.profile_id = p.profile_id "
            f"AND m.id_type IN ({types}))"
            if has_map else "false"
        )  # fmt: skip
        opted_out = (
            f"coalesce((SELECT arg_max(c.status, (c.changed_at, c.status = 'opt_out')) "
            f"FROM identity.profiled_consent c WHERE c.profile_id = p.profile_id AND c.channel "
            f"IN ({sql_string(spec.consent)}, 'all')) = 'opt_out', false)"
            if has_consent else "false"
        )  # fmt: skip
        columns.append(f"({known} AND NOT {opted_out}) AS {quote(name)}")
    frame = fetch_frame(con, f"SELECT {', '.join(columns)} FROM _reach_profiles p "
                             "ORDER BY p._i")  # fmt: skip
    con.execute("DROP TABLE _reach_profiles")
    return {name: frame[name].to_numpy().astype(bool) for name in channels}


def outcome_separation(con, assignments_table: str, month: str) -> dict:
    """Later outcomes per segment (never used in clustering): revenue and churn in the next
    three months (`seg_platform.features.labels`), and each one's relative spread across
    segments ((max - min) / overall mean)."""
    if not all(
        table_exists(con, "staging", t) for t in ("stg_events", "stg_orders", "stg_invoices")
    ):
        return {"evaluated": False, "reason": "no staging tables to read later outcomes from"}
    labels = outcome_labels(con, month, assignments_table)
    if not labels.height or not labels["horizon_complete_90d"][0]:
        return {
            "evaluated": False,
            "reason": f"the {OUTCOME_DAYS} days after {month_key(month)} are not over in the data",
        }
    assignments = fetch_frame(con, f"SELECT profile_id, segment_id FROM {assignments_table}")
    per_segment = (
        assignments.join(labels, on="profile_id")
        .group_by("segment_id")
        .agg(
            pl.len().alias("customers"),
            pl.col("revenue_next_90d").mean(),
            pl.col("churned_next_90d").cast(pl.Float64).mean().alias("churn_next_90d"),
        )
        .sort("segment_id")
    )
    spreads = {}
    for outcome in ("revenue_next_90d", "churn_next_90d"):
        values = per_segment[outcome]
        overall = float((values * per_segment["customers"]).sum() / per_segment["customers"].sum())
        spreads[outcome] = round((values.max() - values.min()) / overall, 4) if overall else 0.0
    return {"evaluated": True, "spreads": spreads, "per_segment": per_segment}


def _spec(asset: str, name: str, description: str, blocking: bool = True) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name, asset=layer_key("segments", asset), blocking=blocking, description=description
    )


CHECK_SPECS = [
    _spec("segment_assignments", "every_profile_assigned_once",
          "Great Expectations: one row per known customer of the month (profile ids unique, "
          "as many as customers with features), every row with a segment id and name."),
    _spec("segment_assignments", "segments_differ_in_later_outcomes",
          "Business separation: where 90 days of later data exist, the segments' revenue or "
          "churn in the next 90 days (never used in clustering) differ by at least the "
          "configured relative spread ((max - min) / overall mean)."),
    _spec("segment_assignments", "unchanged_customers_keep_their_segment",
          "Month-over-month stability (warning): of the customers whose features barely moved "
          "since last month, the configured share keeps its segment id.", blocking=False),
    _spec("segment_assignments", "every_customer_has_reasons",
          "Every assigned customer has 1 to 3 reasons (segments.assignment_reasons), ranked "
          "1, 2, 3, and the same reasons in words in the assignments' `reasons` column.",
          blocking=False),
    _spec("segment_profiles", "names_unique_and_readable",
          "Great Expectations: every segment has a unique name that is not a bare number or "
          "'Cluster n', a description and exactly one action of a known type."),
    _spec("segment_migration", "migration_reconciles",
          "Migration counts add up: customers arriving in each segment (moved, stayed or new) "
          "equal its size; customers leaving last month's segments equal their sizes."),
]  # fmt: skip


@dg.multi_asset(
    specs=layer_specs("segments", [
        dg.AssetSpec(
            "segment_assignments", kinds={"duckdb"},
            deps=[layer_key("segmentation", "customer_segments")],
            description="Each known customer's segment for the month: stable segment id "
            "(kept across months while the segment persists) and name, distance to its centre "
            "(and membership probability for mixtures), runner-up segment, and why: the "
            "features on which the customer sits furthest from the segment's centre, in words "
            f"(`reasons`; one row per reason in `{REASONS_TABLE}`). Table `{ASSIGNMENTS}`.",
            metadata={"dagster/table_name": ASSIGNMENTS}, skippable=True,
        ),
        dg.AssetSpec(
            "segment_profiles", kinds={"duckdb", "mlflow"},
            deps=[layer_key("segmentation", "customer_segments")],
            description="One row per segment and month: size, share, feature means and "
            "z-scores against all customers, the features that most set it apart, a name and "
            "a one-paragraph description derived from them, its one action from the playbook "
            "on a channel that reaches its members (or 'No reachable channel', action_channel "
            "`none`, with each channel's reach in `channel_reach`), "
            f"and its lineage (continues, new, split, merged). Table `{PROFILES}`.",
            metadata={"dagster/table_name": PROFILES}, skippable=True,
        ),
        dg.AssetSpec(
            "segment_migration", kinds={"duckdb"},
            deps=[layer_key("segmentation", "customer_segments")],
            description="Customers by last month's segment and this month's: stayed, moved, "
            f"new (no segment last month) and departed (none this month). Table `{MIGRATION}`.",
            metadata={"dagster/table_name": MIGRATION}, skippable=True,
        ),
    ]),
    check_specs=CHECK_SPECS,
    partitions_def=monthly_partitions,
)  # fmt: skip
def segment_tables(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    segments: SegmentsConfig,
    mlflow_tracking: MlflowResource,
):
    """Stable ids, names, actions and migration for the month's segments; report to MLflow."""

    from seg_platform.segments.build import build_month
    from seg_platform.segments.report import (
        log_report,
        month_report,
        size_metadata,
        with_share_pct,
    )

    params = month_parameters(context.partition_key)
    as_of_date, month = params["as_of_date"], month_key(context.partition_key)
    with config_errors_as_failures():
        playbook = load_playbook(segments.playbook or None)
    meanings = feature_meanings()
    labels = feature_labels(meanings)
    with warehouse.get_connection() as con:
        clusters = fetch_frame(
            con,
            f"SELECT profile_id, segment, runner_up, distance, probability, model_version "
            f"FROM {SEGMENTS} WHERE as_of_date = ? ORDER BY profile_id",
            [as_of_date],
        )
        if clusters.is_empty():
            context.log.warning(f"No segmentation for {month}: segment tables not built.")
            return
        version = int(clusters["model_version"][0])
        features = load_features(con, as_of_date)
        columns = feature_columns(features)
        joined = clusters.join(features, on="profile_id", how="left", maintain_order="left")
        X = joined.select(columns).to_numpy().astype(np.float64)
        previous = load_previous(con, as_of_date, columns)
        reach = channel_reach(con, clusters["profile_id"], playbook.channels)

        mlflow_tracking.setup()
        model = load_registered(
            mlflow_tracking.uri(),
            mlflow_tracking.client().get_model_version(
                mlflow_tracking.registered_model, str(version)
            ),
        )
        preprocess = model[:-1]
        probability = clusters["probability"]
        built = build_month(
            as_of_date, clusters["profile_id"], X, columns,
            clusters["segment"].to_numpy(), clusters["runner_up"].to_numpy(),
            clusters["distance"].to_numpy(),
            None if probability.null_count() == len(probability) else probability.to_numpy(),
            version, preprocess.transform, previous, playbook, meanings,
            segments.max_match_ratio, segments.unchanged_quantile, reach,
        )  # fmt: skip
        reasons = month_reasons(as_of_date, built.assignments, X, columns, model, labels)
        built.assignments = built.assignments.join(
            reasons_by_customer(reasons), on="profile_id", how="left", maintain_order="left"
        )

        frame_to_temp_table(con, "_assignments_new", built.assignments)
        frame_to_temp_table(con, "_reasons_new", reasons)
        separation = outcome_separation(con, "_assignments_new", context.partition_key)
        frame_to_temp_table(con, "_profiles_new", built.profiles)
        frame_to_temp_table(con, "_migration_new", built.migration)
        for table, source in ((ASSIGNMENTS, "_assignments_new"), (PROFILES, "_profiles_new"),
                              (MIGRATION, "_migration_new")):  # fmt: skip
            replace_partition(con, table, source, "as_of_date", as_of_date)
        replace_partition(con, REASONS_TABLE, "_reasons_new", "month", as_of_date)
        con.execute("DROP TABLE _assignments_new; DROP TABLE _profiles_new; "
                    "DROP TABLE _migration_new; DROP TABLE _reasons_new")  # fmt: skip
        # The report, logged with the month's segmentation run (the outlook's asset logs it
        # again with each segment's churn and value once the predictions are in).
        parent_run, page = month_report(con, as_of_date, with_outlook=False)
    run_url = log_report(mlflow_tracking, parent_run, month, page) if parent_run else None
    link = {"segment_report": dg.MetadataValue.url(run_url)} if run_url else {}

    profiles = built.profiles
    table = profiles.select(
        "segment_id", "name", "customers", "share", "lineage", "action_type",
        "action_channel", "channel_reach", "action",
    )  # fmt: skip
    undeliverable = profiles.filter(~pl.col("action_deliverable"))
    stability = built.checks["stability"]
    yield dg.MaterializeResult(
        asset_key=layer_key("segments", "segment_assignments"),
        metadata={
            "dagster/row_count": built.assignments.height,
            "model_version": version,
            "previous_month": "built" if previous else "none (ids start afresh)",
            **link,
        },
    )
    yield dg.MaterializeResult(
        asset_key=layer_key("segments", "segment_profiles"),
        metadata={
            "dagster/row_count": profiles.height,
            "segments": markdown(with_share_pct(table)),
            **size_metadata(profiles),
            "retired_segment_ids": ", ".join(map(str, built.checks["retired"])) or "none",
            "segments_without_reachable_channel": undeliverable.height,
            "reach": (
                f"{undeliverable.height} of {profiles.height} segments have no reachable "
                "channel (no identifier with consent on any playbook channel): their action "
                "says so and no feed sends it"
                if undeliverable.height
                else "every segment's action goes to a channel that reaches its members"
            ),
            **link,
        },
    )
    moved = built.migration.filter(pl.col("movement") == "moved")["customers"].sum()
    yield dg.MaterializeResult(
        asset_key=layer_key("segments", "segment_migration"),
        metadata={
            "dagster/row_count": built.migration.height,
            "customers_moved": int(moved or 0),
            "migration": markdown(built.migration.drop("as_of_date")) if moved else "none",
            **link,
        },
    )
    yield from _checks(built, separation, stability, segments, len(features))
    yield _reasons_check(built.assignments, reasons)


def month_reasons(as_of_date, assignments: pl.DataFrame, X, columns, model, labels):
    """The month's `segments.assignment_reasons` rows, in the space of the model that
    assigned the segments (`segments.reasons`)."""
    from seg_platform.segments.reasons import model_reasons

    return model_reasons(
        as_of_date, assignments["profile_id"], X, columns,
        assignments["segment_id"].to_numpy(), model, labels,
    )  # fmt: skip


def _reasons_check(assignments: pl.DataFrame, reasons: pl.DataFrame) -> dg.AssetCheckResult:
    per_customer = reasons.group_by("profile_id").agg(
        pl.len().alias("n"), (pl.col("rank").sort() == pl.int_range(1, pl.len() + 1)).all()
        .alias("ranked"),
    )  # fmt: skip
    without = assignments.height - per_customer.height
    misranked = per_customer.filter(~pl.col("ranked") | (pl.col("n") > 3)).height
    no_text = assignments.filter(pl.col("reasons").is_null()).height
    bad = without + misranked + no_text
    return dg.AssetCheckResult(
        asset_key=layer_key("segments", "segment_assignments"),
        check_name="every_customer_has_reasons",
        passed=bad == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"customers_without_reasons": without, "misranked": misranked,
                  "reasons": reasons.height, "threshold": 0},
        description=None if bad == 0 else (
            f"{without:,} customers without reasons, {misranked:,} with reasons not ranked "
            "1..3"),
    )  # fmt: skip


def _checks(built, separation: dict, stability: dict, config: SegmentsConfig, customers: int):
    assignments, profiles, migration = built.assignments, built.profiles, built.migration
    outcomes = validate_frame(
        assignments,
        [
            Expectation("ExpectColumnValuesToBeUnique", {"column": "profile_id"}),
            Expectation("ExpectTableRowCountToEqual", {"value": customers}),
            Expectation("ExpectColumnValuesToNotBeNull", {"column": "segment_id"}),
            Expectation("ExpectColumnValuesToNotBeNull", {"column": "segment_name"}),
        ],
    )
    yield _result("segment_assignments", "every_profile_assigned_once", outcomes)

    if separation["evaluated"]:
        best = max(separation["spreads"].values())
        passed = best >= config.min_outcome_spread
        yield dg.AssetCheckResult(
            asset_key=layer_key("segments", "segment_assignments"),
            check_name="segments_differ_in_later_outcomes",
            passed=passed,
            metadata={
                **{f"spread_{k}": v for k, v in separation["spreads"].items()},
                "threshold": f"largest spread >= {config.min_outcome_spread}",
                "per_segment": markdown(separation["per_segment"]),
            },
            description=None if passed else (
                f"Segments barely differ in later outcomes: largest relative spread {best} < "
                f"{config.min_outcome_spread} ({separation['spreads']})"),
        )  # fmt: skip
    else:
        yield dg.AssetCheckResult(
            asset_key=layer_key("segments", "segment_assignments"),
            check_name="segments_differ_in_later_outcomes",
            passed=True,
            metadata={"evaluated": False, "reason": separation["reason"]},
            description=f"Not evaluated yet: {separation['reason']}.",
        )

    if stability["evaluated"]:
        kept = stability["kept_segment_share"]
        yield dg.AssetCheckResult(
            asset_key=layer_key("segments", "segment_assignments"),
            check_name="unchanged_customers_keep_their_segment",
            passed=kept >= config.min_kept_share,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={**stability, "threshold": f">= {config.min_kept_share}"},
            description=None if kept >= config.min_kept_share else (
                f"Only {kept:.1%} of the {stability['unchanged_customers']:,} customers whose "
                "features barely moved kept their segment."),
        )  # fmt: skip
    else:
        yield dg.AssetCheckResult(
            asset_key=layer_key("segments", "segment_assignments"),
            check_name="unchanged_customers_keep_their_segment",
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            metadata=stability,
            description=f"Not evaluated: {stability['reason']}.",
        )

    outcomes = validate_frame(
        profiles.select("segment_id", "name", "description", "action_type", "action"),
        [
            Expectation("ExpectColumnValuesToBeUnique", {"column": "name"}),
            Expectation("ExpectColumnValuesToBeUnique", {"column": "segment_id"}),
            Expectation(
                "ExpectColumnValuesToNotMatchRegex",
                {"column": "name", "regex": r"(?i)^\s*(?:cluster|segment)?\s*\d*\s*$"},
            ),
            Expectation("ExpectColumnValuesToNotBeNull", {"column": "description"}),
            Expectation(
                "ExpectColumnValuesToBeInSet",
                {"column": "action_type", "value_set": list(ACTION_TYPES)},
            ),
            Expectation("ExpectColumnValuesToNotBeNull", {"column": "action"}),
        ],
    )
    yield _result("segment_profiles", "names_unique_and_readable", outcomes)

    sizes = dict(profiles.select("segment_id", "customers").iter_rows())
    arriving = dict(
        migration.filter(pl.col("to_segment_id").is_not_null())
        .group_by("to_segment_id").agg(pl.col("customers").sum()).iter_rows()
    )  # fmt: skip
    wrong = {s: (n, arriving.get(s)) for s, n in sizes.items() if arriving and arriving.get(s) != n}
    yield dg.AssetCheckResult(
        asset_key=layer_key("segments", "segment_migration"),
        check_name="migration_reconciles",
        passed=not wrong,
        metadata={
            "segments": len(sizes),
            "evaluated": bool(arriving),
            "mismatches": str(wrong) if wrong else "none",
        },
        description=None if not wrong else f"segment: (size, arriving) differ: {wrong}",
    )


def _result(asset: str, name: str, outcomes) -> dg.AssetCheckResult:
    failed = [o for o in outcomes if not o.success]
    return dg.AssetCheckResult(
        asset_key=layer_key("segments", asset),
        check_name=name,
        passed=not failed,
        metadata={o.expectation.label: o.observed for o in outcomes},
        description=None if not failed else "; ".join(
            f"{o.expectation.label}: {o.observed}" for o in failed),
    )  # fmt: skip


# ------------------------------------------------------------------------------------------
# The champion gate: downstream of the segment tables, so it moves only when their blocking
# checks (and the segmentation's) passed.


@dg.asset(
    name="segmentation_champion",
    **in_layer("segments"),
    kinds={"mlflow"},
    deps=[
        layer_key("segments", name)
        for name in ("segment_assignments", "segment_profiles", "segment_migration")
    ],
    partitions_def=monthly_partitions,
    description="Moves the MLflow alias `champion` of the model `customer_segmentation` to the "
    "month's registered version. It runs only when the segmentation and segment validation "
    "checks passed (they are blocking); otherwise the version stays `challenger`. An older "
    "month never takes the alias from a newer one.",
)
def segmentation_champion(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    mlflow_tracking: MlflowResource,
) -> dg.MaterializeResult:
    as_of_date = month_parameters(context.partition_key)["as_of_date"]
    with warehouse.get_connection() as con:
        version, in_use = fetch_one(
            con,
            f"SELECT max(model_version), (SELECT any_value(model_version) FROM {SEGMENTS} "
            f"WHERE as_of_date = $d) FROM {CANDIDATES} WHERE as_of_date = $d",
            {"d": as_of_date},
        )
    if version is None:
        raise dg.Failure(description=f"No registered model for {as_of_date}", allow_retries=False)
    mlflow_tracking.setup()
    client = mlflow_tracking.client()
    name = mlflow_tracking.registered_model
    month = month_key(context.partition_key)
    current = alias_version(client, name, CHAMPION)  # None: no champion yet
    current_month = month_key(current.tags.get("month", "") if current else "")
    if in_use is not None and in_use != version:
        # No candidate of the month met the rule: its segments are the champion's, kept.
        moved = False
        note = f"kept version {in_use}: no candidate of {month} met the selection rule"
    elif current is not None and current_month > month:
        moved, note = False, f"kept version {current.version} ({current_month}), newer"
    else:
        set_alias(client, name, CHAMPION, version)
        moved, note = True, f"version {version} is champion"
    context.log.info(note)
    return dg.MaterializeResult(
        metadata={
            "model": name,
            "version": int(version),
            "champion_moved": moved,
            "note": note,
            "previous_champion": int(current.version) if current else 0,
        }
    )


SEGMENTS_ASSETS = [segment_tables, segmentation_champion]


@dg.asset_check(
    asset=layer_key("segments", "segmentation_champion"),
    name="exactly_one_champion",
    blocking=False,
    description="The registered model has exactly one `champion` version, from this month or "
    "a newer one.",
)
def exactly_one_champion(
    context: dg.AssetCheckExecutionContext,
    mlflow_tracking: MlflowResource,
    warehouse: WarehouseResource,
) -> dg.AssetCheckResult:
    as_of_date = month_parameters(context.partition_key)["as_of_date"]
    with warehouse.get_connection() as con:
        (in_use,) = fetch_one(
            con, f"SELECT any_value(model_version) FROM {SEGMENTS} WHERE as_of_date = ?",
            [as_of_date],
        )  # fmt: skip
    mlflow_tracking.setup()
    client = mlflow_tracking.client()
    name = mlflow_tracking.registered_model
    holders = alias_holders(client, name, CHAMPION)
    month = holders[0].tags.get("month", "") if holders else ""
    # A month that kept the champion holds its segments: an older champion is then right.
    kept = len(holders) == 1 and in_use is not None and int(holders[0].version) == in_use
    passed = len(holders) == 1 and (month >= month_key(context.partition_key) or kept)
    return dg.AssetCheckResult(
        passed=passed,
        metadata={
            "champion_versions": ", ".join(str(v.version) for v in holders) or "none",
            "champion_month": month,
            "threshold": f"exactly one, month >= {month_key(context.partition_key)} or the version "
            "whose segments the month kept",
        },
        description=None
        if passed
        else f"{len(holders)} champion version(s) "
        f"({', '.join(str(v.version) for v in holders) or 'none'}), of month {month or '-'}: "
        f"want exactly one, of {month_key(context.partition_key)} or later",
    )


SEGMENTS_CHECKS = [exactly_one_champion]
