"""Shop orders as order lines: products from each archetype's price tier."""

import numpy as np
import polars as pl

from seg_platform.synthetic.company.behaviour import (
    BARGAIN,
    PRICE_TIER,
    RATES,
    SHOP_CATEGORIES,
    monthly_counts,
)
from seg_platform.synthetic.company.randomness import S_GEN, stream
from seg_platform.synthetic.company.vectors import (
    case_variants,
    fmt_cents,
    group_pos,
    masked,
    pick_rows,
    replace_where,
    take,
    ts_strings,
    varied,
    with_junk,
)
from seg_platform.synthetic.company.vocabulary import COUNTRY_CODES, JUNK_EMAIL, ORDER_STATUSES
from seg_platform.synthetic.company.world import World


def month_rows(w: World, m: int, act: np.ndarray, write: bool) -> pl.DataFrame | None:
    """Shop orders as order lines; loyal customers buy dear, bargain hunters cheap."""
    rng = stream(w.seed, S_GEN["orders"], m)
    a = w.arch[act].astype(np.int64)
    lo, frac = w.window(m, act)
    n_o = monthly_counts(rng, "orders", a, w.mult[act] * frac, frac)
    op, oa = np.repeat(act, n_o), np.repeat(a, n_o)
    o_ts = w.plan_ts(rng, op, np.repeat(lo, n_o), m)
    cancelled, refunded = RATES["order_cancelled"], RATES["order_refunded"]
    status = pick_rows(rng, np.stack([1 - cancelled - refunded, cancelled, refunded], 1), oa)
    lines = 1 + rng.poisson(RATES["order_lines_extra"][oa])
    lo_idx = np.repeat(np.arange(len(op)), lines)
    who, la = op[lo_idx], oa[lo_idx]
    n_l = len(who)
    tier = PRICE_TIER[la]
    q = tier[:, 0] + (tier[:, 1] - tier[:, 0]) * w.taste[who] + rng.normal(0, 0.03, n_l)
    sku = (np.clip(q, 0.0, 0.999) * len(w.sku_price)).astype(np.int64)
    qty = np.minimum(1 + rng.poisson(RATES["quantity_extra"][la]), 9)
    discount = np.where((la == BARGAIN) & (rng.random(n_l) < 0.4), rng.uniform(0.1, 0.3, n_l), 0.0)
    cents = np.round(w.sku_price[sku] * qty * (1 - discount)).astype(np.int64)
    done = status[lo_idx] == 0
    w.revenue[m] += np.bincount(who[done], cents[done] / 100, minlength=w.n)
    w.count_activity(m, op)
    if not write:
        return None
    w.seen_orders[op] = True
    order_no = w.next_ids("orders", len(op)) + 10_000_001
    order_id = pl.select(pl.lit("O") + pl.Series(order_no).cast(pl.String)).to_series()
    line_no = group_pos(lines) + 1
    email = w.contact_email(rng, who, 0.1)
    # A household's address goes with whole orders, never with single lines.
    family = w.with_family_email(rng, pl.repeat(None, len(op), dtype=pl.String, eager=True), op)
    email = replace_where(email, family.is_not_null().to_numpy()[lo_idx], family.gather(lo_idx))
    email = with_junk(rng, masked(email, rng.random(n_l) < 0.8), JUNK_EMAIL)
    order_ids = order_id.gather(lo_idx)
    return pl.DataFrame(
        {
            "order_line_id": pl.select(
                pl.concat_str(order_ids, pl.lit("-"), pl.Series(line_no).cast(pl.String))
            ).to_series(),
            "order_id": order_ids,
            "order_ts": ts_strings(o_ts[lo_idx]),
            "customer_key": w.person_strings(who, "customer_key"),
            "email": email,
            "product_id": w.sku_code.gather(sku),
            "category": take(SHOP_CATEGORIES, w.sku_category[sku]),
            "quantity": pl.Series(qty).cast(pl.String),
            "amount": pl.select(fmt_cents(pl.lit(pl.Series(cents)))).to_series(),
            "status": take(
                case_variants(ORDER_STATUSES),
                varied(rng, status[lo_idx], len(ORDER_STATUSES)),
            ),
            "country": take(COUNTRY_CODES, w.country[who]),
            "_pidx": who,
            "_ts": o_ts[lo_idx],
        }
    )
