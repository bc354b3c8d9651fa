"""What each candidate run carries for people: a profile table and two plots."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402


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


def scatter_png(Z: np.ndarray, labels: np.ndarray, title: str, path: Path, seed: int) -> Path:
    """The sample projected on its first two principal components, coloured by segment."""
    xy = PCA(n_components=2, random_state=seed).fit_transform(Z)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(xy[:, 0], xy[:, 1], c=labels, s=4, cmap="tab10", alpha=0.6, linewidths=0)
    ax.set(title=title, xlabel="PC 1", ylabel="PC 2")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def silhouette_png(values: np.ndarray | None, labels: np.ndarray, title: str, path: Path) -> Path:
    """Silhouette of every sampled customer (`values`, as the candidate's score computed
    them; None for a single segment), grouped by segment (wider = better separated)."""
    fig, ax = plt.subplots(figsize=(6, 5))
    if values is not None:
        y = 0
        for segment in np.unique(labels):
            s = np.sort(values[labels == segment])
            ax.fill_betweenx(np.arange(y, y + len(s)), 0, s, alpha=0.7)
            ax.text(-0.05, y + len(s) / 2, str(segment))
            y += len(s) + 10
        ax.axvline(values.mean(), color="red", linestyle="--")
    ax.set(title=title, xlabel="silhouette", ylabel="customers by segment")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def elbow_png(rows: list[dict], path: Path) -> Path:
    """Inertia (k-means) and BIC (mixtures) against the segment count."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, algorithm, metric in ((axes[0], "kmeans", "inertia"), (axes[1], "gmm", "bic")):
        points = sorted((r["k"], r[metric]) for r in rows if r["algorithm"] == algorithm)
        if points:
            ax.plot(*zip(*points, strict=True), marker="o")
        ax.set(title=f"{algorithm}: {metric} by k", xlabel="segments", ylabel=metric)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
