"""Daily scoring (group `predictions`, one partition per day): keeps segments, propensities
and overlays current between the monthly re-fits, without fitting anything.

For the day D, as of its last instant:
- features of every known customer are computed with the features SQL;
- customers the latest monthly segmentation already placed keep that segment; customers it
  did not (first seen after that fit) are assigned by the `champion` segmentation pipeline
  loaded from the MLflow registry (`predict`, no re-fit), mapped to the stable segment ids;
- propensities are recomputed with the `champion` propensity models for customers whose
  behaviour changed since their last score (an event, order, invoice, ticket or email event
  since then), for new customers, and for everyone when a champion changed; the others keep
  their previous score and the date it was computed (`scored_on`);
- customers placed that way get their reasons as the month's assignment does
  (`segments.reasons`: their top features by distance from the segment's centre, against the
  month's members), in `predictions.daily_assignment_reasons`;
- rule-based overlays from the overlays YAML (lifecycle, intent) are evaluated. They live in
  their own table: a segment never overwrites an overlay, and an overlay never a segment.
"""

import datetime as dt

import dagster as dg
import numpy as np
import polars as pl

from seg_platform.core.calendar import day_parameters, month_key, month_parameters
from seg_platform.core.failures import config_errors_as_failures
from seg_platform.core.layers import layer_key, layer_specs
from seg_platform.core.metadata import markdown
from seg_platform.core.mlflow_registry import CHAMPION, alias_version, load_registered
from seg_platform.core.partitions import daily_partitions, skip_partition_without_data
from seg_platform.core.resources import WarehouseResource
from seg_platform.core.tracking import MlflowResource
from seg_platform.core.warehouse import (
    fetch_frame,
    fetch_one,
    frame_to_temp_table,
    replace_partition,
    table_exists,
)
from seg_platform.predictions.checks import prediction_checks
from seg_platform.predictions.data import known_features
from seg_platform.predictions.overlays import Family, check_columns, evaluate, load_overlays
from seg_platform.predictions.propensity import TARGETS
from seg_platform.predictions.resources import PredictionsConfig
from seg_platform.predictions.scoring import PREDICTIONS, score_customers, scoring_model
from seg_platform.segmentation.data import feature_columns, load_features
from seg_platform.segments.reasons import feature_labels, model_reasons, model_reference
from seg_platform.sources.span import record_data_span

SCORES = "predictions.daily_scores"
OVERLAYS = "predictions.customer_overlays"
# Why the customers placed by the day's scoring are in their segment (segments.reasons).
REASONS = "predictions.daily_assignment_reasons"
# Where behaviour shows: (staging table, timestamp column).
ACTIVITY = (
    ("stg_events", "event_ts"), ("stg_orders", "order_ts"), ("stg_invoices", "invoice_ts"),
    ("stg_tickets", "opened_at"), ("stg_email_events", "event_ts"),
)  # fmt: skip


class NoSegmentation(Exception):
    """No champion segmentation yet: build a month first."""


def segment_model(client, tracking: MlflowResource, con):
    """The champion segmentation pipeline, the date it was fitted as of, and the mapping of
    its cluster labels to stable segment ids and names."""
    name = tracking.registered_model
    version = alias_version(client, name, CHAMPION)
    if version is None:
        raise NoSegmentation(
            f"The MLflow model {name} has no `champion` yet: build a month first "
            "(seg-platform run, or materialize the monthly assets in the UI)."
        )
    fitted = month_parameters(version.tags["month"])["as_of_date"]
    mapping = fetch_frame(
        con,
        """SELECT DISTINCT c.segment, a.segment_id, a.segment_name
        FROM segmentation.customer_segments c
        JOIN segments.segment_assignments a USING (profile_id, as_of_date)
        WHERE c.as_of_date = ? AND c.model_version = ?""",
        [fitted, int(version.version)],
    )
    if mapping.is_empty():
        raise NoSegmentation(
            f"Segment tables of {fitted:%Y-%m} (champion version {version.version}) are missing"
        )
    model = load_registered(tracking.uri(), version)
    return model, int(version.version), fitted, mapping


