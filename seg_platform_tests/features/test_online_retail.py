"""The UCI Online Retail example (orders only) produces its value features; the rest are null."""

import pytest

from seg_platform.core.warehouse import connect
from seg_platform.features.quality import feature_stats
from seg_platform_tests.conftest import SHARED_DATA
from seg_platform_tests.features.helpers import FEATURES

VALUE = {e.name for e in FEATURES.catalog if set(e.sources) & {"orders", "all"}}


@pytest.mark.skipif(not (SHARED_DATA / "online_retail").exists(), reason="needs ../shared/data")
def test_online_retail_gets_value_features_and_nulls_elsewhere(online_retail_november):
    with connect(online_retail_november, read_only=True) as con:
        rows, customers = con.execute(
            "SELECT (SELECT count(*) FROM features.customer_features), "
            "(SELECT count(DISTINCT customer_key) FROM raw.orders "
            " WHERE order_ts < '2011-12-01')"
        ).fetchall()[0]
        assert rows == customers > 4000  # one row per customer who had ordered by then

        # Totals agree with the raw table, computed independently of the feature SQL.
        got = con.execute(
            "SELECT sum(orders_lifetime), sum(revenue_lifetime), sum(refunds_lifetime) "
            "FROM features.customer_features"
        ).fetchall()[0]
        want = con.execute(
            "SELECT count(DISTINCT order_id) FILTER (WHERE status = 'completed'), "
            "sum(amount) FILTER (WHERE status = 'completed'), "
            "count(DISTINCT order_id) FILTER (WHERE status = 'refunded') "
            "FROM raw.orders WHERE order_ts < '2011-12-01'"
        ).fetchall()[0]
        assert got[0] == want[0] and got[2] == want[2] == 0
        assert got[1] == pytest.approx(want[1], rel=1e-9)

        stats = {
            s.name: s for s in feature_stats(con, FEATURES.table, "2011-11-30", FEATURES.catalog)
        }
    for name, s in stats.items():
        entry = next(e for e in FEATURES.catalog if e.name == name)
        if name in VALUE:
            assert s.null_share <= (entry.max_null_share or 0), name
        else:
            assert s.nulls == s.rows, f"{name} should be null: its sources are absent"
    assert stats["orders_lifetime"].nulls == 0 and stats["avg_order_value"].null_share < 0.01
    assert len(VALUE) >= 10
