"""The partitions follow the loaded data: the span file a raw load writes, the months and days
offered from it (or from the first-month setting while there is no data), and which partition
has no data to build from."""

import datetime as dt

import pytest

from seg_platform.core import settings
from seg_platform.core.warehouse import write_data_span

pytestmark = pytest.mark.unit

TODAY = dt.date(2026, 12, 6)
SAMPLE = settings.DataSpan(dt.date(2025, 1, 1), dt.date(2025, 12, 31))


def test_partitions_cover_the_months_and_days_of_the_data():
    calendar = settings.partition_calendar(SAMPLE, "2024-03", TODAY)
    # The sample ends 2025-12: no month or day after it is offered (a year of empty
    # partitions before), and the first-month setting gives way to the data.
    assert (calendar.first_month, calendar.last_month) == ("2025-01", "2025-12")
    assert (calendar.first_day, calendar.last_day) == (dt.date(2025, 1, 1), SAMPLE.last_day)
    assert calendar.offers_month("2025-12-01") and not calendar.offers_month("2026-01")
    assert calendar.offers_day(SAMPLE.last_day)
    assert not calendar.offers_day(SAMPLE.last_day + dt.timedelta(days=1))


def test_data_starting_mid_month_offers_that_whole_month():
    span = settings.DataSpan(dt.date(2010, 12, 1), dt.date(2011, 12, 9))  # Online Retail
    calendar = settings.partition_calendar(span, "2025-01", TODAY)
    assert (calendar.first_month, calendar.last_month) == ("2010-12", "2011-12")
    assert (calendar.first_day, calendar.last_day) == (dt.date(2010, 12, 1), span.last_day)


def test_a_month_not_over_yet_is_not_offered():
    span = settings.DataSpan(dt.date(2026, 9, 14), dt.date(2026, 12, 5))
    calendar = settings.partition_calendar(span, "2025-01", TODAY)
    assert (calendar.first_month, calendar.last_month) == ("2026-09", "2026-11")
    assert calendar.last_day == dt.date(2026, 12, 5)  # yesterday: the day is over
    running = settings.DataSpan(dt.date(2026, 12, 1), dt.date(2026, 12, 6))
    only = settings.partition_calendar(running, "2025-01", TODAY)
    # Never an empty calendar: Dagster could not load partitions without a key.
    assert (only.first_month, only.last_month) == ("2026-12", "2026-12")
    assert only.last_day == dt.date(2026, 12, 5)


def test_without_data_the_first_month_setting_runs_to_the_last_completed_month():
    calendar = settings.partition_calendar(None, "2025-01", TODAY)
    assert (calendar.first_month, calendar.last_month) == ("2025-01", "2026-11")
    assert (calendar.first_day, calendar.last_day) == (dt.date(2025, 1, 1), dt.date(2026, 12, 5))
    assert calendar.span is None


def test_the_span_file_round_trips_and_goes_with_the_data(tmp_path):
    home = settings.platform_home(tmp_path / "home")
    warehouse = home.warehouse
    warehouse.parent.mkdir(parents=True)
    assert settings.read_data_span(home.data_span_file) is None
    assert write_data_span(warehouse, SAMPLE.first_day, SAMPLE.last_day) is True
    assert write_data_span(warehouse, SAMPLE.first_day, SAMPLE.last_day) is False  # unchanged
    assert settings.read_data_span(home.data_span_file) == SAMPLE
    assert '"last_month": "2025-12"' in home.data_span_file.read_text()
    assert settings.current_partitions(home, TODAY).last_month == "2025-12"
    assert [p.name for p in home.root.iterdir()] == ["data_span.json"]  # nothing left aside
    # No events any more: the record goes, and the partitions fall back to the calendar.
    assert write_data_span(warehouse, None, None) is True
    assert settings.current_partitions(home, TODAY).span is None


UNREADABLE = [
    "",
    "{",
    '{"first_day": "2025-13-01", "last_day": "x"}',
    '{"first_day": "2025-02-01", "last_day": "2025-01-01"}',
    "[]",
]


@pytest.mark.parametrize("text", UNREADABLE)
def test_an_unreadable_span_file_means_no_data(tmp_path, text):
    path = tmp_path / settings.DATA_SPAN_FILE
    path.write_text(text)
    assert settings.read_data_span(path) is None


@pytest.mark.parametrize(
    ("key", "monthly", "span", "reason"),
    [
        ("2025-12-01", True, SAMPLE, None),
        ("2025-01-01", True, SAMPLE, None),
        ("2026-01-01", True, SAMPLE, "the landing data covers 2025-01-01 .. 2025-12-31"),
        ("2024-12-01", True, SAMPLE, "the landing data covers 2025-01-01 .. 2025-12-31"),
        ("2025-12-31", False, SAMPLE, None),
        ("2026-01-01", False, SAMPLE, "the landing data covers 2025-01-01 .. 2025-12-31"),
        ("2026-11-01", True, None, "no landing data is loaded yet"),
        ("2026-12-05", False, None, "no landing data is loaded yet"),
    ],
)
def test_no_data_reason(key, monthly, span, reason):
    found = settings.no_data_reason(key, span, monthly)
    assert (found is None) == (reason is None)
    if reason:
        assert found.startswith(reason)


def test_first_month_setting(monkeypatch):
    monkeypatch.delenv(settings.FIRST_MONTH_ENV, raising=False)
    assert settings.first_month_setting() == "2025-01"
    monkeypatch.setenv(settings.FIRST_MONTH_ENV, "2010-12")
    assert settings.first_month_setting() == "2010-12"
    monkeypatch.setenv(settings.FIRST_MONTH_ENV, "2010/12")
    with pytest.raises(ValueError, match="is not a month: write it as YYYY-MM"):
        settings.first_month_setting()
