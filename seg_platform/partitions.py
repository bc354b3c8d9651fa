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
