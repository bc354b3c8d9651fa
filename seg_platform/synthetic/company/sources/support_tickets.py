"""Support tickets by email and/or phone, with category and satisfaction."""

import numpy as np
import polars as pl

from seg_platform.synthetic.company.behaviour import (
    RESOLUTION_HOURS,
    SATISFACTION_MIX,
    TICKET_CATEGORIES,
    TICKET_MIX,
    monthly_counts,
)
from seg_platform.synthetic.company.randomness import S_GEN, stream
from seg_platform.synthetic.company.vectors import (
    masked,
    pick_n,
    pick_rows,
    replace_where,
    take,
    ts_strings,
)
from seg_platform.synthetic.company.vocabulary import JUNK_EMAIL, JUNK_PHONE, JUNK_SHARE
from seg_platform.synthetic.company.world import World


def month_rows(w: World, m: int, act: np.ndarray, write: bool) -> pl.DataFrame | None:
    """Tickets by email and/or phone; strugglers open many and rate them low."""
    if not write:
        return None
    rng = stream(w.seed, S_GEN["support_tickets"], m)
    a = w.arch[act].astype(np.int64)
    lo, frac = w.window(m, act)
    n_t = monthly_counts(rng, "tickets", a, frac, frac)
    who, ta = np.repeat(act, n_t), np.repeat(a, n_t)
    opened = w.uniform_ts(rng, np.repeat(lo, n_t), m)
    k = len(who)
    hours = rng.lognormal(np.log(RESOLUTION_HOURS[ta]), 1.0)
    closed = opened + 60 + (hours * 3600).astype(np.int64)
    # Still open when exported: a few at random, and any that would close after the window.
    is_open = (rng.random(k) < 0.04) | (closed >= w.start(w.months))
    rated = ~is_open & (rng.random(k) < 0.75)
    satisfaction = 1 + pick_rows(rng, SATISFACTION_MIX, ta)
    contact = pick_n(rng, [0.65, 0.12, 0.23], k)  # email only, phone only, both
    email = masked(w.contact_email(rng, who, 0.15), contact != 1)
    phone = masked(w.contact_phone(rng, who), contact != 0)
    # Junk only where the other channel is real, so `email or phone` still holds.
    both = contact == 2
    junk_email = both & (rng.random(k) < JUNK_SHARE * 4)
    junk_phone = both & ~junk_email & (rng.random(k) < JUNK_SHARE * 4)
    email = replace_where(email, junk_email, take(JUNK_EMAIL, rng.integers(0, 4, k)))
    phone = replace_where(phone, junk_phone, take(JUNK_PHONE, rng.integers(0, 4, k)))
    # Ticket numbers are sequential in opening order.
    order = np.argsort(opened, kind="stable")
    seq = np.empty(k, dtype=np.int64)
    seq[order] = w.next_ids("support_tickets", k)
    return pl.DataFrame(
        {
            "ticket_id": pl.Series(seq + 100_001).cast(pl.String).str.pad_start(9, "0"),
            "opened_at": ts_strings(opened),
            "closed_at": masked(ts_strings(closed), ~is_open),
            "email": email,
            "phone": phone,
            "category": take(TICKET_CATEGORIES, pick_rows(rng, TICKET_MIX, ta)),
            "satisfaction": masked(pl.Series(satisfaction).cast(pl.String), rated),
            "_pidx": who,
            "_ts": opened,
        }
    ).with_columns(ticket_id=pl.concat_str(pl.lit("T"), pl.col("ticket_id")))
