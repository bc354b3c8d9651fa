"""Benchmark: the monthly feature build against the floor for any per-customer aggregate.

    python benchmarks/feature_build.py --customers 1000000 --months 12

1. generates the synthetic company (or reuses --warehouse, a warehouse with raw and identity
   tables already built), loads the raw tables and resolves identities;
2. builds the staging models (each raw record joined to its profile), timed on its own;
3. in one fresh process, alternately, --repeat times: the floor, one DuckDB hash aggregation of
   the same staged events by profile (count(*), sum(amount), max(ts)), and the feature build of
   one month (every model after staging: unpartitioned ones whole, snapshot ones for the month);
4. prints medians, their ratio, per-model seconds, peak RSS and one JSON line.
"""

import argparse
import json
from pathlib import Path

from common import LOAD_RAW, child, generate, work_folder

IDENTITY = """
import json, sys, time
from seg_platform.identity.build import build_identity
from seg_platform.core.identity_rules import IdentityRules
from seg_platform.core.warehouse import connect
t = time.perf_counter()
with connect(sys.argv[1]) as con:
    r = build_identity(con, IdentityRules(), "benchmark")
print(json.dumps({"seconds": round(time.perf_counter() - t, 2), "profiles": r.profiles}))
"""

STAGING = """
import json, sys, time
from seg_platform.core.paths import SQL_ROOT
from seg_platform.sql_models.project import load_project
from seg_platform.sql_models.run import build_model
from seg_platform.core.warehouse import connect
models = [m for m in load_project(SQL_ROOT) if m.layer == "staging"]
t = time.perf_counter()
with connect(sys.argv[1]) as con:
    steps = {m.name: build_model(con, m).seconds for m in models}
    events = con.execute(
        "SELECT (SELECT count(*) FROM staging.stg_events) + (SELECT count(*) FROM "
        "staging.stg_email_events) + (SELECT count(*) FROM staging.stg_orders) + (SELECT "
        "count(*) FROM staging.stg_invoices) + (SELECT count(*) FROM staging.stg_tickets)"
    ).fetchall()[0][0]
print(json.dumps({"seconds": round(time.perf_counter() - t, 2), "steps": steps,
                  "staged_events": events}))
"""

FLOOR_SQL = """
SELECT profile_id, count(*) AS events, sum(amount) AS amount, max(ts) AS last_ts
FROM (
    SELECT profile_id, event_ts AS ts, NULL::DOUBLE AS amount FROM staging.stg_events
    UNION ALL SELECT profile_id, event_ts, NULL FROM staging.stg_email_events
    UNION ALL SELECT profile_id, order_ts, amount FROM staging.stg_orders
    UNION ALL SELECT profile_id, invoice_ts, amount FROM staging.stg_invoices
    UNION ALL SELECT profile_id, opened_at, NULL FROM staging.stg_tickets
)
GROUP BY profile_id
"""

COMPARE = """
import json, statistics, sys, time
from seg_platform.core.paths import SQL_ROOT
from seg_platform.sql_models.project import load_project
from seg_platform.sql_models.run import build_model
from seg_platform.core.warehouse import connect
database, month, repeat, floor_sql = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
models = [m for m in load_project(SQL_ROOT) if m.layer != "staging"]
floors, builds, steps = [], [], {}
with connect(database) as con:
    for _ in range(repeat):
        t = time.perf_counter()
        profiles = con.execute(f"CREATE OR REPLACE TEMP TABLE _floor AS {floor_sql}")
        profiles = con.execute("SELECT count(*) FROM _floor").fetchall()[0][0]
        floors.append(time.perf_counter() - t)
        t = time.perf_counter()
        for m in models:
            r = build_model(con, m, month if m.partitioned else None)
            steps.setdefault(m.name, []).append(r.seconds)
        builds.append(time.perf_counter() - t)
    rows = con.execute(
        "SELECT count(*) FROM features.customer_features WHERE as_of_date = "
        f"(SELECT max(as_of_date) FROM features.customer_features)").fetchall()[0][0]
print(json.dumps({
    "floor_seconds": [round(x, 2) for x in floors],
    "build_seconds": [round(x, 2) for x in builds],
    "floor_median": round(statistics.median(floors), 2),
    "build_median": round(statistics.median(builds), 2),
    "steps_median": {k: round(statistics.median(v), 2) for k, v in steps.items()},
    "profiles_in_floor": profiles,
    "feature_rows": rows,
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--month", default="2025-12", help="the month whose features are built")
    parser.add_argument("--repeat", type=int, default=3, help="floor/build pairs (medians)")
    parser.add_argument("--warehouse", help="reuse a warehouse with raw and identity tables")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    with work_folder("feature-bench-", args.keep) as work:
        figures: dict = {"customers": args.customers, "months": args.months, "month": args.month}
        if args.warehouse:
            warehouse = Path(args.warehouse)
        else:
            data, warehouse = work / "data", work / "warehouse.duckdb"
            figures["generate_seconds"] = generate(args.customers, args.months, args.seed, data)
            sources = str(data / "landing" / "sources.yaml")
            figures["raw_load"] = child(LOAD_RAW, sources, str(warehouse))
            figures["identity"] = child(IDENTITY, str(warehouse))
        figures["staging"] = child(STAGING, str(warehouse))
        run = child(COMPARE, str(warehouse), args.month, str(args.repeat), FLOOR_SQL)
        figures["compare"] = run
        ratio = run["build_median"] / run["floor_median"]
        figures["ratio_build_to_floor"] = round(ratio, 2)

        staging = figures["staging"]
        print(
            f"staged events {staging['staged_events']:,}; profiles {run['profiles_in_floor']:,}; "
            f"feature rows for {args.month}: {run['feature_rows']:,}"
        )
        print(f"{'step':<58}{'median s':>10}{'peak RSS MB':>13}")
        print(
            f"{'staging (raw records joined to profiles; not in ratio)':<58}"
            f"{staging['seconds']:>10}{staging['peak_rss_mb']:>13}"
        )
        print(
            f"{'floor: one hash aggregation of staged events by profile':<58}"
            f"{run['floor_median']:>10}"
        )
        print(
            f"{'feature build: one month of every non-staging model':<58}"
            f"{run['build_median']:>10}{run['peak_rss_mb']:>13}"
        )
        for name, seconds in run["steps_median"].items():
            print(f"{'  ' + name:<58}{seconds:>10}")
        print(f"ratio build / floor (medians of {args.repeat} side-by-side runs): {ratio:.2f}")
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
