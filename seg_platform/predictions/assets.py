"""Prediction assets (group `predictions`), one partition per month.

- `propensity_models`: for churn and purchase, a calibrated gradient-boosting model and the
  recency-only baseline, trained on earlier months and compared on a later one in one MLflow
  run; the model is registered, and the alias `champion` moves to it only when it beats the
  baseline and is not worse than the current champion on the same evaluation month.
- `customer_lifetime_value`: BG/NBD + Gamma-Gamma fitted on every purchase up to the month's
  end, with a holdout backtest of the last months.
- `customer_predictions`: per known customer, churn and purchase probabilities from the
  champion models with percentile ranks, P(alive), predicted 12-month purchases and value.
- `segment_outlook`: per segment, its members' mean churn, purchase and predicted value
  (`outlook`); downstream of the segment tables, which never wait for the predictions.
"""

import datetime as dt
import json
import tempfile
import warnings
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from seg_platform.core.calendar import add_months, month_key, month_parameters
from seg_platform.core.engine import to_lake
from seg_platform.core.layers import in_layer, layer_key
from seg_platform.core.metadata import column_schema, markdown
from seg_platform.core.mlflow_registry import (
    CHAMPION,
    alias_version,
    is_registered,
    remember_model,
    set_alias,
    versions_with_aliases,
)
from seg_platform.core.partitions import monthly_partitions
from seg_platform.core.resources import EngineResource, WarehouseResource
from seg_platform.core.tracking import MlflowResource
from seg_platform.core.warehouse import (
    fetch_frame,
    frame_to_temp_table,
    replace_partition,
    table_exists,
)
from seg_platform.predictions.checks import prediction_checks
from seg_platform.predictions.clv import (
    WEEKS_PER_MONTH,
    NotEnoughBuyers,
    backtest_png,
    fit_value_model,
    predict_clv,
    rfm_summary,
    rolling_backtest,
)
from seg_platform.predictions.data import (
    FeatureSnapshots,
    known_features,
    labelled_rows,
    transactions,
)
from seg_platform.predictions.fairness import AUDIT as FAIRNESS_AUDIT
from seg_platform.predictions.outlook import OUTLOOK, segments_without_outlook
from seg_platform.predictions.outlook import segment_outlook as outlook_frame
from seg_platform.predictions.propensity import (
    OPERATING_THRESHOLD,
    TARGETS,
    RecencyBaseline,
    Target,
    calibration_png,
    classification_metrics,
    evaluation_figures,
    fit_propensity,
    importance_png,
    permutation_importances,
    processes,
    split_months,
    thread_limit,
)
from seg_platform.predictions.resources import PredictionsConfig
from seg_platform.predictions.scoring import (
    PREDICTIONS,
    active_mask,
    feature_matrix,
    load_version,
    model_columns,
    percentile,
    registered_name,
    score_customers,
    scoring_model,
)
from seg_platform.predictions.spark_scoring import scores_on_spark
from seg_platform.segments.resources import SegmentsConfig

EVALUATIONS = "predictions.model_evaluations"
VALUES = "predictions.customer_value"
BACKTESTS = "predictions.clv_backtest"
# sklearn classes skops does not trust by default, inside our own (self-written) model files.
TRUSTED_TYPES = [
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]
# -- propensity models --------------------------------------------------------------------


