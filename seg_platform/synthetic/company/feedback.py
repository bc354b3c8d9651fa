"""Privacy and feedback sources: consent changes, survey answers, erasure requests."""

from pathlib import Path

import numpy as np
import polars as pl

from seg_platform.sources.contract import SOURCES
from seg_platform.synthetic.company.randomness import S_CONSENT, S_SURVEY, hex_ids, stream
from seg_platform.synthetic.company.vectors import DAY, masked, pick_rows, take, ts_strings
from seg_platform.synthetic.company.world import World

# These sources never link identities, so they are written after the simulation, from streams
# of their own (S_CONSENT, S_SURVEY) and id families of their own: the linking sources and
# the truth stay exactly as without them. They carry no planted defects and enter no truth
# file; summary.json counts their rows under `feedback_rows`.

# Consent: share of the persons signing up in the window who opt in to the email channel
# around their sign-up, and per channel the share of all persons who opt out during the window
# (the person's archetype at that time weighs the chance: dormant customers and prospects
# withdraw more, power users and loyal customers less); some opt back in later.
CONSENT_OPT_IN_SHARE = 0.20
CONSENT_OPT_OUT_SHARES = (("email", 0.06), ("ads", 0.03), ("all", 0.01), ("sms", 0.02))
CONSENT_OPT_OUT_WEIGHT = np.array([0.6, 0.5, 1.0, 1.3, 1.2, 1.6, 0.8])
CONSENT_REOPT_SHARE = 0.10  # of the opt-outs, opted back in later (latest change wins)
CONSENT_USER_SHARE = 0.20  # changes of persons with a (seen) account recorded by user id
CONSENT_PHONE_SHARE = 0.4  # SMS changes recorded by phone number (STOP / START keywords)
CONSENT_VARIANT_SHARE = 0.15  # emails in another case or with stray spaces

# Surveys: the survey ids of seg_platform/activation/surveys.yaml and their answer options.
SURVEY_IDS = ("nps", "setup_blocker", "pricing_hesitation", "churn_reason")
NPS, SETUP_BLOCKER, PRICING_HESITATION, CHURN_REASON = range(4)
SURVEY_ANSWERS = {
    SETUP_BLOCKER: ("integrations", "data_import", "permissions", "billing", "other"),
    PRICING_HESITATION: (
        "price", "missing_feature", "comparing_alternatives", "need_approval", "other",
    ),
    CHURN_REASON: ("price", "switched_competitor", "no_longer_needed", "product_issues", "other"),
}  # fmt: skip
SURVEY_RESPONSE_SHARE = 0.04  # of the active persons of a month, answering one survey
SURVEY_USER_SHARE = 0.33  # answers of persons with a (seen) account recorded by user id
SURVEY_VARIANT_SHARE = 0.10
# Per archetype (ARCHETYPES order): relative chance of answering at all (prospects and
# strugglers are asked most), which survey, the NPS score (0-10) and the answer chosen in each
# survey with options.
SURVEY_WEIGHT = np.array([1.2, 1.2, 0.9, 1.5, 1.5, 0.7, 0.8])
SURVEY_MIX = np.array(
    [
        # nps  setup pricing churn
        [1.00, 0.00, 0.00, 0.00],  # power_user
        [1.00, 0.00, 0.00, 0.00],  # high_value_loyal
        [1.00, 0.00, 0.00, 0.00],  # bargain_hunter
        [0.10, 0.00, 0.90, 0.00],  # pricing_curious
        [0.10, 0.90, 0.00, 0.00],  # setup_struggler
        [0.35, 0.00, 0.00, 0.65],  # dormant_at_risk
        [0.60, 0.40, 0.00, 0.00],  # new_explorer
    ]
)
NPS_MIX = np.array(
    [
        # 0     1     2     3     4     5     6     7     8     9     10
        [.005, .005, .005, .005, .005, .005, .03, .09, .22, .30, .33],  # power_user
        [.005, .005, .005, .005, .005, .005, .03, .09, .22, .30, .33],  # high_value_loyal
        [.01,  .01,  .01,  .01,  .04,  .16,  .22, .24, .18, .08, .04],  # bargain_hunter
        [.01,  .01,  .01,  .01,  .04,  .16,  .22, .24, .18, .08, .04],  # pricing_curious
        [.05,  .05,  .08,  .10,  .12,  .15,  .15, .12, .10, .05, .03],  # setup_struggler
        [.08,  .08,  .12,  .15,  .17,  .17,  .13, .05, .03, .01, .01],  # dormant_at_risk
        [.01,  .01,  .01,  .01,  .01,  .07,  .12, .22, .25, .18, .11],  # new_explorer
    ]
)  # fmt: skip
# Answers chosen per survey with options (columns as in SURVEY_ANSWERS), rows: archetype.
# Only the rows of archetypes that get the survey (SURVEY_MIX) are used.
ANSWER_MIX = {
    SETUP_BLOCKER: np.array(
        [
            # integ. import perms billing other
            [0.25,   0.25,  0.20,  0.10,   0.20],  # power_user
            [0.25,   0.25,  0.20,  0.10,   0.20],  # high_value_loyal
            [0.25,   0.25,  0.20,  0.10,   0.20],  # bargain_hunter
            [0.25,   0.25,  0.20,  0.10,   0.20],  # pricing_curious
            [0.42,   0.33,  0.10,  0.05,   0.10],  # setup_struggler: their data will not come in
            [0.25,   0.25,  0.20,  0.10,   0.20],  # dormant_at_risk
            [0.30,   0.30,  0.20,  0.05,   0.15],  # new_explorer
        ]
    ),
    PRICING_HESITATION: np.array(
        [
            # price missing compare approval other
            [0.25,  0.20,   0.20,   0.20,    0.15],  # power_user
            [0.25,  0.20,   0.20,   0.20,    0.15],  # high_value_loyal
            [0.25,  0.20,   0.20,   0.20,    0.15],  # bargain_hunter
            [0.40,  0.10,   0.35,   0.10,    0.05],  # pricing_curious: price and the others
            [0.25,  0.20,   0.20,   0.20,    0.15],  # setup_struggler
            [0.25,  0.20,   0.20,   0.20,    0.15],  # dormant_at_risk
            [0.25,  0.20,   0.20,   0.20,    0.15],  # new_explorer
        ]
    ),
    CHURN_REASON: np.array(
        [
            # price switched no_need issues other
            [0.20,  0.20,    0.20,   0.25,  0.15],  # power_user
            [0.20,  0.20,    0.20,   0.25,  0.15],  # high_value_loyal
            [0.30,  0.20,    0.20,   0.15,  0.15],  # bargain_hunter
            [0.30,  0.25,    0.20,   0.10,  0.15],  # pricing_curious
            [0.10,  0.20,    0.20,   0.40,  0.10],  # setup_struggler
            [0.25,  0.20,    0.30,   0.15,  0.10],  # dormant_at_risk
            [0.20,  0.20,    0.30,   0.15,  0.15],  # new_explorer
        ]
    ),
}  # fmt: skip


