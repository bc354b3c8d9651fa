"""CRM contacts: created or updated this month, and second contacts with a typo."""

import numpy as np
import polars as pl

from seg_platform.synthetic.company.contacts import (
    FIRST_TYPOS,
    LAST_TYPOS,
    N_TYPO_KINDS,
    email_variants,
)
from seg_platform.synthetic.company.randomness import S_GEN, stream
from seg_platform.synthetic.company.vectors import (
    masked,
    replace_where,
    take,
    ts_strings,
    with_junk,
)
from seg_platform.synthetic.company.vocabulary import (
    COMPANY_NAMES,
    COUNTRY_NAMES,
    FIRST_NAMES,
    JUNK_EMAIL,
    JUNK_ID,
    JUNK_PHONE,
    LAST_NAMES,
    ROLES,
)
from seg_platform.synthetic.company.world import World


def month_rows(w: World, m: int, act: np.ndarray, write: bool) -> pl.DataFrame | None:
    """Contacts created or updated this month (the first file is the initial export), and
    second contacts: the same person entered again with a typo in the name."""
    if not write:
        return None
    rng = stream(w.seed, S_GEN["crm_contacts"], m)
    hi = w.start(m + 1)
    created_now = w.has_crm & (w.signup_m == m)
    if m == 0:
        created_now |= w.has_crm & (w.signup_m < 0)
    updated = w.has_crm & w.alive & (w.signup_m < m) & (rng.random(w.n) < 0.05)
    main = np.flatnonzero(created_now | (updated if m > 0 else False))
    second = np.flatnonzero(w.crm2_m == m)
    who = np.concatenate([main, second])
    k1, k = len(main), len(who)
    is2 = np.arange(k) >= k1
    created = np.where(is2, np.maximum(w.start(m), w.crm_created[who]), w.crm_created[who])
    created = np.where(is2, w.uniform_ts(rng, created, m), created)
    # updated_at: empty for some fresh contacts, else after creation and within the month.
    upd_lo = np.where(created_now[who] & ~is2, created, w.start(m))
    upd_lo = np.maximum(upd_lo, created)
    upd = w.uniform_ts(rng, upd_lo, m)
    has_upd = ~(created_now[who] | is2) | (rng.random(k) < 0.65)
    upd = np.minimum(upd, hi - 1)
    # Second contacts: one typo in the first or last name, no account or phone, and an
    # address of their own or none, so only the name, company, role and country link them.
    first_txt = take(FIRST_NAMES, w.first[who])
    last_txt = take(LAST_NAMES, w.last[who])
    typo_first = take(FIRST_TYPOS, w.first[who] * N_TYPO_KINDS + w.typo_kind[who])
    typo_last = take(LAST_TYPOS, w.last[who] * N_TYPO_KINDS + w.typo_kind[who])
    first_txt = replace_where(first_txt, is2 & (w.typo_which[who] == 0), typo_first)
    last_txt = replace_where(last_txt, is2 & (w.typo_which[who] == 1), typo_last)
    shout = rng.random(k) < 0.02
    last_txt = replace_where(last_txt, shout, last_txt.str.to_uppercase())
    email = masked(w.contact_email(rng, who, 0.45), rng.random(k) < 0.95)
    at2 = np.flatnonzero(is2)
    variant = np.where(rng.random(len(at2)) < 0.45, rng.integers(1, 5, len(at2)), 0)
    own = w.crm2_email.gather(w.crm2_rank[who[at2]])
    email = email.scatter(at2, email_variants(own, variant, np.zeros(len(at2), np.int64)))
    phone = masked(w.contact_phone(rng, who), (rng.random(k) < 0.7) & ~is2)
    user = masked(w.person_strings(who, "user_id"), w.crm_user[who] & ~is2)
    crm_idx = np.where(is2, w.n + w.crm2_rank[who], who)
    has_company = w.company[who] >= 0
    companies = COMPANY_NAMES
    country_names = COUNTRY_NAMES[0] + COUNTRY_NAMES[1]
    country = np.where(
        w.country[who] == 0,
        rng.integers(0, len(COUNTRY_NAMES[0]), k),
        len(COUNTRY_NAMES[0]) + rng.integers(0, len(COUNTRY_NAMES[1]), k),
    )
    return pl.DataFrame(
        {
            "crm_id": w.person_strings(crm_idx, "crm_id"),
            "user_id": with_junk(rng, user, JUNK_ID, ~is2),
            "email": with_junk(rng, email, JUNK_EMAIL, ~is2),
            "phone": with_junk(rng, phone, JUNK_PHONE, ~is2),
            "first_name": first_txt,
            "last_name": last_txt,
            "company": masked(take(companies, np.maximum(w.company[who], 0)), has_company),
            "role": masked(take(ROLES, w.role[who]), has_company),
            "country": take(country_names, country),
            "created_at": ts_strings(created),
            "updated_at": masked(ts_strings(upd), has_upd),
            "_pidx": who,
            "_ts": created,
        }
    )