def train_target(
    con, snapshots, month: str, target: Target, config: PredictionsConfig, tracking, tags
):
    """Train, compare and register one propensity model for `month`. Returns a summary dict
    (with `trained` False and a `reason` when the labelled history is too short)."""
    import mlflow
    import sklearn

    evaluation, training = split_months(month, target.horizon_months, config.training_months)
    base = {"target": target.name, "eval_month": evaluation, "train_months": training}
    # Beyond max_training_rows / max_evaluation_rows, deterministic samples: scoring a million
    # customers with three calibrated boosters cost as much as the fit, and a sample of 200,000
    # pins ROC AUC to about +-0.002.
    train, labelled = labelled_rows(
        con, snapshots, training, target.label, config.max_training_rows, config.seed
    )
    test, _ = labelled_rows(
        con, snapshots, [evaluation], target.label, config.max_evaluation_rows, config.seed,
        labelled_only=False,
    )  # fmt: skip
    horizon = "horizon_complete_90d" if target.horizon_months > 1 else "horizon_complete_30d"
    reason = None
    if labelled < config.min_training_rows:
        reason = (
            f"fewer than {config.min_training_rows} labelled customers in the training months "
            f"{training[0]}..{training[-1]} (labels known by the end of {evaluation})"
        )
    elif not test.height or not test[horizon].fill_null(False).all():
        reason = f"the {target.label} labels of {evaluation} are not complete in the data"
    if reason:
        return {**base, "trained": False, "reason": reason}
    # Columns a source never filled (e.g. no billing data) tell the model nothing, and a
    # calibration fold without a single value breaks the booster's binning: left out.
    present = max(20, train.height // 100)
    columns = [
        c for c in model_columns(test) if train[c].cast(pl.Float64).drop_nans().count() >= present
    ]
    X, y = feature_matrix(train, columns), train[target.label].cast(pl.Int8).to_numpy()
    Xe, ye = feature_matrix(test, columns), test[target.label].cast(pl.Int8).to_numpy()
    active = active_mask(test, config.active_days)
    if len(np.unique(y)) < 2 or len(np.unique(ye[active])) < 2:
        return {**base, "trained": False, "reason": "only one outcome in the training or "
                "evaluation customers"}  # fmt: skip

    client = tracking.client()
    name = registered_name(target)
    current = alias_version(client, name, CHAMPION)
    rows = max(len(y), len(ye))
    with thread_limit(rows):
        model = fit_propensity(X, y, config.seed, config.calibration, processes(rows))
        baseline = RecencyBaseline(config.seed).fit(train[target.recency].to_numpy(), y)
        scores = {
            "model": model.predict_proba(Xe)[:, 1],
            "baseline": baseline.predict_proba(test[target.recency].to_numpy()),
        }
        if current is not None:
            champion_model, champion_columns = load_version(tracking, name, current)
            if set(champion_columns) <= set(test.columns):
                champion_X = feature_matrix(test, champion_columns)
                scores["champion"] = champion_model.predict_proba(champion_X)[:, 1]
        importances = permutation_importances(
            model, Xe[active], ye[active], columns, config.seed, config.permutation_sample,
            processes(rows),
        )  # fmt: skip
    metrics = {}
    for kind, p in scores.items():
        metrics[kind] = classification_metrics(ye[active], p[active])
        metrics[kind] |= {
            f"{k}_all": v for k, v in classification_metrics(ye, p).items() if k != "rows"
        }

    flat = {f"{kind}_{k}": v for kind, m in metrics.items() for k, v in m.items()}
    flat = {k: v for k, v in flat.items() if v == v}  # MLflow rejects NaN in the UI charts
    with (
        tempfile.TemporaryDirectory() as tmp,
        mlflow.start_run(
            run_name=f"{month} {target.name}", nested=True,
            tags={**tags, "target": target.name, "partition": month},
            description=f"{target.name}: {target.description}. Trained on {training[0]}.."
            f"{training[-1]}, evaluated on the active customers of {evaluation}.",
        ) as run,
    ):  # fmt: skip
        out = Path(tmp)
        mlflow.log_params({
            "target": target.label, "eval_month": evaluation,
            "train_months": f"{training[0]}..{training[-1]}", "train_rows": len(y),
            "eval_rows": len(ye), "eval_active_rows": int(active.sum()),
            "features": len(columns), "calibration": config.calibration,
            "baseline": f"logistic regression on log1p({target.recency})",
            "active_days": config.active_days, "seed": config.seed,
            "operating_threshold": OPERATING_THRESHOLD,
        })  # fmt: skip
        mlflow.log_metrics(flat)
        title = f"{target.name} {evaluation} (active customers)"
        active_scores = {k: v[active] for k, v in scores.items()}
        mlflow.log_artifact(str(calibration_png(ye[active], active_scores, title,
                                                out / "calibration.png")))  # fmt: skip
        _log_figures(evaluation_figures(ye[active], active_scores, title))
        pl.DataFrame(importances, schema=["feature", "auc_drop_mean", "auc_drop_std"],
                     orient="row").write_csv(out / "permutation_importance.csv")  # fmt: skip
        mlflow.log_artifact(str(out / "permutation_importance.csv"))
        if importances:
            png = out / "permutation_importance.png"
            mlflow.log_artifact(str(importance_png(importances, title, png)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # no signature: inputs are documented
            info = mlflow.sklearn.log_model(
                model, name="model", skops_trusted_types=TRUSTED_TYPES,
                pip_requirements=[f"scikit-learn=={sklearn.__version__}",
                                  f"numpy=={np.__version__}"],
            )  # fmt: skip
        run_id = run.info.run_id
    m, b = metrics["model"], metrics["baseline"]
    beats_baseline = m["roc_auc"] > b["roc_auc"] and m["pr_auc"] > b["pr_auc"]
    version = mlflow.register_model(info.model_uri, name, tags={
        "month": month, "eval_month": evaluation, "features": json.dumps(columns),
        "roc_auc": f"{m['roc_auc']:.4f}", "beats_baseline": str(beats_baseline)})  # fmt: skip
    client.update_model_version(name, version.version, description=(
        f"{target.name.capitalize()} propensity ({target.description}) of {month}: calibrated "
        f"gradient boosting trained on {training[0]}..{training[-1]}, evaluated on the "
        f"{int(active.sum())} active customers of {evaluation}: ROC AUC {m['roc_auc']:.3f} "
        f"(recency baseline {b['roc_auc']:.3f}), PR AUC {m['pr_auc']:.3f} (baseline "
        f"{b['pr_auc']:.3f}), top-decile lift {m['top_decile_lift']:.2f}. Curves and the "
        f"confusion matrix at probability {OPERATING_THRESHOLD:g}: MLflow run {run_id}."
    ))  # fmt: skip
    remember_model(tracking.uri(), version, model)  # scored next, in customer_predictions
    current_month = current.tags.get("month", "") if current else ""
    if not beats_baseline:
        moved, note = False, "did not beat the recency baseline"
    elif current is not None and current_month > month:
        moved, note = False, f"version {current.version} ({current_month}) is newer"
    elif "champion" in metrics and m["roc_auc"] < (
        metrics["champion"]["roc_auc"] - config.champion_tolerance
    ):
        moved, note = (
            False,
            (
                f"ROC AUC {m['roc_auc']:.4f} below champion version {current.version}'s "
                f"{metrics['champion']['roc_auc']:.4f} on {evaluation}"
            ),
        )
    else:
        moved, note = True, f"version {version.version} is champion"
    if moved:
        set_alias(client, name, CHAMPION, version.version)
    return {
        **base, "trained": True, "metrics": metrics, "version": int(version.version),
        "run_id": run_id, "champion_moved": moved, "note": note,
        "previous_champion": int(current.version) if current else None,
        "beats_baseline": beats_baseline, "importances": importances[:10],
        "train_rows": len(y), "eval_rows": int(active.sum()),
    }  # fmt: skip


def _log_figures(figures: dict) -> None:
    """Log each figure under its artifact name (the same in every propensity run) and close it."""
    import matplotlib.pyplot as plt
    import mlflow

    for name, fig in figures.items():
        mlflow.log_figure(fig, name)
        plt.close(fig)


def _evaluation_rows(as_of_date: dt.date, result: dict) -> list[dict]:
    rows = []
    for kind, label in (("model", "gradient_boosting"), ("baseline", "recency_baseline"),
                        ("champion", "previous_champion")):  # fmt: skip
        m = result.get("metrics", {}).get(kind)
        if m is None:
            continue
        rows.append({
            "as_of_date": as_of_date, "target": result["target"], "model": label,
            "eval_month": result["eval_month"],
            "train_months": f"{result['train_months'][0]}..{result['train_months'][-1]}",
            "roc_auc": m["roc_auc"], "pr_auc": m["pr_auc"],
            "top_decile_lift": m["top_decile_lift"], "brier": m["brier"],
            "base_rate": m["base_rate"], "eval_rows": int(m["rows"]),
            "roc_auc_all": m["roc_auc_all"], "pr_auc_all": m["pr_auc_all"],
            "model_version": result["version"] if kind == "model" else (
                result["previous_champion"] if kind == "champion" else None),
            "champion_moved": result["champion_moved"] if kind == "model" else None,
            "mlflow_run_id": result["run_id"],
        })  # fmt: skip
    return rows


EVALUATION_SCHEMA = {
    "as_of_date": pl.Date, "target": pl.String, "model": pl.String, "eval_month": pl.String,
    "train_months": pl.String, "roc_auc": pl.Float64, "pr_auc": pl.Float64,
    "top_decile_lift": pl.Float64, "brier": pl.Float64, "base_rate": pl.Float64,
    "eval_rows": pl.Int64, "roc_auc_all": pl.Float64, "pr_auc_all": pl.Float64,
    "model_version": pl.Int64, "champion_moved": pl.Boolean, "mlflow_run_id": pl.String,
}  # fmt: skip


@dg.asset(
    **in_layer("predictions"),
    kinds={"sklearn", "mlflow", "duckdb"},
    deps=[layer_key("features", "customer_features")],
    partitions_def=monthly_partitions,
    metadata={"dagster/table_name": EVALUATIONS},
    check_specs=[
        dg.AssetCheckSpec(
            "models_beat_recency_baseline",
            asset=layer_key("predictions", "propensity_models"),
            blocking=False,
            description="Each trained model beats the recency-only baseline in ROC AUC and PR "
            "AUC on the active customers of the evaluation month (a warning: a model that does "
            "not is never made champion).",
        ),
        dg.AssetCheckSpec(
            "one_champion_per_model",
            asset=layer_key("predictions", "propensity_models"),
            blocking=True,
            description="Each propensity model has exactly one `champion` version once one "
            "has been trained.",
        ),
    ],  # fmt: skip
    description="Churn (no activity or order in the next 90 days) and purchase (an order in "
    "the next 30 days) propensity: gradient boosting with probability calibration, trained on "
    "earlier months and evaluated on a later one (time-based split) beside a recency-only "
    "logistic baseline, in one MLflow run per model (ROC AUC, PR AUC, top-decile lift, Brier, "
    "calibration plot, permutation importances). Registered as `churn_propensity` / "
    "`purchase_propensity`; the alias `champion` moves only when the new model beats the "
    f"baseline and is not worse than the champion on the same month. Table `{EVALUATIONS}`.",
)
def propensity_models(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    predictions: PredictionsConfig,
    mlflow_tracking: MlflowResource,
):
    import mlflow

    predictions.validate_settings()
    month = month_key(context.partition_key)
    as_of_date = month_parameters(month)["as_of_date"]
    experiment_id = mlflow_tracking.setup(mlflow_tracking.predictions_experiment)
    tags = {"dagster_run_id": context.run.run_id, "partition": month}
    results = []
    with warehouse.get_connection() as con:
        with (
            mlflow.start_run(run_name=f"propensity {month}", tags=tags) as parent,
            FeatureSnapshots(con) as snapshots,
        ):
            for target in TARGETS:
                results.append(
                    train_target(con, snapshots, month, target, predictions, mlflow_tracking, tags)
                )
                context.log.info(
                    f"{target.name}: " + (results[-1].get("note") or results[-1]["reason"])
                )
        history = snapshots.summary()
        rows = [r for result in results if result["trained"]
                for r in _evaluation_rows(as_of_date, result)]  # fmt: skip
        table = pl.DataFrame(rows, schema=EVALUATION_SCHEMA)
        frame_to_temp_table(con, "_evaluations_new", table)
        replace_partition(con, EVALUATIONS, "_evaluations_new", "as_of_date", as_of_date)
        con.execute("DROP TABLE _evaluations_new")

    url = mlflow_tracking.run_url(experiment_id, parent.info.run_id)
    metadata = {
        "dagster/row_count": table.height,
        "mlflow_run": dg.MetadataValue.url(url),
        "mlflow_experiment": dg.MetadataValue.url(mlflow_tracking.experiment_url(experiment_id)),
        **history,
    }
    for r in results:
        if r["trained"]:
            m, b = r["metrics"]["model"], r["metrics"]["baseline"]
            metadata |= {
                f"{r['target']}_roc_auc": round(m["roc_auc"], 4),
                f"{r['target']}_baseline_roc_auc": round(b["roc_auc"], 4),
                f"{r['target']}_pr_auc": round(m["pr_auc"], 4),
                f"{r['target']}_baseline_pr_auc": round(b["pr_auc"], 4),
                f"{r['target']}_champion": r["note"],
            }
        else:
            metadata[f"{r['target']}_not_trained"] = r["reason"]
    if rows:
        metadata["evaluation"] = markdown(table.select(
            "target", "model", "eval_month", "roc_auc", "pr_auc", "top_decile_lift", "brier",
            "model_version", "champion_moved"))  # fmt: skip
    yield dg.MaterializeResult(metadata=metadata)

    trained = [r for r in results if r["trained"]]
    losing = [r["target"] for r in trained if not r["beats_baseline"]]
    yield dg.AssetCheckResult(
        check_name="models_beat_recency_baseline",
        passed=not losing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            **{
                f"{r['target']}_roc_auc_model_vs_baseline": " vs ".join(
                    f"{r['metrics'][k]['roc_auc']:.4f}" for k in ("model", "baseline")
                )
                for r in trained
            },
            "trained": len(trained),
            "threshold": "model ROC AUC and PR AUC > baseline's, same customers and month",
        },  # fmt: skip
        description=None if not losing else f"Not better than recency alone: {losing}",
    )
    client = mlflow_tracking.client()
    holders, eligible = {}, {}
    for target in TARGETS:
        name = registered_name(target)
        versions = (
            versions_with_aliases(client, name) if is_registered(client, name) else []
        )  # fmt: skip
        holders[name] = sum(CHAMPION in v.aliases for v in versions)
        eligible[name] = sum(v.tags.get("beats_baseline") == "True" for v in versions)
    # A champion exists once any version beat the baseline; never two.
    wrong = {n: c for n, c in holders.items() if c > 1 or (c == 0 and eligible[n])}
    yield dg.AssetCheckResult(
        check_name="one_champion_per_model",
        passed=not wrong,
        metadata={
            **{f"{n}_champions": c for n, c in holders.items()},
            **{f"{n}_versions_beating_baseline": c for n, c in eligible.items()},
            "threshold": "exactly one once a version beat the baseline, else none",
        },
        description=None if not wrong else f"champion versions: {wrong}",
    )


# -- customer lifetime value ----------------------------------------------------------------

BACKTEST_SCHEMA = {
    "as_of_date": pl.Date, "calibration_end": pl.Date, "holdout_end": pl.Date,
    "holdout_weeks": pl.Float64, "customers": pl.Int64, "one_time_buyers": pl.Int64,
    "clv_method": pl.String, "fit_degenerate": pl.Boolean,
    "predicted_purchases": pl.Float64, "actual_purchases": pl.Float64,
    "purchases_error": pl.Float64, "purchases_mae": pl.Float64,
    "predicted_revenue": pl.Float64, "actual_revenue": pl.Float64, "revenue_error": pl.Float64,
    "mlflow_run_id": pl.String,
}  # fmt: skip

P_ALIVE_DESCRIPTION = (
    "BG/NBD: probability that a repeat buyer has not silently stopped buying, from the timing "
    "of their purchases. NULL for one-time buyers (1 by the model's assumption: dropout can "
    "only follow a repeat purchase) and for everyone when the fit was degenerate (clv_method "
    "'nbd'). Not 1 - churn_probability: churn is no activity or order in the next 90 days, "
    "and a customer who is still a customer may well not buy in 90 days."
)
CLV_METHOD_DESCRIPTION = (
    "'bgnbd': BG/NBD + Gamma-Gamma as published; 'nbd': BG/NBD's fit was degenerate (see the "
    "check lifetime_value_fit_identified), purchases come from the NBD rate (no dropout part) "
    "and P(alive) is not published"
)
VALUE_COLUMNS = column_schema(
    [
        ("profile_id", "VARCHAR", "The customer (identity profile)."),
        ("clv_basis", "VARCHAR", "'repeat' (two or more purchase "
                       "days) or 'one_time' (one)."),
        ("clv_method", "VARCHAR", CLV_METHOD_DESCRIPTION),
        ("p_alive", "DOUBLE", P_ALIVE_DESCRIPTION),
        ("expected_purchases_12m", "DOUBLE", "Expected purchase "
                       "days in the value horizon (12 months by default)."),
        ("expected_order_value", "DOUBLE", "Expected value of one "
                       "purchase: Gamma-Gamma's, the population's mean for one-time buyers."),
        ("predicted_value_12m", "DOUBLE", "expected_purchases_12m "
                       "x expected_order_value."),
        ("frequency", "DOUBLE", "Repeat purchase days so far."),
        ("recency_weeks", "DOUBLE", "Weeks from the first to the "
                       "last purchase."),
        ("age_weeks", "DOUBLE", "Weeks from the first purchase to "
                       "the month's end."),
        ("mean_repeat_value", "DOUBLE", "Mean value of the repeat "
                       "purchase days (NULL for one-time buyers)."),
        ("as_of_date", "DATE", "The month's end."),
    ]
)  # fmt: skip


def backtest_windows(month: str, holdout_months: int, cutoffs: int) -> list[tuple]:
    """(calibration_end, holdout_end) of the rolling backtest, latest first: holdouts of
    `holdout_months` ending with `month` and each of the `cutoffs - 1` months before it.
    Nothing after the month's end is used."""
    windows = []
    for k in range(cutoffs):
        end_month = add_months(month, -k)
        windows.append((
            month_parameters(add_months(end_month, -holdout_months))["as_of_date"],
            month_parameters(end_month)["as_of_date"],
        ))  # fmt: skip
    return windows


@dg.asset(
    **in_layer("predictions"),
    kinds={"scipy", "mlflow", "duckdb"},
    deps=[layer_key("features", "customer_features")],
    partitions_def=monthly_partitions,
    metadata={"dagster/table_name": VALUES, "dagster/column_schema": VALUE_COLUMNS},
    check_specs=[
        dg.AssetCheckSpec(
            "backtest_purchases_within_tolerance",
            asset=layer_key("predictions", "customer_lifetime_value"),
            blocking=False,
            description="Rolling backtest: refitted before each of several holdouts (one "
            "month apart), the median absolute error of predicted against actual holdout "
            "purchases is within `clv_max_error` (a warning; the worst cut-off is reported).",
        ),
        dg.AssetCheckSpec(
            "backtest_revenue_within_tolerance",
            asset=layer_key("predictions", "customer_lifetime_value"),
            blocking=False,
            description="Rolling backtest: the median absolute error of predicted against "
            "actual holdout revenue is within `clv_max_revenue_error` (a warning: order values "
            "move with the season, which neither model sees; the values are still the best "
            "estimate there is, and the segments and propensities do not depend on them).",
        ),
        dg.AssetCheckSpec(
            "lifetime_value_fit_identified",
            asset=layer_key("predictions", "customer_lifetime_value"),
            blocking=False,
            description="BG/NBD's fit is sound: no parameter at the optimiser's bounds, no "
            "flat likelihood direction, P(alive) not (nearly) the same for every repeat "
            "buyer. When it fails, values come from the NBD fallback (clv_method 'nbd') and "
            "P(alive) is NULL.",
        ),
        dg.AssetCheckSpec(
            "values_valid",
            asset=layer_key("predictions", "customer_lifetime_value"),
            blocking=True,
            description="One row per buyer; P(alive) in [0, 1] where published; expected "
            "purchases and value finite and not negative.",
        ),
    ],  # fmt: skip
    description="Customer lifetime value from shop orders: BG/NBD (purchase count, P(alive)) "
    "and Gamma-Gamma (order value), fitted by maximum likelihood on every purchase up to the "
    "month's end; expected purchases and value over the next 12 months per buyer (one-time "
    "buyers included, with the population's order value; P(alive) for repeat buyers only). "
    "A degenerate BG/NBD fit (parameters at the optimiser's bounds, a flat likelihood) is "
    "flagged and replaced by the NBD purchase rate, without P(alive). Rolling backtest over "
    "several cut-offs: fitted before each holdout, predicted against what was bought, "
    f"judged on the median error of purchases and revenue. Tables `{VALUES}`, `{BACKTESTS}` "
    "(one row per cut-off).",
)
def customer_lifetime_value(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    predictions: PredictionsConfig,
    mlflow_tracking: MlflowResource,
):
    import mlflow

    predictions.validate_settings()
    month = month_key(context.partition_key)
    params = month_parameters(month)
    as_of_date = params["as_of_date"]
    experiment_id = mlflow_tracking.setup(mlflow_tracking.predictions_experiment)
    with warehouse.get_connection() as con:
        tx = transactions(con, params["as_of"])
        try:
            model, summary = fit_value_model(tx, as_of_date, predictions.min_buyers)
        except NotEnoughBuyers as exc:
            model, reason = None, str(exc)
            summary = rfm_summary(tx, as_of_date)
        windows = backtest_windows(
            month, predictions.clv_holdout_months, predictions.clv_backtest_cutoffs
        )
        tests, rolling = rolling_backtest(tx, windows, predictions.min_buyers)
        horizon = predictions.value_horizon_months * WEEKS_PER_MONTH
        values = (
            predict_clv(model, summary, horizon).join(
                summary.select("profile_id", "frequency", "recency", "T", "monetary"),
                on="profile_id")
            .with_columns(pl.lit(as_of_date).alias("as_of_date"))
            .rename({"expected_purchases": "expected_purchases_12m",
                     "predicted_value": "predicted_value_12m", "recency": "recency_weeks",
                     "T": "age_weeks", "monetary": "mean_repeat_value"})
            if model is not None else None
        )  # fmt: skip
        run_id = None
        with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(
            run_name=f"clv {month}", tags={"dagster_run_id": context.run.run_id,
                                           "partition": month,
                                           "model": _model_tag(model)},
        ) as run:  # fmt: skip
            run_id = run.info.run_id
            mlflow.log_params({"month": month, "buyers": summary.height,
                               "horizon_months": predictions.value_horizon_months,
                               "holdout_months": predictions.clv_holdout_months,
                               "backtest_cutoffs": predictions.clv_backtest_cutoffs})  # fmt: skip
            if model is not None:
                mlflow.log_params({k: round(v, 6) for k, v in model.params().items()})
                mlflow.log_params({"clv_method": model.method,
                                   "fit_degenerate": model.diagnosis.degenerate})  # fmt: skip
            mlflow.log_metrics({f"backtest_{k}": v for k, v in rolling.items()
                                if isinstance(v, float)})  # fmt: skip
            if tests:
                out = Path(tmp)
                _backtest_frame(tests, as_of_date, run_id).write_csv(out / "backtest_cutoffs.csv")
                mlflow.log_artifact(str(out / "backtest_cutoffs.csv"))
                latest = tests[0]
                latest["by_frequency"].write_csv(out / "backtest_by_frequency.csv")
                mlflow.log_artifact(str(out / "backtest_by_frequency.csv"))
                mlflow.log_artifact(str(backtest_png(
                    latest["by_frequency"],
                    f"holdout {latest['calibration_end']}..{latest['holdout_end']}",
                    out / "backtest.png")))  # fmt: skip
        if values is not None:
            frame_to_temp_table(con, "_values_new", values)
            replace_partition(con, VALUES, "_values_new", "as_of_date", as_of_date)
            con.execute("DROP TABLE _values_new")
        elif table_exists(con, "predictions", "customer_value"):
            con.execute(f"DELETE FROM {VALUES} WHERE as_of_date = ?", [as_of_date])
        frame_to_temp_table(con, "_backtest_new", _backtest_frame(tests, as_of_date, run_id))
        replace_partition(con, BACKTESTS, "_backtest_new", "as_of_date", as_of_date)
        con.execute("DROP TABLE _backtest_new")

    metadata = {
        "dagster/row_count": values.height if values is not None else 0,
        "mlflow_run": dg.MetadataValue.url(mlflow_tracking.run_url(experiment_id, run_id)),
        "buyers": summary.height,
        "one_time_buyers": int((summary["frequency"] == 0).sum()) if summary.height else 0,
    }
    if model is None:
        metadata["not_fitted"] = reason
    else:
        metadata |= {k: round(v, 4) for k, v in model.params().items()}
        metadata |= {"clv_method": model.method, **model.diagnosis.metadata()}
    metadata |= {f"backtest_{k}": v if isinstance(v, float | int) else str(v)
                 for k, v in rolling.items() if k != "skipped"}  # fmt: skip
    if rolling["skipped"]:
        metadata["backtest_skipped"] = "; ".join(rolling["skipped"])
    if tests:
        metadata["backtest"] = markdown(_backtest_frame(tests, as_of_date, run_id).select(
            "calibration_end", "holdout_end", "clv_method", "predicted_purchases",
            "actual_purchases", "purchases_error", "predicted_revenue", "actual_revenue",
            "revenue_error"))  # fmt: skip
    yield dg.MaterializeResult(metadata=metadata)

    for kind, limit in (("purchases", predictions.clv_max_error),
                        ("revenue", predictions.clv_max_revenue_error)):  # fmt: skip
        yield backtest_check(kind, rolling, limit)
    yield fit_check(model, reason if model is None else "")
    problems = {}
    if values is not None:
        problems = {
            "duplicate_profiles": values.height - values["profile_id"].n_unique(),
            "p_alive_outside_0_1": values.filter(
                ~pl.col("p_alive").is_between(0, 1) | pl.col("p_alive").is_nan()).height,
            "negative_or_not_finite": values.filter(
                ~pl.col("predicted_value_12m").is_finite()
                | (pl.col("predicted_value_12m") < 0)
                | ~pl.col("expected_purchases_12m").is_finite()).height,
        }  # fmt: skip
    bad = {k: v for k, v in problems.items() if v}
    yield dg.AssetCheckResult(
        check_name="values_valid", passed=not bad,
        metadata={**problems, "evaluated": values is not None},
        description=None if not bad else f"Invalid customer values: {bad}",
    )  # fmt: skip


def _model_tag(model) -> str:
    if model is None:
        return "none"
    return "bgnbd+gamma_gamma" if model.method == "bgnbd" else "nbd+gamma_gamma (fallback)"


def _backtest_frame(tests: list[dict], as_of_date, run_id) -> pl.DataFrame:
    """One row per cut-off of the rolling backtest (table `predictions.clv_backtest`)."""
    rows = [
        {"as_of_date": as_of_date, **{k: v for k, v in t.items() if k in BACKTEST_SCHEMA},
         "mlflow_run_id": run_id}
        for t in tests
    ]  # fmt: skip
    return pl.DataFrame(rows, schema=BACKTEST_SCHEMA)


def backtest_check(kind: str, rolling: dict, limit: float) -> dg.AssetCheckResult:
    """`backtest_<kind>_within_tolerance`: the median absolute error over the cut-offs."""
    name = f"backtest_{kind}_within_tolerance"
    median = rolling.get(f"{kind}_error_abs_median")
    if median is None:
        why = "; ".join(rolling["skipped"]) or f"no {kind} in any holdout"
        return dg.AssetCheckResult(
            check_name=name, passed=True, severity=dg.AssetCheckSeverity.WARN,
            metadata={"evaluated": False, "cutoffs": rolling["cutoffs"]},
            description=f"Not evaluated: {why}.",
        )  # fmt: skip
    worst, cutoff = rolling[f"{kind}_error_worst"], rolling[f"{kind}_error_worst_cutoff"]
    passed = median <= limit
    note = f"median |error| {median:.1%} over {rolling['cutoffs']} cut-offs"
    if not passed:
        note = f"Holdout {kind} off by a {note} (limit {limit:.0%})"
    note += f"; worst {worst:+.1%} (fitted to {cutoff})"
    return dg.AssetCheckResult(
        check_name=name, passed=passed, severity=dg.AssetCheckSeverity.WARN,
        metadata={"median_abs_error": median, "median_error": rolling[f"{kind}_error_median"],
                  "worst_error": worst, "worst_cutoff": str(cutoff),
                  "cutoffs": rolling["cutoffs"], "threshold": f"median |error| <= {limit}"},
        description=note,
    )  # fmt: skip


def fit_check(model, reason: str) -> dg.AssetCheckResult:
    """`lifetime_value_fit_identified`: the BG/NBD fit is sound, or what replaced it."""
    name = "lifetime_value_fit_identified"
    if model is None:
        return dg.AssetCheckResult(
            check_name=name, passed=True, severity=dg.AssetCheckSeverity.WARN,
            metadata={"evaluated": False}, description=f"Not evaluated: {reason}.",
        )  # fmt: skip
    diagnosis = model.diagnosis
    return dg.AssetCheckResult(
        check_name=name, passed=not diagnosis.degenerate, severity=dg.AssetCheckSeverity.WARN,
        metadata={**diagnosis.metadata(), "clv_method": model.method,
                  "threshold": "no parameter at e^-9 or e^9, Hessian condition < 1e6, "
                  "5th percentile of repeat buyers' P(alive) < 0.99"},
        description=None if not diagnosis.degenerate else (
            "BG/NBD's fit is not identified by these purchases ("
            + "; ".join(diagnosis.reasons) + "): values use the NBD purchase rate without "
            "dropout (clv_method 'nbd') and P(alive) is not published."),
    )  # fmt: skip


# -- customer predictions -------------------------------------------------------------------


PREDICTION_COLUMNS = column_schema(
    [
        ("profile_id", "VARCHAR", "The customer (identity profile)."),
        ("as_of_date", "DATE", "The month's end."),
        ("active", "BOOLEAN", "An event or order in the last 90 days."),
        ("churn_probability", "DOUBLE", "Calibrated probability of no activity and no "
                "order in the next 90 days, from all behaviour (the churn champion model). "
                "The lapse signal for every customer; not 1 - p_alive (see p_alive)."),
        ("churn_percentile", "DOUBLE", "Share (%) of customers scoring at most this."),
        ("purchase_probability", "DOUBLE", "Calibrated probability of an order in the "
                "next 30 days (the purchase champion model)."),
        ("purchase_percentile", "DOUBLE", "Share (%) of customers scoring at most this."),
        ("clv_basis", "VARCHAR", "Which customers the value models describe: repeat, "
                "one_time, no_purchases (value columns NULL) or not_fitted."),
        ("p_alive", "DOUBLE", P_ALIVE_DESCRIPTION),
        ("expected_purchases_12m", "DOUBLE", "Expected purchase days in 12 months."),
        ("expected_order_value", "DOUBLE", "Expected value of one purchase."),
        ("predicted_value_12m", "DOUBLE", "Expected purchases x order value."),
        ("predicted_value_percentile", "DOUBLE", "Share (%) of buyers valued at most "
                "this."),
        ("churn_model_version", "BIGINT", "Registered churn_propensity version used."),
        ("purchase_model_version", "BIGINT", "Registered purchase_propensity version."),
    ]
)  # fmt: skip


@dg.asset(
    **in_layer("predictions"),
    kinds={"sklearn", "mlflow", "duckdb"},
    deps=[
        layer_key("predictions", "propensity_models"),
        layer_key("predictions", "customer_lifetime_value"),
    ],
    partitions_def=monthly_partitions,
    metadata={"dagster/table_name": PREDICTIONS, "dagster/column_schema": PREDICTION_COLUMNS},
    check_specs=[
        dg.AssetCheckSpec(
            "probabilities_in_unit_interval",
            asset=layer_key("predictions", "customer_predictions"),
            blocking=True,
            description="Every probability and P(alive) is in [0, 1].",
        ),
        dg.AssetCheckSpec(
            "one_row_per_profile",
            asset=layer_key("predictions", "customer_predictions"),
            blocking=True,
            description="One row per known customer of the month.",
        ),
        dg.AssetCheckSpec(
            "no_missing_scores_for_active_profiles",
            asset=layer_key("predictions", "customer_predictions"),
            blocking=True,
            description="Every active customer (an event or order in the last "
            "90 days) has a churn and a purchase probability once the models "
            "exist.",
        ),
    ],  # fmt: skip
    description="Per known customer and month: churn and purchase probabilities from the "
    "`champion` models with percentile ranks (100 = highest), P(alive), expected purchases "
    "and predicted value over the next 12 months (`clv_basis`: repeat, one_time, or "
    "no_purchases with the value columns NULL). P(alive) (BG/NBD, repeat buyers of a sound "
    "fit only) and churn probability answer different questions: still a customer at all, "
    f"against no activity in the next 90 days. Table `{PREDICTIONS}`.",
)
def customer_predictions(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    predictions: PredictionsConfig,
    mlflow_tracking: MlflowResource,
    engine: EngineResource,
):
    month = month_key(context.partition_key)
    params = month_parameters(month)
    as_of_date = params["as_of_date"]
    mlflow_tracking.setup(mlflow_tracking.predictions_experiment)
    client = mlflow_tracking.client()
    models = {t.name: scoring_model(client, mlflow_tracking, t, month) for t in TARGETS}
    with warehouse.get_connection() as con:
        features = known_features(con, params)
        if engine.is_spark:  # every customer scored on the executors
            spark, lake = engine.session()
            scored = scores_on_spark(spark, features, models, predictions.active_days)
        else:
            scored = score_customers(features, models, predictions.active_days)
        values = (
            fetch_frame(
                con,
                f"SELECT profile_id, clv_basis, p_alive, expected_purchases_12m, "
                f"expected_order_value, predicted_value_12m FROM {VALUES} WHERE as_of_date = ?",
                [as_of_date],
            )
            if table_exists(con, "predictions", "customer_value")
            else None
        )
        if values is None or values.is_empty():
            values = pl.DataFrame(schema={
                "profile_id": pl.String, "clv_basis": pl.String, "p_alive": pl.Float64,
                "expected_purchases_12m": pl.Float64, "expected_order_value": pl.Float64,
                "predicted_value_12m": pl.Float64})  # fmt: skip
            basis_missing = "not_fitted"
        else:
            basis_missing = "no_purchases"
        table = (
            scored.join(values, on="profile_id", how="left", maintain_order="left")
            .with_columns(
                pl.col("clv_basis").fill_null(basis_missing),
                pl.lit(as_of_date).alias("as_of_date"),
            )
            .with_columns(
                percentile("churn_probability"), percentile("purchase_probability"),
                percentile("predicted_value_12m"),
            )
            .select(
                "profile_id", "as_of_date", "active", "churn_probability", "churn_percentile",
                "purchase_probability", "purchase_percentile", "clv_basis", "p_alive",
                "expected_purchases_12m", "expected_order_value", "predicted_value_12m",
                "predicted_value_percentile", "churn_model_version", "purchase_model_version",
            )
        )  # fmt: skip
        frame_to_temp_table(con, "_predictions_new", table)
        replace_partition(con, PREDICTIONS, "_predictions_new", "as_of_date", as_of_date)
        con.execute("DROP TABLE _predictions_new")
        if engine.is_spark:
            to_lake(con, lake, PREDICTIONS)

    summary = table.group_by("active").agg(
        customers=pl.len(),
        mean_churn_probability=pl.col("churn_probability").mean().round(4),
        mean_purchase_probability=pl.col("purchase_probability").mean().round(4),
        total_predicted_value_12m=pl.col("predicted_value_12m").sum().round(0),
    ).sort("active", descending=True)  # fmt: skip
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "churn_model_version": models["churn"][2] if models["churn"] else "none yet",
            "purchase_model_version": models["purchase"][2] if models["purchase"] else "none yet",
            "summary": markdown(summary),
        }
    )
    yield from prediction_checks(table, features.height, models)


