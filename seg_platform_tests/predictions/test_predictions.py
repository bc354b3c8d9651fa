"""Predictions on the demo's synthetic company (planted churn, purchases and order values),
December built by the CLI's pipeline (`demo_december`): issue 7's acceptance."""

import os

import dagster as dg
import mlflow
import polars as pl

from seg_platform.core import settings
from seg_platform.core.warehouse import connect
from seg_platform.predictions.propensity import split_months
from seg_platform.runner import score_day

DECEMBER = "2025-12-31"


def _frame(home, sql, params=None) -> pl.DataFrame:
    with connect(home.warehouse, read_only=True) as con:
        return con.sql(sql, params=params).pl()


def test_churn_and_purchase_models_beat_the_recency_baseline_on_a_later_month(demo_december):
    home, _ = demo_december
    evaluations = _frame(
        home,
        "SELECT * FROM predictions.model_evaluations WHERE as_of_date = ? ORDER BY target, model",
        [DECEMBER],
    )
    for target, horizon in (("churn", 3), ("purchase", 1)):
        rows = {r["model"]: r for r in evaluations.filter(pl.col("target") == target).to_dicts()}
        model, baseline = rows["gradient_boosting"], rows["recency_baseline"]
        evaluation, training = split_months("2025-12", horizon, 6)
        # Time-based split: evaluated on a later month than any it learnt from, whose labels
        # were known by the end of the evaluation month.
        assert model["eval_month"] == evaluation
        assert model["train_months"] == f"{training[0]}..{training[-1]}"
        assert training[-1] < evaluation
        assert model["roc_auc"] > baseline["roc_auc"]
        assert model["pr_auc"] > baseline["pr_auc"]
        assert model["brier"] < baseline["brier"]
        assert model["top_decile_lift"] > 1.5
        assert model["champion_moved"]  # the first model, better than the baseline

    churn = evaluations.filter(
        (pl.col("target") == "churn") & (pl.col("model") == "gradient_boosting")
    ).row(0, named=True)
    assert churn["roc_auc"] > 0.8  # measured 0.886 (baseline 0.823)

    # Both models registered with a champion, and their runs carry the metrics and plots.
    mlflow.set_tracking_uri(home.mlflow_tracking_uri)
    client = mlflow.MlflowClient()
    for name in ("churn_propensity", "purchase_propensity"):
        champion = client.get_model_version_by_alias(name, "champion")
        run = client.get_run(champion.run_id)
        for metric in ("model_roc_auc", "model_pr_auc", "model_top_decile_lift",
                       "model_brier", "baseline_roc_auc", "baseline_pr_auc"):  # fmt: skip
            assert metric in run.data.metrics
        artifacts = {a.path for a in client.list_artifacts(champion.run_id)}
        assert {"calibration.png", "permutation_importance.csv", "roc_curve.png",
                "precision_recall_curve.png", "lift_curve.png",
                "confusion_matrix.png"} <= artifacts  # fmt: skip
        assert run.data.params["operating_threshold"] == "0.5"
        description = client.get_model_version(name, champion.version).description
        assert description.startswith(f"{name.split('_')[0].capitalize()} propensity (")
        assert f"ROC AUC {run.data.metrics['model_roc_auc']:.3f}" in description
        assert champion.run_id in description
    experiment = client.get_experiment_by_name("customer_predictions")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_lifetime_value_backtest_and_customer_kinds(demo_december):
    home, _ = demo_december
    backtests = _frame(
        home,
        "SELECT * FROM predictions.clv_backtest WHERE as_of_date = ? ORDER BY calibration_end DESC",
        [DECEMBER],
    )
    # Rolling backtest: 3-month holdouts ending in December, November, October, September.
    assert [str(d) for d in backtests["calibration_end"]] == [
        "2025-09-30", "2025-08-31", "2025-07-31", "2025-06-30"]  # fmt: skip
    assert [str(d) for d in backtests["holdout_end"]] == [
        "2025-12-31", "2025-11-30", "2025-10-31", "2025-09-30"]  # fmt: skip
    # Fitted to September and August: sound (alpha on its upper bound is the demo's one-rate
    # limit, not a degenerate fit). Fitted to July and June, with 6-7 months of history and
    # few dropouts yet, a runs to its bound: flagged, and the NBD fallback is backtested.
    assert list(backtests["clv_method"]) == ["bgnbd", "bgnbd", "nbd", "nbd"]
    assert list(backtests["fit_degenerate"]) == [False, False, True, True]
    assert (backtests["actual_purchases"] > 1000).all()
    assert backtests["purchases_error"].abs().median() <= 0.10
    assert backtests["revenue_error"].abs().median() <= 0.20
    latest = backtests.row(0, named=True)
    assert abs(latest["purchases_error"]) <= 0.10
    assert abs(latest["revenue_error"]) <= 0.25

    methods = _frame(
        home,
        "SELECT DISTINCT clv_method FROM predictions.customer_value WHERE as_of_date = ?",
        [DECEMBER],
    )
    assert methods["clv_method"].to_list() == ["bgnbd"]  # December's own fit is sound

    predictions = _frame(
        home, "SELECT * FROM predictions.customer_predictions WHERE as_of_date = ?", [DECEMBER]
    )
    kinds = dict(predictions.group_by("clv_basis").len().iter_rows())
    assert set(kinds) == {"repeat", "one_time", "no_purchases"}
    no_purchases = predictions.filter(pl.col("clv_basis") == "no_purchases")
    assert no_purchases["predicted_value_12m"].null_count() == no_purchases.height
    assert no_purchases["purchase_probability"].null_count() == 0  # propensity speaks for them
    one_time = predictions.filter(pl.col("clv_basis") == "one_time")
    # BG/NBD: dropout only after a repeat purchase, so P(alive) would be 1: not published.
    assert one_time["p_alive"].null_count() == one_time.height
    assert one_time["expected_order_value"].n_unique() == 1  # the population's mean value
    repeat = predictions.filter(pl.col("clv_basis") == "repeat")
    assert repeat["predicted_value_12m"].min() >= 0
    assert repeat["p_alive"].null_count() == 0 and repeat["p_alive"].is_between(0, 1).all()


