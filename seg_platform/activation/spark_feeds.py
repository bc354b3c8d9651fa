"""The activation feeds on Spark (issue 22): each destination's published rows and what changed
since its last feed, computed from the same DuckDB statements (`audiences.feed_sql`,
`audiences.changes_sql`) compiled for Spark, so both engines give the same rows.

The month's candidates and contacts (built on DuckDB from the segments, overlays and consent)
are handed to the lake; the feed and its changes are written there and copied back into the
temporary tables `_feed` and `_changes`, where the activation step goes on as on DuckDB.
"""

import datetime as dt
from pathlib import Path
from typing import Any

from seg_platform.activation import audiences as aud
from seg_platform.activation.config import Destination
from seg_platform.sql_models.run_spark import run_statement_on_spark

# The step's own tables in the lake: the month's inputs and outputs, replaced every run.
WORK = "activation_work"


def feeds_on_spark(
    spark: Any, lake: Path, con: Any, destinations: list[Destination], as_of_date: dt.date
) -> dict[str, int]:
    """Fill DuckDB's temp tables `_feed` and `_changes` on Spark (the month's candidates and
    contacts are DuckDB's temp tables `_candidates` and `_contacts`). Returns rows per table."""
    feed = run_statement_on_spark(
        spark, con, lake, aud.feed_sql(destinations),
        # The members' reasons come from the month's segment assignments.
        {
            "_candidates": f"{WORK}.candidates",
            "_contacts": f"{WORK}.contacts",
            "segments.segment_assignments": "segments.segment_assignments",
        },
        f"{WORK}.feed", "_feed",
    )  # fmt: skip
    changes = run_statement_on_spark(
        spark, con, lake, aud.changes_sql(as_of_date),
        {"_feed": f"{WORK}.feed_new", aud.PUBLISHED: aud.PUBLISHED, aud.FEED: aud.FEED},
        f"{WORK}.changes", "_changes",
    )  # fmt: skip
    return {"_feed": feed, "_changes": changes}
