"""Month and day arithmetic: the one place that knows how months start, end and shift.

A month is named by its key 'YYYY-MM'; a monthly partition key ('YYYY-MM-DD'), a 'YYYY-MM'
string or any date inside the month are accepted wherever a month is asked for. A month's
snapshot is as of its last instant.
"""

import calendar as _calendar
import datetime as dt
from typing import TypedDict

# The last month of data is partial when its last event is more than this many days before the
# month's last day: a week allows for a shop closed over a holiday or a quiet weekend.
PARTIAL_MONTH_GAP_DAYS = 7


def month_key(month: str | dt.date) -> str:
    """'YYYY-MM' of a month given as 'YYYY-MM', a partition key 'YYYY-MM-DD' or a date."""
    if isinstance(month, dt.date):
        return f"{month:%Y-%m}"
    return month[:7]


def month_start(month: str | dt.date) -> dt.date:
    """The first day of the month (a string that is not a month or a date raises ValueError)."""
    if isinstance(month, dt.date):
        return dt.date(month.year, month.month, 1)
    return dt.date.fromisoformat(f"{month}-01" if len(month) == 7 else month).replace(day=1)


def month_end(month: str | dt.date) -> dt.date:
    """The last day of the month."""
    start = month_start(month)
    return start.replace(day=_calendar.monthrange(start.year, start.month)[1])


def add_months(month: str | dt.date, months: int) -> str:
    """The key of the month `months` after `month` (before, when negative)."""
    index = int(month_key(month)[:4]) * 12 + int(month_key(month)[5:7]) - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_start_after(month: str | dt.date, months: int) -> dt.date:
    """The first day of the month `months` after `month`'s."""
    return month_start(add_months(month, months))


def month_end_before(month: str | dt.date, months: int = 1) -> dt.date:
    """The last day of the month `months` before `month`'s (1: the previous month's end)."""
    return month_end(add_months(month, -months))


class MonthParameters(TypedDict):
    """A month's as-of parameters (the SQL models' `$as_of`, `$as_of_date`, `$month_start`)."""

    as_of: dt.datetime
    as_of_date: dt.date
    month_start: dt.date


def month_parameters(month: str | dt.date) -> MonthParameters:
    """The SQL models' as-of parameters of a month: `as_of` (its last instant), `as_of_date`
    (its last day) and `month_start` (its first day)."""
    last = month_end(month)
    return {
        "as_of": dt.datetime.combine(last, dt.time.max),
        "as_of_date": last,
        "month_start": month_start(month),
    }


def day_parameters(day: dt.date) -> dict[str, object]:
    """As-of parameters for the end of `day` (the SQL models' `$as_of`, `$as_of_date`)."""
    return {
        "as_of": dt.datetime.combine(day, dt.time.max),
        "as_of_date": day,
        "month_start": month_start(day),
    }


def partial_month_note(month: str | dt.date, last_event: dt.date | None) -> str | None:
    """A one-line note when the data stops early inside this month, else None.

    Only the month holding the last event can be partial; its snapshot is still built (as of
    the month's last day, like every month), so counts over the month's days are low and
    recency is measured from the month's end, not from the last event.
    """
    if last_event is None or month_key(last_event) != month_key(month):
        return None
    end = month_end(month)
    if (end - last_event).days <= PARTIAL_MONTH_GAP_DAYS:
        return None
    return (
        f"{month_key(month)} is a partial month: the data ends on {last_event} "
        f"({last_event.day} of {end.day} days), so its counts cover those days only while the "
        f"snapshot is as of {end}"
    )
