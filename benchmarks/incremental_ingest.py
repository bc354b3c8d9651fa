"""Benchmark: raw ingestion of a steady-state month (11 months loaded, the 12th arriving) against
a full reload of all 12 months, on a synthetic company.

    python benchmarks/incremental_ingest.py --company /tmp/c100k --repeat 3

`--company` is a folder written by `seg-platform generate` (landing/ and truth/). The generator
writes one file per source and month (`<source>/<source>_YYYY-MM.csv`, email events gzipped);
erasure requests are one file, always reloaded (a pseudonymised source). The 11-month landing
folder holds hard links to the first 11 months' files, so the 12th arrives by linking it in.
Each repetition starts from a copy of the same 11-month warehouse; the copy is not timed.
Loads run as the raw assets run them (suppression of erased people included).
"""

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from seg_platform.core.warehouse import connect
from seg_platform.sources.config import load_sources_config
from seg_platform.sources.contract import SOURCES
from seg_platform.sources.ingest import ingest_source
from seg_platform.sources.resources import IdentityConfig
from seg_platform.sources.suppression import suppression_condition, suppression_state


def load_all(warehouse: Path, sources_yaml: Path, incremental: bool) -> dict:
    """Load every source as the raw assets do; seconds and what the ledger did."""
    config = load_sources_config(sources_yaml)
    rules = IdentityConfig().rules(config)
    started = time.perf_counter()
    files = {"loaded": 0, "unchanged": 0}
    with connect(warehouse) as con:
        for source in SOURCES.values():
            result = ingest_source(
                con,
                source,
                config,
                suppress=lambda c, s=source: suppression_condition(c, s, rules),
                suppression_state=suppression_state(con, rules),
                incremental=incremental,
            )
            files["loaded"] += result.files_loaded
            files["unchanged"] += result.files_unchanged
    return {"seconds": time.perf_counter() - started, **files}


def month_files(landing: Path, month: str) -> list[Path]:
    return sorted(p for p in landing.glob(f"*/*_{month}.csv*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--company", required=True, help="folder written by seg-platform generate")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    landing = Path(args.company) / "landing"
    months = sorted({p.name.rsplit("_", 1)[1][:7] for p in landing.glob("*/*_20??-??.csv*")})
    last = months[-1]
    with tempfile.TemporaryDirectory(prefix="incremental_ingest_") as tmp:
        work = Path(tmp)
        partial = work / "landing"
        # Hard links: the same bytes, found inside the landing folder (symlinks resolve outside).
        shutil.copytree(landing, partial, copy_function=os.link)
        for path in month_files(partial, last):
            path.unlink()
        base = work / "eleven.duckdb"
        setup = load_all(base, partial / "sources.yaml", incremental=True)
        steady, full = [], []
        for _ in range(args.repeat):
            for path in month_files(landing, last):
                target = partial / path.relative_to(landing)
                target.unlink(missing_ok=True)
                os.link(path, target)
            run = work / "run.duckdb"
            shutil.copyfile(base, run)
            steady.append(load_all(run, partial / "sources.yaml", incremental=True))
            shutil.copyfile(base, run)
            full.append(load_all(run, partial / "sources.yaml", incremental=False))
            run.unlink()
            for path in month_files(partial, last):
                path.unlink()
        steady_s = statistics.median(r["seconds"] for r in steady)
        full_s = statistics.median(r["seconds"] for r in full)
        print(
            json.dumps(
                {
                    "months": len(months),
                    "setup_11_months_seconds": round(setup["seconds"], 2),
                    "steady_state_seconds": [round(r["seconds"], 2) for r in steady],
                    "full_reload_seconds": [round(r["seconds"], 2) for r in full],
                    "steady_state_median": round(steady_s, 2),
                    "full_reload_median": round(full_s, 2),
                    "ratio_full_over_steady": round(full_s / steady_s, 1),
                    "steady_files_loaded": steady[0]["loaded"],
                    "steady_files_unchanged": steady[0]["unchanged"],
                    "full_files_loaded": full[0]["loaded"],
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
