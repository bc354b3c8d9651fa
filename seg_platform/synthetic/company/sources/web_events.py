"""Web events: sessions of page views, logins and sign-ups on the site."""

import numpy as np
import polars as pl

from seg_platform.synthetic.company.behaviour import (
    PAGE_MIX,
    RATES,
    REFERRER_MIX,
    SEARCH_SITES,
    SOCIAL_SITES,
    VOLUME,
    monthly_counts,
)
from seg_platform.synthetic.company.randomness import S_GEN, hex_ids, stream
from seg_platform.synthetic.company.vectors import (
    DAY,
    group_pos,
    masked,
    pick_rows,
    take,
    ts_strings,
    with_junk,
)
from seg_platform.synthetic.company.vocabulary import (
    EVENT_TYPE_OF_CATEGORY,
    JUNK_ID,
    LOGIN_CATEGORY,
    PATH_OFFSET,
    PATH_SIZE,
    SIGNUP_CATEGORY,
    WEB_EVENT_TYPES,
    WEB_PATHS,
)
from seg_platform.synthetic.company.world import World

# Identity links between product identifiers (cookie, account) and contact ones.
IDENTIFY_SHARE = 0.7  # login and signup events that carry the email typed (identify call)
IDENTIFY_VARIANT_SHARE = 0.15  # of those, typed in another case or with stray spaces
LOGIN_DAYS = 30  # a browser stays logged in this long after the last logged-in session
LEAD_FORM_SHARE = 0.35  # web sessions of visitors without an account that start on a lead form


def month_rows(w: World, m: int, act: np.ndarray, write: bool) -> pl.DataFrame | None:
    """Sessions of page views on the persons' active days (prospects: in the last week)."""
    rng = stream(w.seed, S_GEN["web_events"], m)
    hi = w.start(m + 1)
    a = w.arch[act].astype(np.int64)
    lo, frac = w.window(m, act)
    n_sess = monthly_counts(rng, "web_sessions", a, w.mult[act] * frac * VOLUME, frac)
    # New account holders sign up on the site: one extra one-page session each.
    new = (w.signup_m[act] == m) & w.has_account[act]
    sp = np.concatenate([np.repeat(act, n_sess), act[new]])
    sa = np.concatenate([np.repeat(a, n_sess), a[new]])
    slo = np.concatenate([np.repeat(lo, n_sess), w.signup_ts[act[new]]])
    signup = np.zeros(len(sp), dtype=bool)
    signup[len(sp) - int(new.sum()) :] = True
    regular = len(sp) - int(new.sum())
    s_ts = np.concatenate([w.plan_ts(rng, sp[:regular], slo[:regular], m), slo[regular:]])
    pages = np.where(signup, 1, 1 + rng.poisson(RATES["web_pages_extra"][sa]))
    es = np.repeat(np.arange(len(sp)), pages)
    pos = group_pos(pages)
    gap = np.where(pos == 0, 0, rng.integers(5, 240, len(es)))
    cum = np.cumsum(gap)
    offset = cum - np.repeat(cum[np.cumsum(pages) - pages], pages)
    ts = np.minimum(s_ts[es] + offset, hi - 1)
    cat = np.where(signup[es], SIGNUP_CATEGORY, pick_rows(rng, PAGE_MIX, sa[es]))
    who = sp[es]
    w.count_activity(m, who)
    if not write:
        return None

    n_s, n_e = len(sp), len(es)
    slot = (rng.random(n_s) * w.cookie_n[sp]).astype(np.int64)
    cookie = w.cookie_slot[sp, slot]
    # Sessions on a shared browser are always logged in: each person uses their account.
    login = (rng.random(n_s) < RATES["login_share"][sa]) | signup | w.cookie_shared[sp, slot]
    logged = w.has_account[sp] & login
    w.seen_user[sp[logged]] = True
    # A logged-in session starts on the login page when the person had no logged-in session
    # on that browser in the last LOGIN_DAYS (the first time in the window, too); visitors
    # without an account now and then start on the signup page's lead form (newsletter,
    # quote or demo request), leaving their email but getting no user id.
    first = pos == 0
    relogin = _needs_login(w, sp, slot, s_ts, logged, signup)
    lead = ~w.has_account[sp] & (rng.random(n_s) < LEAD_FORM_SHARE)
    cat = np.where(first & relogin[es], LOGIN_CATEGORY, cat)
    cat = np.where(first & lead[es], SIGNUP_CATEGORY, cat)
    kind = EVENT_TYPE_OF_CATEGORY[cat]
    # The identify call of a login or signup sends the email the person typed (always
    # for a lead form: the address is what the form is for).
    login_ident = logged[es] & (kind >= 3) & (rng.random(n_e) < IDENTIFY_SHARE)
    ident = np.flatnonzero(login_ident | (lead[es] & (cat == SIGNUP_CATEGORY)))
    typed = w.contact_email(rng, who[ident], IDENTIFY_VARIANT_SHARE, codes=4)
    typed = with_junk(rng, typed, ("test@test.com",))
    email = pl.repeat(None, n_e, dtype=pl.String, eager=True).scatter(ident, typed)
    ref_kind = pick_rows(rng, REFERRER_MIX, sa)
    ref_sub = rng.integers(0, 1 << 20, n_s)
    refs = SEARCH_SITES + SOCIAL_SITES + tuple(f"newsletter:{c}" for c in w.campaigns(m))
    n_search, n_social = len(SEARCH_SITES), len(SOCIAL_SITES)
    ref_idx = np.select(
        [ref_kind == 1, ref_kind == 2],
        [ref_sub % n_search, n_search + ref_sub % n_social],
        n_search + n_social + ref_sub % 6,
    )
    path = PATH_OFFSET[cat] + (rng.random(n_e) * PATH_SIZE[cat]).astype(np.int64)
    session = w.next_ids("web_session", n_s)
    frame = pl.DataFrame(
        {
            "event_id": hex_ids("we_", w.next_ids("web_events", n_e), w.salt["web"]),
            "event_ts": ts_strings(ts),
            "anonymous_id": hex_ids("a_", cookie[es], w.salt["cookie"]),
            "user_id": with_junk(
                rng, masked(w.person_strings(who, "user_id"), logged[es]), JUNK_ID
            ),
            "email": email,
            "session_id": hex_ids("s_", session[es], w.salt["session"]),
            "event_type": take(WEB_EVENT_TYPES, kind),
            "page_path": take(WEB_PATHS, path),
            "referrer": masked(take(refs, ref_idx[es]), (pos == 0) & (ref_kind[es] > 0)),
            "_pidx": who,
            "_ts": ts,
        }
    )
    return frame


def _needs_login(
    w: World,
    sp: np.ndarray,
    slot: np.ndarray,
    s_ts: np.ndarray,
    logged: np.ndarray,
    signup: np.ndarray,
) -> np.ndarray:
    """Logged-in sessions whose browser had no logged-in session of that person in the last
    LOGIN_DAYS; updates the last logged-in time per (person, browser)."""
    lg = np.flatnonzero(logged)
    key = sp[lg] * 3 + slot[lg]
    order = np.lexsort((s_ts[lg], key))
    key, t, lg = key[order], s_ts[lg][order], lg[order]
    head = np.ones(len(key), dtype=bool)
    head[1:] = key[1:] != key[:-1]
    prev = np.where(head, w.last_login[key], np.roll(t, 1))
    out = np.zeros(len(sp), dtype=bool)
    out[lg] = (t - prev > LOGIN_DAYS * DAY) & ~signup[lg]
    tail = np.append(head[1:], True)
    w.last_login[key[tail]] = t[tail]
    return out
