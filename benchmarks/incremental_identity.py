"""Benchmark: the identity stage for a steady-state month (11 months loaded and resolved, the
12th arriving), incremental against a full rebuild, on a synthetic company.

    python benchmarks/incremental_identity.py --company /tmp/c100k --repeat 3

`--company` is a folder written by `seg-platform generate`. Setup (not timed): the raw tables
are loaded with the first 11 months and the identity graph built in full; the 12th month's
files are then loaded (incremental ingestion). Each repetition copies that warehouse and
builds identity on the copy incrementally, then on a fresh copy in full, each in its own
process (`identity.build.build_identity(..., full_rebuild=...)`), and checks that both give
the same identity tables. `--work DIR` keeps the prepared warehouses there (and reuses them).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import child  # noqa: E402
from incremental_ingest import load_all, month_files  # noqa: E402

BUILD = """
import json, sys, time
from seg_platform.core.warehouse import connect
from seg_platform.identity.build import build_identity
from seg_platform.sources.config import load_sources_config
from seg_platform.sources.resources import IdentityConfig
rules = IdentityConfig().rules(load_sources_config(sys.argv[2]))
t = time.perf_counter()
with connect(sys.argv[1]) as con:
    r = build_identity(con, rules, sys.argv[3], full_rebuild=sys.argv[4] == "full")
print(json.dumps({"seconds": round(time.perf_counter() - t, 2), "steps": r.seconds,
                  "incremental": r.incremental, "profiles": r.profiles}))
"""

TABLES = (
    "identity.identity_map", "identity.profiles", "identity.identity_edges",
    "identity.identity_audit", "identity.identity_changes", "identity.identity_components",
)  # fmt: skip


def same_tables(a: Path, b: Path) -> bool:
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
        for t in TABLES:
            diff = con.execute(
                f"SELECT count(*) FROM ((SELECT * FROM a.{t} EXCEPT ALL SELECT * FROM b.{t}) "
                f"UNION ALL (SELECT * FROM b.{t} EXCEPT ALL SELECT * FROM a.{t}))"
            ).fetchone()[0]
            if diff:
                return False
        return True
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--company", required=True, help="folder written by seg-platform generate")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", required=True, help="folder for the prepared warehouses")
    args = parser.parse_args()
    landing = Path(args.company) / "landing"
    months = sorted({p.name.rsplit("_", 1)[1][:7] for p in landing.glob("*/*_20??-??.csv*")})
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    partial, base = work / "landing", work / "steady.duckdb"
    if not base.exists():
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(landing, partial, copy_function=os.link)
        for path in month_files(partial, months[-1]):
            path.unlink()
        eleven = work / "eleven.duckdb"
        if not eleven.exists():  # else: raw tables loaded with the 11 months before
            load_all(eleven, partial / "sources.yaml", incremental=True)
        setup = child(BUILD, str(eleven), str(partial / "sources.yaml"), "month-11", "full")
        print(json.dumps({"setup_11_months_identity": setup}), file=sys.stderr)
        for path in month_files(landing, months[-1]):
            os.link(path, partial / path.relative_to(landing))
        shutil.copyfile(eleven, work / "tmp.duckdb")
        load_all(work / "tmp.duckdb", partial / "sources.yaml", incremental=True)
        (work / "tmp.duckdb").rename(base)
    runs: dict[str, list[dict]] = {"incremental": [], "full": []}
    equal = True
    for _ in range(args.repeat):
        for mode in ("incremental", "full"):
            run = work / f"{mode}.duckdb"
            shutil.copyfile(base, run)
            runs[mode].append(
                child(BUILD, str(run), str(partial / "sources.yaml"), "month-12", mode)
            )
        equal = equal and same_tables(work / "incremental.duckdb", work / "full.duckdb")
    medians = {m: statistics.median(r["seconds"] for r in rs) for m, rs in runs.items()}
    steps = {
        m: {s: statistics.median(r["steps"][s] for r in rs) for s in rs[0]["steps"]}
        for m, rs in runs.items()
    }
    print(
        json.dumps(
            {
                "months": len(months),
                "incremental_seconds": [r["seconds"] for r in runs["incremental"]],
                "full_seconds": [r["seconds"] for r in runs["full"]],
                "incremental_median": medians["incremental"],
                "full_median": medians["full"],
                "median_steps": steps,
                "incremental_summary": runs["incremental"][0]["incremental"],
                "peak_rss_mb": {m: max(r["peak_rss_mb"] for r in rs) for m, rs in runs.items()},
                "profiles": runs["full"][0]["profiles"],
                "identical_tables": equal,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
