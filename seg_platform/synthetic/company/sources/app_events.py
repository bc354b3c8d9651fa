"""App events: sessions, features used, onboarding steps, retries, errors."""

import numpy as np
import polars as pl

from seg_platform.synthetic.company.behaviour import (
    APP_EVENT_NAMES,
    FEATURE_MIX,
    FEATURES,
    ONBOARDING_MIX,
    ONBOARDING_STEPS,
    RATES,
    VOLUME,
    monthly_counts,
)
from seg_platform.synthetic.company.randomness import S_GEN, hex_ids, scramble, stream
from seg_platform.synthetic.company.vectors import (
    group_pos,
    masked,
    pick_rows,
    take,
    ts_strings,
    with_junk,
)
from seg_platform.synthetic.company.vocabulary import JUNK_ID
from seg_platform.synthetic.company.world import World


def month_rows(w: World, m: int, act: np.ndarray, write: bool) -> pl.DataFrame | None:
    """App sessions with features used, onboarding steps, retries and errors."""
    rng = stream(w.seed, S_GEN["app_events"], m)
    hi = w.start(m + 1)
    acc = act[w.has_account[act]]
    a = w.arch[acc].astype(np.int64)
    lo, frac = w.window(m, acc)
    level = w.mult[acc] * frac * VOLUME
    # 1) sessions: session_start then feature_used events a few minutes apart
    n_sess = monthly_counts(rng, "app_sessions", a, level, frac)
    sp, sa, slo = np.repeat(acc, n_sess), np.repeat(a, n_sess), np.repeat(lo, n_sess)
    per = 1 + rng.poisson(RATES["app_features"][sa])
    es = np.repeat(np.arange(len(sp)), per)
    pos = group_pos(per)
    cum = np.cumsum(np.where(pos == 0, 0, rng.integers(10, 600, len(es))))
    offset = cum - np.repeat(cum[np.cumsum(per) - per], per)
    ts1 = np.minimum(w.plan_ts(rng, sp, slo, m)[es] + offset, hi - 1)
    name1 = np.where(pos == 0, 0, 1)
    # 2) onboarding: a new account walks the five steps; strugglers keep retrying them
    new = np.where(w.signup_m[acc] == m, len(ONBOARDING_STEPS), 0)
    n_onb = new + monthly_counts(rng, "onboarding", a, frac * VOLUME, frac)
    op, oa = np.repeat(acc, n_onb), np.repeat(a, n_onb)
    name2 = 2 + pick_rows(rng, ONBOARDING_MIX, oa)
    step = np.minimum(group_pos(n_onb), len(ONBOARDING_STEPS) - 1)
    step = np.where(rng.random(len(op)) < 0.5, step, rng.integers(0, 5, len(op)))
    # 3) retries and errors, on the features the person uses
    n_retry = monthly_counts(rng, "retry", a, level, frac)
    n_error = monthly_counts(rng, "error", a, level, frac)
    rp = np.concatenate([np.repeat(acc, n_retry), np.repeat(acc, n_error)])
    name3 = np.concatenate([np.full(n_retry.sum(), 5), np.full(n_error.sum(), 6)])

    who = np.concatenate([sp[es], op, rp])
    lo_of = np.maximum(w.start(m), w.signup_ts[np.concatenate([op, rp])])
    ts = np.concatenate([ts1, w.plan_ts(rng, np.concatenate([op, rp]), lo_of, m)])
    name = np.concatenate([name1, name2, name3])
    w.count_activity(m, who)
    if not write:
        return None

    n_e = len(who)
    arch_e = w.arch[who].astype(np.int64)
    feature = pick_rows(rng, FEATURE_MIX, arch_e)
    has_feature = (name == 1) | (name >= 5)
    step_all = np.concatenate([np.zeros(len(es), np.int64), step, np.zeros(len(rp), np.int64)])
    has_step = (name >= 2) & (name <= 4)
    dev_j = (rng.random(n_e) * w.device_n[who]).astype(np.int64)
    device = w.device_slot[who, np.minimum(dev_j, 1)]
    web = rng.random(n_e) < 0.08  # the web app: no device id
    platform = np.where(web, 2, scramble(device, w.salt["platform"]) % np.uint64(2))
    w.seen_user[who] = True
    return pl.DataFrame(
        {
            "event_id": hex_ids("ae_", w.next_ids("app_events", n_e), w.salt["app"]),
            "event_ts": ts_strings(ts, iso=True),
            "user_id": w.person_strings(who, "user_id"),
            "device_id": with_junk(
                rng, masked(hex_ids("d_", device, w.salt["device"]), ~web), JUNK_ID
            ),
            "event_name": take(APP_EVENT_NAMES, name),
            "feature": masked(take(FEATURES, feature), has_feature),
            "onboarding_step": masked(take(ONBOARDING_STEPS, step_all), has_step),
            "platform": take(("ios", "android", "web"), platform.astype(np.int64)),
            "_pidx": who,
            "_ts": ts,
        }
    )
