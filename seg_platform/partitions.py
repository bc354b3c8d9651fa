"""The monthly partitions shared by every snapshot asset, from features down.

A partition is a calendar month; its features are as of the month's last instant. Partitions
start at the first month of data, `$SEG_PLATFORM_FIRST_MONTH` ('YYYY-MM', default 2025-01, the
bundled sample's first month), and end with the last completed month. Partitions must be known
when Dagster loads the code, so this one setting is read then, not at run time.
"""

import datetime as dt
import os

import dagster as dg

FIRST_MONTH_ENV = "SEG_PLATFORM_FIRST_MONTH"
DEFAULT_FIRST_MONTH = "2025-01"


def first_month() -> str:
    value = os.environ.get(FIRST_MONTH_ENV, "").strip() or DEFAULT_FIRST_MONTH
    try:
        dt.date.fromisoformat(f"{value[:7]}-01")
    except ValueError:
        raise ValueError(
            f"{FIRST_MONTH_ENV}={value!r} is not a month: write it as YYYY-MM, e.g. 2024-07"
        ) from None
    return value[:7]


monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=f"{first_month()}-01")

# Daily scoring: one partition per day from the first month on, up to yesterday (UTC).
daily_partitions = dg.DailyPartitionsDefinition(start_date=f"{first_month()}-01")

# The last month of data is partial when its last event is more than this many days before the
# month's last day: a week allows for a shop closed over a holiday or a quiet weekend.
PARTIAL_MONTH_GAP_DAYS = 7


def partial_month_note(month_key: str, last_event: dt.date | None) -> str | None:
    """A one-line note when the data stops early inside this month, else None.

    Only the month holding the last event can be partial; its snapshot is still built (as of
    the month's last day, like every month), so counts over the month's days are low and
    recency is measured from the month's end, not from the last event.
    """
    if last_event is None or f"{last_event:%Y-%m}" != month_key[:7]:
        return None
    first = dt.date.fromisoformat(f"{month_key[:7]}-01")
    month_end = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    if (month_end - last_event).days <= PARTIAL_MONTH_GAP_DAYS:
        return None
    return (
        f"{month_key[:7]} is a partial month: the data ends on {last_event} ({last_event.day} "
        f"of {month_end.day} days), so its counts cover those days only while the snapshot is "
        f"as of {month_end}"
    )
