"""The archetypes and how each behaves month by month: rates, mixes, transitions, plans."""

import numpy as np

ARCHETYPES = (
    "power_user",
    "high_value_loyal",
    "bargain_hunter",
    "pricing_curious",
    "setup_struggler",
    "dormant_at_risk",
    "new_explorer",
)
POWER, LOYAL, BARGAIN, PRICING, STRUGGLER, DORMANT, EXPLORER = range(7)
N_ARCH = len(ARCHETYPES)

# Monthly behaviour per archetype, columns in ARCHETYPES order. Counts are Poisson rates per
# active person-month (scaled by the person's own activity level) on top of the minimums below,
# probabilities are per event. Activity is concentrated rather than spread: power users live in
# the app, loyal customers buy dear twice a month and pay for big plans, bargain hunters fill
# carts, buy cheap and click the deals mailing, prospects read pricing and comparisons at the
# end of the month, strugglers abandon onboarding steps, retry, fail and write in, dormant
# customers are near-silent, explorers (new sign-ups) look around site and app.
#                              power  loyal  bargain pricing strugg dormant explorer
_RATE_ROWS: dict[str, tuple[float, ...]] = {
    "web_sessions":           (0.5,   0.5,   0.3,    0.3,    0.5,   0.25,   0.5),
    "web_pages_extra":        (0.5,   2.0,   0.5,    1.0,    0.5,   0.5,    2.0),
    "login_share":            (0.95,  0.85,  0.65,   0.45,   0.9,   0.55,   0.8),
    "app_sessions":           (0.5,   0.1,   0.03,   0.0,    0.4,   0.02,   0.5),
    "app_features":           (0.6,   1.0,   0.5,    0.5,    0.3,   0.3,    1.5),
    "onboarding":             (0.0,   0.0,   0.0,    0.0,    0.5,   0.0,    0.5),
    "retry":                  (0.03,  0.01,  0.01,   0.01,   0.5,   0.0,    0.05),
    "error":                  (0.03,  0.01,  0.01,   0.01,   1.5,   0.0,    0.05),
    "email_open":             (0.5,   0.7,   0.4,    0.35,   0.2,   0.03,   0.5),
    "email_click":            (0.3,   0.35,  0.7,    0.4,    0.1,   0.1,    0.35),
    "email_unsubscribe":      (0.003, 0.002, 0.008,  0.01,   0.01,  0.05,   0.005),
    "email_bounce":           (0.005, 0.005, 0.01,   0.01,   0.01,  0.04,   0.01),
    "tickets":                (0.03,  0.04,  0.02,   0.02,   0.3,   0.01,   0.05),
    "orders":                 (0.0,   0.2,   0.2,    0.0,    0.0,   0.0,    0.0),
    "order_lines_extra":      (0.3,   0.1,   0.2,    0.0,    0.2,   0.2,    0.3),
    "quantity_extra":         (0.3,   0.3,   0.9,    0.0,    0.2,   0.2,    0.3),
    "order_cancelled":        (0.05,  0.03,  0.06,   0.0,    0.08,  0.10,   0.06),
    "order_refunded":         (0.03,  0.02,  0.08,   0.0,    0.05,  0.06,   0.04),
    "churn":                  (0.004, 0.004, 0.012,  0.03,   0.035, 0.04,   0.015),
    "subscribed_at_start":    (0.9,   0.95,  0.3,    0.0,    0.6,   0.35,   0.3),
    "subscribe_at_signup":    (0.5,   0.7,   0.15,   0.0,    0.5,   0.1,    0.25),
    "subscribe":              (0.3,   0.3,   0.02,   0.0,    0.03,  0.005,  0.05),
    "cancel":                 (0.005, 0.005, 0.03,   1.0,    0.03,  0.05,   0.02),
    "invoice_failed":         (0.02,  0.01,  0.04,   0.0,    0.05,  0.3,    0.03),
    "invoice_refunded":       (0.005, 0.005, 0.02,   0.0,    0.02,  0.02,   0.01),
    "has_account":            (1.0,   0.95,  0.85,   0.5,    1.0,   0.85,   0.85),
    # Relative chance of switching archetype in a month: prospects buy or drift off,
    # strugglers get it or give up, the rest is stable (explorers settle after their
    # sign-up month instead).
    "switch_weight":          (0.5,   0.3,   0.4,    1.5,    1.5,   0.6,    0.0),
}  # fmt: skip
RATES = {k: np.asarray(v, dtype=np.float64) for k, v in _RATE_ROWS.items()}
# What an archetype does every month it holds it, on top of the rates (pro rata in the sign-up
# month): power users open the app, loyal customers and bargain hunters order, bargain hunters,
# prospects and explorers browse the site, strugglers fight the onboarding and write in.
_MINIMUM_ROWS: dict[str, tuple[int, ...]] = {
    "web_sessions":           (0,     0,     2,      2,      0,     0,      2),
    "app_sessions":           (3,     0,     0,      0,      0,     0,      0),
    "onboarding":             (0,     0,     0,      0,      2,     0,      0),
    "retry":                  (0,     0,     0,      0,      2,     0,      0),
    "orders":                 (0,     2,     2,      0,      0,     0,      0),
    "tickets":                (0,     0,     0,      0,      1,     0,      0),
}  # fmt: skip
MINIMUM = {k: np.asarray(v, dtype=np.int64) for k, v in _MINIMUM_ROWS.items()}
# Days a month each archetype is active on the site, in the app or in the shop (fewer at a low
# activity level): people keep their rhythm from month to month, only the days and the number
# of sessions on them vary. Never more than the minimum activity above, so that each of these
# days sees some. Dormant customers have no rhythm: their rare visits fall on any day.
ACTIVE_DAYS = np.array([3, 2, 2, 2, 3, 0, 2])
MAX_ACTIVE_DAYS = int(ACTIVE_DAYS.max())
LAST_WEEK_ARCHETYPES = (PRICING,)  # prospects look around at the end of the month