def test_predictions_table_and_segment_profiles(demo_december):
    home, _ = demo_december
    predictions = _frame(
        home, "SELECT * FROM predictions.customer_predictions WHERE as_of_date = ?", [DECEMBER]
    )
    assignments = _frame(
        home, "SELECT profile_id FROM segments.segment_assignments WHERE as_of_date = ?",
        [DECEMBER],
    )  # fmt: skip
    assert predictions["profile_id"].n_unique() == predictions.height == assignments.height
    for target in ("churn", "purchase"):
        p = predictions[f"{target}_probability"]
        assert p.null_count() == 0 and p.is_between(0, 1).all()
        top = predictions.sort(f"{target}_percentile").row(-1, named=True)
        assert top[f"{target}_percentile"] == 100.0
        assert top[f"{target}_probability"] == p.max()
    # Already-lapsed customers are far likelier to stay gone than active ones.
    by_activity = dict(
        predictions.group_by("active").agg(pl.col("churn_probability").mean()).iter_rows()
    )
    assert by_activity[False] > 0.8 > 0.3 > by_activity[True]

    # The outlook is its own table, one row per segment of the month, downstream of both.
    profiles = _frame(
        home,
        "SELECT segment_id, mean_churn_probability, mean_purchase_probability, "
        "mean_predicted_value_12m FROM predictions.segment_outlook WHERE as_of_date = ?",
        [DECEMBER],
    )
    segments = _frame(
        home, "SELECT segment_id FROM segments.segment_profiles WHERE as_of_date = ?", [DECEMBER]
    )
    assert profiles["segment_id"].to_list() == segments["segment_id"].sort().to_list()
    assert profiles["mean_churn_probability"].null_count() == 0
    assert profiles["mean_purchase_probability"].is_between(0, 1).all()
    # Segments differ in their predicted future, not just their past.
    spread = profiles["mean_churn_probability"].max() - profiles["mean_churn_probability"].min()
    assert spread > 0.3


