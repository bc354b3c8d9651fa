"""The partitions shared by every snapshot asset (monthly, from features down) and by daily
scoring, and the guard that ends a partition without data quietly.

A monthly partition is a calendar month; its features are as of the month's last instant. The
partitions follow the loaded data: from the month of the first event to the month of the last
(never past the last completed month), read from the `data_span.json` each raw load writes
beside the warehouse (`settings.current_partitions`). They are bounded time windows, not
dynamic partitions: Dagster reads them when it loads the code, so a reload of the definitions
(`seg-platform ui` reloads when the file changes; a run re-reads it after loading the data)
offers the new months, with no partition keys to add to or delete from the instance.
"""

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from seg_platform.core import settings
from seg_platform.core.calendar import month_key, partial_month_note


def monthly_partitions_for(calendar: settings.PartitionCalendar) -> dg.MonthlyPartitionsDefinition:
    end = dt.date.fromisoformat(f"{calendar.last_month}-01")
    end = (end + dt.timedelta(days=32)).replace(day=1)  # exclusive
    return dg.MonthlyPartitionsDefinition(
        start_date=f"{calendar.first_month}-01", end_date=end.isoformat()
    )


def daily_partitions_for(calendar: settings.PartitionCalendar) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(
        start_date=calendar.first_day.isoformat(),
        end_date=(calendar.last_day + dt.timedelta(days=1)).isoformat(),  # exclusive
    )


# What the asset decorators carry; `definitions.make_definitions` puts the partitions current
# when it is called on every partitioned asset and job.
monthly_partitions = monthly_partitions_for(settings.current_partitions())
daily_partitions = daily_partitions_for(settings.current_partitions())


def months_to_build(
    first: dt.date | None,
    last_seen: dt.date | None,
    last: int | None = None,
    calendar: settings.PartitionCalendar | None = None,
) -> tuple[list[str], str]:
    """Monthly partition keys of the months with data between `first` and `last_seen` (the
    first and last day with events) that `calendar` (default: the current partitions)
    offers, oldest first, the latest `last` only when given; and a note on any month left
    out or partial."""
    if first is None or last_seen is None:
        return [], "No events yet: no monthly snapshots to build."
    calendar = calendar or settings.current_partitions()
    existing = monthly_partitions_for(calendar).get_partition_keys()
    wanted = [k for k in existing if month_key(first) <= month_key(k) <= month_key(last_seen)]
    notes = []
    if month_key(last_seen) > (month_key(existing[-1]) if existing else ""):
        notes.append(f"{month_key(last_seen)} is not over yet: its snapshot is built once it ends.")
    if last:
        wanted = wanted[-last:]
    partial = [n for n in (partial_month_note(k, last_seen) for k in wanted) if n]
    notes += [f"{n}; it is built and marked partial (metadata `partial`)." for n in partial]
    return wanted, " ".join(notes)


def skip_partition_without_data(
    context: dg.AssetExecutionContext,
    warehouse: Path,
    monthly: bool = True,
    measure: Callable[[], settings.DataSpan | None] | None = None,
) -> bool:
    """End the step quietly when its partition has no data: log "no data for <partition>:
    <why>", record an observation on each of its assets, and return True; the caller then
    yields no output, so Dagster skips everything downstream and the run succeeds. A month
    after the data (or before it) would otherwise fail deep in the segmentation.

    The span is read from the data_span.json beside `warehouse`; when there is none (a home
    loaded before the file existed), `measure` gives it from the raw tables."""
    path = Path(warehouse).with_name(settings.DATA_SPAN_FILE)
    span = settings.read_data_span(path)
    if span is None and measure is not None and not path.exists() and Path(warehouse).exists():
        span = measure()
    key = context.partition_key
    reason = settings.no_data_reason(key, span, monthly)
    if reason is None:
        return False
    label = month_key(key) if monthly else key
    message = f"no data for {label}: {reason}; nothing to build, steps below are skipped"
    context.log.info(message)
    for asset_key in context.selected_asset_keys:
        context.log_event(
            dg.AssetObservation(
                asset_key=asset_key,
                partition=key,
                metadata={"outcome": "no data", "no_data": message},
            )
        )
    return True