def previous_scores(con, day: dt.date) -> tuple[pl.DataFrame | None, dt.date | None]:
    """The latest scores before `day`: the previous daily run's, or the monthly predictions
    when those are newer (or there is no daily run yet)."""
    candidates = []
    for table, scored in ((SCORES, "scored_on"), (PREDICTIONS, "as_of_date")):
        schema, name = table.split(".")
        if table_exists(con, schema, name):
            (latest,) = fetch_one(
                con, f"SELECT max(as_of_date) FROM {table} WHERE as_of_date < ?", [day]
            )
            if latest is not None:
                candidates.append((latest, table, scored))
    if not candidates:
        return None, None
    latest, table, scored = max(candidates)
    return fetch_frame(
        con,
        f"SELECT profile_id, churn_probability, purchase_probability, churn_model_version, "
        f"purchase_model_version, {scored} AS scored_on FROM {table} WHERE as_of_date = ?",
        [latest],
    ), latest


def changed_since(con, since: dt.datetime, until: dt.datetime) -> pl.DataFrame:
    """Profiles with any recorded behaviour in (since, until]."""
    parts = [
        f"SELECT profile_id FROM staging.{table} WHERE {column} > $since AND {column} <= $until"
        for table, column in ACTIVITY
        if table_exists(con, "staging", table)
    ]
    if not parts:
        return pl.DataFrame(schema={"profile_id": pl.String})
    return fetch_frame(
        con, f"SELECT DISTINCT profile_id FROM ({' UNION ALL '.join(parts)})",
        {"since": since, "until": until},
    )  # fmt: skip


# The keys the day's results name (the specs below declare them, in layer `predictions`).
SCORES_KEY = layer_key("predictions", "daily_customer_scores")
OVERLAYS_KEY = layer_key("predictions", "customer_overlays")


@dg.multi_asset(
    specs=layer_specs("predictions", [
        dg.AssetSpec(
            "daily_customer_scores", kinds={"sklearn", "duckdb"},
            deps=[layer_key("staging", "stg_events"), layer_key("staging", "stg_orders"),
                  layer_key("segments", "segmentation_champion"),
                  layer_key("predictions", "propensity_models")],
            description="Every known customer's segment and propensities as of the end of "
            "the day, without a re-fit: new customers get a segment from the `champion` "
            "segmentation pipeline (MLflow registry); propensities are refreshed for customers "
            "whose behaviour changed. Table `predictions.daily_scores`; the reasons of the "
            "customers placed today in `predictions.daily_assignment_reasons`.",
            metadata={"dagster/table_name": SCORES}, skippable=True,
        ),
        dg.AssetSpec(
            "customer_overlays", kinds={"duckdb"},
            deps=[SCORES_KEY],
            description="Rule-based overlays teams define in YAML (lifecycle: new / at risk / "
            "loyal / engaged / dormant; intent: e.g. 3+ pricing views in 7 days), beside the "
            "model segments. Table `predictions.customer_overlays`.",
            metadata={"dagster/table_name": OVERLAYS}, skippable=True,
        ),
    ]),
    check_specs=[
        dg.AssetCheckSpec("probabilities_in_unit_interval", asset=SCORES_KEY,
                          blocking=True, description="Every probability is in [0, 1]."),
        dg.AssetCheckSpec("one_row_per_profile", asset=SCORES_KEY, blocking=True,
                          description="One row per known customer as of the day."),
        dg.AssetCheckSpec("no_missing_scores_for_active_profiles",
                          asset=SCORES_KEY, blocking=True,
                          description="Every active customer has a churn and a purchase "
                          "probability once the models exist."),
        dg.AssetCheckSpec("every_customer_has_a_segment", asset=SCORES_KEY,
                          blocking=True, description="Every known customer, new ones "
                          "included, has a segment id and name."),
        dg.AssetCheckSpec("every_placed_customer_has_reasons", asset=SCORES_KEY,
                          description="Every customer the day placed in a segment (first seen "
                          "after the monthly fit) has 1 to 3 reasons, ranked 1, 2, 3 "
                          "(predictions.daily_assignment_reasons)."),
        dg.AssetCheckSpec("one_exclusive_overlay_per_customer", asset=OVERLAYS_KEY,
                          blocking=True, description="Every customer has exactly one overlay "
                          "of each exclusive family (e.g. one lifecycle stage)."),
    ],
    partitions_def=daily_partitions,
    # Subsettable so that its outputs, checks included, are optional: a day without data
    # yields none of them (and a subset only the selected ones).
    can_subset=True,
)  # fmt: skip
def score_the_day(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    predictions: PredictionsConfig,
    mlflow_tracking: MlflowResource,
):
    # A mistake in the overlays file is the user's to fix, data or not: told first.
    with config_errors_as_failures():
        families = load_overlays(predictions.overlays or None)
    # A day after the data (the newest day the calendar offers, before the data reaches it)
    # ends with "no data for <day>", not a failure deep in the scoring.
    if skip_partition_without_data(
        context, warehouse.path, monthly=False, measure=lambda: _measure_span(warehouse)
    ):
        return
    assets, checks = context.selected_asset_keys, context.selected_asset_check_keys
    for result in _score_the_day(context, warehouse, predictions, mlflow_tracking, families):
        key = dg.AssetKey.from_coercible(result.asset_key)
        if isinstance(result, dg.MaterializeResult):
            wanted = key in assets
        else:
            wanted = dg.AssetCheckKey(key, result.check_name) in checks
        if wanted:
            yield result


