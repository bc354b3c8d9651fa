"""The source generators: one module per linking source, each making a month's valid rows."""

from collections.abc import Callable

import numpy as np
import polars as pl

from seg_platform.synthetic.company.sources import (
    app_events,
    billing,
    crm_contacts,
    email_events,
    orders,
    support_tickets,
    web_events,
)
from seg_platform.synthetic.company.world import World

# month_rows(world, m, active persons, write) -> the month's valid rows (None when not written:
# outcome months only count activity and revenue).
MonthRows = Callable[[World, int, np.ndarray, bool], pl.DataFrame | None]
MONTH_ROWS: dict[str, MonthRows] = {
    "web_events": web_events.month_rows,
    "app_events": app_events.month_rows,
    "crm_contacts": crm_contacts.month_rows,
    "email_events": email_events.month_rows,
    "support_tickets": support_tickets.month_rows,
    "billing": billing.month_rows,
    "orders": orders.month_rows,
}
