"""What the segmentation runs carry for people: per candidate a profile table and three plots
(the same file names in every candidate run, so MLflow's "compare runs" shows them side by
side), and on the month's parent run the selection metrics across k."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

# The three plots of every candidate run (21 candidates a month at the defaults) get fixed
# margins that fit their short titles and labels. tight_layout() measured every text first, one
# more draw per figure: 63 plots took 1.4x as long with it (measured: 21 segment-size plots
# 1.39-1.43 s against 0.92-0.98 s).
CANDIDATE_MARGINS = {"left": 0.13, "right": 0.97, "bottom": 0.11, "top": 0.93}


def _save_candidate_plot(fig, path: Path) -> Path:
    fig.subplots_adjust(**CANDIDATE_MARGINS)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


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


def project_2d(Z: np.ndarray, seed: int) -> np.ndarray:
    """The sample on its first two principal components: one projection for every candidate's
    scatter (the same customers), so their plots share axes and the PCA is fitted once."""
    return PCA(n_components=2, random_state=seed).fit_transform(Z)


def scatter_png(xy: np.ndarray, labels: np.ndarray, title: str, path: Path) -> Path:
    """The sample projected on two principal components (`project_2d`), coloured by segment."""
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(xy[:, 0], xy[:, 1], c=labels, s=4, cmap="tab10", alpha=0.6, linewidths=0)
    ax.set(title=title, xlabel="PC 1", ylabel="PC 2")
    return _save_candidate_plot(fig, path)


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
    return _save_candidate_plot(fig, path)


# Algorithm-specific metrics that show an elbow against the segment count, each drawn for every
# algorithm that reports it (`Algorithm.metrics`: k-means reports inertia, mixtures BIC).
ELBOW_METRICS = ("inertia", "bic")


def elbow_lines(rows: list[dict], metric: str) -> dict[str, list[tuple[int, float]]]:
    """Per algorithm reporting `metric` for candidates with a k: its (k, value) points."""
    lines: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        if r["k"] is not None and r.get(metric) is not None:
            lines.setdefault(r["algorithm"], []).append((r["k"], r[metric]))
    return {algorithm: sorted(points) for algorithm, points in lines.items()}


def elbow_png(rows: list[dict], path: Path) -> Path:
    """Each elbow metric against the segment count, one line per algorithm reporting it."""
    fig, axes = plt.subplots(1, len(ELBOW_METRICS), figsize=(9, 4))
    for ax, metric in zip(axes, ELBOW_METRICS, strict=True):
        lines = elbow_lines(rows, metric)
        for algorithm, points in lines.items():
            ax.plot(*zip(*points, strict=True), marker="o", label=algorithm)
        if len(lines) > 1:
            ax.legend()
        title = f"{', '.join(lines)}: {metric} by k" if lines else f"{metric} by k"
        ax.set(title=title, xlabel="segments", ylabel=metric)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


# Artifact names shared by every candidate run. MLflow's compare view lists only the files at
# the root of each run's artifacts that every compared run has: no folders, no run names.
PROFILE_CSV = "segment_profile.csv"
SIZES_PNG = "segment_sizes.png"
PCA_PNG = "pca.png"
SILHOUETTE_PNG = "silhouette.png"
CANDIDATE_ARTIFACTS = (PROFILE_CSV, SIZES_PNG, PCA_PNG, SILHOUETTE_PNG)
# On the parent run: the selection metrics of every candidate against its segment count.
CURVES_PNG = "selection_metrics_by_k.png"
CURVE_METRICS = (
    ("silhouette", "higher is better"),
    ("davies_bouldin", "lower is better"),
    ("bootstrap_stability", "higher is better"),
    ("bic", "lower is better (mixtures)"),
)


def segment_sizes_png(labels: np.ndarray, title: str, path: Path) -> Path:
    """Share of the sample in each segment (outliers, label -1, as their own bar)."""
    segments, counts = np.unique(labels, return_counts=True)
    shares = counts / counts.sum()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar([str(s) if s >= 0 else "outliers" for s in segments], shares * 100)
    for x, share in enumerate(shares):
        ax.text(x, share * 100, f"{share:.1%}", ha="center", va="bottom", fontsize=8)
    ax.set(title=title, xlabel="segment", ylabel="% of customers")
    return _save_candidate_plot(fig, path)


def selection_curves_png(rows: list[dict], path: Path) -> Path:
    """Silhouette, Davies-Bouldin, bootstrap stability and BIC against the segment count, one
    line per algorithm; the chosen candidate circled."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    algorithms = sorted({r["algorithm"] for r in rows})
    for ax, (metric, note) in zip(axes.flat, CURVE_METRICS, strict=True):
        for algorithm in algorithms:
            points = sorted(
                (r["n_segments"], r[metric])
                for r in rows
                if r["algorithm"] == algorithm and _finite(r.get(metric))
            )
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=algorithm)
        for r in rows:
            if r["chosen"] and _finite(r.get(metric)):
                label = f"chosen: {r['candidate']}"
                ax.scatter([r["n_segments"]], [r[metric]], s=160, facecolors="none",
                           edgecolors="red", linewidths=2, label=label)  # fmt: skip
        ax.set(title=f"{metric} ({note})", xlabel="segments", ylabel=metric)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels))
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _finite(value) -> bool:
    return value is not None and bool(np.isfinite(value))
