"""The monthly partitions shared by every snapshot asset, from features down.

A partition is a calendar month; its features are as of the month's last instant. Partitions
start at the first month of data, `$SEG_PLATFORM_FIRST_MONTH` ('YYYY-MM', default 2025-01, the
bundled sample's first month), and end with the last completed month. Partitions must be known
when Dagster loads the code, so this one setting is read then, not at run time.
"""

import datetime as dt
import os

import dagster as dg

from seg_platform.core.calendar import month_key, month_start, partial_month_note

FIRST_MONTH_ENV = "SEG_PLATFORM_FIRST_MONTH"
DEFAULT_FIRST_MONTH = "2025-01"


def first_month() -> str:
    value = os.environ.get(FIRST_MONTH_ENV, "").strip() or DEFAULT_FIRST_MONTH
    try:
        month_start(value)
    except ValueError:
        raise ValueError(
            f"{FIRST_MONTH_ENV}={value!r} is not a month: write it as YYYY-MM, e.g. 2024-07"
        ) from None
    return month_key(value)


monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=f"{first_month()}-01")

# Daily scoring: one partition per day from the first month on, up to yesterday (UTC).
daily_partitions = dg.DailyPartitionsDefinition(start_date=f"{first_month()}-01")


def months_to_build(
    first: dt.date | None, last_seen: dt.date | None, last: int | None = None
) -> tuple[list[str], str]:
    """Monthly partition keys of the months with data between `first` and `last_seen` (the
    first and last day with events), oldest first, the latest `last` only when given; and a
    note on any month left out or partial."""
    if first is None or last_seen is None:
        return [], "No events yet: no monthly snapshots to build."
    existing = monthly_partitions.get_partition_keys()
    wanted = [k for k in existing if month_key(first) <= month_key(k) <= month_key(last_seen)]
    notes = []
    if existing and month_key(first) < month_key(existing[0]):
        notes.append(
            f"Data starts in {month_key(first)}, before the first monthly partition "
            f"({month_key(existing[0])}): set {FIRST_MONTH_ENV}={month_key(first)} to build "
            "those months."
        )
    if month_key(last_seen) > (month_key(existing[-1]) if existing else ""):
        notes.append(f"{month_key(last_seen)} is not over yet: its snapshot is built once it ends.")
    if last:
        wanted = wanted[-last:]
    partial = [n for n in (partial_month_note(k, last_seen) for k in wanted) if n]
    notes += [f"{n}; it is built and marked partial (metadata `partial`)." for n in partial]
    return wanted, " ".join(notes)
