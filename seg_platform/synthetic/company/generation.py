"""The public entry point: `generate()` simulates the company and writes landing files and truth."""

import json
import shutil
import time
from pathlib import Path
from typing import Any, cast

import polars as pl

from seg_platform.sources.contract import SOURCES
from seg_platform.synthetic.company.behaviour import ARCHETYPES, N_ARCH
from seg_platform.synthetic.company.feedback import write_feedback
from seg_platform.synthetic.company.files import SourceFiles, sources_yaml
from seg_platform.synthetic.company.randomness import SOURCE_ORDER
from seg_platform.synthetic.company.sources import MONTH_ROWS
from seg_platform.synthetic.company.truth import (
    TRAP_KINDS,
    Truth,
    archetypes_frame,
    outcomes_frame,
    person_months,
    persons_frame,
    traps_frame,
    write_parquet,
)
from seg_platform.synthetic.company.world import World


def generate(
    customers: int,
    months: int,
    seed: int,
    out: Path,
    end_month: str = "2025-12",
    malformed_share: float = 0.005,
    duplicate_share: float = 0.01,
    switch_share: float = 0.05,
) -> dict:
    """Write a synthetic company's landing files and ground truth under `out`.

    customers: persons in total, ~55% already customers when the window starts, the rest
        signing up during it. months: calendar months written, ending with `end_month`
        ('YYYY-MM'); three more are simulated for the outcomes. seed: same arguments give
        byte-identical files.
    malformed_share: planted malformed rows per file (rounded up in files of 200+ rows, and
        a truncated last line in three files; 0 plants none). duplicate_share: re-delivered
        copies of event, order and billing rows. switch_share: monthly share of persons
        changing archetype (besides new sign-ups settling after their exploring month).

    Writes `out/landing/` (one CSV per source and month, `sources.yaml`) and `out/truth/`
    (persons, records, archetypes, outcomes, malformed, duplicates, traps, summary.json); both
    folders are replaced, anything else under `out` is left alone. Returns the summary
    (rows, malformed, duplicates and late rows per source) with the run's `seconds`, which
    summary.json leaves out so that it stays deterministic.
    """
    if customers < 1 or months < 1:
        raise ValueError("customers and months must be at least 1")
    if seed < 0:
        raise ValueError("seed must not be negative")
    shares = {
        "malformed_share": malformed_share,
        "duplicate_share": duplicate_share,
        "switch_share": switch_share,
    }
    for name, share in shares.items():
        if not 0 <= share < 1:
            raise ValueError(f"{name} must be in [0, 1)")
    started = time.perf_counter()
    out = Path(out)
    landing, truth_dir = out / "landing", out / "truth"
    for folder in (landing, truth_dir):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)

    world = World(customers, months, seed, end_month, switch_share)
    truth = Truth(truth_dir)
    files = {
        name: SourceFiles(
            world,
            SOURCES[name],
            landing,
            truth,
            malformed_share=malformed_share,
            duplicate_share=duplicate_share,
        )
        for name in SOURCE_ORDER
    }
    for m in range(world.total):
        active = world.advance(m)
        for name in SOURCE_ORDER:
            month_rows = MONTH_ROWS[name]
            if m < months:
                # The frame goes straight to the writer: no second reference keeps it alive.
                files[name].write_month(m, cast(pl.DataFrame, month_rows(world, m, active, True)))
            else:
                month_rows(world, m, active, False)  # outcome months: activity and revenue only
    truth.close()
    feedback_rows = write_feedback(world, landing)

    gz = {name for name, f in files.items() if f.gz}
    (landing / "sources.yaml").write_text(sources_yaml(gz))
    write_parquet(persons_frame(world), truth_dir / "persons.parquet")
    person, month = person_months(world)
    write_parquet(archetypes_frame(world, person, month), truth_dir / "archetypes.parquet")
    write_parquet(outcomes_frame(world, person, month), truth_dir / "outcomes.parquet")
    del person, month
    malformed = pl.concat(truth.malformed, how="vertical_relaxed")
    write_parquet(malformed, truth_dir / "malformed.parquet")
    dup_schema = {"source": pl.String, "record_key": pl.String, "copies": pl.Int64}
    duplicates = pl.concat([pl.DataFrame(schema=dup_schema), *truth.duplicates])
    write_parquet(duplicates, truth_dir / "duplicates.parquet")
    traps = traps_frame(truth)
    write_parquet(traps, truth_dir / "traps.parquet")

    summary: dict[str, Any] = {
        "customers": customers,
        "months": months,
        "start_month": world.labels[0],
        "end_month": world.labels[months - 1],
        "seed": seed,
        "malformed_share": malformed_share,
        "duplicate_share": duplicate_share,
        "switch_share": switch_share,
        "rows": {n: f.stats.rows for n, f in files.items()},
        "files": {n: f.stats.files for n, f in files.items()},
        "malformed": {n: f.stats.malformed for n, f in files.items()},
        "duplicates": {n: f.stats.duplicates for n, f in files.items()},
        "late": {n: f.stats.late for n, f in files.items()},
        "truncated_files": sorted(t for f in files.values() for t in f.stats.truncated),
        "shared_devices": world.n_shared_devices,
        "traps": {k: int((traps["trap"] == k).sum()) for k in TRAP_KINDS},
        "persons_by_start_archetype": {
            ARCHETYPES[a]: int((world.arch0 == a).sum()) for a in range(N_ARCH)
        },
    }
    summary["rows_total"] = sum(summary["rows"].values())
    summary["feedback_rows"] = feedback_rows  # consent, surveys, erasure: not in `rows`
    (truth_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return summary
