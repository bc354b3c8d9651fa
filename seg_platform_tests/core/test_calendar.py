"""The calendar: month keys, starts, ends and shifts across month ends, years and leap years."""

import datetime as dt

import pytest

from seg_platform.core.calendar import (
    add_months,
    day_parameters,
    month_end,
    month_end_before,
    month_key,
    month_parameters,
    month_start,
    month_start_after,
    partial_month_note,
)


@pytest.mark.parametrize(
    ("month", "key"),
    [
        ("2025-03", "2025-03"),
        ("2025-03-01", "2025-03"),  # a monthly partition key
        (dt.date(2025, 3, 31), "2025-03"),
        (dt.datetime(2024, 12, 31, 23, 59), "2024-12"),
    ],
)
def test_month_key_of_every_form(month, key):
    assert month_key(month) == key


@pytest.mark.parametrize(
    ("month", "start", "end"),
    [
        ("2025-01", dt.date(2025, 1, 1), dt.date(2025, 1, 31)),
        ("2025-04", dt.date(2025, 4, 1), dt.date(2025, 4, 30)),
        ("2025-02", dt.date(2025, 2, 1), dt.date(2025, 2, 28)),
        ("2024-02", dt.date(2024, 2, 1), dt.date(2024, 2, 29)),  # leap year
        ("2000-02", dt.date(2000, 2, 1), dt.date(2000, 2, 29)),  # divisible by 400: leap
        ("1900-02", dt.date(1900, 2, 1), dt.date(1900, 2, 28)),  # divisible by 100: not
        ("2024-12-01", dt.date(2024, 12, 1), dt.date(2024, 12, 31)),
        (dt.date(2024, 2, 15), dt.date(2024, 2, 1), dt.date(2024, 2, 29)),
    ],
)
def test_month_start_and_end(month, start, end):
    assert month_start(month) == start
    assert month_end(month) == end


@pytest.mark.parametrize(
    ("month", "months", "expected"),
    [
        ("2025-03", 0, "2025-03"),
        ("2025-03", 1, "2025-04"),
        ("2025-12", 1, "2026-01"),  # year boundary forward
        ("2025-01", -1, "2024-12"),  # and back
        ("2025-01", -13, "2023-12"),
        ("2025-06", 18, "2026-12"),
        ("2025-06-01", -6, "2024-12"),
        (dt.date(2024, 1, 31), 1, "2024-02"),  # a month end moves by month, not by days
    ],
)
def test_add_months(month, months, expected):
    assert add_months(month, months) == expected


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (dt.date(2025, 1, 31), 1, dt.date(2024, 12, 31)),
        (dt.date(2025, 3, 31), 1, dt.date(2025, 2, 28)),
        (dt.date(2024, 3, 31), 1, dt.date(2024, 2, 29)),  # leap year
        (dt.date(2025, 3, 31), 3, dt.date(2024, 12, 31)),
        (dt.date(2025, 5, 15), 1, dt.date(2025, 4, 30)),  # from inside a month
    ],
)
def test_month_end_before(day, months, expected):
    assert month_end_before(day, months) == expected


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (dt.date(2025, 1, 1), 2, dt.date(2025, 3, 1)),
        (dt.date(2025, 11, 1), 2, dt.date(2026, 1, 1)),
        (dt.date(2025, 11, 30), 4, dt.date(2026, 3, 1)),
    ],
)
def test_month_start_after(day, months, expected):
    assert month_start_after(day, months) == expected


@pytest.mark.parametrize("month", ["2024-02", "2024-02-01", dt.date(2024, 2, 29)])
def test_month_parameters_are_the_month_s_last_instant(month):
    assert month_parameters(month) == {
        "as_of": dt.datetime(2024, 2, 29, 23, 59, 59, 999999),
        "as_of_date": dt.date(2024, 2, 29),
        "month_start": dt.date(2024, 2, 1),
    }


def test_day_parameters_are_the_day_s_last_instant():
    assert day_parameters(dt.date(2025, 3, 14)) == {
        "as_of": dt.datetime(2025, 3, 14, 23, 59, 59, 999999),
        "as_of_date": dt.date(2025, 3, 14),
        "month_start": dt.date(2025, 3, 1),
    }


@pytest.mark.parametrize("bad", ["2025-13", "2025", "March", "2025-02-30"])
def test_not_a_month_is_an_error(bad):
    with pytest.raises(ValueError):
        month_parameters(bad)


@pytest.mark.parametrize(
    ("month", "last_event", "partial"),
    [
        ("2025-03-01", dt.date(2025, 3, 31), False),  # data to the month's end
        ("2025-03-01", dt.date(2025, 3, 24), False),  # 7 days short: a quiet week
        ("2025-03-01", dt.date(2025, 3, 23), True),  # 8 days short: partial
        ("2025-02-01", dt.date(2025, 2, 21), False),  # 7 days short of the 28th
        ("2024-02-01", dt.date(2024, 2, 21), True),  # leap year: 8 days short of the 29th
        ("2025-02-01", dt.date(2025, 3, 5), False),  # the data goes on past this month
        ("2025-03-01", None, False),
    ],
)
def test_partial_month_note(month, last_event, partial):
    note = partial_month_note(month, last_event)
    assert (note is not None) == partial
    if partial:
        assert note.startswith(f"{month_key(month)} is a partial month")
        assert f"{last_event.day} of {month_end(month).day} days" in note


def test_months_to_build_from_the_data_span():
    from seg_platform.core import settings
    from seg_platform.core.partitions import months_to_build

    span = settings.DataSpan(dt.date(2025, 2, 3), dt.date(2025, 4, 20))
    calendar = settings.partition_calendar(span, "2025-01", today=dt.date(2026, 1, 10))
    assert months_to_build(None, None, calendar=calendar) == (
        [],
        "No events yet: no monthly snapshots to build.",
    )
    keys, note = months_to_build(span.first_day, span.last_day, calendar=calendar)
    assert keys == ["2025-02-01", "2025-03-01", "2025-04-01"]
    partial = partial_month_note("2025-04", dt.date(2025, 4, 20))
    assert note == f"{partial}; it is built and marked partial (metadata `partial`)."
    keys, note = months_to_build(span.first_day, span.last_day, last=1, calendar=calendar)
    assert keys == ["2025-04-01"]
    # The data reaches into a month not over yet: its snapshot waits for the month's end.
    running = settings.DataSpan(dt.date(2025, 11, 5), dt.date(2026, 1, 8))
    calendar = settings.partition_calendar(running, "2025-01", today=dt.date(2026, 1, 10))
    keys, note = months_to_build(running.first_day, running.last_day, calendar=calendar)
    assert keys == ["2025-11-01", "2025-12-01"]
    assert note == "2026-01 is not over yet: its snapshot is built once it ends."