@dg.asset(
    **in_layer("predictions"),
    kinds={"duckdb", "mlflow"},
    partitions_def=monthly_partitions,
    deps=[
        layer_key("segments", "segment_assignments"),
        layer_key("segments", "segment_profiles"),
        layer_key("predictions", "customer_predictions"),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "outlook_covers_every_segment",
            asset=layer_key("predictions", "segment_outlook"), blocking=False,
            description="Warning: every segment of the month (segments.segment_profiles) has "
            "an outlook row, that is members with predictions.",
        )
    ],
    description="Each segment's outlook for the month: its members' mean churn and purchase "
    "probability, mean and total predicted value over the next 12 months (probabilities NULL "
    f"before a model is trained). Table `{OUTLOOK}`. The month's segment report (MLflow) is "
    "logged again with each segment's churn and value (`segment_report`).",
    metadata={"dagster/table_name": OUTLOOK},
)  # fmt: skip
def segment_outlook(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    mlflow_tracking: MlflowResource,
):
    from seg_platform.segments.report import log_report, month_report

    as_of_date = month_parameters(context.partition_key)["as_of_date"]
    with warehouse.get_connection() as con:
        outlook = outlook_frame(con, as_of_date)
        frame_to_temp_table(con, "_outlook_new", outlook)
        replace_partition(con, OUTLOOK, "_outlook_new", "as_of_date", as_of_date)
        con.execute("DROP TABLE _outlook_new")
        segments, missing = segments_without_outlook(con, as_of_date)
        run, page = month_report(con, as_of_date, with_outlook=True) if segments else (None, "")
    link = log_report(mlflow_tracking, run, month_key(as_of_date), page) if run else None
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": outlook.height,
            "outlook": markdown(outlook.drop("as_of_date")),
            **({"segment_report": dg.MetadataValue.url(link)} if link else {}),
        }
    )
    yield dg.AssetCheckResult(
        check_name="outlook_covers_every_segment",
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "segments": segments,
            "without_outlook": ", ".join(map(str, missing)) or "none",
            "threshold": "every segment of the month",
        },
        description=None if not missing else (
            f"{len(missing)} of {segments} segments have no outlook (no member with "
            f"predictions for {as_of_date}): {', '.join(map(str, missing))}"),
    )  # fmt: skip


