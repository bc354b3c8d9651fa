"""The simulated company month by month: churn, archetype switches, plans, active days."""

import numpy as np
import polars as pl

from seg_platform.synthetic.company.behaviour import (
    ACTIVE_DAYS,
    EXPLORE_MONTHS,
    EXPLORER,
    LAST_WEEK_ARCHETYPES,
    MAX_ACTIVE_DAYS,
    N_ARCH,
    PLAN_MIX,
    PRICING,
    RATES,
    TRANSITIONS_BY_ACCOUNT,
)
from seg_platform.synthetic.company.people import People
from seg_platform.synthetic.company.randomness import S_DAYS, S_STATE, hex_ids, stream
from seg_platform.synthetic.company.vectors import DAY, pick_rows

_EVENT_ID_PREFIX = {
    "web_events": ("we_", "web"),
    "app_events": ("ae_", "app"),
    "email_events": ("ee_", "email"),
}


class World(People):
    """The persons, their state month by month, and what the source generators need of it.

    Source generators (`sources/`) return the month's valid rows as a frame of contract columns
    (all strings) plus `_pidx` (person index) and `_ts` (event time, epoch seconds); they also
    feed the activity and revenue counters.
    """

    def __init__(self, customers: int, months: int, seed: int, end_month: str, switch_share):
        super().__init__(customers, months, seed, end_month)
        self.switch_share = switch_share
        n = self.n
        self.activity = np.zeros((self.total, n), dtype=np.int32)  # web + app + order events
        self.revenue = np.zeros((self.total, n), dtype=np.float64)  # completed orders + paid
        self.arch_hist = np.zeros((months, n), dtype=np.int8)
        self.alive_hist = np.zeros((months, n), dtype=bool)
        # This month's active days per person (day starts, epoch seconds) and how many of the
        # person's events the generators have placed on them so far.
        self.plan_day = np.zeros((n, MAX_ACTIVE_DAYS), dtype=np.int64)
        self.plan_n = np.zeros(n, dtype=np.int64)
        self.plan_used = np.zeros(n, dtype=np.int64)
        # Which identifiers actually reached the landing files (for the persons truth).
        self.seen_billing = np.zeros(n, dtype=bool)
        self.seen_orders = np.zeros(n, dtype=bool)
        self.seen_user = np.zeros(n, dtype=bool)

    # -- time ----------------------------------------------------------------------------------

    def window(self, m: int, who: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Earliest event time per person this month (sign-up time in the sign-up month) and
        the share of the month they were customers, which scales their rates."""
        s, e = self.start(m), self.start(m + 1)
        lo = np.maximum(s, self.signup_ts[who])
        return lo, (e - lo) / (e - s)

    def uniform_ts(self, rng: np.random.Generator, lo: np.ndarray, m: int) -> np.ndarray:
        hi = self.start(m + 1)
        return lo + (rng.random(len(lo)) * (hi - lo)).astype(np.int64)

    def _plan_days(self, m: int, act: np.ndarray) -> None:
        """Month m's active days of the active persons: ACTIVE_DAYS of their archetype (fewer at
        a low activity level, pro rata in the sign-up month), one in each equal stretch of the
        time between sign-up and month end (of the month's last week for prospects)."""
        rng = stream(self.seed, S_DAYS, m)
        k = len(act)
        base = ACTIVE_DAYS[self.arch[act]]
        want = np.minimum(base, np.maximum(1, np.round(base * self.mult[act]))).astype(np.int64)
        lo, frac = self.window(m, act)
        want = np.minimum(want, np.maximum(1, np.round(want * frac)).astype(np.int64))
        start = self.start(m)
        month_days = (self.start(m + 1) - start) // DAY
        first = (lo - start) // DAY
        late = np.isin(self.arch[act], LAST_WEEK_ARCHETYPES)
        first = np.where(late, np.maximum(first, month_days - 7), first)
        width = month_days - first
        d = np.where(base > 0, np.minimum(want, width), 0)
        j = np.arange(MAX_ACTIVE_DAYS)[None, :]
        parts = np.maximum(d, 1)[:, None]
        lo_day = (j * width[:, None]) // parts
        hi_day = ((j + 1) * width[:, None]) // parts
        pick = lo_day + (rng.random((k, MAX_ACTIVE_DAYS)) * (hi_day - lo_day)).astype(np.int64)
        chosen = np.where(j < d[:, None], pick, month_days)
        self.plan_day[act] = start + (first[:, None] + chosen) * DAY
        self.plan_n[:] = 0
        self.plan_n[act] = d
        self.plan_used[:] = 0

    def plan_ts(
        self, rng: np.random.Generator, who: np.ndarray, lo: np.ndarray, m: int
    ) -> np.ndarray:
        """Times of events of persons `who` (repeats allowed, in order), in the daytime of their
        active days, filled in turn (each day gets an event before any gets a second), never
        before `lo` (sign-up); anywhere after `lo` for persons without active days."""
        k = len(who)
        hi = self.start(m + 1)
        order = np.argsort(who, kind="stable")
        ranked = who[order]
        head = np.ones(k, dtype=bool)
        head[1:] = ranked[1:] != ranked[:-1]
        pos = np.arange(k) - np.maximum.accumulate(np.where(head, np.arange(k), 0))
        rank = np.empty(k, dtype=np.int64)
        rank[order] = pos
        days = self.plan_n[who]
        slot = (self.plan_used[who] + rank) % np.maximum(days, 1)
        day = self.plan_day[who, slot]
        ts = day + (6 * 3600 + rng.random(k) * 16 * 3600).astype(np.int64)
        after = lo + (rng.random(k) * np.maximum(day + DAY - lo, 1)).astype(np.int64)
        ts = np.where(ts < lo, after, ts)  # on the sign-up day: after signing up
        anywhere = lo + (rng.random(k) * (hi - lo)).astype(np.int64)
        self.plan_used += np.bincount(who, minlength=self.n)
        return np.minimum(np.where(days > 0, ts, anywhere), hi - 1)

    # -- monthly state ------------------------------------------------------------------------

    def advance(self, m: int) -> np.ndarray:
        """Churn, archetype switches, sign-ups and subscriptions for month m; returns the
        indices of the persons active (signed up and not churned) this month."""
        rng = stream(self.seed, S_STATE, m)
        n = self.n
        stayed = self.alive & (self.signup_m < m)
        if m > 0:
            churn = stayed & (rng.random(n) < RATES["churn"][self.arch])
            self.alive &= ~churn
            self.churn_m[churn] = m
            stayed &= ~churn
        # Explorers settle into another archetype once their first months are over.
        settle = self.alive & (self.arch == EXPLORER) & (self.signup_m <= m - EXPLORE_MONTHS)
        if m > 0:
            # switch_share of the other persons switch, the less settled ones more often.
            weight = RATES["switch_weight"][self.arch]
            mean = weight[stayed].mean() if stayed.any() else 1.0
            chance = np.minimum(self.switch_share * weight / mean, 0.9)
            settle |= stayed & (rng.random(n) < chance)
        switch = np.flatnonzero(settle)
        row = self.arch[switch].astype(np.int64) + N_ARCH * ~self.has_account[switch]
        self.arch[switch] = pick_rows(rng, TRANSITIONS_BY_ACCOUNT, row)
        # A new way of using the product comes with the plan that goes with it.
        to = self.arch[switch].astype(np.int64)
        self.subscribed[switch] = rng.random(len(switch)) < RATES["subscribed_at_start"][to]
        self.plan[switch] = pick_rows(rng, PLAN_MIX, to)
        joined = self.signup_m == m
        active = self.alive & (self.signup_m <= m)
        arch = self.arch.astype(np.int64)
        # Subscriptions: prospects hold no plan; others cancel or subscribe at their rates.
        self.subscribed &= active & (arch != PRICING)
        self.subscribed &= ~(rng.random(n) < RATES["cancel"][arch])
        rate = np.where(joined, RATES["subscribe_at_signup"][arch], RATES["subscribe"][arch])
        new = active & ~self.subscribed & (rng.random(n) < rate)
        self.plan[new] = pick_rows(rng, PLAN_MIX, arch[new])
        self.subscribed |= new
        if m < self.months:
            self.arch_hist[m] = self.arch
            self.alive_hist[m] = self.alive
        act = np.flatnonzero(active)
        self._plan_days(m, act)
        return act

    def count_activity(self, m: int, who: np.ndarray) -> None:
        self.activity[m] += np.bincount(who, minlength=self.n).astype(np.int32)

    def campaigns(self, m: int) -> tuple[str, ...]:
        tag = self.labels[m].replace("-", "")
        return tuple(f"cmp_{tag}_{k:02d}" for k in range(6))

    def fresh_keys(self, source: str, k: int) -> dict[str, pl.Series]:
        """New key values for planted malformed records: never used by any other record."""
        if source in ("web_events", "app_events", "email_events"):
            prefix, salt = _EVENT_ID_PREFIX[source]
            return {"event_id": hex_ids(prefix, self.next_ids(source, k), self.salt[salt])}
        if source == "billing":
            return {"invoice_id": hex_ids("in_", self.next_ids("billing", k), self.salt["invoice"])}
        if source == "support_tickets":
            seq = pl.Series(self.next_ids(source, k) + 100_001).cast(pl.String)
            return {"ticket_id": pl.select(pl.lit("T") + seq.str.pad_start(9, "0")).to_series()}
        if source == "orders":
            no = pl.Series(self.next_ids("orders", k) + 10_000_001).cast(pl.String)
            order_id = pl.select(pl.lit("O") + no).to_series()
            line_id = pl.select(order_id + pl.lit("-1")).to_series()
            return {"order_id": order_id, "order_line_id": line_id}
        if source == "crm_contacts":
            idx = self.n + int(self.has_crm2.sum()) + self.next_ids("crm_malformed", k)
            assert idx.max(initial=0) < 10**self.crm_width
            return {"crm_id": self.person_strings(idx, "crm_id")}
        raise KeyError(source)