def _measure_span(warehouse: WarehouseResource):
    with warehouse.get_connection() as con:
        return record_data_span(con, warehouse.path)


def _score_the_day(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    predictions: PredictionsConfig,
    mlflow_tracking: MlflowResource,
    families: list[Family],
):
    day = dt.date.fromisoformat(context.partition_key)
    params = day_parameters(day)
    mlflow_tracking.setup(mlflow_tracking.predictions_experiment)
    client = mlflow_tracking.client()
    with warehouse.get_connection() as con:
        model, seg_version, fitted, mapping = segment_model(client, mlflow_tracking, con)
        features = known_features(con, params, stored=False)
        monthly = fetch_frame(
            con,
            "SELECT profile_id, segment_id, segment_name FROM segments.segment_assignments "
            "WHERE as_of_date = ?",
            [fitted],
        )
        # Segments: kept from the monthly fit, or predicted for customers it did not see.
        segments = features.select("profile_id").join(monthly, on="profile_id", how="left")
        new = segments["segment_id"].is_null().to_numpy()
        if new.any():
            columns = feature_columns(features)
            X = features.filter(pl.Series(new)).select(columns).to_numpy().astype(np.float64)
            assigned = (
                features.filter(pl.Series(new)).select("profile_id")
                .with_columns(segment=pl.Series(model.predict(X).astype(np.int64)))
                .join(mapping, on="segment", how="left", maintain_order="left")
                .drop("segment")
            )  # fmt: skip
            segments = segments.update(assigned, on="profile_id", how="left")
        reasons = placed_reasons(con, day, fitted, model, monthly, features, segments, new)
        segments = segments.with_columns(
            segment_source=pl.Series(np.where(new, "daily", "monthly")),
            segment_model_version=pl.lit(seg_version, dtype=pl.Int64),
            segmented_as_of=pl.lit(fitted),
        )

        # Propensities: refreshed where behaviour changed, kept elsewhere.
        models = {
            t.name: scoring_model(client, mlflow_tracking, t, month_key(day)) for t in TARGETS
        }
        previous, previous_day = previous_scores(con, day)
        versions = {t.name: models[t.name][2] if models[t.name] else None for t in TARGETS}
        if previous is None:
            refresh = np.ones(features.height, dtype=bool)
        else:
            since = dt.datetime.combine(previous_day, dt.time.max)
            changed = set(changed_since(con, since, params["as_of"])["profile_id"].to_list())
            known_before = features.select("profile_id").join(
                previous, on="profile_id", how="left", maintain_order="left")  # fmt: skip
            stale = np.zeros(features.height, dtype=bool)
            for t in TARGETS:
                stale |= known_before[f"{t.name}_model_version"].to_numpy() != versions[t.name]
            refresh = (
                features["profile_id"].is_in(list(changed)).to_numpy()
                | known_before["scored_on"].is_null().to_numpy() | stale
            )  # fmt: skip
        rows = pl.Series(refresh)
        fresh = score_customers(features.filter(rows), models, predictions.active_days)
        fresh = fresh.with_columns(scored_on=pl.lit(day))
        kept = (
            features.filter(~rows).select("profile_id")
            .join(previous, on="profile_id", how="left", maintain_order="left")
            if previous is not None else None
        )  # fmt: skip
        scores = score_customers(features, {}, predictions.active_days).select(
            "profile_id", "active"
        )
        probability_cols = [
            c for t in TARGETS for c in (f"{t.name}_probability", f"{t.name}_model_version")
        ]
        parts = [fresh.select("profile_id", *probability_cols, "scored_on")]
        if kept is not None and kept.height:
            parts.append(kept.select("profile_id", *probability_cols, "scored_on"))
        probabilities = pl.concat(parts, how="vertical_relaxed")
        table = (
            segments.join(scores, on="profile_id", maintain_order="left")
            .join(probabilities, on="profile_id", how="left", maintain_order="left")
            .with_columns(
                refreshed=pl.Series(refresh),
                as_of_date=pl.lit(day),
            )
            .select(
                "profile_id", "as_of_date", "segment_id", "segment_name", "segment_source",
                "segment_model_version", "segmented_as_of", "active", "churn_probability",
                "purchase_probability", "scored_on", "refreshed", "churn_model_version",
                "purchase_model_version",
            )
        )  # fmt: skip
        frame_to_temp_table(con, "_daily_new", table)

        # Overlays, over the day's features and scores.
        scored = table.select(
            "profile_id", "segment_id", "segment_name", "churn_probability", "purchase_probability"
        )
        signals = features.join(scored, on="profile_id", maintain_order="left")
        with config_errors_as_failures():
            check_columns(families, signals.columns, predictions.overlays or None)
            frame_to_temp_table(con, "_signals", signals)
            overlays = evaluate(con, families, "_signals", predictions.overlays or None)
        overlays = overlays.with_columns(as_of_date=pl.lit(day)).select(
            "as_of_date", "profile_id", "family", "overlay"
        )
        frame_to_temp_table(con, "_overlays_new", overlays)
        frame_to_temp_table(con, "_reasons_new", reasons)
        replace_partition(con, SCORES, "_daily_new", "as_of_date", day)
        replace_partition(con, OVERLAYS, "_overlays_new", "as_of_date", day)
        replace_partition(con, REASONS, "_reasons_new", "as_of_date", day)
        con.execute("DROP TABLE _daily_new; DROP TABLE _overlays_new; DROP TABLE _signals; "
                    "DROP TABLE _reasons_new")  # fmt: skip

    counts = (
        overlays.group_by("family", "overlay").agg(customers=pl.len()).sort("family", "overlay")
    )
    yield dg.MaterializeResult(
        asset_key=SCORES_KEY,
        metadata={
            "dagster/row_count": table.height,
            "new_customers_segmented": int(new.sum()),
            "propensities_refreshed": int(refresh.sum()),
            "segmentation_model_version": seg_version,
            "segmented_as_of": str(fitted),
            "previous_scores": str(previous_day) if previous_day else "none",
        },
    )
    yield dg.MaterializeResult(
        asset_key=OVERLAYS_KEY,
        metadata={"dagster/row_count": overlays.height, "overlays": markdown(counts)},
    )
    yield from prediction_checks(table, features.height, models, asset=SCORES_KEY)
    unassigned = table.filter(pl.col("segment_id").is_null() | pl.col("segment_name").is_null())
    yield dg.AssetCheckResult(
        asset_key=SCORES_KEY, check_name="every_customer_has_a_segment",
        passed=unassigned.is_empty(),
        metadata={"without_segment": unassigned.height, "new_customers": int(new.sum())},
        description=None if unassigned.is_empty() else (
            f"{unassigned.height} customers without a segment"),
    )  # fmt: skip
    yield placed_reasons_check(table, reasons)
    wrong = {}
    for family in (f for f in families if f.exclusive):
        per = overlays.filter(pl.col("family") == family.name).group_by("profile_id").len()
        wrong[family.name] = (table.height - per.height) + per.filter(pl.col("len") > 1).height
    yield dg.AssetCheckResult(
        asset_key=OVERLAYS_KEY, check_name="one_exclusive_overlay_per_customer",
        passed=not any(wrong.values()),
        metadata={f"{k}_customers_without_exactly_one": v for k, v in wrong.items()},
        description=None if not any(wrong.values()) else f"Not exactly one overlay: {wrong}",
    )  # fmt: skip