@dg.asset(
    **in_layer("predictions"),
    kinds={"duckdb"},
    partitions_def=monthly_partitions,
    deps=[
        layer_key("segments", "segment_assignments"),
        layer_key("predictions", "customer_predictions"),
        layer_key("identity", "identity_map"),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "no_group_disparity_beyond_ratio",
            asset=layer_key("predictions", "fairness_audit"), blocking=False,
            description="Warning: for each sensitive or proxy attribute (age band, country, "
            "gender where the CRM has them), no group's share of a segment or mean churn or "
            "purchase probability is below the configured ratio (default 0.8, the four-fifths "
            "rule) of the highest group's. An audit, not a guarantee (docs/fairness.md).",
        )
    ],
    description="Segment membership and mean scores by sensitive or proxy attribute (age band "
    "from a CRM date of birth, country, gender where mapped): each group's share of every "
    "segment and mean churn and purchase probability, against the highest group's (ratio). "
    "Groups smaller than `fairness_min_group` are suppressed. "
    f"Table `{FAIRNESS_AUDIT}`.",
    metadata={"dagster/table_name": FAIRNESS_AUDIT},
)  # fmt: skip
def fairness_audit(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    segments: SegmentsConfig,
):
    from seg_platform.predictions.fairness import attributes, audit, month_members

    as_of_date = month_parameters(context.partition_key)["as_of_date"]
    with warehouse.get_connection() as con:
        members = month_members(con, as_of_date)
        attrs, found = attributes(con, as_of_date)
        joined = members.join(attrs, on="profile_id", how="left")
        table, suppressed = audit(
            as_of_date, joined, found, segments.fairness_min_group, segments.fairness_min_ratio
        )
        frame_to_temp_table(con, "_fairness_new", table)
        replace_partition(con, FAIRNESS_AUDIT, "_fairness_new", "as_of_date", as_of_date)
        con.execute("DROP TABLE _fairness_new")
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": table.height,
        "attributes": ", ".join(found) or "none in the data",
        "suppressed_groups": ", ".join(f"{a}: {n}" for a, n in suppressed.items()) or "none",
    })  # fmt: skip
    yield fairness_check(table, found, suppressed, segments)


