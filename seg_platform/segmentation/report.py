"""What each candidate run carries for people: a profile table and two plots.

Figures are made with `matplotlib.figure.Figure` and fixed margins, not pyplot and
`tight_layout`: pyplot's figure manager and the layout pass (which draws the figure once more
to measure its text) cost more than the plot itself, 21 candidates times two plots a month.
"""

from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from sklearn.decomposition import PCA


def segment_profile(features: pl.DataFrame, labels: np.ndarray) -> pl.DataFrame:
    """Per segment: size, share and the mean of every feature (in its own units)."""
    frame = features.with_columns(pl.Series("segment", labels))
    numeric = [c for c, t in features.schema.items() if t.is_numeric()]
    return (
        frame.group_by("segment")
        .agg(
            pl.len().alias("customers"),
            *[pl.col(c).mean().round(3) for c in numeric],
        )
        .with_columns((pl.col("customers") / frame.height).round(4).alias("share"))
        .sort("segment")
    )


def principal_plane(Z: np.ndarray, seed: int) -> np.ndarray:
    """The sample projected on its first two principal components (one per month: the
    candidates share the sample, only their colours differ)."""
    return PCA(n_components=2, random_state=seed).fit_transform(Z)


def _figure(width: float, height: float, columns: int = 1):
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.12, top=0.92, wspace=0.35)
    return fig, fig.subplots(1, columns)


def scatter_png(xy: np.ndarray, labels: np.ndarray, title: str, path: Path) -> Path:
    """The sample on its principal plane (`principal_plane`), coloured by segment."""
    fig, ax = _figure(6, 5)
    ax.scatter(xy[:, 0], xy[:, 1], c=labels, s=4, cmap="tab10", alpha=0.6, linewidths=0)
    ax.set(title=title, xlabel="PC 1", ylabel="PC 2")
    fig.savefig(path, dpi=80)
    return path


def silhouette_png(values: np.ndarray | None, labels: np.ndarray, title: str, path: Path) -> Path:
    """Silhouette of every sampled customer (`values`, as the candidate's score computed
    them; None for a single segment), grouped by segment (wider = better separated)."""
    fig, ax = _figure(6, 5)
    if values is not None:
        y = 0
        for segment in np.unique(labels):
            s = np.sort(values[labels == segment])
            ax.fill_betweenx(np.arange(y, y + len(s)), 0, s, alpha=0.7)
            ax.text(-0.05, y + len(s) / 2, str(segment))
            y += len(s) + 10
        ax.axvline(values.mean(), color="red", linestyle="--")
    ax.set(title=title, xlabel="silhouette", ylabel="customers by segment")
    fig.savefig(path, dpi=80)
    return path


def elbow_png(rows: list[dict], path: Path) -> Path:
    """Inertia (k-means) and BIC (mixtures) against the segment count."""
    fig, axes = _figure(9, 4, columns=2)
    for ax, algorithm, metric in ((axes[0], "kmeans", "inertia"), (axes[1], "gmm", "bic")):
        points = sorted((r["k"], r[metric]) for r in rows if r["algorithm"] == algorithm)
        if points:
            ax.plot(*zip(*points, strict=True), marker="o")
        ax.set(title=f"{algorithm}: {metric} by k", xlabel="segments", ylabel=metric)
    fig.savefig(path, dpi=80)
    return path
