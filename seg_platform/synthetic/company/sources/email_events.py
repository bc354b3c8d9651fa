"""Email events: campaign and welcome sends, opens, clicks, bounces, unsubscribes."""

import numpy as np
import polars as pl

from seg_platform.synthetic.company.behaviour import (
    CAMPAIGN_AUDIENCE,
    NEWSLETTER_MONTHS,
    RATES,
    WELCOME_CAMPAIGN,
)
from seg_platform.synthetic.company.contacts import email_variants
from seg_platform.synthetic.company.randomness import S_GEN, hex_ids, stream
from seg_platform.synthetic.company.vectors import DAY, case_variants, take, ts_strings, varied
from seg_platform.synthetic.company.vocabulary import EMAIL_EVENT_TYPES
from seg_platform.synthetic.company.world import World


def month_rows(w: World, m: int, act: np.ndarray, write: bool) -> pl.DataFrame | None:
    """Campaign sends to subscribed addresses (CAMPAIGN_AUDIENCE) and welcome mails, then
    opens, clicks, bounces, unsubscribes."""
    if not write:
        return None  # email activity does not enter the outcomes
    rng = stream(w.seed, S_GEN["email_events"], m)
    hi = w.start(m + 1)
    rec = act[~w.unsubscribed[act]]
    a = w.arch[rec].astype(np.int64)
    lo, _ = w.window(m, rec)
    send_day = rng.integers(0, 27, 6) * DAY + rng.integers(8 * 3600, 18 * 3600, 6)
    send_at = w.start(m) + send_day
    audience = CAMPAIGN_AUDIENCE.copy()
    if (w.first_month + m).astype(np.int64) % NEWSLETTER_MONTHS:
        audience[:, 0] = False  # no newsletter this month
    # Each campaign goes to its audience, as far as they had signed up by its send time;
    # new sign-ups get the welcome mail within the hour.
    r_idx, camp = np.nonzero(audience[a] & (send_at[None, :] >= lo[:, None]))
    welcome = np.flatnonzero(w.signup_m[rec] == m)
    at = np.concatenate([send_at[camp], w.signup_ts[rec[welcome]]])
    r_idx = np.concatenate([r_idx, welcome])
    camp = np.concatenate([camp, np.full(len(welcome), WELCOME_CAMPAIGN)])
    sp, sa = rec[r_idx], a[r_idx]
    n = len(sp)
    sent = np.minimum(at + rng.integers(0, 1800, n), hi - 1)
    bounce = rng.random(n) < RATES["email_bounce"][sa]
    opened = ~bounce & (rng.random(n) < RATES["email_open"][sa])
    clicked = opened & (rng.random(n) < RATES["email_click"][sa])
    unsub = ~bounce & (rng.random(n) < RATES["email_unsubscribe"][sa])
    open_ts = np.minimum(sent + (rng.lognormal(8.0, 1.2, n)).astype(np.int64), hi - 1)
    click_ts = np.minimum(open_ts + rng.integers(5, 600, n), hi - 1)
    unsub_ts = np.minimum(np.where(opened, open_ts, sent) + rng.integers(30, 900, n), hi - 1)
    w.unsubscribed[sp[unsub]] = True  # no more sends from next month on
    parts = [
        (np.ones(n, bool), sent, 0),
        (opened, open_ts, 1),
        (clicked, click_ts, 2),
        (unsub, unsub_ts, 3),
        (bounce, sent + 5, 4),
    ]
    row = np.concatenate([np.flatnonzero(mask) for mask, _, _ in parts])
    ts = np.concatenate([t[mask] for mask, t, _ in parts])
    kind = np.concatenate([np.full(int(mask.sum()), k) for mask, _, k in parts])
    who = sp[row]
    k = len(row)
    # Addresses as stored by the email tool: mostly clean, a few in another case.
    variant = np.where(rng.random(k) < 0.03, rng.integers(1, 3, k), 0)
    return pl.DataFrame(
        {
            "event_id": hex_ids("ee_", w.next_ids("email_events", k), w.salt["email"]),
            "event_ts": ts_strings(ts),
            "email": email_variants(w.email.gather(who), variant, np.zeros(k, np.int64)),
            "event_type": take(
                case_variants(EMAIL_EVENT_TYPES),
                varied(rng, kind, len(EMAIL_EVENT_TYPES), 0.02),
            ),
            "campaign_id": take(w.campaigns(m), camp[row]),
            "_pidx": who,
            "_ts": ts,
        }
    )