def _consent_frame(w: World) -> pl.DataFrame:
    """Every consent change of the window, in time order, with `_ts`."""
    rng = stream(w.seed, S_CONSENT)
    n = w.n
    w0, w1 = w.start(0), w.start(w.months)
    # Opt-ins to the email channel a few minutes to hours after signing up in the window.
    joined = np.flatnonzero(w.signup_m >= 0)
    opt_in = joined[rng.random(len(joined)) < CONSENT_OPT_IN_SHARE]
    in_ts = w.signup_ts[opt_in] + (60 + rng.exponential(3 * 3600, len(opt_in))).astype(np.int64)
    ready = w.signup_ts.copy()  # nothing before sign-up (and after the opt-in)
    ready[opt_in] = in_ts + 60
    lo = np.maximum(ready, w0)
    who_parts, ts_parts = [opt_in], [in_ts]
    channel_parts = [np.zeros(len(opt_in), np.int64)]
    status_parts = [np.zeros(len(opt_in), np.int64)]
    channels = tuple(c for c, _ in CONSENT_OPT_OUT_SHARES)
    for c, (_, share) in enumerate(CONSENT_OPT_OUT_SHARES):
        t = lo + (rng.random(n) * np.maximum(w1 - lo, 0)).astype(np.int64)
        month = w.month_of(t)
        weight = CONSENT_OPT_OUT_WEIGHT[w.arch_hist[np.clip(month, 0, w.months - 1), np.arange(n)]]
        chance = share * weight / weight.mean()
        out = np.flatnonzero((rng.random(n) < chance) & (lo < w1))
        reopt = rng.random(len(out)) < CONSENT_REOPT_SHARE
        back = out[reopt]
        back_lo = t[back] + DAY
        back_ts = back_lo + (rng.random(len(back)) * np.maximum(w1 - back_lo, 0)).astype(np.int64)
        kept = back_ts < w1
        who_parts += [out, back[kept]]
        ts_parts += [t[out], back_ts[kept]]
        channel_parts += [np.full(len(out), c + 1), np.full(int(kept.sum()), c + 1)]
        status_parts += [np.ones(len(out), np.int64), np.zeros(int(kept.sum()), np.int64)]
    who, ts = np.concatenate(who_parts), np.concatenate(ts_parts)
    channel, status = np.concatenate(channel_parts), np.concatenate(status_parts)
    keep = ts < w1
    order = np.lexsort((channel[keep], who[keep], ts[keep]))
    who, ts = who[keep][order], ts[keep][order]
    channel, status = channel[keep][order], status[keep][order]
    k = len(who)
    # Recorded by user id (changes made in the app), some SMS ones by phone number, the rest
    # by email address.
    u = rng.random(k)
    by_user = w.seen_user[who] & (u < CONSENT_USER_SHARE)
    sms = channel == 1 + channels.index("sms")
    by_phone = ~by_user & sms & (u > 1 - CONSENT_PHONE_SHARE)
    email = masked(w.contact_email(rng, who, CONSENT_VARIANT_SHARE, codes=4), ~by_user & ~by_phone)
    return pl.DataFrame(
        {
            "consent_id": hex_ids("cns_", w.next_ids("consent", k), w.salt["consent"]),
            "changed_at": ts_strings(ts),
            "email": email,
            "phone": masked(w.contact_phone(rng, who), by_phone),
            "user_id": masked(w.person_strings(who, "user_id"), by_user),
            "channel": take(("email",) + channels, channel),
            "status": take(("opt_in", "opt_out"), status),
            "_ts": ts,
        }
    )


