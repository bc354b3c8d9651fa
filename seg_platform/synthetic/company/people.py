"""The persons: sign-up, archetype at start, names, identifiers per source, households, traps."""

import numpy as np
import polars as pl

from seg_platform.synthetic.company.behaviour import (
    BARGAIN,
    LOYAL,
    PLAN_MIX,
    POWER,
    RATES,
    SHOP_CATEGORIES,
    SIGNUP_MIX,
    START_MIX,
)
from seg_platform.synthetic.company.contacts import (
    N_TYPO_KINDS,
    PHONE_FORMAT_MIX,
    email_variants,
    phone_numbers,
)
from seg_platform.synthetic.company.defects import N_TRUNCATED_FILES, TRUNCATABLE_SOURCES
from seg_platform.synthetic.company.randomness import (
    ID_FAMILIES,
    S_POP,
    digit_ids,
    hex_ids,
    id_salt,
    stream,
)
from seg_platform.synthetic.company.vectors import (
    DAY,
    masked,
    pick_n,
    pick_rows,
    replace_where,
    take,
)
from seg_platform.synthetic.company.vocabulary import (
    COMPANY_DOMAINS,
    COMPANY_NAMES,
    FIRST_NAMES,
    JUNK_EMAIL,
    JUNK_ID,
    JUNK_PHONE,
    LAST_NAMES,
    PERSONAL_DOMAIN_MIX,
    PERSONAL_DOMAINS,
    ROLES,
)

_PRE_WINDOW_MONTHS = 36  # existing customers signed up up to 3 years before the window
_PRE_WINDOW_SHARE = 0.55  # share of customers already signed up when the window starts
CRM_USER_SHARE = 0.9  # CRM contacts of account holders that record the account's user id
# Over-merge traps (truth/traps.parquet).
SHARED_COOKIE_SHARE = 0.008  # cookies shared by two account holders who both log in on them
SHARED_EMAIL_SHARE = 0.0065  # persons paired with another on a family shop/billing address
FAMILY_EMAIL_SHARE = 0.5  # of such a person's invoices and orders, those using it


