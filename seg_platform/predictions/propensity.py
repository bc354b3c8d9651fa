"""Propensity models (churn, purchase): a time-based split, a calibrated gradient-boosting
model, a recency-only logistic baseline, and the metrics that compare them.

Plain functions over NumPy arrays; nothing here knows of Dagster, MLflow or DuckDB.

The split is point-in-time. For a month M and a label whose window is h months long, the
latest label known at the end of M is month E = M - h: that is the evaluation month. The
training months are the ones whose labels were already known at the end of E (E - h and
before), so the evaluation replays exactly what the model could have learnt at the time.
"""

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from seg_platform.core.calendar import add_months
from seg_platform.predictions.settings import DEFAULTS

# Recency of a customer who never did the thing: far beyond any window the features use.
NEVER_DAYS = 3650.0
# The calibrated probability from which a customer counts as predicted positive: where the
# platform acts on a score (a survey's `when: churn_probability >= 0.5`). The confusion matrix
# of every propensity run is drawn at it.
OPERATING_THRESHOLD = 0.5

# Below this many training rows the booster runs on one OpenMP thread. On the 2-core machine,
# one fit of the demo's churn model (about 10,000 rows) took 7-9 s on one thread and 93-119 s
# on two while another process was busy: the threads wait for each other at every tree level.
# The trees are the same either way (histograms are summed per feature, in the same order).
PARALLEL_ROWS = 100_000


def thread_limit(rows: int) -> AbstractContextManager:
    """One BLAS/OpenMP thread for a fit or scoring of fewer than PARALLEL_ROWS rows."""
    return threadpool_limits(1) if rows < PARALLEL_ROWS else nullcontext()


def processes(rows: int) -> int | None:
    """Worker processes for the calibration folds and the permutation importances: below
    PARALLEL_ROWS, one per core (joblib gives each worker one thread); else None (in process,
    the booster's threads share the cores). Either way the results are the same bits: each
    fold and each permuted column has its own seed."""
    return -1 if rows < PARALLEL_ROWS else None


# The boosters' trees: at most MAX_TREES, stopped earlier when N_ITER_NO_CHANGE more did not
# lower the loss on held-out rows (`fit_propensity`). Before, every fold grew all 300: on the
# demo's company (2,000 customers) 1,800 trees a month, against 624 now, and the propensity
# step took 20-22 s against 11-12 s, with churn ROC AUC 0.886 -> 0.895 and PR AUC 0.48 -> 0.51
# (more trees only fitted the few training rows closer). Scoring, the permutation importances
# and the registered model's size follow the tree count.
MAX_TREES = 300
N_ITER_NO_CHANGE = 10


@dataclass(frozen=True)
class Target:
    """One propensity: which label it predicts and how long that label's window is."""

    name: str  # 'churn' / 'purchase': the prefix of its prediction columns
    label: str  # the label column (seg_platform.features.labels)
    horizon_months: int  # the label's window
    recency: str  # the feature the baseline uses
    description: str


TARGETS = (
    Target(
        "churn", "churned_next_90d", 3, "days_since_last_activity",
        "no web or app event and no order in the next three months",
    ),
    Target(
        "purchase", "purchased_next_30d", 1, "days_since_last_purchase",
        "at least one completed order in the next month",
    ),
)  # fmt: skip


def split_months(month: str, horizon: int, training_months: int) -> tuple[str, list[str]]:
    """(evaluation month, training months, oldest first) for scoring month `month`."""
    evaluation = add_months(month, -horizon)
    last_training = add_months(evaluation, -horizon)
    return evaluation, [add_months(last_training, -i) for i in reversed(range(training_months))]


def top_decile_lift(y: np.ndarray, p: np.ndarray, share: float = 0.1) -> float:
    """Positive rate among the `share` highest scores over the overall positive rate. Scores
    tied at the cut count by their average outcome, so row order never matters."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if not len(y) or y.mean() == 0:
        return float("nan")
    n = max(1, int(round(len(y) * share)))
    cut = np.sort(p)[::-1][n - 1]
    above, tied = p > cut, p == cut
    positives = y[above].sum() + y[tied].mean() * (n - above.sum())
    return float(positives / n / y.mean())


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision), top-decile lift and Brier score, with the base
    rate. AUCs are NaN when the sample holds a single class."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    both = 0 < y.sum() < len(y)
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "top_decile_lift": top_decile_lift(y, p),
        "brier": float(brier_score_loss(y, p)) if len(y) else float("nan"),
        "base_rate": float(y.mean()) if len(y) else float("nan"),
        "rows": float(len(y)),
    }


def recency_column(values: np.ndarray) -> np.ndarray:
    """Days since the last event as one log-scaled column (never = far in the past)."""
    days = np.asarray(values, dtype=float)
    days = np.where(np.isnan(days), NEVER_DAYS, np.maximum(days, 0.0))
    return np.log1p(days).reshape(-1, 1)


class RecencyBaseline:
    """Logistic regression on log(1 + days since the last event) alone."""

    def __init__(self, seed: int = 42):
        self.seed = seed

    def fit(self, recency: np.ndarray, y: np.ndarray) -> "RecencyBaseline":
        from sklearn.linear_model import LogisticRegression

        self.model_ = LogisticRegression(random_state=self.seed).fit(recency_column(recency), y)
        return self

    def predict_proba(self, recency: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(recency_column(recency))[:, 1]


def fit_propensity(
    X: np.ndarray,
    y: np.ndarray,
    seed: int,
    calibration: str = DEFAULTS.calibration,
    jobs: int | None = None,
):
    """Gradient boosting (NaN-aware, so empty sources need no imputation), calibrated by
    `calibration` ('isotonic' or 'sigmoid') over 3 folds of the training rows, fitted in `jobs`
    processes (joblib's n_jobs; the model is the same).

    Each fold's booster stops adding trees once its loss on a held-out tenth of the fold's
    rows (a stratified draw from `seed`) has not improved for N_ITER_NO_CHANGE rounds, with
    MAX_TREES as the cap."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier

    booster = HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=MAX_TREES,
        max_leaf_nodes=31,
        min_samples_leaf=40,
        l2_regularization=1.0,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=N_ITER_NO_CHANGE,
        random_state=seed,
    )
    model = CalibratedClassifierCV(booster, method=calibration, cv=3, n_jobs=jobs).fit(X, y)
    return model.set_params(n_jobs=None)  # how it was fitted is no part of the model


