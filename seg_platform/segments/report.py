"""The month's segment report: one self-contained HTML page (sizes, profile heatmap, migration
flows, the profile table), logged to MLflow with the month's segmentation run."""

import base64
import html
import io

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def sizes_png(profiles: pl.DataFrame) -> str:
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * profiles.height))
    labels = [f"{i} {n}" for i, n in zip(profiles["segment_id"], profiles["name"], strict=True)]
    ax.barh(labels[::-1], profiles["customers"].to_list()[::-1], color="#4c78a8")
    ax.set(xlabel="customers", title="Segment sizes")
    return _png(fig)


def heatmap_png(profiles: pl.DataFrame, features: list[str]) -> str:
    z = np.array(
        [[row[f] if row[f] is not None else 0.0 for f in features]
         for row in profiles["feature_zscores"].to_list()]
    )  # fmt: skip
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * len(features), 1.2 + 0.45 * profiles.height))
    limit = max(1.0, float(np.abs(z).max()) if z.size else 1.0)
    image = ax.imshow(z, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(features)), features, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(profiles.height), profiles["name"].to_list(), fontsize=8)
    ax.set_title("Feature z-scores against all customers")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return _png(fig)


def migration_png(migration: pl.DataFrame) -> str | None:
    if migration.is_empty():
        return None
    frm = sorted({v for v in migration["from_segment_id"].to_list() if v is not None})
    to = sorted({v for v in migration["to_segment_id"].to_list() if v is not None})
    rows, cols = [*map(str, frm), "new"], [*map(str, to), "departed"]
    grid = np.zeros((len(rows), len(cols)), dtype=np.int64)
    for f, t, n in migration.select("from_segment_id", "to_segment_id", "customers").iter_rows():
        grid[
            rows.index("new" if f is None else str(f)),
            cols.index("departed" if t is None else str(t)),
        ] += n  # noqa: E501
    fig, ax = plt.subplots(figsize=(1.5 + 0.6 * len(cols), 1.5 + 0.5 * len(rows)))
    ax.imshow(np.log1p(grid), cmap="Blues", aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            if grid[i, j]:
                ax.text(j, i, f"{grid[i, j]:,}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.set(xlabel="this month's segment", ylabel="last month's segment",
           title="Migration since last month (customers)")  # fmt: skip
    return _png(fig)


def report_html(month: str, profiles: pl.DataFrame, migration: pl.DataFrame) -> str:
    features = []
    for top in profiles["distinguishing_features"].to_list():
        features += [f for f in top if f not in features]
    sections = [
        f"<h1>Customer segments, {html.escape(month)}</h1>",
        f'<img alt="sizes" src="data:image/png;base64,{sizes_png(profiles)}">',
        f'<img alt="profile heatmap" src="data:image/png;base64,{heatmap_png(profiles, features)}">',  # noqa: E501
    ]
    flows = migration_png(migration)
    sections.append(
        f'<img alt="migration" src="data:image/png;base64,{flows}">'
        if flows
        else "<p>No previous month: no migration yet.</p>"
    )
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in with_share_pct(profiles.select(
            "segment_id", "name", "customers", "share", "lineage", "action_type", "description"
        )).iter_rows()
    )  # fmt: skip
    sections.append(
        "<table><tr><th>id</th><th>name</th><th>customers</th><th>share (%)</th><th>lineage</th>"
        f"<th>action</th><th>description</th></tr>{rows}</table>"
    )
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px;"
        "vertical-align:top;font-size:13px}img{display:block;margin:1em 0}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Segments {month}</title>"
        f"<style>{style}</style></head><body>{''.join(sections)}</body></html>"
    )


def size_metadata(profiles: pl.DataFrame) -> dict[str, int | float]:
    """The month's segment sizes and shares as numeric entries, keyed by segment name (names
    are kept while a segment continues, so the Dagster UI plots each one across monthly
    partitions): `size/<name>` (customers), `share_pct/<name>` (percent of the month's
    assigned customers, 2 decimals), and the totals `customers_assigned` and `segment_count`."""
    total = int(profiles["customers"].sum() or 0)
    entries: dict[str, int | float] = {
        "customers_assigned": total,
        "segment_count": profiles.height,
    }
    for name, customers in profiles.select("name", "customers").sort("name").iter_rows():
        entries[f"size/{name}"] = int(customers)
    for name, customers in profiles.select("name", "customers").sort("name").iter_rows():
        entries[f"share_pct/{name}"] = round(100.0 * customers / total, 2) if total else 0.0
    return entries


def with_share_pct(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with its `share` (a fraction) shown as `share_pct` (percent, 2 decimals)."""
    if "share" not in frame.columns:
        return frame
    return frame.with_columns((pl.col("share") * 100).round(2).alias("share")).rename(
        {"share": "share_pct"}
    )
