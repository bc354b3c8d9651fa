"""Each feed says when it was published, how many rows, and what changed since its previous
publication (issue 21 point 7), on feed tables planted for two months: no demo company."""

import dagster as dg
import polars as pl

from seg_platform.activation import audiences as aud
from seg_platform.activation.assets import activation_feeds
from seg_platform.activation.resources import ActivationConfig
from seg_platform.core.resources import WarehouseResource
from seg_platform.core.warehouse import connect, frame_to_temp_table

DESTINATIONS = """version: 1
destinations:
  crm:
    consent_channel: crm
    segments: all
    identifiers: [crm_id]
"""


def _members(month: str, segments: dict[str, int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "as_of_date": [month] * len(segments),
            "destination": ["crm"] * len(segments),
            "profile_id": list(segments),
            "audience_kind": ["segment"] * len(segments),
            "audience": [f"Segment {s}" for s in segments.values()],
            "segment_id": list(segments.values()),
            "segment_name": [f"Segment {s}" for s in segments.values()],
            "action_type": ["nurture"] * len(segments),
            "action": ["Call them."] * len(segments),
            "crm_id": [f"C{p}" for p in segments],
        }
    ).with_columns(pl.col("as_of_date").str.to_date())


def _plant(con, month: str, members: pl.DataFrame) -> None:
    """The month's feed rows and, as activation_audiences computes them, its changes."""
    aud.ensure_tables(con)
    frame_to_temp_table(con, "_feed", members)
    con.execute(f"DELETE FROM {aud.FEED} WHERE as_of_date = DATE '{month}'")
    con.execute(f"INSERT INTO {aud.FEED} BY NAME FROM _feed")
    changes = con.sql(aud.changes_sql(members["as_of_date"][0])).pl()
    frame_to_temp_table(con, "_changes", changes)
    con.execute(f"CREATE TABLE IF NOT EXISTS {aud.CHANGES} AS FROM _changes LIMIT 0")
    con.execute(f"DELETE FROM {aud.CHANGES} WHERE as_of_date = DATE '{month}'")
    con.execute(f"INSERT INTO {aud.CHANGES} FROM _changes")
    con.execute("DROP TABLE _feed; DROP TABLE _changes")


def _publish(tmp_path, partition: str) -> dict:
    destinations = tmp_path / "destinations.yaml"
    destinations.write_text(DESTINATIONS)
    result = dg.materialize(
        [activation_feeds],
        partition_key=partition,
        resources={
            "warehouse": WarehouseResource(database=str(tmp_path / "w.duckdb")),
            "activation": ActivationConfig(
                destinations=str(destinations), feeds_folder=str(tmp_path / "feeds")
            ),
        },
    )
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_each_feed_says_when_how_many_and_what_changed(tmp_path):
    november = {"P1": 1, "P2": 1, "P3": 2, "P4": 2, "P5": 3}
    # P1 and P2 stay, P3 moves to segment 1, P4 and P5 leave, P6..P8 arrive.
    december = {"P1": 1, "P2": 1, "P3": 1, "P6": 2, "P7": 3, "P8": 3}
    with connect(tmp_path / "w.duckdb") as con:
        _plant(con, "2025-11-30", _members("2025-11-30", november))
    first = _publish(tmp_path, "2025-11-01")
    assert (first["rows/crm"], first["added/crm"], first["removed/crm"]) == (5, 5, 0)
    assert "none (first feed)" in first["publications"]

    with connect(tmp_path / "w.duckdb") as con:
        _plant(con, "2025-12-31", _members("2025-12-31", december))
    second = _publish(tmp_path, "2025-12-01")
    # The diff, computed here from the two months' members.
    added = len(december.keys() - november.keys())
    removed = len(november.keys() - december.keys())
    changed = sum(november[p] != december[p] for p in november.keys() & december.keys())
    assert (added, removed, changed) == (3, 2, 1)
    assert second["rows/crm"] == len(december)
    assert second["added/crm"] == added
    assert second["removed/crm"] == removed
    assert second["changed/crm"] == changed
    assert second["last_published"] >= first["last_published"]
    assert "2025-11" in second["publications"]
