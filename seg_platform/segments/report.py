"""The month's segment report: one self-contained HTML page (sizes, size trends over the last
months, profile heatmap, membership flows, each segment's churn and predicted value, the profile
table; shares in percent), logged to MLflow with the month's segmentation run."""

import base64
import datetime as dt
import html
import io
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from seg_platform.core.calendar import month_key  # noqa: E402
from seg_platform.core.warehouse import fetch_frame, fetch_one, table_exists  # noqa: E402

PROFILES = "segments.segment_profiles"
MIGRATION = "segments.segment_migration"
CANDIDATES = "segmentation.candidates"
SEGMENTS = "segmentation.customer_segments"  # the model version the month's segments came from
OUTLOOK = "predictions.segment_outlook"
TREND_MONTHS = 6


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


def trends_png(trend: pl.DataFrame) -> str | None:
    """Customers per segment (by name) in each month of `trend` (month, name, customers)."""
    months = sorted(set(trend["month"].to_list()))
    if len(months) < 2:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for (name,), rows in trend.sort("month").group_by("name", maintain_order=True):
        ax.plot(rows["month"].to_list(), rows["customers"].to_list(), marker="o", label=name)
    ax.set(xlabel="month", ylabel="customers", title="Segment sizes over the last months")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    return _png(fig)


def trend_table(trend: pl.DataFrame) -> pl.DataFrame:
    """One row per segment name, one column per month: `customers (share %)`."""
    cells = trend.with_columns(
        cell=pl.format(
            "{} ({}%)", pl.col("customers"), (pl.col("share") * 100).round(1).cast(pl.String)
        )
    )
    return cells.pivot(on="month", index="name", values="cell", sort_columns=True).sort("name")


def flow_table(migration: pl.DataFrame, profiles: pl.DataFrame) -> pl.DataFrame:
    """Customers who changed segment since last month, largest flows first (ids, and the
    names of this month's segments: an id that continues keeps its name)."""
    names = dict(profiles.select("segment_id", "name").iter_rows())
    moved = migration.filter(pl.col("movement") != "stayed").sort(
        "customers", "from_segment_id", "to_segment_id", descending=[True, False, False],
        nulls_last=True,
    )  # fmt: skip
    return moved.select(
        pl.col("movement"),
        pl.col("from_segment_id")
        .map_elements(lambda s: f"{s} {names.get(s, '')}".strip(), return_dtype=pl.String)
        .fill_null("(new)")
        .alias("from"),
        pl.col("to_segment_id")
        .map_elements(lambda s: f"{s} {names.get(s, '')}".strip(), return_dtype=pl.String)
        .fill_null("(departed)")
        .alias("to"),
        pl.col("customers"),
    )


OUTLOOK_COLUMNS = {
    "mean_churn_probability": "churn probability (%)",
    "mean_purchase_probability": "purchase probability (%)",
    "mean_predicted_value_12m": "mean predicted value, 12 months",
    "total_predicted_value_12m": "total predicted value, 12 months",
}


def outlook_table(profiles: pl.DataFrame, outlook: pl.DataFrame | None) -> pl.DataFrame | None:
    """Each segment's churn and purchase probability (percent) and predicted value, or None
    when there is no outlook for the month (no predictions yet)."""
    present = [c for c in OUTLOOK_COLUMNS if outlook is not None and c in outlook.columns]
    if outlook is None or not present:
        return None
    if outlook.select(pl.any_horizontal(pl.col(present).is_not_null()).any()).item() is not True:
        return None  # no segment with any prediction
    joined = profiles.select("segment_id", "name").join(
        outlook.select("segment_id", *present), on="segment_id", how="left"
    )
    percent = [
        (pl.col(c) * 100).round(1) for c in present if c.endswith("probability")
    ]  # fmt: skip
    return joined.with_columns(percent).rename({c: OUTLOOK_COLUMNS[c] for c in present})