# Email campaigns of a month (six campaign ids): the newsletter (campaign 0) goes to every
# subscribed address every NEWSLETTER_MONTHS months, the deals mailing (campaign 1) to bargain
# hunters every month, the welcome mail (campaign 5) to each new sign-up right after signing up.
# Rows: archetype, columns: campaign.
CAMPAIGN_AUDIENCE = np.array(
    [
        [1, 0, 0, 0, 0, 0],  # power_user
        [1, 0, 0, 0, 0, 0],  # high_value_loyal
        [1, 1, 0, 0, 0, 0],  # bargain_hunter
        [1, 0, 0, 0, 0, 0],  # pricing_curious
        [1, 0, 0, 0, 0, 0],  # setup_struggler
        [1, 0, 0, 0, 0, 0],  # dormant_at_risk
        [1, 0, 0, 0, 0, 0],  # new_explorer
    ],
    dtype=bool,
)
NEWSLETTER_MONTHS = 2
WELCOME_CAMPAIGN = 5

# Archetype mix of persons already customers when the window starts (many of them dormant), and
# of new sign-ups: every new customer explores in the sign-up month, then settles into another
# archetype (a row of TRANSITIONS).
START_MIX = np.array([0.10, 0.10, 0.12, 0.08, 0.05, 0.55, 0.0])
SIGNUP_MIX = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
EXPLORE_MONTHS = 1

# Where a person goes when they switch archetype (rows: from, columns: to; diagonal zero).
TRANSITIONS = np.array(
    [
        # power loyal bargain pricing strugg dormant explorer
        [0.00, 0.15, 0.05, 0.10, 0.05, 0.65, 0.00],  # power_user
        [0.10, 0.00, 0.55, 0.05, 0.00, 0.30, 0.00],  # high_value_loyal
        [0.05, 0.55, 0.00, 0.10, 0.00, 0.30, 0.00],  # bargain_hunter
        [0.00, 0.30, 0.25, 0.00, 0.10, 0.35, 0.00],  # pricing_curious
        [0.40, 0.00, 0.00, 0.00, 0.00, 0.60, 0.00],  # setup_struggler
        [0.25, 0.15, 0.30, 0.30, 0.00, 0.00, 0.00],  # dormant_at_risk
        [0.25, 0.10, 0.15, 0.15, 0.25, 0.10, 0.00],  # new_explorer
    ]
)
# Power users and strugglers live in the app: persons without an account never become one
# (rows N_ARCH.. are used for them).
TRANSITIONS_BY_ACCOUNT = np.concatenate(
    [TRANSITIONS, TRANSITIONS * ~np.isin(np.arange(N_ARCH), [POWER, STRUGGLER])]
)

# Web page categories and how each archetype browses them.
PAGE_CATEGORIES = ("home", "product", "pricing", "compare", "cart", "checkout", "blog", "login")
PAGE_MIX = np.array(
    [
        # home product pricing compare cart checkout blog login
        [0.35, 0.15, 0.02, 0.01, 0.02, 0.01, 0.30, 0.14],  # power_user
        [0.15, 0.40, 0.03, 0.01, 0.20, 0.15, 0.03, 0.03],  # high_value_loyal
        [0.08, 0.35, 0.03, 0.04, 0.35, 0.10, 0.03, 0.02],  # bargain_hunter
        [0.03, 0.05, 0.50, 0.35, 0.01, 0.01, 0.03, 0.02],  # pricing_curious
        [0.30, 0.05, 0.03, 0.01, 0.01, 0.00, 0.45, 0.15],  # setup_struggler
        [0.55, 0.15, 0.05, 0.02, 0.02, 0.01, 0.15, 0.05],  # dormant_at_risk
        [0.20, 0.40, 0.05, 0.02, 0.03, 0.00, 0.27, 0.03],  # new_explorer
    ]
)
# Referrer of a session's first page: direct, search, social, newsletter campaign.
REFERRER_MIX = np.array(
    [
        [0.55, 0.25, 0.10, 0.10],
        [0.45, 0.25, 0.10, 0.20],
        [0.20, 0.25, 0.20, 0.35],
        [0.25, 0.50, 0.15, 0.10],
        [0.40, 0.40, 0.10, 0.10],
        [0.40, 0.30, 0.15, 0.15],
        [0.25, 0.40, 0.25, 0.10],
    ]
)
SEARCH_SITES = ("google.com", "bing.com", "duckduckgo.com")
SOCIAL_SITES = ("facebook.com", "linkedin.com", "reddit.com", "producthunt.com")