NEW_USER = "u_0000000000000new"


def _add_new_customer(landing):
    """A customer who signs up on 2 January 2026 and looks at the pricing page four times."""
    (landing / "crm_contacts" / "crm_contacts_2026-01.csv").write_text(
        "crm_id,user_id,email,phone,first_name,last_name,company,role,country,created_at,"
        "updated_at\n"
        f"C99999999,{NEW_USER},ada.new@example.org,,Ada,New,,,GB,2026-01-02 09:00:00,"
        "2026-01-02 09:00:00\n"
    )
    events = [
        "event_id,event_ts,anonymous_id,user_id,email,session_id,event_type,page_path,referrer"
    ]
    pages = ["/login", "/pricing", "/product/a", "/pricing", "/compare/x", "/pricing", "/pricing"]
    for i, page in enumerate(pages):
        kind = "login" if page == "/login" else "page_view"
        events.append(
            f"we_new{i:012d},2026-01-02 09:{10 + i:02d}:00,a_new0000000000001,{NEW_USER},,"
            f"s_new000000000001,{kind},{page},"
        )
    (landing / "web_events" / "web_events_2026-01.csv").write_text("\n".join(events) + "\n")


def test_a_new_customer_gets_a_segment_the_same_day_without_a_refit(demo_copy, capsys):
    home, landing = demo_copy
    from seg_platform.definitions import CURRENT_JOB, DAILY_JOB, defs

    mlflow.set_tracking_uri(home.mlflow_tracking_uri)
    client = mlflow.MlflowClient()
    versions_before = len(client.search_model_versions("name = 'customer_segmentation'"))
    champion = client.get_model_version_by_alias("customer_segmentation", "champion")
    candidates_before = _frame(home, "SELECT count(*) AS n FROM segmentation.candidates")["n"][0]

    _add_new_customer(landing)
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    with dg.DagsterInstance.get() as instance:
        refresh = defs.resolve_job_def(CURRENT_JOB).execute_in_process(
            instance=instance, run_config=quiet
        )
        assert refresh.success
    # What a user runs: `seg-platform score-day` (default: the last day with events).
    assert score_day() == 0
    printed = capsys.readouterr().out
    assert "Scored 2026-01-02:" in printed and "new customers segmented: 1 " in printed
    with dg.DagsterInstance.get() as instance:
        run = instance.get_runs(dg.RunsFilter(job_name=DAILY_JOB))[0]
        evaluations = [
            e.dagster_event.event_specific_data
            for e in instance.all_logs(run.run_id)
            if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
        ]
    checks = {e.check_name: e.passed for e in evaluations}
    assert run.tags["dagster/partition"] == "2026-01-02"
    assert checks == {
        "probabilities_in_unit_interval": True, "one_row_per_profile": True,
        "no_missing_scores_for_active_profiles": True, "every_customer_has_a_segment": True,
        "every_placed_customer_has_reasons": True,
        "one_exclusive_overlay_per_customer": True,
        "pointer_names_the_new_snapshot": True,  # the serving snapshot, the run's last step
    }  # fmt: skip

    (profile_id,) = _frame(
        home,
        "SELECT DISTINCT profile_id FROM identity.identity_map WHERE id_type = 'user_id' "
        "AND value = ?",
        [NEW_USER],
    )["profile_id"]
    row = _frame(
        home,
        "SELECT * FROM predictions.daily_scores WHERE as_of_date = '2026-01-02' AND profile_id = ?",
        [profile_id],
    ).row(0, named=True)
    names = set(
        _frame(home, "SELECT name FROM segments.segment_profiles WHERE as_of_date = ?", [DECEMBER])[
            "name"
        ]
    )
    assert row["segment_source"] == "daily"
    assert row["segment_name"] in names and row["segment_id"] is not None
    assert row["segment_model_version"] == int(champion.version)
    assert row["refreshed"] and row["active"]
    assert 0 <= row["churn_probability"] <= 1 and 0 <= row["purchase_probability"] <= 1
    overlays = _frame(
        home,
        "SELECT family, overlay FROM predictions.customer_overlays "
        "WHERE as_of_date = '2026-01-02' AND profile_id = ?",
        [profile_id],
    )
    assert ("lifecycle", "new") in overlays.rows()
    assert ("intent", "pricing_interest") in overlays.rows()

    # No re-fit: no new model version, no new candidates; December's segments unchanged.
    assert len(client.search_model_versions("name = 'customer_segmentation'")) == versions_before
    assert _frame(home, "SELECT count(*) AS n FROM segmentation.candidates")["n"][0] == (
        candidates_before
    )
    # Customers the monthly fit placed keep their segment; only the new one is "daily".
    scores = _frame(
        home,
        "SELECT d.segment_id AS daily, a.segment_id AS monthly, d.segment_source "
        "FROM predictions.daily_scores d LEFT JOIN segments.segment_assignments a "
        "ON a.profile_id = d.profile_id AND a.as_of_date = ? "
        "WHERE d.as_of_date = '2026-01-02'",
        [DECEMBER],
    )
    kept = scores.filter(pl.col("segment_source") == "monthly")
    assert (kept["daily"] == kept["monthly"]).all()
    assert scores.filter(pl.col("segment_source") == "daily").height >= 1
    assert os.environ[settings.HOME_ENV] == str(home.root)


