"""Benchmark: the raw contract checks in Great Expectations against the same suites in DuckDB.

    python benchmarks/raw_checks_engines.py <sources.yaml> <warehouse with raw tables loaded>

Runs every source's `meets_source_contract` check twice per engine, alternating GX (every table
handed to GX) and DuckDB (every table pushed down), on one connection; prints each run's
seconds and whether every check passed, then the medians as one JSON line.
"""

import json
import os
import statistics
import sys
import time

from seg_platform.core.warehouse import connect
from seg_platform.sources.assets import evaluate_raw_table
from seg_platform.sources.config import load_sources_config
from seg_platform.sources.contract import SOURCES

cfg = load_sources_config(sys.argv[1])
times = {"gx": [], "duckdb": []}
with connect(sys.argv[2]) as con:
    for _rep in range(2):
        for engine, env in (("gx", str(10**12)), ("duckdb", "0")):
            os.environ["SEG_PLATFORM_GX_MAX_ROWS"] = env
            t = time.perf_counter()
            passed = []
            for s in SOURCES.values():
                r = evaluate_raw_table(con, s, cfg, cfg.sources.get(s.name))
                passed.append(r.passed)
            times[engine].append(round(time.perf_counter() - t, 2))
            print(engine, times[engine][-1], "all passed" if all(passed) else passed, flush=True)
print(json.dumps({k: statistics.median(v) for k, v in times.items()}))