FEATURES = (
    "dashboard", "reports", "segments", "search", "filters", "export_csv", "alerts",
    "integrations", "data_import", "team_invite", "templates", "scheduled_reports", "comments",
    "custom_fields", "api_keys", "webhooks", "mobile_sync", "audit_log", "billing_portal", "sso",
)  # fmt: skip
# How concentrated each archetype's feature use is (Zipf exponent; low = broad use): power users
# come back to their favourites, explorers try a bit of everything.
FEATURE_ZIPF = np.array([1.0, 0.9, 1.3, 1.5, 1.2, 1.6, 0.0])
FEATURE_MIX = 1.0 / (np.arange(len(FEATURES)) + 1.0) ** FEATURE_ZIPF[:, None]
APP_EVENT_NAMES = (
    "session_start", "feature_used", "onboarding_step_started", "onboarding_step_completed",
    "onboarding_step_abandoned", "retry", "error",
)  # fmt: skip
ONBOARDING_STEPS = (
    "create_account",
    "verify_email",
    "connect_data",
    "invite_team",
    "first_segment",
)
# Onboarding outcome per event: started, completed, abandoned (explorers mostly get through).
ONBOARDING_MIX = np.array(
    [[0.45, 0.50, 0.05]] * 4 + [[0.50, 0.12, 0.38], [0.45, 0.40, 0.15], [0.35, 0.60, 0.05]]
)

TICKET_CATEGORIES = ("billing", "bug", "how_to", "onboarding", "cancellation", "other")
TICKET_MIX = np.array(
    [
        [0.10, 0.45, 0.25, 0.02, 0.03, 0.15],
        [0.30, 0.25, 0.20, 0.02, 0.05, 0.18],
        [0.35, 0.10, 0.20, 0.02, 0.13, 0.20],
        [0.40, 0.05, 0.30, 0.05, 0.05, 0.15],
        [0.08, 0.30, 0.20, 0.35, 0.02, 0.05],
        [0.30, 0.10, 0.10, 0.05, 0.35, 0.10],
        [0.10, 0.15, 0.40, 0.20, 0.02, 0.13],
    ]
)
SATISFACTION_MIX = np.array(
    [
        [0.02, 0.03, 0.10, 0.35, 0.50],
        [0.03, 0.05, 0.15, 0.37, 0.40],
        [0.05, 0.07, 0.18, 0.35, 0.35],
        [0.05, 0.07, 0.20, 0.35, 0.33],
        [0.35, 0.35, 0.20, 0.07, 0.03],
        [0.20, 0.25, 0.30, 0.15, 0.10],
        [0.03, 0.05, 0.15, 0.37, 0.40],
    ]
)
RESOLUTION_HOURS = np.array([6.0, 5.0, 8.0, 8.0, 30.0, 20.0, 8.0])  # lognormal median

PLANS = ("free", "starter", "pro", "enterprise")
PLAN_CENTS = np.array([0, 2900, 9900, 0])  # enterprise is priced per account
PLAN_MIX = np.array(
    [
        [0.00, 0.20, 0.70, 0.10],
        [0.00, 0.00, 0.50, 0.50],
        [0.20, 0.80, 0.00, 0.00],
        [0.30, 0.60, 0.10, 0.00],  # unused: prospects have no plan
        [0.30, 0.60, 0.10, 0.00],
        [0.10, 0.60, 0.30, 0.00],
        [0.60, 0.40, 0.00, 0.00],
    ]
)

SHOP_CATEGORIES = ("electronics", "home", "apparel", "beauty", "sports", "books", "toys", "garden")
# Shop product choice: the tier of the catalog (sorted by price) each archetype buys from, as
# (cheapest, dearest) quantile; within it each person keeps to their own taste.
PRICE_TIER = np.array(
    [[0.3, 0.8], [0.7, 0.99], [0.0, 0.25], [0.3, 0.8], [0.3, 0.8], [0.3, 0.8], [0.3, 0.8]]
)

# Multiplier on web, app and email rates. The rates above are calibrated so that at 1.0 they
# come to about 37 web, app and email events per customer over 12 months and about 49 landing
# rows of all sources (measured at 20,000 customers), counting customers who have not signed up
# yet or have churned.
VOLUME = 1.0


def monthly_counts(
    rng: np.random.Generator, key: str, arch: np.ndarray, level: np.ndarray, frac: np.ndarray
) -> np.ndarray:
    """Monthly counts of one activity: the archetype's minimum (pro rata in a part month, `frac`)
    plus a Poisson draw at its rate times `level` (activity level and part of the month)."""
    n = rng.poisson(RATES[key][arch] * level)
    if key in MINIMUM:
        n += rng.binomial(MINIMUM[key][arch], frac)
    return n
