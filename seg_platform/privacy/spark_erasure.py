"""Erasure in the Spark lake (issue 22): every row of the erased profiles leaves every lake
table that has a `profile_id` column, physically.

Each such table is written again without those rows (a new version, switched in), and then
every other version of it is deleted: the one kept for readers in flight would otherwise still
hold the person. A table the profiles are not in keeps its current version and loses the older
ones for the same reason. Which profiles are erased is decided as on DuckDB
(`privacy.erasure.find_erased`: requests and earlier erasures matched by identifier hashes).
"""

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from seg_platform.core.spark import current_location, register, switch_to, tables, write_table


def erase_in_lake(spark: Any, lake: Path, profile_ids: Iterable[str]) -> dict[str, int]:
    """Remove the rows of `profile_ids` from every lake table with a `profile_id` column, and
    every older version of those tables. Returns the rows deleted per table."""
    ids = sorted(set(profile_ids))
    erased = spark.createDataFrame([(p,) for p in ids], "profile_id STRING")
    deleted: dict[str, int] = {}
    for table in tables(lake):
        register(spark, lake, table)
        frame = spark.table(table)
        if "profile_id" not in frame.columns:
            continue
        deleted[table] = frame.join(erased, "profile_id", "left_semi").count() if ids else 0
        if deleted[table]:
            kept = frame.join(erased, "profile_id", "left_anti").select(*frame.columns)
            write_table(spark, kept, lake, table, keep_previous=False)
        else:
            current = current_location(lake, table)
            assert current is not None
            switch_to(lake, table, current, keep_previous=False)
    return deleted
