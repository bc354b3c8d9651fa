"""Preprocessing as part of the model: a scikit-learn Pipeline fitted with the clusterer.

Scoring a new customer with the logged pipeline applies exactly the transform it was fitted
with: log of the counts and amounts (right-skewed), median imputation with missing-indicators,
robust scaling (guarded against near-constant columns) and optionally PCA.
"""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline


class DropEmpty(TransformerMixin, BaseEstimator):
    """Drop the columns with no value at fit time: features of sources that are absent."""

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        self.keep_ = ~np.isnan(X).all(axis=0)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        return np.asarray(X, dtype=np.float64)[:, self.keep_]


class CountLog1p(TransformerMixin, BaseEstimator):
    """log1p of the count, amount and day columns: never negative and above 1 somewhere.

    Customer counts and amounts are right-skewed and heavy-tailed; left raw, a handful of
    very large values (or a column whose quartiles coincide, so robust scaling cannot shrink
    it) dominate the distances and k-means spends segments on outliers. Shares and rates
    (within 0..1) and columns with negative values (e.g. a velocity in -1..1) stay as they
    are. Which columns is decided at fit time and kept, so scoring transforms the same ones;
    missing values stay missing (imputation comes next).
    """

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        with np.errstate(all="ignore"):
            minimum = np.nanmin(np.where(np.isnan(X), np.inf, X), axis=0)
            maximum = np.nanmax(np.where(np.isnan(X), -np.inf, X), axis=0)
        self.log_columns_ = (minimum >= 0) & (maximum > 1) & np.isfinite(maximum)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        X = np.array(X, dtype=np.float64, copy=True)
        X[:, self.log_columns_] = np.log1p(X[:, self.log_columns_])
        return X


class GuardedRobustScaler(TransformerMixin, BaseEstimator):
    """Robust scaling that never inflates a column: centre on the median, divide by the
    interquartile range (as a normal standard deviation, IQR / 1.349) or by the standard
    deviation, whichever is larger.

    Plain robust scaling divides by the IQR alone; a column whose quartiles nearly coincide (a
    smoothed click rate that sits at its prior for most customers) is then blown up to a
    variance of 10+ and decides the clustering on its own (seen on the synthetic months: the
    months where it happened recovered the archetypes with ARI 0.4 instead of 0.8).
    """

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        q1, median, q3 = np.percentile(X, [25, 50, 75], axis=0)
        scale = np.maximum((q3 - q1) / 1.349, X.std(axis=0))
        self.center_ = median
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        return (np.asarray(X, dtype=np.float64) - self.center_) / self.scale_


def preprocessing(pca_variance: float | None = None, seed: int = 0) -> list[tuple[str, object]]:
    """The preprocessing steps; PCA keeps `pca_variance` of the variance when given."""
    steps: list[tuple[str, object]] = [
        ("drop_empty", DropEmpty()),
        ("log_counts", CountLog1p()),
        ("impute", SimpleImputer(strategy="median", add_indicator=True)),
        ("scale", GuardedRobustScaler()),
    ]
    if pca_variance:
        steps.append(("pca", PCA(n_components=pca_variance, random_state=seed)))
    return steps


def fit_preprocessing(X: np.ndarray, pca_variance: float | None, seed: int) -> Pipeline:
    return Pipeline(preprocessing(pca_variance, seed)).fit(X)