def placed_reasons(
    con, day: dt.date, fitted: dt.date, model, monthly: pl.DataFrame, features: pl.DataFrame,
    segments: pl.DataFrame, new: np.ndarray,
) -> pl.DataFrame:  # fmt: skip
    """`predictions.daily_assignment_reasons` of the day: the reasons of the customers the day
    placed (`new`), computed as the month's assignment computes them (`segments.reasons`), in
    the champion's scaled space and against the segments of its month (`fitted`): their
    members' centres and averages (as of the month, `monthly` with the month's features)."""
    placed = segments.filter(pl.Series(new) & pl.col("segment_id").is_not_null())
    if placed.is_empty():
        return pl.DataFrame(schema=REASON_COLUMNS)
    columns = feature_columns(features)
    X = placed.select("profile_id").join(
        features, on="profile_id", how="left", maintain_order="left"
    ).select(columns).to_numpy().astype(np.float64)  # fmt: skip
    members = monthly.join(load_features(con, fitted), on="profile_id", maintain_order="left")
    reference = model_reference(
        model, members.select(columns).to_numpy().astype(np.float64), columns,
        members["segment_id"].to_numpy(),
    )  # fmt: skip
    reasons = model_reasons(
        fitted, placed["profile_id"], X, columns, placed["segment_id"].to_numpy(), model,
        feature_labels(), reference=reference,
    )  # fmt: skip
    return (
        reasons.rename({"month": "segmented_as_of"})
        .with_columns(as_of_date=pl.lit(day))
        .select(list(REASON_COLUMNS))
        .cast(pl.Schema(REASON_COLUMNS))
    )


