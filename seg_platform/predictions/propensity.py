"""Propensity models (churn, purchase): a time-based split, a calibrated gradient-boosting
model, a recency-only logistic baseline, and the metrics that compare them.

Plain functions over NumPy arrays; nothing here knows of Dagster, MLflow or DuckDB.

The split is point-in-time. For a month M and a label whose window is h months long, the
latest label known at the end of M is month E = M - h: that is the evaluation month. The
training months are the ones whose labels were already known at the end of E (E - h and
before), so the evaluation replays exactly what the model could have learnt at the time.
"""

from dataclasses import dataclass

import numpy as np

from seg_platform.core.calendar import add_months

# Recency of a customer who never did the thing: far beyond any window the features use.
NEVER_DAYS = 3650.0


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


def fit_propensity(X: np.ndarray, y: np.ndarray, seed: int, calibration: str = "isotonic"):
    """Gradient boosting (NaN-aware, so empty sources need no imputation), calibrated by
    `calibration` ('isotonic' or 'sigmoid') over 3 folds of the training rows."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier

    booster = HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=300,
        max_leaf_nodes=31,
        min_samples_leaf=40,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )
    return CalibratedClassifierCV(booster, method=calibration, cv=3).fit(X, y)


def permutation_importances(model, X, y, columns: list[str], seed: int, sample: int = 5000):
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
        model, X[rows], y[rows], scoring="roc_auc", n_repeats=3, random_state=seed, n_jobs=1
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
