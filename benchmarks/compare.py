"""Side by side: end-to-end benchmark results (`end_to_end.py` JSON) grouped by step kind.

    python benchmarks/compare.py "1M before=benchmarks/results/session6/e2e_1000000.json" \
        "1M after=benchmarks/results/e2e_1000000.json"

Prints a markdown table: seconds per step group, wall time, peak memory, time shares, rows per
second and the headline quality figures, one column per labelled result.
"""

import json
import sys
from pathlib import Path

RAW_SOURCES = {
    "app_events", "billing", "consent", "crm_contacts", "email_events", "erasure_requests",
    "orders", "support_tickets", "survey_responses", "web_events",
}  # fmt: skip
GROUPS = (
    ("propensity_models", lambda s: s["step"] == "propensity_models"),
    ("raw ingestion (10 sources)", lambda s: s["step"] in RAW_SOURCES),
    ("identity_graph", lambda s: s["step"] == "identity_graph"),
    ("segmentation_sweep", lambda s: s["step"] == "segmentation_sweep"),
    ("customer_predictions", lambda s: s["step"] == "customer_predictions"),
    ("staging (5 tables)", lambda s: s["kind"] == "asset" and s["step"].startswith("stg_")),
    ("raw contract checks", lambda s: s["step"].endswith("_meets_source_contract")),
    ("other checks", lambda s: s["kind"] == "check"),
    ("customer_features", lambda s: s["step"] == "customer_features"),
    ("customer_lifetime_value", lambda s: s["step"] == "customer_lifetime_value"),
    ("segments, activation, surveys, lift, erasure, catalog", lambda s: True),
)


def grouped(result: dict) -> dict[str, float]:
    out = {name: 0.0 for name, _ in GROUPS}
    for step in result["steps"]:
        # Step keys join an asset key's parts with `__` (`raw__orders`); results from before
        # keys were prefixed by layer say `orders`: both are matched on the table's name.
        step = {**step, "step": step["step"].split("__", 1)[-1]}
        name = next(name for name, match in GROUPS if match(step))
        out[name] += step["seconds"]
    return out


def table(results: dict[str, dict]) -> str:
    labels = list(results)
    rows = [f"| step | {' | '.join(labels)} |", "|---|" + "---:|" * len(labels)]
    groups = {label: grouped(r) for label, r in results.items()}
    for name, _ in GROUPS:
        rows.append(f"| {name} | " + " | ".join(f"{groups[k][name]:.1f}" for k in labels) + " |")

    def line(title, value):
        rows.append(f"| {title} | " + " | ".join(value(results[k]) for k in labels) + " |")

    line("**wall time, s**", lambda r: f"**{r['wall_seconds']:.1f}**")
    line("peak RSS, MB", lambda r: f"{r['peak_rss_mb']:,.0f}")
    for bucket in ("checks", "mlflow", "dagster"):
        line(f"share: {bucket}", lambda r, b=bucket: f"{r['share'].get(b, 0):.1%}")
    line("landing rows read", lambda r: f"{r['landing_rows_read']:,}")
    line("rows/s", lambda r: f"{r['rows_per_second']:,}")
    ev = {k: r["evaluation"] for k, r in results.items()}
    for title, path in (
        ("identity precision", ("identity", "pairwise_precision")),
        ("identity recall", ("identity", "pairwise_recall")),
        ("segmentation ARI", ("segmentation", "ari")),
        ("malformed recall", ("raw", "totals", "malformed_recall")),
    ):
        cells = []
        for k in labels:
            value = ev[k]
            for part in path:
                value = value.get(part, {}) if isinstance(value, dict) else {}
            cells.append(str(value) if value != {} else "")
        rows.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: list[str]) -> None:
    if not argv or any("=" not in a for a in argv):
        sys.exit(__doc__)
    results = {}
    for arg in argv:
        label, path = arg.split("=", 1)
        results[label] = json.loads(Path(path).read_text())
    print(table(results))


if __name__ == "__main__":
    main(sys.argv[1:])
