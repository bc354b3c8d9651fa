"""How far the raw data reaches: the first and last day with events in any raw source."""

import datetime as dt
from pathlib import Path

from seg_platform.core.settings import DataSpan
from seg_platform.core.warehouse import fetch_one, quote, table_exists, write_data_span
from seg_platform.sources.contract import SOURCES


def data_span(con) -> tuple[dt.date | None, dt.date | None]:
    """First and last day with events in any raw source (CRM contacts left out: a contact may
    have been created years before anything happened)."""
    spans = " UNION ALL ".join(
        f"SELECT min({quote(s.timestamp)}) AS first, max({quote(s.timestamp)}) AS last "
        f"FROM raw.{s.name}"
        for s in SOURCES.values()
        if s.name != "crm_contacts" and table_exists(con, "raw", s.name)
    )
    if not spans:
        return None, None
    first, last = fetch_one(con, f"SELECT min(first), max(last) FROM ({spans})")
    as_date = lambda v: v.date() if isinstance(v, dt.datetime) else v  # noqa: E731
    return as_date(first), as_date(last)


def record_data_span(con, database: Path | str) -> DataSpan | None:
    """The raw tables' span, written to the data_span.json beside the warehouse `database`
    that the partitions follow (removed when there are no events)."""
    first, last = data_span(con)
    write_data_span(database, first, last)
    return DataSpan(first, last) if first is not None and last is not None else None