def test_training_rows_are_the_point_in_time_rows_or_a_deterministic_sample_of_them(
    demo_december,
):
    """Propensity training reads month snapshots shared by both targets (each computed once)
    and samples in DuckDB: the rows equal the features and labels the old per-month path
    returned, and a sample is a uniform, repeatable subset of exactly `limit` rows."""
    from seg_platform.core.calendar import month_parameters
    from seg_platform.core.warehouse import frame_to_temp_table
    from seg_platform.features.labels import outcome_labels
    from seg_platform.predictions.data import FeatureSnapshots, known_features, labelled_rows

    home, _ = demo_december
    months, label = ["2025-05", "2025-06"], "churned_next_90d"
    with connect(home.warehouse, read_only=True) as con, FeatureSnapshots(con) as snapshots:
        full, total = labelled_rows(con, snapshots, months, label, 10**9, seed=1)
        expected = []
        for month in months:
            features = known_features(con, month_parameters(month))
            frame_to_temp_table(con, "_expected_profiles", features.select("profile_id"))
            labels = outcome_labels(con, month, "_expected_profiles").drop("as_of_date")
            joined = features.join(labels, on="profile_id").filter(pl.col(label).is_not_null())
            expected.append(joined.with_columns(pl.lit(month).alias("label_month")))
        expected = pl.concat(expected).select(full.columns)
        assert total == full.height == expected.height > 1000
        assert full.equals(expected)

        limit = total // 3
        sample, sample_total = labelled_rows(con, snapshots, months, label, limit, seed=1)
        again, _ = labelled_rows(con, snapshots, months, label, limit, seed=1)
        other, _ = labelled_rows(con, snapshots, months, label, limit, seed=2)
        assert len(snapshots.tables) == 2  # two months, each computed once for four reads
    assert sample_total == total and sample.height == limit
    assert sample.equals(again) and not sample.equals(other)
    keys = ["label_month", "profile_id"]
    assert sample.join(full, on=keys, how="anti").height == 0
    assert full.join(sample.select(keys), on=keys, how="semi").equals(sample)  # same values
    for month in months:  # uniform: each month keeps about its share of the rows
        share = full.filter(pl.col("label_month") == month).height / total
        kept = sample.filter(pl.col("label_month") == month).height / limit
        assert abs(kept - share) < 0.03
    rate = full[label].mean()
    assert abs(sample[label].mean() - rate) < 0.03
