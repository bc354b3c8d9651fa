"""Feature checks in Dagster: they pass on good features, and block on broken ones."""

import shutil

import dagster as dg
import pytest

from seg_platform.core.paths import SQL_ROOT
from seg_platform.core.warehouse import connect
from seg_platform.definitions import MAIN_JOB, make_definitions
from seg_platform.features.quality import psi
from seg_platform_tests.features.helpers import write_landing
from seg_platform_tests.features.test_golden import TABLES

MONTH = "2025-06-01"
MART = """\
-- Customers with at least one session in the last 7 days (downstream of the features).
-- grain: profile_id, as_of_date
SELECT profile_id, as_of_date
FROM features.customer_features
WHERE as_of_date = $as_of_date AND sessions_7d > 0
"""
SABOTAGE = {
    # a count below zero, a NaN rate, a null where the source has data, a missing customer
    "CASE WHEN present.events THEN coalesce(d.sessions_7d, 0) END": "-1",
    "(m.opens_90d + ep.weight * ep.open_rate) / (m.sends_90d + ep.weight)": "'nan'::DOUBLE",
    "CASE WHEN present.orders THEN coalesce(p.orders_90d, 0) END": "NULL::BIGINT",
    "FROM customers AS c\n": "FROM (FROM customers ORDER BY profile_id LIMIT 2) AS c\n",
}


def project(tmp_path, sabotage: bool):
    root = tmp_path / "sql"
    shutil.copytree(SQL_ROOT, root, ignore=shutil.ignore_patterns("README.md"))
    (root / "marts").mkdir()
    (root / "marts" / "active_this_week.sql").write_text(MART)
    if sabotage:
        path = root / "features" / "customer_features.sql"
        sql = path.read_text()
        for old, new in SABOTAGE.items():
            assert old in sql, old
            sql = sql.replace(old, new)
        path.write_text(sql)
    return root


def run(home, tmp_path, monkeypatch, sabotage: bool):
    monkeypatch.setenv("SEG_PLATFORM_SOURCES", str(write_landing(tmp_path / "landing", TABLES)))
    defs = make_definitions(project(tmp_path, sabotage))
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(MAIN_JOB).execute_in_process(
            instance=instance, partition_key=MONTH, raise_on_error=False
        )
    checks = {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    return result, checks, materialized


def test_good_features_pass_every_check(home, tmp_path, monkeypatch):
    result, checks, materialized = run(home, tmp_path, monkeypatch, sabotage=False)
    assert result.success
    feature_checks = {
        name: e for (asset, name), e in checks.items() if asset == "features/customer_features"
    }
    assert set(feature_checks) == {
        "rows_unique_on_grain", "one_row_per_profile", "features_finite_and_in_range",
        "null_share_within_limits", "features_stable_since_last_month",
    }  # fmt: skip
    assert all(e.passed for e in feature_checks.values())
    assert feature_checks["one_row_per_profile"].metadata["rows"].value == 4
    assert {
        "features/customer_features",
        "marts/active_this_week",
        "features/feature_catalog",
    } <= materialized  # a new SQL folder is a new layer: its assets are keyed `marts/...`
    with connect(home.warehouse) as con:
        assert con.execute("SELECT count(*) FROM marts.active_this_week").fetchall() == [(2,)]
        catalog = con.execute("SELECT count(*) FROM features.feature_catalog").fetchall()[0][0]
    assert catalog == 40


def test_broken_features_fail_the_blocking_checks_and_stop_downstream(home, tmp_path, monkeypatch):
    result, checks, materialized = run(home, tmp_path, monkeypatch, sabotage=True)
    assert not result.success
    finite = checks[("features/customer_features", "features_finite_and_in_range")]
    nulls = checks[("features/customer_features", "null_share_within_limits")]
    rows = checks[("features/customer_features", "one_row_per_profile")]
    assert not finite.passed and not nulls.passed and not rows.passed
    assert "sessions_7d" in finite.description and "email_open_rate" in finite.description
    assert "orders_90d" in nulls.description
    assert rows.metadata["rows"].value == 2 and rows.metadata["profiles_known_at_as_of"].value == 4
    assert "features/customer_features" in materialized
    assert "marts/active_this_week" not in materialized  # blocked by the failed checks


@pytest.mark.parametrize(
    ("shift", "low", "high"), [(0.0, 0.0, 0.01), (0.5, 0.15, 0.35), (2.0, 1.0, 20.0)]
)
def test_psi_grows_with_the_shift(shift, low, high):
    import numpy as np

    rng = np.random.default_rng(0)
    before, after = rng.normal(size=50_000), rng.normal(shift, 1, size=50_000)
    assert low <= psi(before, after) <= high


def test_psi_is_not_fooled_by_a_point_mass_moving_a_hair():
    import numpy as np

    rng = np.random.default_rng(1)
    # 40% of customers share one value (e.g. a smoothed rate with no data), which moves by 0.1%.
    before = np.concatenate([np.full(40_000, 0.375), rng.uniform(0, 1, 60_000)])
    after = np.concatenate([np.full(40_000, 0.3754), rng.uniform(0, 1, 60_000)])
    assert psi(before, after) < 0.01