REASON_COLUMNS = {
    "as_of_date": pl.Date, "profile_id": pl.String, "rank": pl.Int32, "feature": pl.String,
    "customer_value": pl.Float64, "segment_average": pl.Float64, "reason": pl.String,
    "segmented_as_of": pl.Date,
}  # fmt: skip


def placed_reasons_check(table: pl.DataFrame, reasons: pl.DataFrame) -> dg.AssetCheckResult:
    placed = table.filter(pl.col("segment_source") == "daily").height
    per_customer = reasons.group_by("profile_id").agg(
        pl.len().alias("n"), (pl.col("rank").sort() == pl.int_range(1, pl.len() + 1)).all()
        .alias("ranked"),
    )  # fmt: skip
    without = placed - per_customer.height
    misranked = per_customer.filter(~pl.col("ranked") | (pl.col("n") > 3)).height
    bad = without + misranked
    return dg.AssetCheckResult(
        asset_key=SCORES_KEY, check_name="every_placed_customer_has_reasons",
        passed=bad == 0, severity=dg.AssetCheckSeverity.WARN,
        metadata={"placed_today": placed, "customers_without_reasons": without,
                  "misranked": misranked, "reasons": reasons.height, "threshold": 0},
        description=None if bad == 0 else (
            f"{without:,} customers placed today without reasons, {misranked:,} with reasons "
            "not ranked 1..3"),
    )  # fmt: skip


DAILY_ASSETS = [score_the_day]