class People:
    """The persons of the company and their identifiers, drawn once from the population streams.

    Internal month index 0 is the first written month; `months + 3` months are simulated so
    that outcomes (next 90 days) exist for every written month.
    """

    def __init__(self, customers: int, months: int, seed: int, end_month: str):
        self.n, self.months, self.seed = customers, months, seed
        self.total = months + 3
        self.first_month = np.datetime64(end_month, "M") - (months - 1)
        offsets = np.arange(-_PRE_WINDOW_MONTHS, self.total + 1)
        self._starts = (self.first_month + offsets).astype("datetime64[s]").astype(np.int64)
        self.labels = tuple(str(self.first_month + i) for i in range(self.total))
        # One salt per id family, so the same counter gives unrelated ids in each family.
        self.salt = {k: id_salt(seed, i) for i, k in enumerate(ID_FAMILIES)}
        self._counters: dict[str, int] = {}
        self._make_people(stream(seed, S_POP))
        self.trap_values = self._trap_values()

    def start(self, m: int) -> int:
        """Epoch seconds of the start of internal month m (negative m: before the window)."""
        return int(self._starts[m + _PRE_WINDOW_MONTHS])

    def month_of(self, ts: np.ndarray) -> np.ndarray:
        """Internal month index of each epoch-second time (negative: before the window)."""
        return np.searchsorted(self._starts, ts, side="right") - 1 - _PRE_WINDOW_MONTHS

    def next_ids(self, name: str, k: int) -> np.ndarray:
        """A block of fresh counters for one id sequence; ids built from them never repeat."""
        c = self._counters.get(name, 0)
        self._counters[name] = c + k
        return np.arange(c, c + k, dtype=np.int64)

    # -- persons -------------------------------------------------------------------------------

    def _make_people(self, rng: np.random.Generator) -> None:
        n, months = self.n, self.months
        n_pre = int(round(n * _PRE_WINDOW_SHARE))
        signup_m = np.concatenate(
            [
                -rng.integers(1, _PRE_WINDOW_MONTHS + 1, n_pre),
                rng.integers(0, months, n - n_pre),
            ]
        )
        start = self._starts[signup_m + _PRE_WINDOW_MONTHS]
        length = self._starts[signup_m + _PRE_WINDOW_MONTHS + 1] - start
        signup_ts = start + (rng.random(n) * length).astype(np.int64)
        # Person ids follow sign-up order, like a sequence in the company's database.
        order = np.argsort(signup_ts, kind="stable")
        self.signup_m = signup_m[order].astype(np.int64)
        self.signup_ts = signup_ts[order]
        pre = self.signup_m < 0
        arch = np.where(pre, pick_n(rng, START_MIX, n), pick_n(rng, SIGNUP_MIX, n))
        self.arch = arch.astype(np.int8)
        self.arch0 = self.arch.copy()
        self.mult = rng.lognormal(-0.045, 0.3, n)  # personal activity level, mean 1
        self.taste = stream(self.seed, S_POP, 2).random(n)  # where in a price tier one buys
        self.alive = np.ones(n, dtype=bool)
        self.churn_m = np.full(n, -1, dtype=np.int64)

        self.has_account = rng.random(n) < RATES["has_account"][arch]
        self.has_crm = rng.random(n) < 0.6
        self.has_crm2 = self.has_crm & (rng.random(n) < 0.03)
        first_m = np.maximum(self.signup_m, 0)
        self.crm2_m = np.where(
            self.has_crm2, first_m + (rng.random(n) * (months - first_m)).astype(np.int64), -1
        )
        self.crm2_rank = np.cumsum(self.has_crm2) - 1
        # A CRM contact is created shortly after sign-up, within the sign-up month.
        month_end = self._starts[self.signup_m + _PRE_WINDOW_MONTHS + 1] - 1
        delay = (rng.exponential(0.5, n) * DAY).astype(np.int64)
        self.crm_created = np.minimum(self.signup_ts + delay, month_end)

        self.first = rng.integers(0, len(FIRST_NAMES), n)
        self.last = rng.integers(0, len(LAST_NAMES), n)
        self.typo_which = rng.integers(0, 2, n)  # second CRM contact: typo in first or last
        self.typo_kind = rng.integers(0, N_TYPO_KINDS, n)
        self.company = np.where(rng.random(n) < 0.45, rng.integers(0, len(COMPANY_NAMES), n), -1)
        self.role = rng.integers(0, len(ROLES), n)
        self.country = (rng.random(n) < 0.12).astype(np.int64)  # 0 US, 1 CA
        # Identity links and over-merge traps draw from their own stream.
        links = stream(self.seed, S_POP, 1)
        self.crm_user = self.has_crm & self.has_account & (links.random(n) < CRM_USER_SHARE)
        # Persons with a second billing address switched to it in this month (before it, their
        # invoices went to the main address).
        self.billing_switch_m = links.integers(1, max(2, months), n)
        self._make_families(links)
        self._make_emails(rng)
        self._make_crm2_emails(links)

        self.cookie_n = 1 + pick_n(rng, [0.5, 0.3, 0.2], n)
        self.device_n = np.where(self.has_account, 1 + (rng.random(n) < 0.35), 0)
        self.device_slot = np.stack([np.arange(n) * 2, np.arange(n) * 2 + 1], axis=1)
        # ~1% of devices are shared by 2-5 persons (family tablets): their second device.
        accounts = np.flatnonzero(self.has_account)
        n_shared = int(round(0.01 * self.device_n.sum()))
        sizes = rng.integers(2, 6, n_shared)
        keep = np.cumsum(sizes) <= len(accounts)
        sizes = sizes[keep]
        members = rng.choice(accounts, int(sizes.sum()), replace=False)
        group = np.repeat(np.arange(len(sizes)), sizes)
        self.device_slot[members, 1] = 2 * n + group
        self.device_n[members] = 2
        self.shared_device = np.zeros(n, dtype=bool)
        self.shared_device[members] = True
        self.n_shared_devices = len(sizes)
        self._share_cookies(links)

        self.subscribed = pre & (rng.random(n) < RATES["subscribed_at_start"][arch])
        self.plan = pick_rows(rng, PLAN_MIX, arch)
        self.ent_cents = (np.round(rng.lognormal(np.log(900), 0.5, n)) * 100).astype(np.int64)
        day = (self.signup_ts - start[order]) // DAY
        self.bill_day = np.minimum(day, 27)  # invoices on the sign-up day of month (max 28th)
        self.unsubscribed = np.zeros(n, dtype=bool)

        # Shop catalog, sorted by price so that a beta draw over it picks cheap or dear items.
        n_sku = 400
        price = np.maximum(199, np.round(rng.lognormal(np.log(2500), 0.9, n_sku))).astype(int)
        self.sku_price = np.sort(price)
        self.sku_category = rng.integers(0, len(SHOP_CATEGORIES), n_sku)
        self.sku_code = digit_ids("SKU-", np.arange(n_sku), 5, self.salt["sku"])

        # A few files (three sources, one month each) end in a truncated last line.
        srcs = rng.choice(len(TRUNCATABLE_SOURCES), N_TRUNCATED_FILES, replace=False)
        self.truncated = {
            (TRUNCATABLE_SOURCES[s], int(rng.integers(0, months))) for s in np.sort(srcs)
        }
        width = max(8, len(str(4 * n + 1000)))
        self.crm_width = width
        self.person_ids = pl.select(
            pl.lit("P") + pl.int_range(1, n + 1, eager=True).cast(pl.String).str.zfill(7)
        ).to_series()

    def _make_emails(self, rng: np.random.Generator) -> None:
        """Unique main emails, plus a second address for ~10% of billing accounts.

        Uniqueness is checked on the Gmail-canonical form (dots dropped), so no two persons
        share a mailbox once the identity layer normalises Gmail addresses.
        """
        n = self.n
        work_main = (self.company >= 0) & (rng.random(n) < 0.35)
        self.billing_alt = rng.random(n) < 0.10
        # The second billing address is the work one of persons whose main one is personal,
        # so those persons need an employer.
        lacks = self.billing_alt & (self.company < 0)
        self.company[lacks] = rng.integers(0, len(COMPANY_NAMES), int(lacks.sum()))
        personal = pick_n(rng, PERSONAL_DOMAIN_MIX, n)
        alt_idx = np.flatnonzero(self.billing_alt)
        # Main address: personal or work. Billing alternative: the other kind.
        who = np.concatenate([np.arange(n), alt_idx])
        is_work = np.concatenate([work_main, ~work_main[alt_idx]])
        dom_personal = take(PERSONAL_DOMAINS, personal[who])
        dom_work = take(COMPANY_DOMAINS, np.maximum(self.company[who], 0))
        pattern = rng.integers(0, 5, len(who))
        year = np.where(rng.random(len(who)) < 0.4, rng.integers(60, 100 + 6, len(who)) % 100, -1)
        df = pl.DataFrame(
            {
                "f": take(FIRST_NAMES, self.first[who]).str.to_lowercase(),
                "l": take(LAST_NAMES, self.last[who]).str.to_lowercase(),
                "p": pattern,
                "y": year,
                "d": replace_where(dom_personal, is_work, dom_work),
            }
        )
        f, ln, p = pl.col("f"), pl.col("l"), pl.col("p")
        base = (
            pl.when(p == 0)
            .then(pl.concat_str(f, pl.lit("."), ln))
            .when(p == 1)
            .then(pl.concat_str(f, ln))
            .when(p == 2)
            .then(pl.concat_str(f.str.slice(0, 1), ln))
            .when(p == 3)
            .then(pl.concat_str(f, pl.lit("_"), ln))
            .otherwise(pl.concat_str(f, ln.str.slice(0, 1)))
        )
        year_txt = pl.when(pl.col("y") >= 0).then(pl.col("y").cast(pl.String).str.zfill(2))
        df = df.with_columns(local=pl.concat_str(base, year_txt.otherwise(pl.lit(""))))
        canon = (
            pl.when(pl.col("d") == "gmail.com")
            .then(pl.col("local").str.replace_all(".", "", literal=True))
            .otherwise(pl.col("local"))
        )
        df = df.with_columns(canon=canon).with_columns(
            k=pl.int_range(pl.len()).over(["canon", "d"])
        )
        # Locals end in letters or a two-digit year, so '_<k>' can never recreate another one.
        suffix = pl.when(pl.col("k") > 0).then(pl.concat_str(pl.lit("_"), pl.col("k").cast(str)))
        emails = df.select(
            pl.concat_str(pl.col("local"), suffix.otherwise(pl.lit("")), pl.lit("@"), pl.col("d"))
        ).to_series()
        self.email = emails.head(n).alias("email")
        alt = emails.tail(len(alt_idx))
        billing = self.email.clone()
        self.billing_email = billing.scatter(alt_idx, alt) if len(alt_idx) else billing

    def _make_families(self, rng: np.random.Generator) -> None:
        """Pairs of persons of one household who give a family address to the shop and the
        billing system on some of their orders and invoices (their own main address stays
        theirs everywhere else). The pair shares the last name and the country."""
        n = self.n
        # Households are account holders who buy or subscribe (others would never use the
        # family address): power users, loyal customers and bargain hunters.
        cand = np.flatnonzero(np.isin(self.arch, [POWER, LOYAL, BARGAIN]) & self.has_account)
        k = min(int(round(SHARED_EMAIL_SHARE * n / 2)), len(cand) // 2)
        pairs = rng.choice(cand, 2 * k, replace=False).reshape(k, 2)
        self.family = np.full(n, -1, dtype=np.int64)
        self.family[pairs[:, 0]] = np.arange(k)
        self.family[pairs[:, 1]] = np.arange(k)
        self.last[pairs[:, 1]] = self.last[pairs[:, 0]]
        self.country[pairs[:, 1]] = self.country[pairs[:, 0]]
        # '<last>family' is no main, billing or second-CRM address form ('_k' suffixes and
        # name initials never end that way), so the address is the household's alone.
        df = pl.DataFrame(
            {
                "l": take(LAST_NAMES, self.last[pairs[:, 0]]).str.to_lowercase(),
                "d": take(PERSONAL_DOMAINS, pick_n(rng, PERSONAL_DOMAIN_MIX, k)),
            }
        ).with_columns(k=pl.int_range(pl.len()).over(["l", "d"]))
        number = pl.when(pl.col("k") > 0).then((pl.col("k") + 1).cast(pl.String))
        self.family_email = df.select(
            pl.concat_str(
                pl.col("l"), pl.lit("family"), number.otherwise(pl.lit("")), pl.lit("@"), "d"
            )
        ).to_series()

    def _make_crm2_emails(self, rng: np.random.Generator) -> None:
        """Addresses of second CRM contacts, indexed by `crm2_rank`: initial-dot-last at the
        employer's domain (or a non-Gmail personal domain), or none. No other address has the
        'j.smith' form, so no other record of any source carries one of these."""
        who = np.flatnonzero(self.has_crm2)
        k = len(who)
        has_company = self.company[who] >= 0
        personal = 1 + pick_n(rng, PERSONAL_DOMAIN_MIX[1:], k)  # not gmail: no dot folding
        domain = replace_where(
            take(PERSONAL_DOMAINS, personal),
            has_company,
            take(COMPANY_DOMAINS, np.maximum(self.company[who], 0)),
        )
        first = take(FIRST_NAMES, self.first[who]).str.to_lowercase()
        df = pl.DataFrame(
            {"f": first.str.slice(0, 1), "l": take(LAST_NAMES, self.last[who]), "d": domain}
        ).with_columns(local=pl.concat_str("f", pl.lit("."), pl.col("l").str.to_lowercase()))
        df = df.with_columns(k=pl.int_range(pl.len()).over(["local", "d"]))
        number = pl.when(pl.col("k") > 0).then((pl.col("k") + 1).cast(pl.String))
        emails = df.select(
            pl.concat_str("local", number.otherwise(pl.lit("")), pl.lit("@"), "d")
        ).to_series()
        present = rng.random(k) < np.where(has_company, 0.85, 0.5)
        self.crm2_email = masked(emails, present)

    def _share_cookies(self, rng: np.random.Generator) -> None:
        """Browsers shared by two account holders who both log in on them: ~0.5% of cookies.
        The second person gets the first one's cookie as an extra browser (or instead of
        their third)."""
        n = self.n
        self.cookie_slot = np.arange(3 * n, dtype=np.int64).reshape(n, 3)
        self.cookie_shared = np.zeros((n, 3), dtype=bool)
        # Last logged-in session per (person, browser slot): index person * 3 + slot.
        self.last_login = np.full(3 * n, -(10**12), dtype=np.int64)
        accounts = np.flatnonzero(self.has_account)
        k = min(int(round(SHARED_COOKIE_SHARE * self.cookie_n.sum())), len(accounts) // 2)
        pairs = rng.choice(accounts, 2 * k, replace=False).reshape(k, 2)
        a, b = pairs[:, 0], pairs[:, 1]
        ja = (rng.random(k) * self.cookie_n[a]).astype(np.int64)
        jb = np.minimum(self.cookie_n[b], 2)
        self.cookie_n[b] = jb + 1
        self.cookie_slot[b, jb] = self.cookie_slot[a, ja]
        self.cookie_shared[a, ja] = True
        self.cookie_shared[b, jb] = True

    def _trap_values(self) -> dict[str, pl.DataFrame]:
        """Per identifier type, the raw values planted as over-merge traps and their kind.
        Which persons' records really carry them is counted from the written files."""
        n = self.n
        shared_devices = 2 * n + np.arange(self.n_shared_devices)
        shared_cookies = np.unique(self.cookie_slot[self.cookie_shared])
        parts = {
            "anonymous_id": [("shared_cookie", hex_ids("a_", shared_cookies, self.salt["cookie"]))],
            "device_id": [("shared_device", hex_ids("d_", shared_devices, self.salt["device"]))],
            "email": [("shared_email", self.family_email)],
        }
        for id_type, junk in (
            ("email", JUNK_EMAIL),
            ("phone", JUNK_PHONE),
            ("user_id", JUNK_ID),
            ("device_id", JUNK_ID),
        ):
            parts.setdefault(id_type, []).append(("junk_identifier", pl.Series(junk)))
        return {
            id_type: pl.concat(
                [
                    pl.DataFrame({"value": v.cast(pl.String)}).with_columns(trap=pl.lit(trap))
                    for trap, v in kinds
                ]
            )
            for id_type, kinds in parts.items()
        }

    def person_strings(self, pidx: np.ndarray, kind: str) -> pl.Series:
        """Per-person identifier strings, computed from the person index (no big tables)."""
        if kind == "user_id":
            return hex_ids("u_", pidx, self.salt["user"])
        if kind == "billing_customer_id":
            return hex_ids("cus_", pidx, self.salt["billing"])
        if kind == "customer_key":
            return digit_ids("K", pidx, self.crm_width, self.salt["key"])
        if kind == "crm_id":
            return digit_ids("C", pidx, self.crm_width, self.salt["crm"])
        raise KeyError(kind)

    def contact_email(
        self, rng: np.random.Generator, who: np.ndarray, share: float, codes: int = 5
    ):
        """Person emails as typed into a form: for `share` of them a variant of
        `email_variants` (codes 1..`codes`: 4 is case and spaces only, 5 adds Gmail's)."""
        k = len(who)
        variant = np.where(rng.random(k) < share, rng.integers(1, codes + 1, k), 0)
        return email_variants(self.email.gather(who), variant, rng.integers(0, 3, k))

    def with_family_email(self, rng: np.random.Generator, email: pl.Series, who: np.ndarray):
        """`email` with the household's address instead on FAMILY_EMAIL_SHARE of the records
        of persons who have one, written exactly as recorded in the traps truth."""
        fam = self.family[who]
        use = np.flatnonzero((fam >= 0) & (rng.random(len(who)) < FAMILY_EMAIL_SHARE))
        return email.scatter(use, self.family_email.gather(fam[use])) if len(use) else email

    def contact_phone(self, rng: np.random.Generator, who: np.ndarray) -> pl.Series:
        fmt = pick_n(rng, PHONE_FORMAT_MIX, len(who))
        return phone_numbers(who, fmt, self.salt["phone"])