def _html_table(frame: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>"
        + "".join(f"<td>{'' if v is None else html.escape(str(v))}</td>" for v in row)
        + "</tr>"
        for row in frame.iter_rows()
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def _img(alt: str, png: str) -> str:
    return f'<img alt="{alt}" src="data:image/png;base64,{png}">'


def report_html(
    month: str,
    profiles: pl.DataFrame,
    migration: pl.DataFrame,
    trend: pl.DataFrame | None = None,
    outlook: pl.DataFrame | None = None,
) -> str:
    """The page. `trend`: month, name, customers, share of the last months (this one
    included); `outlook`: segment_id and the `OUTLOOK_COLUMNS` it has."""
    features = []
    for top in profiles["distinguishing_features"].to_list():
        features += [f for f in top if f not in features]
    sections = [
        f"<h1>Customer segments, {html.escape(month)}</h1>",
        "<h2>Sizes</h2>",
        _img("sizes", sizes_png(profiles)),
        "<h2>Size trends</h2>",
    ]
    trends = trends_png(trend) if trend is not None else None
    if trend is not None and trends:
        sections += [_img("size trends", trends), _html_table(trend_table(trend))]
    else:
        sections.append("<p>One month so far: no trend yet.</p>")
    sections.append("<h2>Membership flows since last month</h2>")
    flows = migration_png(migration)
    if flows:
        moved = flow_table(migration, profiles)
        sections += [
            _img("migration", flows),
            _html_table(moved) if moved.height else "<p>Everyone kept their segment.</p>",
        ]
    else:
        sections.append("<p>No previous month: no migration yet.</p>")
    sections.append("<h2>Churn and predicted value</h2>")
    value = outlook_table(profiles, outlook)
    sections.append(
        _html_table(value)
        if value is not None
        else "<p>No predictions for this month yet (predictions.segment_outlook).</p>"
    )
    sections += [
        "<h2>Profiles</h2>",
        _img("profile heatmap", heatmap_png(profiles, features)),
        _html_table(
            with_share_pct(
                profiles.select(
                    "segment_id", "name", "customers", "share", "lineage", "action_type",
                    "description",
                )
            )
        ),
    ]  # fmt: skip
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


def report_name(month: str) -> str:
    return f"segment_report_{month}.html"


def size_trend(con, as_of_date: dt.date, months: int = TREND_MONTHS) -> pl.DataFrame:
    """Segment sizes and shares (by name) of the last `months` months up to `as_of_date`,
    for the report's trends: month ('YYYY-MM'), name, customers, share."""
    return fetch_frame(
        con,
        f"""SELECT strftime(as_of_date, '%Y-%m') AS month, name, customers, share
        FROM {PROFILES}
        WHERE as_of_date IN (SELECT DISTINCT as_of_date FROM {PROFILES} WHERE as_of_date <= ?
                             ORDER BY as_of_date DESC LIMIT ?)
        ORDER BY month, name""",
        [as_of_date, months],
    )


def month_report(con, as_of_date: dt.date, with_outlook: bool) -> tuple[str | None, str]:
    """The month's report page from the tables, and the segmentation parent run it belongs
    to (None without one). `with_outlook` reads `predictions.segment_outlook` (built after the
    segment tables, so only its own asset asks for it)."""
    month = month_key(as_of_date)
    profiles = fetch_frame(
        con, f"FROM {PROFILES} WHERE as_of_date = ? ORDER BY segment_id", [as_of_date]
    )
    migration = fetch_frame(
        con, f"FROM {MIGRATION} WHERE as_of_date = ? ORDER BY ALL", [as_of_date]
    )
    outlook = None
    if with_outlook and table_exists(con, "predictions", "segment_outlook"):
        outlook = fetch_frame(con, f"FROM {OUTLOOK} WHERE as_of_date = ?", [as_of_date])
    elif "mean_churn_probability" in profiles.columns:  # tables that still carry the outlook
        outlook = profiles
    run = None
    if table_exists(con, "segmentation", "candidates") and table_exists(
        con, "segmentation", "customer_segments"
    ):
        (run,) = fetch_one(
            con,
            f"SELECT any_value(mlflow_parent_run_id) FROM {CANDIDATES} WHERE as_of_date = ? "
            "AND model_version = (SELECT any_value(model_version) FROM "
            f"{SEGMENTS} WHERE as_of_date = ?)",
            [as_of_date, as_of_date],
        )
    page = report_html(month, profiles, migration, size_trend(con, as_of_date), outlook)
    return run, page


def log_report(tracking, run_id: str, month: str, page: str) -> str:
    """Log the page to the month's segmentation run as `segment_report_YYYY-MM.html`
    (replacing an earlier one) and return the MLflow UI link that opens it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / report_name(month)
        path.write_text(page)
        tracking.client().log_artifact(run_id, str(path))
    experiment = tracking.client().get_run(run_id).info.experiment_id
    return tracking.artifact_url(experiment, run_id, report_name(month))
