"""The CLI tells what it is doing: a line per step as it finishes and a line per month;
`--quiet` leaves only the summaries."""

import re
import uuid

import dagster as dg
import duckdb

from seg_platform.core import settings
from seg_platform.runner import _execute

STEP = re.compile(r"^    (\S+) +([\d.]+) s  (.*)$")


@dg.asset
def small_table() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 1234})


@dg.asset_check(asset=small_table)
def small_table_is_small() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@dg.asset_check(asset=small_table, blocking=True)
def small_table_is_large() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False)


@dg.asset_check(asset=small_table)
def small_table_looks_odd() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN)


@dg.asset(deps=[small_table])
def next_table() -> None:
    pass


@dg.asset
def broken_table() -> None:
    raise ValueError("boom")


def test_step_lines_name_seconds_rows_checks_and_failures(capsys):
    defs = dg.Definitions(
        assets=[small_table, next_table, broken_table],
        asset_checks=[small_table_is_small, small_table_is_large, small_table_looks_odd],
        jobs=[dg.define_asset_job("all_tables")],
    )
    with dg.DagsterInstance.ephemeral() as instance:
        result = _execute(
            defs.resolve_job_def("all_tables"), instance, True, str(uuid.uuid4()),
            raise_on_error=False,
        )  # fmt: skip
    assert not result.success
    out = capsys.readouterr().out
    lines = {m[1]: (float(m[2]), m[3]) for m in map(STEP.match, out.splitlines()) if m}
    assert lines["small_table"][1] == "1,234 rows"
    # A check's step is named by its asset and its name, as the failure summary names it.
    assert lines["small_table.small_table_is_small"][1] == "1 check"
    assert lines["small_table.small_table_is_large"][1] == "1 check, 1 FAILED"
    assert lines["small_table.small_table_looks_odd"][1] == "1 check, 1 warning"
    assert lines["broken_table"][1] == "FAILED"
    assert all(seconds >= 0 for seconds, _ in lines.values())
    assert re.search(r"^    next_table +not run: ", out, re.M), out


# What `--quiet` leaves (the summaries, no step or month line) is checked on the run after a
# killed one (test_runs_monitoring.py): a second pipeline run here would cost 20-50 s.
def assert_run_prints_steps_and_months(
    returncode: int, stdout: str, stderr: str, home: settings.PlatformHome
) -> None:
    """What `seg-platform run --last-months 1` printed on test_runs_monitoring's company: a
    line per step as it finishes, a line per month. Asserted on the run that
    test_runs_one_writer.py makes anyway, so the suite runs the pipeline once less."""
    assert returncode == 0, stdout + stderr
    lines = stdout.splitlines()
    steps = {m[1]: m[3] for m in map(STEP.match, lines) if m}
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        orders = con.execute("SELECT count(*) FROM raw.orders").fetchone()[0]
        features = con.execute("SELECT count(*) FROM features.customer_features").fetchone()[0]
    # Each line tells the rows the step wrote, as the warehouse holds them.
    # Steps are named by the asset keys they build, which start with their layer.
    assert steps["raw/orders"].startswith(f"{orders:,} rows"), steps["raw/orders"]
    assert steps["features/customer_features"] == f"{features:,} rows"
    assert steps["raw/orders.meets_source_contract"] == "1 check"
    assert {
        "identity/identity_graph", "segmentation/segmentation_sweep",
        "predictions/propensity_models",
    } <= steps.keys()  # fmt: skip
    assert "Current tables (raw, identity, staging):" in lines
    assert "Month 2025-12 (1 of 1):" in lines
    assert any(re.fullmatch(r"  Month 2025-12 done in \d+ s", line) for line in lines)
    # A step line comes as the step finishes: the month's lines sit between its two lines.
    month = lines.index("Month 2025-12 (1 of 1):")
    assert STEP.match(lines[month + 1]), lines[month + 1]