def fairness_check(table, found, suppressed, segments) -> dg.AssetCheckResult:
    """WARN when a group's ratio to the highest group is below the configured ratio."""
    flagged = table.filter(pl.col("disparity"))
    threshold = f"ratio_to_best >= {segments.fairness_min_ratio} for groups of >= " \
                f"{segments.fairness_min_group} customers"  # fmt: skip
    if not found:
        return dg.AssetCheckResult(
            check_name="no_group_disparity_beyond_ratio", passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"evaluated": False, "threshold": threshold},
            description="Not evaluated: no sensitive or proxy attribute in the data.",
        )  # fmt: skip
    return dg.AssetCheckResult(
        check_name="no_group_disparity_beyond_ratio",
        passed=flagged.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "attributes": ", ".join(found),
            "disparities": flagged.height,
            "lowest_ratio": float(table["ratio_to_best"].min() or 0) if table.height else 1.0,
            "suppressed_groups": sum(suppressed.values()),
            "threshold": threshold,
            **({"flagged": markdown(flagged.drop("as_of_date").head(20))} if flagged.height
               else {}),
        },
        description=None if flagged.is_empty() else (
            f"{flagged.height} group measures below {segments.fairness_min_ratio} of the "
            "highest group's (an audit finding to review, not a verdict)"),
    )  # fmt: skip


PREDICTION_ASSETS = [
    propensity_models,
    customer_lifetime_value,
    customer_predictions,
    segment_outlook,
    fairness_audit,
]
