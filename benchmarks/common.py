"""Shared steps of the benchmark scripts: fresh-process steps with peak memory, and data prep.

Each step runs in its own interpreter so its peak RSS (getrusage) is its own.
"""

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PY = sys.executable
PEAK = (
    "\nimport resource as _r\n"
    "print(json.dumps({'peak_rss_mb': round(_r.getrusage(_r.RUSAGE_SELF).ru_maxrss / 1024, 1)}))"
)


def child(code: str, *args: str) -> dict:
    """Run `code` in a fresh interpreter; it prints JSON lines; merge them (with its peak RSS)."""
    done = subprocess.run([PY, "-c", code + PEAK, *args], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"step failed:\n{done.stdout}\n{done.stderr}")
    out: dict = {}
    for line in done.stdout.strip().splitlines()[-2:]:
        out.update(json.loads(line))
    return out


LOAD_RAW = """
import json, sys, time
from seg_platform.sources.config import load_sources_config
from seg_platform.sources.contract import SOURCES
from seg_platform.sources.ingest import ingest_source
from seg_platform.core.warehouse import connect
t = time.perf_counter()
cfg = load_sources_config(sys.argv[1])
with connect(sys.argv[2]) as con:
    rows = sum(ingest_source(con, s, cfg).rows_kept for s in SOURCES.values())
print(json.dumps({"rows": rows, "seconds": round(time.perf_counter() - t, 2)}))
"""


def generate(customers: int, months: int, seed: int, out: Path) -> float:
    """Write a synthetic company with `seg-platform generate`; returns seconds taken."""
    t = time.perf_counter()
    subprocess.run(
        [PY, "-m", "seg_platform.cli", "generate", "--customers", str(customers),
         "--months", str(months), "--seed", str(seed), "--out", str(out)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return round(time.perf_counter() - t, 1)


@contextmanager
def work_folder(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A temporary folder for one benchmark; removed afterwards unless `keep`."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    finally:
        if keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