def _survey_frame(w: World, m: int) -> pl.DataFrame:
    """Month m's survey answers, in time order: a few active persons each answer the survey
    their archetype of the month triggers, scoring and answering like it."""
    rng = stream(w.seed, S_SURVEY, m)
    act = np.flatnonzero(w.alive_hist[m] & (w.signup_m <= m))
    a = w.arch_hist[m, act].astype(np.int64)
    weight = SURVEY_WEIGHT[a]
    chance = SURVEY_RESPONSE_SHARE * weight / weight.mean() if len(act) else weight
    pick = rng.random(len(act)) < chance
    who, a = act[pick], a[pick]
    k = len(who)
    lo, _ = w.window(m, who)
    ts = w.uniform_ts(rng, lo, m)
    survey = pick_rows(rng, SURVEY_MIX, a)
    score = pick_rows(rng, NPS_MIX, a)
    answer = np.full(k, -1, dtype=np.int64)
    options: list[str] = []
    for s, mix in ANSWER_MIX.items():
        chosen = pick_rows(rng, mix, a)
        answer = np.where(survey == s, len(options) + chosen, answer)
        options += SURVEY_ANSWERS[s]
    order = np.lexsort((who, ts))
    who, ts, survey, score, answer = (x[order] for x in (who, ts, survey, score, answer))
    by_user = w.seen_user[who] & (rng.random(k) < SURVEY_USER_SHARE)
    email = w.contact_email(rng, who, SURVEY_VARIANT_SHARE, codes=4)
    return pl.DataFrame(
        {
            "response_id": hex_ids("rsp_", w.next_ids("survey_responses", k), w.salt["survey"]),
            "responded_at": ts_strings(ts),
            "email": masked(email, ~by_user),
            "user_id": masked(w.person_strings(who, "user_id"), by_user),
            "survey_id": take(SURVEY_IDS, survey),
            "score": masked(pl.Series(score).cast(pl.String), survey == NPS),
            "answer": masked(take(tuple(options), np.maximum(answer, 0)), answer >= 0),
        }
    )


def write_feedback(w: World, landing: Path) -> dict[str, int]:
    """Write the consent, survey and erasure-request files; returns their row counts.

    Consent and surveys get one file per written month (header only in a month without
    changes); the demo company has no erasure requests: a header-only file to append to.
    """
    rows = {}
    consent = _consent_frame(w)
    month = w.month_of(consent["_ts"].to_numpy())
    cols = SOURCES["consent"].column_names
    folder = landing / "consent"
    folder.mkdir(parents=True)
    for m in range(w.months):
        part = consent.filter(pl.Series(month == m)).select(cols)
        part.write_csv(folder / f"consent_{w.labels[m]}.csv")
    rows["consent"] = consent.height
    del consent
    cols = SOURCES["survey_responses"].column_names
    folder = landing / "survey_responses"
    folder.mkdir(parents=True)
    rows["survey_responses"] = 0
    for m in range(w.months):
        part = _survey_frame(w, m).select(cols)
        part.write_csv(folder / f"survey_responses_{w.labels[m]}.csv")
        rows["survey_responses"] += part.height
    folder = landing / "erasure_requests"
    folder.mkdir(parents=True)
    header = ",".join(SOURCES["erasure_requests"].column_names)
    (folder / "erasure_requests.csv").write_text(header + "\n")
    rows["erasure_requests"] = 0
    return rows
