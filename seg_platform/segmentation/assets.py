"""Segmentation assets (group `segmentation`), one partition per month.

`customer_segments` fits every candidate on the month's features, logs each as an MLflow child
run under one parent run per month, chooses one by the documented rule, fits it on every known
customer, writes the assignments and the candidates table, and registers the chosen pipeline as
a version of the MLflow model with the alias `challenger`. Blocking checks then validate the
segments; only when they and the segment tables' checks pass does `segmentation_champion`
(group `segments`, `segments/assets.py`) move the alias `champion` to it.
"""

import dataclasses
import datetime as dt
import functools
import tempfile
import time
import warnings
from pathlib import Path

import dagster as dg
import polars as pl

from seg_platform.core.calendar import (
    month_end_before,
    month_key,
    month_parameters,
    partial_month_note,
)
from seg_platform.core.engine import to_lake
from seg_platform.core.layers import layer_key, layer_specs
from seg_platform.core.metadata import markdown
from seg_platform.core.mlflow_registry import (
    CHALLENGER,
    CHAMPION,
    alias_version,
    load_registered,
    remember_model,
    set_alias,
)
from seg_platform.core.partitions import monthly_partitions
from seg_platform.core.paths import SQL_ROOT
from seg_platform.core.resources import EngineResource, WarehouseResource
from seg_platform.core.tracking import MlflowResource
from seg_platform.core.warehouse import (
    fetch_one,
    frame_to_temp_table,
    replace_partition,
    table_exists,
)
from seg_platform.segmentation.data import (
    CANDIDATES,
    FEATURES,
    SEGMENTS,
    feature_columns,
    load_features,
)
from seg_platform.segmentation.resources import SegmentationConfig
from seg_platform.sources.span import data_span
from seg_platform.sql_models.project import load_project

# Our own classes inside the logged pipeline, for MLflow's skops (safe) serialisation; loading
# the model needs the same list: mlflow.sklearn.load_model(uri, skops_trusted_types=...).
# The clusterers' own are added from the algorithm registry where the model is logged (importing
# it here would load scikit-learn with the code location).
TRUSTED_TYPES = [
    "numpy.dtype",
    "seg_platform.segmentation.preprocess.DropEmpty",
    "seg_platform.segmentation.preprocess.CountLog1p",
    "seg_platform.segmentation.preprocess.GuardedRobustScaler",
    "seg_platform.segmentation.sweep.RankedSegments",
]


def _digest(con, as_of_date: dt.date) -> str:
    rows, value = fetch_one(
        con, f"SELECT count(*), bit_xor(hash(f)) FROM {FEATURES} f WHERE as_of_date = ?",
        [as_of_date],
    )  # fmt: skip
    return f"{rows}-{(value or 0):016x}"


def _incumbent_k(con, as_of_date: dt.date) -> int | None:
    """Last month's segment count of the model in use (a kept champion's count, not that of a
    rejected challenger), if last month was segmented."""
    if not table_exists(con, "segmentation", "candidates"):
        return None
    previous = month_end_before(as_of_date)
    (k,) = fetch_one(
        con,
        f"SELECT any_value(c.n_segments) FROM {CANDIDATES} c WHERE c.chosen AND c.model_version "
        f"= (SELECT any_value(model_version) FROM {SEGMENTS} WHERE as_of_date = ?)",
        [previous],
    )
    return int(k) if k is not None else None


def _champion_to_keep(tracking: MlflowResource, month: str, features: int):
    """The registered champion of an earlier month, loaded, when it can segment this month's
    features: (version, its month, its candidate, pipeline); else None."""

    client = tracking.client()
    current = alias_version(client, tracking.registered_model, CHAMPION)
    if current is None:  # no champion yet
        return None
    champion_month = month_key(current.tags.get("month", ""))
    if not champion_month or champion_month >= month:
        return None
    pipeline = load_registered(tracking.uri(), current)
    if getattr(pipeline, "n_features_in_", features) != features:
        return None  # the feature set changed since: its segments cannot be carried over
    candidate = current.tags.get("candidate", "champion")
    return int(current.version), champion_month, candidate, pipeline


class TooFewCustomers(Exception):
    """The month has too few customers to segment: skipped, not failed."""