def permutation_importances(
    model, X, y, columns: list[str], seed: int, sample: int = 5000, jobs: int | None = None
):
    """Mean and spread of the ROC AUC lost when each feature is shuffled (3 repeats), on at
    most `sample` evaluation rows; sorted, most important first.

    Measured on the boosted trees of the first calibration fold: calibration is a monotone map,
    which leaves ROC AUC as it is, and one model instead of three is three times faster."""
    from sklearn.inspection import permutation_importance

    folds = getattr(model, "calibrated_classifiers_", None)
    if folds:
        model = folds[0].estimator
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(y), size=min(sample, len(y)), replace=False))
    if len(np.unique(y[rows])) < 2:
        return []
    result = permutation_importance(
        model, X[rows], y[rows], scoring="roc_auc", n_repeats=3, random_state=seed, n_jobs=jobs
    )
    order = np.argsort(-result.importances_mean, kind="stable")
    return [
        (columns[i], float(result.importances_mean[i]), float(result.importances_std[i]))
        for i in order
    ]


def calibration_png(y, scores: dict[str, np.ndarray], title: str, path):
    """Reliability diagram: observed rate against mean predicted probability, per decile."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfectly calibrated")
    for name, p in scores.items():
        observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
        ax.plot(predicted, observed, marker="o", label=name)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed rate")
    ax.set_title(title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def importance_png(importances, title: str, path, top: int = 15):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = importances[:top][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(shown) + 1.2))
    ax.barh([n for n, _, _ in shown], [m for _, m, _ in shown], xerr=[s for _, _, s in shown])
    ax.set_xlabel("ROC AUC lost when shuffled")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def evaluation_figures(y, scores: dict[str, np.ndarray], title: str,
                       threshold: float = OPERATING_THRESHOLD) -> dict:  # fmt: skip
    """ROC, precision-recall and lift curves of every score (model, baseline, ...) and the
    model's confusion matrix at `threshold`, as matplotlib figures keyed by artifact name.
    The caller closes them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

    y = np.asarray(y).astype(int)
    figures = {}
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, p in scores.items():
        RocCurveDisplay.from_predictions(y, p, name=name, ax=ax)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set_title(f"ROC: {title}")
    figures["roc_curve.png"] = fig
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, p in scores.items():
        PrecisionRecallDisplay.from_predictions(y, p, name=name, ax=ax)
    ax.axhline(y.mean(), linestyle=":", color="grey", label="base rate")
    ax.set_title(f"Precision-recall: {title}")
    figures["precision_recall_curve.png"] = fig
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, p in scores.items():
        share, lift = lift_curve(y, p)
        ax.plot(share, lift, label=name)
    ax.axhline(1.0, linestyle=":", color="grey", label="random")
    ax.set(xlabel="share of customers targeted (highest scores first)",
           ylabel="lift (positive rate / base rate)", title=f"Lift: {title}")  # fmt: skip
    ax.legend(loc="upper right")
    figures["lift_curve.png"] = fig
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ConfusionMatrixDisplay.from_predictions(
        y, (scores["model"] >= threshold).astype(int), labels=[0, 1], ax=ax, colorbar=False,
        values_format="d",
    )  # fmt: skip
    ax.set_title(f"model at probability >= {threshold:g}: {title}", fontsize=9)
    figures["confusion_matrix.png"] = fig
    for fig in figures.values():
        fig.tight_layout()
    return figures


def lift_curve(y, p, points: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative lift: the positive rate among the top share of scores over the base rate,
    at `points` shares from 1% to 100%."""
    y = np.asarray(y, dtype=float)
    order = np.argsort(-np.asarray(p, dtype=float), kind="stable")
    hits = np.cumsum(y[order])
    share = np.linspace(1 / points, 1.0, points)
    n = np.maximum(1, np.round(share * len(y)).astype(int))
    return share, hits[n - 1] / n / max(y.mean(), 1e-12)
