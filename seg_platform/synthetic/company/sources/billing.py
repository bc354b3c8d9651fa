"""Billing invoices: one per subscriber-month, with plan, amount and status."""

import numpy as np
import polars as pl

from seg_platform.synthetic.company.behaviour import PLAN_CENTS, PLANS, RATES
from seg_platform.synthetic.company.randomness import S_GEN, hex_ids, stream
from seg_platform.synthetic.company.vectors import (
    DAY,
    case_variants,
    fmt_cents,
    masked,
    pick_rows,
    take,
    ts_strings,
    varied,
    with_junk,
)
from seg_platform.synthetic.company.vocabulary import BILLING_STATUSES, CURRENCIES, JUNK_EMAIL
from seg_platform.synthetic.company.world import World


def month_rows(w: World, m: int, act: np.ndarray, write: bool) -> pl.DataFrame | None:
    """One invoice per subscriber-month on the sign-up day; dormant accounts fail often."""
    rng = stream(w.seed, S_GEN["billing"], m)
    subs = act[w.subscribed[act]]
    a = w.arch[subs].astype(np.int64)
    lo, _ = w.window(m, subs)
    k = len(subs)
    ts = w.start(m) + w.bill_day[subs] * DAY + rng.integers(0, DAY, k)
    ts = np.minimum(np.maximum(ts, lo), w.start(m + 1) - 1)
    plan = w.plan[subs]
    cents = np.where(plan == 3, w.ent_cents[subs], PLAN_CENTS[plan])
    fail, refund = RATES["invoice_failed"], RATES["invoice_refunded"]
    table = np.stack([1 - fail - refund, fail, refund], axis=1)
    status = pick_rows(rng, table, a)
    paid = status == 0
    w.revenue[m] += np.bincount(subs[paid], cents[paid] / 100, minlength=w.n)
    if not write:
        return None
    w.seen_billing[subs] = True
    email = w.billing_email.gather(subs)
    before = np.flatnonzero(w.billing_alt[subs] & (m < w.billing_switch_m[subs]))
    email = email.scatter(before, w.email.gather(subs[before]))
    email = w.with_family_email(rng, email, subs)
    email = masked(email, rng.random(k) > 0.03)
    return pl.DataFrame(
        {
            "invoice_id": hex_ids("in_", w.next_ids("billing", k), w.salt["invoice"]),
            "billing_customer_id": w.person_strings(subs, "billing_customer_id"),
            "email": with_junk(rng, email, JUNK_EMAIL),
            "invoice_ts": ts_strings(ts),
            "plan": take(PLANS, plan),
            "amount": pl.select(fmt_cents(pl.lit(pl.Series(cents)))).to_series(),
            "currency": take(CURRENCIES, w.country[subs]),
            "status": take(
                case_variants(BILLING_STATUSES), varied(rng, status, len(BILLING_STATUSES))
            ),
            "_pidx": subs,
            "_ts": ts,
        }
    )
