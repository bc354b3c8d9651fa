"""The serving snapshot asset (`serving.assets`): a publish that fails inside a run leaves the
previous snapshot served and says why without quoting any value."""

import dagster as dg

from seg_platform.core.resources import WarehouseResource
from seg_platform.core.serving import current_version, publish, serving_root
from seg_platform.predictions.resources import PredictionsConfig
from seg_platform.serving.assets import serving_snapshot
from seg_platform_tests.serving.test_snapshot_swap import _tables


def test_a_failed_publish_keeps_the_previous_snapshot_and_says_why_without_values(home):
    root = serving_root(home.root)
    previous = publish(root, _tables("Loyal", 0.1), {"month": "2025-12-31"})
    # A warehouse file DuckDB cannot open, named after a customer: DuckDB's error quotes it.
    broken = home.root / "ada.lovelace@example.org.duckdb"
    broken.write_bytes(b"not a database at all " * 400)
    result = dg.materialize(
        [serving_snapshot],
        resources={
            "warehouse": WarehouseResource(database=str(broken)),
            "predictions": PredictionsConfig(),
        },
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith("publishing the serving snapshot failed (")
    assert "keeps serving the previous snapshot" in message
    assert "ada" not in message.lower() and "example.org" not in message
    assert current_version(root) == previous
    assert [p.name for p in root.iterdir() if p.is_dir()] == [previous.name]
