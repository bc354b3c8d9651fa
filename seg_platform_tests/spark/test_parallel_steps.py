"""Steps side by side with the Spark engine (issue 22): a launched run of raw sources goes
through Dagster's multiprocess executor, its steps overlap in time, and their writes to the
DuckDB warehouse take turns instead of failing on the file's lock. Three sources, not ten: each
step is a process that loads the definitions, ~10 s on a loaded 2-core machine."""

import dagster as dg
import duckdb
import pytest

from seg_platform.core import settings
from seg_platform.core.engine import ENGINE_ENV

pytestmark = pytest.mark.spark
PICKED = ("orders", "web_events", "crm_contacts")


def refresh_job():
    """The refresh job as a launched run loads it (each step's process rebuilds it)."""
    from seg_platform.definitions import CURRENT_JOB, make_definitions

    return make_definitions().resolve_job_def(CURRENT_JOB)


def _intervals(instance, run_id: str) -> dict[str, list[float]]:
    spans: dict[str, list[float]] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type_value == "STEP_START":
            spans[event.step_key] = [entry.timestamp, entry.timestamp]
        elif event.event_type_value == "STEP_SUCCESS":
            spans[event.step_key][1] = entry.timestamp
    return spans


def test_raw_sources_load_side_by_side(tmp_path, monkeypatch):
    from seg_platform.synthetic.company import generate

    company = tmp_path / "company"
    generate(300, 3, 42, company)
    monkeypatch.setenv(settings.HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setenv(settings.SOURCES_ENV, str(company / "landing" / "sources.yaml"))
    monkeypatch.setenv(ENGINE_ENV, "spark")
    raw = [dg.AssetKey(["raw", name]) for name in PICKED]
    assert refresh_job().executor_def is dg.multiprocess_executor
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        # By the module's package path: pytest imports this file under its bare name.
        job = dg.build_reconstructable_job(
            "seg_platform_tests.spark.test_parallel_steps", "refresh_job"
        )
        result = dg.execute_job(job, instance, asset_selection=raw)
        assert result.success
        spans = _intervals(instance, result.run_id)
    assert {f"raw__{name}" for name in PICKED} <= set(spans)
    # Some moment where two steps were running at once (each in its own process).
    starts = sorted(start for start, _ in spans.values())
    overlapping = max(sum(1 for a, b in spans.values() if a <= t < b) for t in starts)
    assert overlapping >= 2, spans
    con = duckdb.connect(str(tmp_path / "home" / "warehouse.duckdb"), read_only=True)
    try:
        loaded = {
            name: con.execute(f"SELECT count(*) FROM raw.{name}").fetchall()[0][0]
            for name in PICKED
        }
    finally:
        con.close()
    assert all(rows > 0 for rows in loaded.values()), loaded