def min_customers(config: SegmentationConfig) -> int:
    return config.min_segments * 20


def segment_month(
    con, month: str, config: SegmentationConfig, tracking: MlflowResource, tags, assign=None
):
    """Fit, compare, log and register one month's segmentation. Returns what the asset reports.
    `assign(pipeline, frame, columns)`, when given, places every customer with the model in use
    (the Spark engine: on the executors) instead of the driver's own placement."""
    import mlflow
    import numpy as np
    import scipy
    import sklearn

    from seg_platform.segmentation.algorithms import trusted_types
    from seg_platform.segmentation.report import (
        CURVES_PNG,
        PCA_PNG,
        PROFILE_CSV,
        SILHOUETTE_PNG,
        SIZES_PNG,
        elbow_png,
        project_2d,
        scatter_png,
        segment_profile,
        segment_sizes_png,
        selection_curves_png,
        silhouette_png,
    )
    from seg_platform.segmentation.selection import unmet_reason
    from seg_platform.segmentation.sweep import assign_with, run_sweep

    as_of_date = month_parameters(month)["as_of_date"]
    month = month_key(month)  # 'YYYY-MM' in run names and tags, whatever the key's form
    started = time.perf_counter()
    frame = load_features(con, as_of_date)
    stages = {"load_features": round(time.perf_counter() - started, 3)}
    if frame.height < min_customers(config):
        raise TooFewCustomers(
            f"Only {frame.height} known customers on {as_of_date}: at least "
            f"{min_customers(config)} are needed to segment into {config.min_segments}+ "
            "segments; segmentation skipped for this month."
        )
    columns = feature_columns(frame)
    X = frame.select(columns).to_numpy().astype(np.float64)
    sweep = config.sweep_config()
    sweep.incumbent_k = _incumbent_k(con, as_of_date)
    # Loaded once: the champion a month without an acceptable candidate keeps; with none,
    # the rule may settle for fewer stable segments (SelectionRule.allow_fewer).
    keepable = _champion_to_keep(tracking, month, X.shape[1])
    if keepable is None:
        sweep.rule = dataclasses.replace(sweep.rule, allow_fewer=True)
    started = time.perf_counter()
    result = run_sweep(X, sweep)
    stages["sweep_and_final_fit"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    rule = sweep.rule

    experiment_id = tracking.setup()
    digest = _digest(con, as_of_date)
    with warnings.catch_warnings():
        # MLflow finds two equivalent classes for a local path and says so; either is right.
        warnings.simplefilter("ignore", UserWarning)
        dataset = mlflow.data.from_polars(
            frame.select(["profile_id", *columns]).head(0),
            source=str(Path(con.execute("PRAGMA database_list").fetchall()[0][2])),
            name=f"{FEATURES}@{as_of_date}",
            digest=digest,
        )
    Zs = result.preprocess.transform(X[result.sample_rows])
    plot_rows = np.arange(min(sweep.silhouette_sample, len(Zs)))
    xy = project_2d(Zs, 0)
    rows = []
    run_tags = {**tags, "partition": month, "features_digest": digest}
    with (
        tempfile.TemporaryDirectory() as tmp,
        mlflow.start_run(
            run_name=f"segmentation {month}", tags=run_tags, description=rule.describe()
        ) as parent,
    ):
        out = Path(tmp)
        mlflow.log_params(
            {
                "month": month, "customers": frame.height, "features": len(columns),
                "selection_sample": len(result.sample_rows), "seed": sweep.seed,
                "bootstrap": sweep.bootstrap, "pca_variance": sweep.pca_variance or 0,
                "rule_min_segments": rule.min_segments, "rule_max_segments": rule.max_segments,
                "rule_min_segment_share": rule.min_segment_share,
                "rule_min_stability": rule.min_stability,
                "incumbent_k": sweep.incumbent_k or 0,
            }
        )  # fmt: skip
        mlflow.log_input(dataset, context="training")
        for scored in result.scored:
            c = scored.candidate
            eligible = rule.eligible(scored, result.scored)
            chosen = scored is result.chosen
            with mlflow.start_run(
                run_name=f"{month} {c.name}", nested=True,
                tags={**run_tags, "candidate": c.name, "eligible": str(eligible),
                      CHOSEN_TAG: str(chosen).lower()},
            ) as child:  # fmt: skip
                mlflow.log_params({"algorithm": c.algorithm, "k": c.k or "auto"})
                mlflow.log_metrics(scored.metrics)
                mlflow.log_input(dataset, context="training")
                # The same file names in every candidate run (one folder per run), so MLflow's
                # "compare runs" shows them side by side.
                run_dir = out / c.name
                run_dir.mkdir()
                profile = segment_profile(frame.select(columns)[result.sample_rows], scored.labels)
                profile.write_csv(run_dir / PROFILE_CSV)
                title = f"{c.name} ({month})"
                segment_sizes_png(scored.labels, title, run_dir / SIZES_PNG)
                scatter_png(xy, scored.labels, title, run_dir / PCA_PNG)
                silhouette_png(
                    scored.silhouettes, scored.labels[plot_rows], title, run_dir / SILHOUETTE_PNG
                )
                mlflow.log_artifacts(str(run_dir))
            rows.append(
                {"candidate": c.name, "algorithm": c.algorithm, "k": c.k,
                 **{k: scored.metrics.get(k) for k in METRICS}, "eligible": eligible,
                 "chosen": chosen, "mlflow_run_id": child.info.run_id}
            )  # fmt: skip
        candidates = pl.DataFrame(rows, schema=CANDIDATE_SCHEMA)
        candidates.write_csv(out / "candidates.csv")
        mlflow.log_artifact(str(out / "candidates.csv"))
        mlflow.log_artifact(str(elbow_png(rows, out / "elbow.png")))
        mlflow.log_artifact(str(selection_curves_png(rows, out / CURVES_PNG)))
        (out / "selection_rule.md").write_text(rule.describe() + "\n")
        mlflow.log_artifact(str(out / "selection_rule.md"))
        mlflow.log_metrics({f"chosen_{k}": v for k, v in result.chosen.metrics.items()})
        # The chosen candidate's numbers under the candidates' names as well, so the month's
        # row in the run table fills the selection-metric columns.
        mlflow.log_metrics(result.chosen.metrics)
        mlflow.set_tags({"chosen_candidate": result.chosen.candidate.name,
                         "rule_met": str(result.rule_met)})  # fmt: skip
        info = mlflow.sklearn.log_model(
            result.pipeline,
            name="model",
            skops_trusted_types=[*TRUSTED_TYPES, *trusted_types()],
            pip_requirements=[
                f"scikit-learn=={sklearn.__version__}", f"numpy=={np.__version__}",
                f"scipy=={scipy.__version__}", "seg-platform",
            ],
        )  # fmt: skip
        parent_id = parent.info.run_id
    version = mlflow.register_model(info.model_uri, tracking.registered_model, tags={
        "month": month, "rule_met": str(result.rule_met),
        "candidate": result.chosen.candidate.name})  # fmt: skip
    tracking.client().update_model_version(
        tracking.registered_model, version.version,
        description=version_description(month, result.chosen, result.rule_met, parent_id),
    )  # fmt: skip
    set_alias(tracking.client(), tracking.registered_model, CHALLENGER, version.version)
    remember_model(tracking.uri(), version, result.pipeline)

    # A month whose candidates all miss the rule keeps the champion: its segments (and so
    # their ids and names) come from the earlier model; the new version stays challenger.
    placement = (result.segment, result.runner_up, result.distance, result.probability)
    in_use, in_use_candidate = int(version.version), result.chosen.candidate.name
    reason = kept = None
    if not result.rule_met:
        reason = unmet_reason(rule, result.chosen.candidate.name, result.chosen.metrics)
        kept = keepable
    if kept is not None:
        in_use, _, in_use_candidate, champion = kept
        placement = assign_with(champion, X) if assign is None else None
        tracking.client().set_tag(parent_id, "kept_champion", str(in_use))
    if assign is not None:
        placement = assign(kept[3] if kept is not None else result.pipeline, frame, columns)
    partial = partial_month_note(month, data_span(con)[1])
    if partial:
        tracking.client().set_tag(parent_id, "partial_month", partial)
    stages["mlflow_logging_and_registry"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    segment, runner_up, distance, probability = placement
    segments = pl.DataFrame(
        {
            "profile_id": frame["profile_id"],
            "as_of_date": [as_of_date] * frame.height,
            "segment": segment.astype(np.int64),
            "runner_up": runner_up.astype(np.int64),
            "distance": distance,
            "probability": pl.Series(probability, dtype=pl.Float64)
            if probability is not None
            else pl.Series([None] * frame.height, dtype=pl.Float64),
        }
    ).with_columns(
        pl.lit(in_use).alias("model_version"),
        pl.lit(in_use_candidate).alias("candidate"),
    )
    frame_to_temp_table(con, "_segments_new", segments)
    replace_partition(con, SEGMENTS, "_segments_new", "as_of_date", as_of_date)
    frame_to_temp_table(
        con, "_candidates_new",
        candidates.with_columns(pl.lit(as_of_date).alias("as_of_date"),
                                pl.lit(parent_id).alias("mlflow_parent_run_id"),
                                pl.lit(int(version.version)).alias("model_version")),
    )  # fmt: skip
    replace_partition(con, CANDIDATES, "_candidates_new", "as_of_date", as_of_date)
    con.execute("DROP TABLE IF EXISTS _segments_new; DROP TABLE IF EXISTS _candidates_new")
    stages["write_tables"] = round(time.perf_counter() - started, 3)
    return {
        "stages": stages,
        "result": result, "candidates": candidates, "version": version.version,
        "run_url": tracking.run_url(experiment_id, parent_id), "parent_run_id": parent_id,
        "experiment_url": tracking.experiment_url(experiment_id),
        "customers": frame.height, "kept": kept[:3] if kept else None, "reason": reason,
        "partial": partial,
    }  # fmt: skip


def version_description(month: str, chosen, rule_met: bool, parent_run_id: str) -> str:
    """What a registered segmentation version is, in one paragraph for the registry page."""
    m = {k: float(chosen.metrics.get(k, float("nan"))) for k in METRICS}
    rule = "met" if rule_met else "not met (see the parent run's description)"
    return (
        f"Customer segmentation of {month}: {chosen.candidate.name} with "
        f"{m['n_segments']:.0f} segments (silhouette {m['silhouette']:.3f}, Davies-Bouldin "
        f"{m['davies_bouldin']:.3f}, bootstrap stability {m['bootstrap_stability']:.3f}, "
        f"smallest segment {m['smallest_segment_share']:.1%}). Selection rule {rule}. "
        f"Every candidate and its plots: MLflow run {parent_run_id}."
    )


# Tag of every candidate run: "true" on the one the selection rule chose, else "false".
CHOSEN_TAG = "seg.chosen"
METRICS = (
    "n_segments", "silhouette", "davies_bouldin", "calinski_harabasz", "inertia", "bic",
    "smallest_segment_share", "bootstrap_stability", "outlier_share",
)  # fmt: skip
CANDIDATE_SCHEMA = {
    "candidate": pl.String, "algorithm": pl.String, "k": pl.Int64,
    **{m: pl.Float64 for m in METRICS},
    "eligible": pl.Boolean, "chosen": pl.Boolean, "mlflow_run_id": pl.String,
}  # fmt: skip


@dg.multi_asset(
    specs=layer_specs(
        "segmentation",
        [
            dg.AssetSpec(
                "customer_segments",
                kinds={"sklearn", "mlflow", "duckdb"},
                deps=[layer_key("features", "customer_features")],
                description="Each known customer's segment for the month, from the chosen "
                "clustering: segment id (0 = largest), distance to its centre (and membership "
                "probability for mixtures), runner-up segment, model version. Table "
                f"`{SEGMENTS}`.",
                metadata={"dagster/table_name": SEGMENTS},
                skippable=True,
            ),
            dg.AssetSpec(
                "segmentation_candidates",
                kinds={"mlflow", "duckdb"},
                deps=[layer_key("features", "customer_features")],
                description="Every candidate model of the month's sweep with its metrics, whether "
                "it met the selection rule, which one was chosen and its MLflow run. Table "
                f"`{CANDIDATES}`.",
                metadata={"dagster/table_name": CANDIDATES},
                skippable=True,
            ),
        ],
    ),
    partitions_def=monthly_partitions,
)
def segmentation_sweep(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    segmentation: SegmentationConfig,
    mlflow_tracking: MlflowResource,
    engine: EngineResource,
):
    """Fit every candidate, log them to MLflow, choose one, assign every known customer."""
    code_version = next(m for m in load_project(SQL_ROOT) if m.table == FEATURES).code_version
    tags = {"dagster_run_id": context.run.run_id, "features_code_version": code_version,
            "seg_platform_version": _version()}  # fmt: skip
    with warehouse.get_connection() as con:
        try:
            assign = None
            if engine.is_spark:  # fitted on the driver, every customer placed on Spark
                from seg_platform.segmentation.spark_assign import placement_on_spark

                spark, lake = engine.session()
                assign = functools.partial(placement_on_spark, spark)
            out = segment_month(
                con, context.partition_key, segmentation, mlflow_tracking, tags, assign
            )
            if engine.is_spark:
                to_lake(con, lake, SEGMENTS)
        except TooFewCustomers as exc:
            # Not an error in the data: nothing to segment yet. Downstream does not run.
            context.log.warning(str(exc))
            return
        sizes = con.sql(
            f"SELECT segment, count(*) AS customers, round(count(*) / sum(count(*)) OVER (), 4) "
            f"AS share FROM {SEGMENTS} WHERE as_of_date = "
            f"'{month_parameters(context.partition_key)['as_of_date']}' GROUP BY 1 ORDER BY 1"
        ).pl()
    result = out["result"]
    chosen = result.chosen
    month = month_key(context.partition_key)
    context.log.info(
        f"chose {chosen.candidate.name} (rule met: {result.rule_met}); MLflow {out['run_url']}"
    )
    outcome = {}
    if out["kept"]:
        outcome["kept_champion"] = kept_line(month, out["reason"], *out["kept"], out["version"])
        context.log.warning(outcome["kept_champion"])
    elif out["reason"]:
        context.log.warning(f"{month}: {out['reason']}")
    if out["partial"]:
        outcome["partial_month"] = out["partial"]
        context.log.warning(out["partial"])
    link = dg.MetadataValue.url(out["run_url"])
    yield dg.MaterializeResult(
        asset_key=layer_key("segmentation", "customer_segments"),
        metadata={
            "dagster/row_count": out["customers"],
            "chosen_candidate": chosen.candidate.name,
            "rule_met": result.rule_met,
            "model_version": int(out["version"]),
            "segments_from_model_version": int(out["kept"][0] if out["kept"] else out["version"]),
            "partial": bool(out["partial"]),
            **outcome,
            "mlflow_run": link,
            "mlflow_experiment": dg.MetadataValue.url(out["experiment_url"]),
            "mlflow_parent_run_id": out["parent_run_id"],
            **{f"chosen_{k}": round(float(v), 4) for k, v in chosen.metrics.items()},
            "segment_sizes": markdown(sizes),
            "seconds": dg.MetadataValue.json(result.seconds),
        },
    )
    yield dg.MaterializeResult(
        asset_key=layer_key("segmentation", "segmentation_candidates"),
        metadata={
            "dagster/row_count": out["candidates"].height,
            "mlflow_run": link,
            "candidates": markdown(
                out["candidates"].select(
                    "candidate",
                    "n_segments",
                    "silhouette",
                    "smallest_segment_share",
                    "bootstrap_stability",
                    "eligible",
                    "chosen",
                )
            ),  # fmt: skip
        },
    )


def kept_line(
    month: str, reason: str, version: int, champion_month: str, candidate: str, rejected
) -> str:
    """The one line a person reads when a month keeps the champion."""
    return (
        f"{month}: kept the champion (model version {version}, {candidate}, fitted on "
        f"{champion_month}) and its segment ids: {reason}; the month's own model (version "
        f"{rejected}) stays challenger"
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("seg-platform")
    except PackageNotFoundError:
        return "unknown"


def _month_stats(con, as_of_date) -> dict:
    sizes = [
        r[0]
        for r in con.execute(
            f"SELECT count(*) FROM {SEGMENTS} WHERE as_of_date = ? GROUP BY segment",
            [as_of_date],
        ).fetchall()
    ]
    rows, profiles, nulls, in_use = fetch_one(
        con,
        f"SELECT count(*), count(DISTINCT profile_id), count(*) FILTER (WHERE segment IS NULL), "
        f"any_value(model_version) FROM {SEGMENTS} WHERE as_of_date = ?",
        [as_of_date],
    )
    expected = load_features(con, as_of_date).height
    metrics = "candidate, silhouette, eligible, n_segments, smallest_segment_share, " \
        "bootstrap_stability, model_version, strftime(as_of_date, '%Y-%m')"  # fmt: skip
    chosen = con.execute(
        f"SELECT {metrics} FROM {CANDIDATES} WHERE as_of_date = ? AND chosen", [as_of_date]
    ).fetchall()
    # The model whose segments the month holds: the month's own, or a champion it kept.
    model = con.execute(
        f"SELECT {metrics} FROM {CANDIDATES} WHERE chosen AND model_version = ?", [in_use]
    ).fetchall()
    chosen = chosen[0] if chosen else (None, None, False, None, None, None, None, None)
    model = model[0] if model else chosen
    return {
        "sizes": sizes, "rows": rows, "profiles": profiles, "nulls": nulls,
        "expected": expected, "chosen": chosen, "model": model,
        "kept": in_use is not None and chosen[6] is not None and in_use != chosen[6],
    }  # fmt: skip


def _rule_outcome(s: dict, c: SegmentationConfig, month: str) -> str:
    """Why the month's selection failed, and what happened then, in one line."""
    from seg_platform.segmentation.selection import unmet_reason

    name, _, _, k, share, stability, version, _ = s["chosen"]
    reason = unmet_reason(
        c.rule(), name,
        {"n_segments": k, "smallest_segment_share": share, "bootstrap_stability": stability},
    )  # fmt: skip
    if s["kept"]:
        model = s["model"]
        return kept_line(month, reason, s["model"][6], model[7], model[0], version)
    return (
        f"{month}: {reason}; there is no earlier champion to keep, so the month's segments are "
        "not published"
    )


# Checks that judge the model: a month that keeps the champion reports them as warnings (its
# own model is not promoted; its segments are the champion's, already accepted).
MODEL_CHECKS = {"segment_count_within_range", "smallest_segment_share_above_floor",
                "silhouette_above_floor", "selection_rule_met"}  # fmt: skip


def _check(name: str, description: str, evaluate):
    @dg.asset_check(
        asset=layer_key("segmentation", "customer_segments"),
        name=name,
        blocking=True,
        description=description,
    )
    def _c(
        context: dg.AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        segmentation: SegmentationConfig,
    ) -> dg.AssetCheckResult:
        month = month_key(context.partition_key)
        as_of_date = month_parameters(context.partition_key)["as_of_date"]
        with warehouse.get_connection() as con:
            stats = _month_stats(con, as_of_date)
        passed, metadata, text = evaluate(stats, segmentation)
        kept = stats["kept"] and name in MODEL_CHECKS
        # Fewer segments than the range, chosen by the rule itself (no champion to keep and no
        # candidate in the range met the floors): the most the data supports, a warning.
        fewer = (
            name == "segment_count_within_range" and not passed and bool(stats["chosen"][2])
            and 0 < len(stats["sizes"]) < segmentation.min_segments
        )  # fmt: skip
        if name == "selection_rule_met" and not passed:
            text = _rule_outcome(stats, segmentation, month)
        elif kept and not passed:
            text += f" (segments of the kept champion, model version {stats['model'][6]})"
        elif fewer:
            text = (
                f"{month}: {len(stats['sizes'])} segments, under the {segmentation.min_segments}"
                f"..{segmentation.max_segments} range: no candidate in the range met the share "
                f"and stability floors and there is no earlier champion to keep, so the best "
                f"candidate with fewer segments that meets them is used (the most stable "
                f"segments the data supports; resources.segmentation.config.min_segments)"
            )
        warn = kept or fewer
        return dg.AssetCheckResult(
            passed=bool(passed),
            metadata={**metadata, "kept_champion": bool(stats["kept"]), "fewer_segments": fewer},
            description=None if passed else text,
            severity=dg.AssetCheckSeverity.WARN if warn else dg.AssetCheckSeverity.ERROR,
        )

    return _c


def _share(s: dict) -> float:
    return round(min(s["sizes"]) / sum(s["sizes"]), 4) if s["sizes"] else 0.0


SEGMENT_CHECKS = [
    _check(
        "every_customer_assigned_once",
        "Every known customer of the month has exactly one segment.",
        lambda s, c: (
            s["rows"] == s["profiles"] == s["expected"] and s["nulls"] == 0,
            {
                "rows": s["rows"],
                "distinct_customers": s["profiles"],
                "customers_with_features": s["expected"],
                "without_segment": s["nulls"],
                "threshold": "rows = customers = customers with features; 0 without segment",
            },
            f"{s['rows']:,} segment rows for {s['profiles']:,} distinct customers, "
            f"{s['expected']:,} customers with features and {s['nulls']:,} without a segment: "
            "each customer with features must have exactly one segment",
        ),  # fmt: skip
    ),
    _check(
        "segment_count_within_range",
        "The number of segments is within the configured actionable range.",
        lambda s, c: (
            c.min_segments <= len(s["sizes"]) <= c.max_segments,
            {"observed": len(s["sizes"]), "threshold": f"{c.min_segments}..{c.max_segments}"},
            f"{len(s['sizes'])} segments, outside {c.min_segments}..{c.max_segments} "
            "(resources.segmentation.config.min_segments/max_segments)",
        ),
    ),
    _check(
        "smallest_segment_share_above_floor",
        "The smallest segment holds at least the configured share of customers.",
        lambda s, c: (
            bool(s["sizes"]) and _share(s) >= c.min_segment_share,
            {"observed": _share(s), "threshold": c.min_segment_share},
            f"the smallest segment holds {_share(s):.2%} of customers, under the "
            f"{c.min_segment_share:.0%} floor (resources.segmentation.config.min_segment_share)",
        ),  # fmt: skip
    ),
    _check(
        "silhouette_above_floor",
        "The silhouette of the model in use (on the fixed sample of the month it was fitted) "
        "is at least the configured floor.",
        lambda s, c: (
            s["model"][1] is not None and s["model"][1] >= c.min_silhouette,
            {
                "observed": s["model"][1],
                "candidate": s["model"][0],
                "threshold": c.min_silhouette,
            },
            f"{s['model'][0]} has a silhouette of {s['model'][1] or 0:.3f}, under the floor "
            f"of {c.min_silhouette} (resources.segmentation.config.min_silhouette)",
        ),  # fmt: skip
    ),
    _check(
        "selection_rule_met",
        "The chosen candidate met the selection rule (range, smallest share, stability); when "
        "none did and an earlier champion exists, the month keeps the champion's segments and "
        "this check warns instead of failing.",
        lambda s, c: (
            bool(s["chosen"][2]),
            {"candidate": s["chosen"][0], "rule_met": bool(s["chosen"][2])},
            "",
        ),
    ),
]


@dg.asset_check(
    asset=layer_key("segmentation", "segmentation_candidates"),
    name="every_candidate_logged",
    blocking=False,
    description="Every configured candidate has a row (and an MLflow run) for the month.",
)
def every_candidate_logged(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    segmentation: SegmentationConfig,
) -> dg.AssetCheckResult:
    as_of_date = month_parameters(context.partition_key)["as_of_date"]
    wanted = {c.name for c in segmentation.sweep_config().candidates}
    with warehouse.get_connection() as con:
        got = {
            r[0]
            for r in con.execute(
                f"SELECT candidate FROM {CANDIDATES} WHERE as_of_date = ? "
                "AND mlflow_run_id IS NOT NULL",
                [as_of_date],
            ).fetchall()
        }
    missing = sorted(wanted - got)
    return dg.AssetCheckResult(
        passed=not missing,
        metadata={
            "logged": len(got),
            "configured": len(wanted),
            "missing": ", ".join(missing) or "none",
        },  # fmt: skip
    )


SEGMENTATION_ASSETS = [segmentation_sweep]


SEGMENTATION_CHECKS = [*SEGMENT_CHECKS, every_candidate_logged]
