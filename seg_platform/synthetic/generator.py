"""Synthetic company generator: landing files for every contract source, plus ground truth.

`generate()` simulates a company's customers month by month and writes what its systems would
export: web and app events, CRM contacts, email events, support tickets, billing invoices and
shop orders, one CSV per source and month (`landing/`), in exactly the columns of
`seg_platform.sources.contract`; then, from random streams of their own so that nothing above
changes, consent changes and survey answers (one CSV a month, no defects) and an empty
erasure-request file. Next to the landing files it writes the truth the platform is measured
against (`truth/`): who every record of the linking sources belongs to, each person's
archetype per month, what happened in the 90 days after each month, every planted defect, and
every planted over-merge trap.

The model, in short:

* Persons carry identifiers keyed differently per source (cookie, device, account, email,
  phone, CRM id, billing id, shop key), with the messiness real systems have: work billing
  emails that replace the main one from some month on, emails in mixed case with stray spaces
  and Gmail dot/plus variants, phones in many formats, junk values.
* Product identifiers meet contact identifiers on a few records, so that a resolver linking
  identifiers that co-occur on a record can join a person's web and app behaviour to their
  purchases: the site's identify call puts the typed email on ~70% of login and signup events
  (a logged-in session starts on the login page when the browser saw no login of that person
  for 30 days), visitors without an account leave their email on lead forms (signup events
  without user id), and ~90% of CRM contacts of account holders record the user id. Cookies
  that never see a login stay anonymous.
* Traps for resolvers that merge too eagerly, listed in `truth/traps.parquet` with the number
  of persons whose records carry each value: family devices shared by 2-5 accounts, browsers
  shared by two account holders who both log in on them, household emails two persons give
  on some of their orders and invoices, and every junk value. Second CRM contacts (the same
  person entered again, one typo in the first or last name) share no hard identifier with
  anything: no user id or phone, an address of their own or none; only name, company, role
  and country can link them.
* Each person has an archetype (power user, loyal big spender, bargain hunter, pricing-curious
  prospect, setup struggler, dormant, new explorer) that sets what they do and how much:
  activity is concentrated, each archetype does a lot of its own thing and little of the
  others', on a steady number of active days a month. New sign-ups explore in their sign-up
  month and then settle into another archetype; each month a share of the others switch along
  sensible transitions (changing plan with it), some churn and go silent.
* Defects are planted on purpose and recorded: late events (delivered in next month's file),
  duplicate deliveries, malformed rows of one unambiguous kind each, truncated last lines.

A truncated last line has too few fields: the platform's reader records it as an unreadable
line at its exact line number (DuckDB `store_rejects`) instead of padding it with NULLs.

Everything is vectorised with numpy and polars: loops run per month and per source, never per
person or per event. Randomness comes from `numpy.random.Generator(PCG64)` streams keyed by
(seed, purpose, month, ...), so each month's output depends only on the arguments, and the same
arguments give byte-identical files. Wall-clock time appears only in the returned summary.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from seg_platform.sources.contract import LINKING_SOURCES, SOURCES, Source

__all__ = ["ARCHETYPES", "MALFORMED_KINDS", "generate"]

# --------------------------------------------------------------------------------------------
# Archetypes and their behaviour
# --------------------------------------------------------------------------------------------

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
_TRANSITIONS_BY_ACCOUNT = np.concatenate(
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
_FEATURE_MIX = 1.0 / (np.arange(len(FEATURES)) + 1.0) ** FEATURE_ZIPF[:, None]
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

# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------

FIRST_NAMES = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William",
    "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony",
    "Margaret", "Mark", "Sandra", "Donald", "Ashley", "Steven", "Kimberly", "Paul", "Emily",
    "Andrew", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin", "Amanda", "Brian",
    "Melissa", "George", "Deborah", "Timothy", "Stephanie", "Ronald", "Rebecca", "Edward",
    "Sharon", "Jason", "Laura", "Jeffrey", "Cynthia", "Ryan", "Kathleen", "Jacob", "Amy", "Gary",
    "Angela", "Nicholas", "Shirley", "Eric", "Anna", "Jonathan", "Brenda", "Stephen", "Pamela",
    "Larry", "Emma", "Justin", "Nicole", "Scott", "Helen", "Brandon", "Samantha", "Benjamin",
    "Katherine", "Samuel", "Christine", "Gregory", "Debra", "Alexander", "Rachel", "Frank",
    "Carolyn", "Patrick", "Janet", "Raymond", "Catherine", "Jack", "Maria", "Dennis", "Heather",
    "Jerry", "Diane", "Tyler", "Ruth", "Aaron", "Julie", "Jose", "Olivia", "Adam", "Joyce",
    "Nathan", "Virginia", "Henry", "Victoria", "Priya", "Wei", "Aisha", "Mateo", "Sofia", "Omar",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans", "Turner",
    "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales",
    "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey",
    "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson", "Brooks",
    "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price", "Alvarez",
    "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez", "Powell",
    "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler", "Henderson", "Barnes",
    "Gonzales", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan", "Patterson", "Alexander",
    "Hamilton", "Graham", "Reynolds", "Griffin", "Wallace", "Moreno", "West", "Cole", "Hayes",
    "Chen", "Wang", "Singh", "Okafor", "Kowalski", "Schmidt", "Rossi", "Dubois", "Tanaka",
)  # fmt: skip
PERSONAL_DOMAINS = (
    "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "proton.me",
)  # fmt: skip
PERSONAL_DOMAIN_MIX = np.array([0.42, 0.15, 0.14, 0.1, 0.11, 0.04, 0.04])
# Employers of B2B contacts; the work email domain is derived from the name.
COMPANY_NAMES = (
    "Northwind Traders", "Contoso Ltd", "Fabrikam Inc", "Tailspin Toys", "Wide World Importers",
    "Adventure Works", "Litware Inc", "Proseware", "Lamna Healthcare", "Fourth Coffee",
    "Coho Winery", "Alpine Ski House", "Blue Yonder Airlines", "Humongous Insurance",
    "Margie's Travel", "Trey Research", "Woodgrove Bank", "Graphic Design Institute", "Relecloud",
    "VanArsdel Ltd", "Bellows College", "Datum Corporation", "Southridge Video",
    "City Power & Light", "Consolidated Messenger", "Nod Publishers", "Wingtip Toys",
    "School of Fine Art",
)  # fmt: skip
COMPANY_DOMAINS = tuple(
    "".join(ch for ch in name.lower().split(" ltd")[0].split(" inc")[0] if ch.isalnum())
    + ".example"
    for name in COMPANY_NAMES
)
ROLES = (
    "Marketing Manager", "Data Analyst", "CEO", "Founder", "Product Manager", "Engineer",
    "Operations Lead", "Sales Director", "Customer Success", "Head of Growth", "CTO", "Buyer",
)  # fmt: skip
COUNTRY_CODES = ("US", "CA")
COUNTRY_NAMES = (("US", "USA", "United States", "us", "U.S."), ("CA", "Canada", "canada"))
CURRENCIES = ("USD", "CAD")

# Web paths: one table, each page category owns a contiguous block of it.
_WEB_PRODUCTS = tuple(
    f"{a}-{b}"
    for a in ("smart", "eco", "pro", "mini", "ultra", "classic")
    for b in ("speaker", "lamp", "backpack", "bottle", "watch", "kettle", "desk")
)
_COMPETITORS = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka")
_BLOG_POSTS = tuple(
    f"{a}-{b}"
    for a in ("how-to", "guide-to", "ten-tips-for", "why-we-love")
    for b in ("segmentation", "onboarding", "exports", "dashboards", "alerts", "teams")
)
_PATH_BLOCKS = (
    ("/",),
    tuple(f"/product/{p}" for p in _WEB_PRODUCTS),
    ("/pricing",),
    tuple(f"/compare/{c}" for c in _COMPETITORS),
    ("/cart",),
    ("/checkout",),
    tuple(f"/blog/{b}" for b in _BLOG_POSTS),
    ("/login",),
    ("/signup",),
)
WEB_PATHS = tuple(p for block in _PATH_BLOCKS for p in block)
_PATH_OFFSET = np.cumsum([0] + [len(b) for b in _PATH_BLOCKS[:-1]])
_PATH_SIZE = np.array([len(b) for b in _PATH_BLOCKS])
SIGNUP_CATEGORY = len(_PATH_BLOCKS) - 1
LOGIN_CATEGORY = PAGE_CATEGORIES.index("login")
WEB_EVENT_TYPES = ("page_view", "add_to_cart", "checkout_started", "login", "signup")
_EVENT_TYPE_OF_CATEGORY = np.array([0, 0, 0, 0, 1, 2, 0, 3, 4])

EMAIL_EVENT_TYPES = ("sent", "open", "click", "unsubscribe", "bounce")
BILLING_STATUSES = ("paid", "failed", "refunded")
ORDER_STATUSES = ("completed", "cancelled", "refunded")

# Junk that real systems put into identifier fields; only ever in optional columns.
JUNK_EMAIL = ("test@test.com", "null", "n/a", "N/A")
JUNK_PHONE = ("0000", "null", "N/A", "n/a")
JUNK_ID = ("null", "n/a", "N/A", "0000")
JUNK_SHARE = 0.003

# Identity links between product identifiers (cookie, account, device) and contact ones.
IDENTIFY_SHARE = 0.7  # login and signup events that carry the email typed (identify call)
IDENTIFY_VARIANT_SHARE = 0.15  # of those, typed in another case or with stray spaces
CRM_USER_SHARE = 0.9  # CRM contacts of account holders that record the account's user id
LOGIN_DAYS = 30  # a browser stays logged in this long after the last logged-in session
LEAD_FORM_SHARE = 0.35  # web sessions of visitors without an account that start on a lead form
# Over-merge traps (truth/traps.parquet).
SHARED_COOKIE_SHARE = 0.008  # cookies shared by two account holders who both log in on them
SHARED_EMAIL_SHARE = 0.0065  # persons paired with another on a family shop/billing address
FAMILY_EMAIL_SHARE = 0.5  # of such a person's invoices and orders, those using it
TRAP_KINDS = ("shared_device", "shared_cookie", "shared_email", "junk_identifier")

LATE_SHARE = 0.02  # events of month m delivered in month m+1's file
LATE_SOURCES = ("web_events", "app_events", "email_events")
DUPLICATE_SOURCES = ("web_events", "app_events", "email_events", "billing", "orders")
# Truncated lines are cut by hand in the third field, so only plain-text sources whose first
# three columns never need CSV quoting qualify (not the gzipped email events, not CRM emails
# with stray spaces).
TRUNCATABLE_SOURCES = ("web_events", "app_events", "support_tickets", "billing", "orders")
N_TRUNCATED_FILES = 3

# Multiplier on web, app and email rates. The rates above are calibrated so that at 1.0 they
# come to about 37 web, app and email events per customer over 12 months and about 49 landing
# rows of all sources (measured at 20,000 customers), counting customers who have not signed up
# yet or have churned.
VOLUME = 1.0

MALFORMED_KINDS = (
    "bad_timestamp",
    "timestamp_out_of_range",
    "missing_required",
    "non_numeric_amount",
    "negative_amount",
    "bad_accepted_value",
    "out_of_range",
    "closed_before_opened",
    "missing_contact",
    "truncated_line",
)
_KINDS_BY_SOURCE = {
    "web_events": ("bad_timestamp", "timestamp_out_of_range", "missing_required"),
    "app_events": ("bad_timestamp", "timestamp_out_of_range", "missing_required"),
    "crm_contacts": ("bad_timestamp", "timestamp_out_of_range", "missing_required"),
    "email_events": (
        "bad_timestamp", "timestamp_out_of_range", "missing_required", "bad_accepted_value",
    ),
    "support_tickets": (
        "bad_timestamp", "timestamp_out_of_range", "missing_required", "out_of_range",
        "closed_before_opened", "missing_contact",
    ),
    "billing": (
        "bad_timestamp", "timestamp_out_of_range", "missing_required", "non_numeric_amount",
        "negative_amount", "bad_accepted_value",
    ),
    "orders": (
        "bad_timestamp", "timestamp_out_of_range", "missing_required", "non_numeric_amount",
        "negative_amount", "bad_accepted_value",
    ),
}  # fmt: skip
_BAD_ACCEPTED = {
    "email_events": ("event_type", ("opened??", "delivered", "spam_report")),
    "billing": ("status", ("pending_x", "chargeback", "paid?")),
    "orders": ("status", ("pending_x", "shipped??", "on_hold")),
}
_BAD_TIMESTAMPS = ("not-a-date", "2025-13-45 25:61:00", "2025-02-30 10:00:00")
_BAD_TIMESTAMPS_ISO = ("not-a-date", "2025-13-45T25:61:00Z", "2025-02-30T10:00:00Z")
_OUT_OF_RANGE_TS = ("1970-01-01 00:00:00", "2099-01-01 00:00:00")
_OUT_OF_RANGE_TS_ISO = ("1970-01-01T00:00:00Z", "2099-01-01T00:00:00Z")
_NON_NUMERIC = ("twelve", "12,50€", "1O.00")
_BAD_SATISFACTION = ("9", "0", "6", "-1")

# The linking sources, in contract order; fixes file, rng-stream and truth ordering. The
# privacy and feedback sources (consent, survey answers, erasure requests) are written after
# the simulation from streams of their own (`_write_feedback`), so they change nothing here.
SOURCE_ORDER = tuple(LINKING_SOURCES)
FEEDBACK_SOURCES = tuple(n for n in SOURCES if n not in LINKING_SOURCES)

# Random-stream purposes (first element of the SeedSequence spawn key).
_S_POP, _S_STATE, _S_FILES, _S_SALT, _S_DAYS = 1, 2, 3, 4, 5
_S_CONSENT, _S_SURVEY = 40, 41  # feedback sources: after every _S_GEN purpose
# New families go at the end: a family's salt depends on its position.
_ID_FAMILIES = (
    "user", "cookie", "device", "billing", "crm", "key", "phone", "web", "app", "email",
    "invoice", "session", "sku", "platform", "consent", "survey",
)  # fmt: skip
_EVENT_ID_PREFIX = {
    "web_events": ("we_", "web"),
    "app_events": ("ae_", "app"),
    "email_events": ("ee_", "email"),
}
_S_GEN = {name: 10 + i for i, name in enumerate(SOURCE_ORDER)}

_DAY = 86_400
_PRE_WINDOW_MONTHS = 36  # existing customers signed up up to 3 years before the window
_PRE_WINDOW_SHARE = 0.55  # share of customers already signed up when the window starts


# --------------------------------------------------------------------------------------------
# Small vectorised helpers
# --------------------------------------------------------------------------------------------


def _rng(seed: int, *keys: int) -> np.random.Generator:
    """An independent PCG64 stream for one purpose (and month, source...): order-proof."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=keys)))


def _salt(seed: int, kind: int) -> int:
    return int(np.random.SeedSequence(seed, spawn_key=(_S_SALT, kind)).generate_state(1)[0])


def _scramble(x: np.ndarray, salt: int) -> np.ndarray:
    """Bijective 64-bit mix (splitmix64 finaliser): distinct inputs give distinct ids."""
    z = x.astype(np.uint64) + np.uint64(salt)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def _hex(prefix: str, x: np.ndarray, salt: int) -> pl.Series:
    """`prefix` + 16 hex digits of the scrambled counters `x` (unique per salt)."""
    z = _scramble(np.asarray(x), salt).astype(">u8")
    arr = pa.Array.from_buffers(pa.binary(8), len(z), [None, pa.py_buffer(z.tobytes())])
    hexed = pl.Series("h", arr).bin.encode("hex")
    return pl.select(pl.lit(prefix) + hexed).to_series()


def _affine(x: np.ndarray, modulus: int, salt: int) -> np.ndarray:
    """Bijection of [0, modulus): ids that look random but never collide."""
    mult = 2_654_435_761 if modulus <= 10**9 else 1_234_567_891
    assert np.gcd(mult, modulus) == 1 and mult * modulus < 2**63
    return (np.asarray(x, dtype=np.int64) * mult + salt % modulus) % modulus


def _digits(prefix: str, x: np.ndarray, width: int, salt: int) -> pl.Series:
    """`prefix` + `width` digits, a bijection of the counters `x` (< 10**width)."""
    v = pl.Series("d", _affine(x, 10**width, salt)).cast(pl.String).str.zfill(width)
    return pl.select(pl.lit(prefix) + v).to_series()


def _pick(rng: np.random.Generator, table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One categorical draw per row, from the probability row `table[rows]`."""
    k = table.shape[1]
    cum = np.cumsum(table / table.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    flat = (cum + np.arange(table.shape[0])[:, None]).ravel()
    u = rng.random(len(rows)) + rows
    out = np.searchsorted(flat, u, side="right") - rows * k
    return np.clip(out, 0, k - 1)


def _counts(
    rng: np.random.Generator, key: str, arch: np.ndarray, level: np.ndarray, frac: np.ndarray
) -> np.ndarray:
    """Monthly counts of one activity: the archetype's minimum (pro rata in a part month, `frac`)
    plus a Poisson draw at its rate times `level` (activity level and part of the month)."""
    n = rng.poisson(RATES[key][arch] * level)
    if key in MINIMUM:
        n += rng.binomial(MINIMUM[key][arch], frac)
    return n


def _pick1(rng: np.random.Generator, probs: np.ndarray, n: int) -> np.ndarray:
    return _pick(rng, np.asarray(probs, dtype=np.float64)[None, :], np.zeros(n, dtype=np.int64))


def _group_pos(counts: np.ndarray) -> np.ndarray:
    """Position of each repeated element inside its group, for `np.repeat(x, counts)`."""
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) - np.repeat(starts, counts)


def _take(values: tuple[str, ...], idx: np.ndarray) -> pl.Series:
    return pl.Series("v", list(values), dtype=pl.String).gather(np.asarray(idx, dtype=np.int64))


def _fmt_ts(ts: pl.Expr, iso: bool = False) -> pl.Expr:
    fmt = "%Y-%m-%dT%H:%M:%SZ" if iso else "%Y-%m-%d %H:%M:%S"
    return pl.from_epoch(ts, time_unit="s").dt.strftime(fmt)


def _ts_strings(ts: np.ndarray, iso: bool = False) -> pl.Series:
    return pl.select(_fmt_ts(pl.lit(pl.Series(ts, dtype=pl.Int64)), iso)).to_series()


def _fmt_cents(cents: pl.Expr) -> pl.Expr:
    """Non-negative cents as a fixed two-decimal string (no float formatting surprises)."""
    return pl.concat_str(
        (cents // 100).cast(pl.String), pl.lit("."), (cents % 100).cast(pl.String).str.zfill(2)
    )


def _case_variants(values: tuple[str, ...]) -> tuple[str, ...]:
    """Each value, then per value: Title, UPPER, ' leading space', 'trailing space '."""
    out = list(values)
    for v in values:
        out += [v.title(), v.upper(), " " + v, v + " "]
    return tuple(out)


def _varied(
    rng: np.random.Generator, codes: np.ndarray, n_values: int, share: float = 0.03
) -> np.ndarray:
    """Index into `_case_variants(values)`: mostly the clean value, sometimes a variant.

    Accepted-value columns are checked after trimming and lower-casing, so these stay valid.
    """
    codes = np.asarray(codes, dtype=np.int64)
    vary = rng.random(len(codes)) < share
    variant = rng.integers(0, 4, len(codes))
    return np.where(vary, n_values + codes * 4 + variant, codes)


def _mask(series: pl.Series, keep: np.ndarray) -> pl.Series:
    """`series` with null where `keep` is False."""
    return pl.select(pl.when(pl.Series(keep)).then(series).otherwise(None)).to_series()


def _replace(series: pl.Series, where: np.ndarray, values: pl.Series | str) -> pl.Series:
    """`series` with `values` (a same-length Series or a scalar) where `where` is True."""
    other = pl.lit(values) if isinstance(values, str) else values
    return (
        pl.select(pl.when(pl.Series(where)).then(other).otherwise(series))
        .to_series()
        .alias(series.name)
    )


def _junk(
    rng: np.random.Generator,
    series: pl.Series,
    junk: tuple[str, ...],
    where: np.ndarray | None = None,
) -> pl.Series:
    """Put junk placeholders ('null', 'N/A', 'test@test.com'...) into a small share of rows
    (only rows where `where` is True, when given)."""
    hit = rng.random(len(series)) < JUNK_SHARE
    if where is not None:
        hit &= where
    return _replace(series, hit, _take(junk, rng.integers(0, len(junk), len(series))))


# Phones: NANP numbers whose area code and exchange never start with 0/1, are never N11 and
# never 555, so every number looks real yet is not a reserved fictional one.
_NANP3 = np.array([c for c in range(200, 1000) if c % 100 != 11 and c != 555], dtype=np.int64)
_PHONE_SPACE = len(_NANP3) ** 2 * 10_000
PHONE_FORMATS = (
    "+1 AAA-EEE-LLLL",
    "(AAA) EEE-LLLL",
    "AAA.EEE.LLLL",
    "AAAEEELLLL",
    "+1AAAEEELLLL",
    "AAA-EEE-LLLL",
    "1-AAA-EEE-LLLL",
)
_PHONE_FORMAT_MIX = np.array([0.2, 0.25, 0.1, 0.15, 0.15, 0.1, 0.05])


def _phone(pidx: np.ndarray, fmt: np.ndarray | None, salt: int) -> pl.Series:
    """Each person's unique US number, E.164 when `fmt` is None, else in PHONE_FORMATS[fmt]."""
    y = _affine(pidx, _PHONE_SPACE, salt)
    line = y % 10_000
    rest = y // 10_000
    df = pl.DataFrame(
        {
            "a": _NANP3[rest // len(_NANP3)],
            "e": _NANP3[rest % len(_NANP3)],
            "l": line,
            "f": np.zeros(len(y), dtype=np.int64) if fmt is None else fmt,
        }
    )
    a, e = pl.col("a").cast(pl.String), pl.col("e").cast(pl.String)
    ln = pl.col("l").cast(pl.String).str.zfill(4)
    if fmt is None:
        return df.select(pl.concat_str(pl.lit("+1"), a, e, ln)).to_series()
    expr = pl.when(pl.col("f") == 0).then(
        pl.concat_str(pl.lit("+1 "), a, pl.lit("-"), e, pl.lit("-"), ln)
    )
    pieces = (
        (pl.lit("("), a, pl.lit(") "), e, pl.lit("-"), ln),
        (a, pl.lit("."), e, pl.lit("."), ln),
        (a, e, ln),
        (pl.lit("+1"), a, e, ln),
        (a, pl.lit("-"), e, pl.lit("-"), ln),
        (pl.lit("1-"), a, pl.lit("-"), e, pl.lit("-"), ln),
    )
    for code, parts in enumerate(pieces, start=1):
        expr = expr.when(pl.col("f") == code).then(pl.concat_str(*parts))
    return df.select(expr.otherwise(None)).to_series()


def _email_variant(emails: pl.Series, codes: np.ndarray, tag: np.ndarray) -> pl.Series:
    """Emails as people type them into forms.

    codes: 0 as is, 1 Title.Case, 2 UPPER, 3 '  Title.Case ', 4 ' lower  ',
    5 Gmail variant (dots removed from the local part, or a +tag when it has no dots; other
    domains fall back to Title.Case). Gmail ignores dots and +tags, so 5 is the same mailbox.
    """
    df = pl.DataFrame({"e": emails, "c": codes, "t": _take(("news", "shop", "promo"), tag)})
    e = pl.col("e")
    parts = e.str.split_exact("@", 1)
    local, domain = parts.struct.field("field_0"), parts.struct.field("field_1")
    gmail = pl.when(local.str.contains(".", literal=True)).then(
        pl.concat_str(local.str.replace_all(".", "", literal=True), pl.lit("@"), domain)
    )
    gmail = gmail.otherwise(pl.concat_str(local, pl.lit("+"), pl.col("t"), pl.lit("@"), domain))
    c = pl.col("c")
    expr = (
        pl.when(c == 0)
        .then(e)
        .when(c == 2)
        .then(e.str.to_uppercase())
        .when(c == 3)
        .then(pl.concat_str(pl.lit("  "), e.str.to_titlecase(), pl.lit(" ")))
        .when(c == 4)
        .then(pl.concat_str(pl.lit(" "), e, pl.lit("  ")))
        .when((c == 5) & (domain == "gmail.com"))
        .then(gmail)
        .otherwise(e.str.to_titlecase())
    )
    return df.select(expr).to_series()


_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
# A neighbouring key on the same keyboard row: the letter a slipping finger types instead.
_NEIGHBOUR_KEY = {
    row[i]: row[i + 1] if i + 1 < len(row) else row[i - 1]
    for row in _KEYBOARD_ROWS
    for i in range(len(row))
}
N_TYPO_KINDS = 4


def _typos(name: str) -> tuple[str, str, str, str]:
    """Four misspellings of a name, each exactly one edit away from it (case aside): two
    neighbouring letters transposed, one letter dropped, one doubled (an insertion), one
    replaced by its neighbour on the keyboard. Where a kind cannot apply (equal neighbours,
    names of three letters) a letter is appended instead, still one insertion."""
    i = max(1, len(name) // 2)
    if i + 1 < len(name) and name[i] != name[i + 1]:
        swapped = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    else:
        swapped = name + name[-1]
    dropped = name[:i] + name[i + 1 :] if len(name) > 3 else name + "h"
    doubled = name[: i + 1] + name[i] + name[i + 1 :]
    c = name[i].lower()
    replaced = name[:i] + _NEIGHBOUR_KEY[c] + name[i + 1 :] if c in _NEIGHBOUR_KEY else name + "e"
    return swapped, dropped, doubled, replaced


_FIRST_TYPOS = tuple(t for name in FIRST_NAMES for t in _typos(name))
_LAST_TYPOS = tuple(t for name in LAST_NAMES for t in _typos(name))


def _list_series(offsets: np.ndarray, values: pl.Series) -> pl.Series:
    """Ragged lists from CSR-style offsets (built through Arrow, not per row)."""
    offsets = pl.Series(offsets, dtype=pl.Int32).to_arrow()
    return pl.Series("v", pa.ListArray.from_arrays(offsets, values.to_arrow()))


# --------------------------------------------------------------------------------------------
# The simulated company
# --------------------------------------------------------------------------------------------


class _World:
    """The persons, their state month by month, and one generator per source.

    Internal month index 0 is the first written month; `months + 3` months are simulated so
    that outcomes (next 90 days) exist for every written month. Generators return the month's
    valid rows as a frame of contract columns (all strings) plus `_pidx` (person index) and
    `_ts` (event time, epoch seconds); they also feed the activity and revenue counters.
    """

    def __init__(self, customers: int, months: int, seed: int, end_month: str, switch_share):
        self.n, self.months, self.seed = customers, months, seed
        self.total = months + 3
        self.switch_share = switch_share
        self.first_month = np.datetime64(end_month, "M") - (months - 1)
        offsets = np.arange(-_PRE_WINDOW_MONTHS, self.total + 1)
        self._starts = (self.first_month + offsets).astype("datetime64[s]").astype(np.int64)
        self.labels = tuple(str(self.first_month + i) for i in range(self.total))
        # One salt per id family, so the same counter gives unrelated ids in each family.
        self.salt = {k: _salt(seed, i) for i, k in enumerate(_ID_FAMILIES)}
        self._counters: dict[str, int] = {}
        self._make_people(_rng(seed, _S_POP))
        self.trap_values = self._trap_values()
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

    # -- time ---------------------------------------------------------------------------------

    def start(self, m: int) -> int:
        """Epoch seconds of the start of internal month m (negative m: before the window)."""
        return int(self._starts[m + _PRE_WINDOW_MONTHS])

    def _window(self, m: int, who: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Earliest event time per person this month (sign-up time in the sign-up month) and
        the share of the month they were customers, which scales their rates."""
        s, e = self.start(m), self.start(m + 1)
        lo = np.maximum(s, self.signup_ts[who])
        return lo, (e - lo) / (e - s)

    def _uniform_ts(self, rng: np.random.Generator, lo: np.ndarray, m: int) -> np.ndarray:
        hi = self.start(m + 1)
        return lo + (rng.random(len(lo)) * (hi - lo)).astype(np.int64)

    def _plan_days(self, m: int, act: np.ndarray) -> None:
        """Month m's active days of the active persons: ACTIVE_DAYS of their archetype (fewer at
        a low activity level, pro rata in the sign-up month), one in each equal stretch of the
        time between sign-up and month end (of the month's last week for prospects)."""
        rng = _rng(self.seed, _S_DAYS, m)
        k = len(act)
        base = ACTIVE_DAYS[self.arch[act]]
        want = np.minimum(base, np.maximum(1, np.round(base * self.mult[act]))).astype(np.int64)
        lo, frac = self._window(m, act)
        want = np.minimum(want, np.maximum(1, np.round(want * frac)).astype(np.int64))
        start = self.start(m)
        month_days = (self.start(m + 1) - start) // _DAY
        first = (lo - start) // _DAY
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
        self.plan_day[act] = start + (first[:, None] + chosen) * _DAY
        self.plan_n[:] = 0
        self.plan_n[act] = d
        self.plan_used[:] = 0

    def _plan_ts(
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
        after = lo + (rng.random(k) * np.maximum(day + _DAY - lo, 1)).astype(np.int64)
        ts = np.where(ts < lo, after, ts)  # on the sign-up day: after signing up
        anywhere = lo + (rng.random(k) * (hi - lo)).astype(np.int64)
        self.plan_used += np.bincount(who, minlength=self.n)
        return np.minimum(np.where(days > 0, ts, anywhere), hi - 1)

    def next_ids(self, name: str, k: int) -> np.ndarray:
        """A block of fresh counters for one id sequence; ids built from them never repeat."""
        c = self._counters.get(name, 0)
        self._counters[name] = c + k
        return np.arange(c, c + k, dtype=np.int64)

    # -- persons ------------------------------------------------------------------------------

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
        arch = np.where(pre, _pick1(rng, START_MIX, n), _pick1(rng, SIGNUP_MIX, n))
        self.arch = arch.astype(np.int8)
        self.arch0 = self.arch.copy()
        self.mult = rng.lognormal(-0.045, 0.3, n)  # personal activity level, mean 1
        self.taste = _rng(self.seed, _S_POP, 2).random(n)  # where in a price tier one buys
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
        delay = (rng.exponential(0.5, n) * _DAY).astype(np.int64)
        self.crm_created = np.minimum(self.signup_ts + delay, month_end)

        self.first = rng.integers(0, len(FIRST_NAMES), n)
        self.last = rng.integers(0, len(LAST_NAMES), n)
        self.typo_which = rng.integers(0, 2, n)  # second CRM contact: typo in first or last
        self.typo_kind = rng.integers(0, N_TYPO_KINDS, n)
        self.company = np.where(rng.random(n) < 0.45, rng.integers(0, len(COMPANY_NAMES), n), -1)
        self.role = rng.integers(0, len(ROLES), n)
        self.country = (rng.random(n) < 0.12).astype(np.int64)  # 0 US, 1 CA
        # Identity links and over-merge traps draw from their own stream.
        links = _rng(self.seed, _S_POP, 1)
        self.crm_user = self.has_crm & self.has_account & (links.random(n) < CRM_USER_SHARE)
        # Persons with a second billing address switched to it in this month (before it, their
        # invoices went to the main address).
        self.billing_switch_m = links.integers(1, max(2, months), n)
        self._make_families(links)
        self._make_emails(rng)
        self._make_crm2_emails(links)

        self.cookie_n = 1 + _pick1(rng, [0.5, 0.3, 0.2], n)
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
        self.plan = _pick(rng, PLAN_MIX, arch)
        self.ent_cents = (np.round(rng.lognormal(np.log(900), 0.5, n)) * 100).astype(np.int64)
        day = (self.signup_ts - start[order]) // _DAY
        self.bill_day = np.minimum(day, 27)  # invoices on the sign-up day of month (max 28th)
        self.unsubscribed = np.zeros(n, dtype=bool)

        # Shop catalog, sorted by price so that a beta draw over it picks cheap or dear items.
        n_sku = 400
        price = np.maximum(199, np.round(rng.lognormal(np.log(2500), 0.9, n_sku))).astype(int)
        self.sku_price = np.sort(price)
        self.sku_category = rng.integers(0, len(SHOP_CATEGORIES), n_sku)
        self.sku_code = _digits("SKU-", np.arange(n_sku), 5, self.salt["sku"])

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
        personal = _pick1(rng, PERSONAL_DOMAIN_MIX, n)
        alt_idx = np.flatnonzero(self.billing_alt)
        # Main address: personal or work. Billing alternative: the other kind.
        who = np.concatenate([np.arange(n), alt_idx])
        is_work = np.concatenate([work_main, ~work_main[alt_idx]])
        dom_personal = _take(PERSONAL_DOMAINS, personal[who])
        dom_work = _take(COMPANY_DOMAINS, np.maximum(self.company[who], 0))
        pattern = rng.integers(0, 5, len(who))
        year = np.where(rng.random(len(who)) < 0.4, rng.integers(60, 100 + 6, len(who)) % 100, -1)
        df = pl.DataFrame(
            {
                "f": _take(FIRST_NAMES, self.first[who]).str.to_lowercase(),
                "l": _take(LAST_NAMES, self.last[who]).str.to_lowercase(),
                "p": pattern,
                "y": year,
                "d": _replace(dom_personal, is_work, dom_work),
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
                "l": _take(LAST_NAMES, self.last[pairs[:, 0]]).str.to_lowercase(),
                "d": _take(PERSONAL_DOMAINS, _pick1(rng, PERSONAL_DOMAIN_MIX, k)),
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
        personal = 1 + _pick1(rng, PERSONAL_DOMAIN_MIX[1:], k)  # not gmail: no dot folding
        domain = _replace(
            _take(PERSONAL_DOMAINS, personal),
            has_company,
            _take(COMPANY_DOMAINS, np.maximum(self.company[who], 0)),
        )
        first = _take(FIRST_NAMES, self.first[who]).str.to_lowercase()
        df = pl.DataFrame(
            {"f": first.str.slice(0, 1), "l": _take(LAST_NAMES, self.last[who]), "d": domain}
        ).with_columns(local=pl.concat_str("f", pl.lit("."), pl.col("l").str.to_lowercase()))
        df = df.with_columns(k=pl.int_range(pl.len()).over(["local", "d"]))
        number = pl.when(pl.col("k") > 0).then((pl.col("k") + 1).cast(pl.String))
        emails = df.select(
            pl.concat_str("local", number.otherwise(pl.lit("")), pl.lit("@"), "d")
        ).to_series()
        present = rng.random(k) < np.where(has_company, 0.85, 0.5)
        self.crm2_email = _mask(emails, present)

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
            "anonymous_id": [("shared_cookie", _hex("a_", shared_cookies, self.salt["cookie"]))],
            "device_id": [("shared_device", _hex("d_", shared_devices, self.salt["device"]))],
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
            return _hex("u_", pidx, self.salt["user"])
        if kind == "billing_customer_id":
            return _hex("cus_", pidx, self.salt["billing"])
        if kind == "customer_key":
            return _digits("K", pidx, self.crm_width, self.salt["key"])
        if kind == "crm_id":
            return _digits("C", pidx, self.crm_width, self.salt["crm"])
        raise KeyError(kind)

    # -- monthly state ------------------------------------------------------------------------

    def advance(self, m: int) -> np.ndarray:
        """Churn, archetype switches, sign-ups and subscriptions for month m; returns the
        indices of the persons active (signed up and not churned) this month."""
        rng = _rng(self.seed, _S_STATE, m)
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
        self.arch[switch] = _pick(rng, _TRANSITIONS_BY_ACCOUNT, row)
        # A new way of using the product comes with the plan that goes with it.
        to = self.arch[switch].astype(np.int64)
        self.subscribed[switch] = rng.random(len(switch)) < RATES["subscribed_at_start"][to]
        self.plan[switch] = _pick(rng, PLAN_MIX, to)
        joined = self.signup_m == m
        active = self.alive & (self.signup_m <= m)
        arch = self.arch.astype(np.int64)
        # Subscriptions: prospects hold no plan; others cancel or subscribe at their rates.
        self.subscribed &= active & (arch != PRICING)
        self.subscribed &= ~(rng.random(n) < RATES["cancel"][arch])
        rate = np.where(joined, RATES["subscribe_at_signup"][arch], RATES["subscribe"][arch])
        new = active & ~self.subscribed & (rng.random(n) < rate)
        self.plan[new] = _pick(rng, PLAN_MIX, arch[new])
        self.subscribed |= new
        if m < self.months:
            self.arch_hist[m] = self.arch
            self.alive_hist[m] = self.alive
        act = np.flatnonzero(active)
        self._plan_days(m, act)
        return act

    # -- sources ------------------------------------------------------------------------------

    def _count(self, m: int, who: np.ndarray) -> None:
        self.activity[m] += np.bincount(who, minlength=self.n).astype(np.int32)

    def campaigns(self, m: int) -> tuple[str, ...]:
        tag = self.labels[m].replace("-", "")
        return tuple(f"cmp_{tag}_{k:02d}" for k in range(6))

    def gen_web_events(self, m: int, act: np.ndarray, write: bool) -> pl.DataFrame | None:
        """Sessions of page views on the persons' active days (prospects: in the last week)."""
        rng = _rng(self.seed, _S_GEN["web_events"], m)
        hi = self.start(m + 1)
        a = self.arch[act].astype(np.int64)
        lo, frac = self._window(m, act)
        n_sess = _counts(rng, "web_sessions", a, self.mult[act] * frac * VOLUME, frac)
        # New account holders sign up on the site: one extra one-page session each.
        new = (self.signup_m[act] == m) & self.has_account[act]
        sp = np.concatenate([np.repeat(act, n_sess), act[new]])
        sa = np.concatenate([np.repeat(a, n_sess), a[new]])
        slo = np.concatenate([np.repeat(lo, n_sess), self.signup_ts[act[new]]])
        signup = np.zeros(len(sp), dtype=bool)
        signup[len(sp) - int(new.sum()) :] = True
        regular = len(sp) - int(new.sum())
        s_ts = np.concatenate([self._plan_ts(rng, sp[:regular], slo[:regular], m), slo[regular:]])
        pages = np.where(signup, 1, 1 + rng.poisson(RATES["web_pages_extra"][sa]))
        es = np.repeat(np.arange(len(sp)), pages)
        pos = _group_pos(pages)
        gap = np.where(pos == 0, 0, rng.integers(5, 240, len(es)))
        cum = np.cumsum(gap)
        offset = cum - np.repeat(cum[np.cumsum(pages) - pages], pages)
        ts = np.minimum(s_ts[es] + offset, hi - 1)
        cat = np.where(signup[es], SIGNUP_CATEGORY, _pick(rng, PAGE_MIX, sa[es]))
        who = sp[es]
        self._count(m, who)
        if not write:
            return None

        n_s, n_e = len(sp), len(es)
        slot = (rng.random(n_s) * self.cookie_n[sp]).astype(np.int64)
        cookie = self.cookie_slot[sp, slot]
        # Sessions on a shared browser are always logged in: each person uses their account.
        login = (rng.random(n_s) < RATES["login_share"][sa]) | signup | self.cookie_shared[sp, slot]
        logged = self.has_account[sp] & login
        self.seen_user[sp[logged]] = True
        # A logged-in session starts on the login page when the person had no logged-in session
        # on that browser in the last LOGIN_DAYS (the first time in the window, too); visitors
        # without an account now and then start on the signup page's lead form (newsletter,
        # quote or demo request), leaving their email but getting no user id.
        first = pos == 0
        relogin = self._needs_login(sp, slot, s_ts, logged, signup)
        lead = ~self.has_account[sp] & (rng.random(n_s) < LEAD_FORM_SHARE)
        cat = np.where(first & relogin[es], LOGIN_CATEGORY, cat)
        cat = np.where(first & lead[es], SIGNUP_CATEGORY, cat)
        kind = _EVENT_TYPE_OF_CATEGORY[cat]
        # The identify call of a login or signup sends the email the person typed (always
        # for a lead form: the address is what the form is for).
        login_ident = logged[es] & (kind >= 3) & (rng.random(n_e) < IDENTIFY_SHARE)
        ident = np.flatnonzero(login_ident | (lead[es] & (cat == SIGNUP_CATEGORY)))
        typed = self._contact_email(rng, who[ident], IDENTIFY_VARIANT_SHARE, codes=4)
        typed = _junk(rng, typed, ("test@test.com",))
        email = pl.repeat(None, n_e, dtype=pl.String, eager=True).scatter(ident, typed)
        ref_kind = _pick(rng, REFERRER_MIX, sa)
        ref_sub = rng.integers(0, 1 << 20, n_s)
        refs = SEARCH_SITES + SOCIAL_SITES + tuple(f"newsletter:{c}" for c in self.campaigns(m))
        n_search, n_social = len(SEARCH_SITES), len(SOCIAL_SITES)
        ref_idx = np.select(
            [ref_kind == 1, ref_kind == 2],
            [ref_sub % n_search, n_search + ref_sub % n_social],
            n_search + n_social + ref_sub % 6,
        )
        path = _PATH_OFFSET[cat] + (rng.random(n_e) * _PATH_SIZE[cat]).astype(np.int64)
        session = self.next_ids("web_session", n_s)
        frame = pl.DataFrame(
            {
                "event_id": _hex("we_", self.next_ids("web_events", n_e), self.salt["web"]),
                "event_ts": _ts_strings(ts),
                "anonymous_id": _hex("a_", cookie[es], self.salt["cookie"]),
                "user_id": _junk(
                    rng, _mask(self.person_strings(who, "user_id"), logged[es]), JUNK_ID
                ),
                "email": email,
                "session_id": _hex("s_", session[es], self.salt["session"]),
                "event_type": _take(WEB_EVENT_TYPES, kind),
                "page_path": _take(WEB_PATHS, path),
                "referrer": _mask(_take(refs, ref_idx[es]), (pos == 0) & (ref_kind[es] > 0)),
                "_pidx": who,
                "_ts": ts,
            }
        )
        return frame

    def _needs_login(
        self,
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
        prev = np.where(head, self.last_login[key], np.roll(t, 1))
        out = np.zeros(len(sp), dtype=bool)
        out[lg] = (t - prev > LOGIN_DAYS * _DAY) & ~signup[lg]
        tail = np.append(head[1:], True)
        self.last_login[key[tail]] = t[tail]
        return out

    def gen_app_events(self, m: int, act: np.ndarray, write: bool) -> pl.DataFrame | None:
        """App sessions with features used, onboarding steps, retries and errors."""
        rng = _rng(self.seed, _S_GEN["app_events"], m)
        hi = self.start(m + 1)
        acc = act[self.has_account[act]]
        a = self.arch[acc].astype(np.int64)
        lo, frac = self._window(m, acc)
        level = self.mult[acc] * frac * VOLUME
        # 1) sessions: session_start then feature_used events a few minutes apart
        n_sess = _counts(rng, "app_sessions", a, level, frac)
        sp, sa, slo = np.repeat(acc, n_sess), np.repeat(a, n_sess), np.repeat(lo, n_sess)
        per = 1 + rng.poisson(RATES["app_features"][sa])
        es = np.repeat(np.arange(len(sp)), per)
        pos = _group_pos(per)
        cum = np.cumsum(np.where(pos == 0, 0, rng.integers(10, 600, len(es))))
        offset = cum - np.repeat(cum[np.cumsum(per) - per], per)
        ts1 = np.minimum(self._plan_ts(rng, sp, slo, m)[es] + offset, hi - 1)
        name1 = np.where(pos == 0, 0, 1)
        # 2) onboarding: a new account walks the five steps; strugglers keep retrying them
        new = np.where(self.signup_m[acc] == m, len(ONBOARDING_STEPS), 0)
        n_onb = new + _counts(rng, "onboarding", a, frac * VOLUME, frac)
        op, oa = np.repeat(acc, n_onb), np.repeat(a, n_onb)
        name2 = 2 + _pick(rng, ONBOARDING_MIX, oa)
        step = np.minimum(_group_pos(n_onb), len(ONBOARDING_STEPS) - 1)
        step = np.where(rng.random(len(op)) < 0.5, step, rng.integers(0, 5, len(op)))
        # 3) retries and errors, on the features the person uses
        n_retry = _counts(rng, "retry", a, level, frac)
        n_error = _counts(rng, "error", a, level, frac)
        rp = np.concatenate([np.repeat(acc, n_retry), np.repeat(acc, n_error)])
        name3 = np.concatenate([np.full(n_retry.sum(), 5), np.full(n_error.sum(), 6)])

        who = np.concatenate([sp[es], op, rp])
        lo_of = np.maximum(self.start(m), self.signup_ts[np.concatenate([op, rp])])
        ts = np.concatenate([ts1, self._plan_ts(rng, np.concatenate([op, rp]), lo_of, m)])
        name = np.concatenate([name1, name2, name3])
        self._count(m, who)
        if not write:
            return None

        n_e = len(who)
        arch_e = self.arch[who].astype(np.int64)
        feature = _pick(rng, _FEATURE_MIX, arch_e)
        has_feature = (name == 1) | (name >= 5)
        step_all = np.concatenate([np.zeros(len(es), np.int64), step, np.zeros(len(rp), np.int64)])
        has_step = (name >= 2) & (name <= 4)
        dev_j = (rng.random(n_e) * self.device_n[who]).astype(np.int64)
        device = self.device_slot[who, np.minimum(dev_j, 1)]
        web = rng.random(n_e) < 0.08  # the web app: no device id
        platform = np.where(web, 2, _scramble(device, self.salt["platform"]) % np.uint64(2))
        self.seen_user[who] = True
        return pl.DataFrame(
            {
                "event_id": _hex("ae_", self.next_ids("app_events", n_e), self.salt["app"]),
                "event_ts": _ts_strings(ts, iso=True),
                "user_id": self.person_strings(who, "user_id"),
                "device_id": _junk(
                    rng, _mask(_hex("d_", device, self.salt["device"]), ~web), JUNK_ID
                ),
                "event_name": _take(APP_EVENT_NAMES, name),
                "feature": _mask(_take(FEATURES, feature), has_feature),
                "onboarding_step": _mask(_take(ONBOARDING_STEPS, step_all), has_step),
                "platform": _take(("ios", "android", "web"), platform.astype(np.int64)),
                "_pidx": who,
                "_ts": ts,
            }
        )

    def gen_email_events(self, m: int, act: np.ndarray, write: bool) -> pl.DataFrame | None:
        """Campaign sends to subscribed addresses (CAMPAIGN_AUDIENCE) and welcome mails, then
        opens, clicks, bounces, unsubscribes."""
        if not write:
            return None  # email activity does not enter the outcomes
        rng = _rng(self.seed, _S_GEN["email_events"], m)
        hi = self.start(m + 1)
        rec = act[~self.unsubscribed[act]]
        a = self.arch[rec].astype(np.int64)
        lo, _ = self._window(m, rec)
        send_day = rng.integers(0, 27, 6) * _DAY + rng.integers(8 * 3600, 18 * 3600, 6)
        send_at = self.start(m) + send_day
        audience = CAMPAIGN_AUDIENCE.copy()
        if (self.first_month + m).astype(np.int64) % NEWSLETTER_MONTHS:
            audience[:, 0] = False  # no newsletter this month
        # Each campaign goes to its audience, as far as they had signed up by its send time;
        # new sign-ups get the welcome mail within the hour.
        r_idx, camp = np.nonzero(audience[a] & (send_at[None, :] >= lo[:, None]))
        welcome = np.flatnonzero(self.signup_m[rec] == m)
        at = np.concatenate([send_at[camp], self.signup_ts[rec[welcome]]])
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
        self.unsubscribed[sp[unsub]] = True  # no more sends from next month on
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
                "event_id": _hex("ee_", self.next_ids("email_events", k), self.salt["email"]),
                "event_ts": _ts_strings(ts),
                "email": _email_variant(self.email.gather(who), variant, np.zeros(k, np.int64)),
                "event_type": _take(
                    _case_variants(EMAIL_EVENT_TYPES),
                    _varied(rng, kind, len(EMAIL_EVENT_TYPES), 0.02),
                ),
                "campaign_id": _take(self.campaigns(m), camp[row]),
                "_pidx": who,
                "_ts": ts,
            }
        )

    def _contact_email(
        self, rng: np.random.Generator, who: np.ndarray, share: float, codes: int = 5
    ):
        """Person emails as typed into a form: for `share` of them a variant of
        `_email_variant` (codes 1..`codes`: 4 is case and spaces only, 5 adds Gmail's)."""
        k = len(who)
        variant = np.where(rng.random(k) < share, rng.integers(1, codes + 1, k), 0)
        return _email_variant(self.email.gather(who), variant, rng.integers(0, 3, k))

    def _family_email(self, rng: np.random.Generator, email: pl.Series, who: np.ndarray):
        """`email` with the household's address instead on FAMILY_EMAIL_SHARE of the records
        of persons who have one, written exactly as recorded in the traps truth."""
        fam = self.family[who]
        use = np.flatnonzero((fam >= 0) & (rng.random(len(who)) < FAMILY_EMAIL_SHARE))
        return email.scatter(use, self.family_email.gather(fam[use])) if len(use) else email

    def _contact_phone(self, rng: np.random.Generator, who: np.ndarray) -> pl.Series:
        fmt = _pick1(rng, _PHONE_FORMAT_MIX, len(who))
        return _phone(who, fmt, self.salt["phone"])

    def gen_support_tickets(self, m: int, act: np.ndarray, write: bool) -> pl.DataFrame | None:
        """Tickets by email and/or phone; strugglers open many and rate them low."""
        if not write:
            return None
        rng = _rng(self.seed, _S_GEN["support_tickets"], m)
        a = self.arch[act].astype(np.int64)
        lo, frac = self._window(m, act)
        n_t = _counts(rng, "tickets", a, frac, frac)
        who, ta = np.repeat(act, n_t), np.repeat(a, n_t)
        opened = self._uniform_ts(rng, np.repeat(lo, n_t), m)
        k = len(who)
        hours = rng.lognormal(np.log(RESOLUTION_HOURS[ta]), 1.0)
        closed = opened + 60 + (hours * 3600).astype(np.int64)
        # Still open when exported: a few at random, and any that would close after the window.
        is_open = (rng.random(k) < 0.04) | (closed >= self.start(self.months))
        rated = ~is_open & (rng.random(k) < 0.75)
        satisfaction = 1 + _pick(rng, SATISFACTION_MIX, ta)
        contact = _pick1(rng, [0.65, 0.12, 0.23], k)  # email only, phone only, both
        email = _mask(self._contact_email(rng, who, 0.15), contact != 1)
        phone = _mask(self._contact_phone(rng, who), contact != 0)
        # Junk only where the other channel is real, so `email or phone` still holds.
        both = contact == 2
        junk_email = both & (rng.random(k) < JUNK_SHARE * 4)
        junk_phone = both & ~junk_email & (rng.random(k) < JUNK_SHARE * 4)
        email = _replace(email, junk_email, _take(JUNK_EMAIL, rng.integers(0, 4, k)))
        phone = _replace(phone, junk_phone, _take(JUNK_PHONE, rng.integers(0, 4, k)))
        # Ticket numbers are sequential in opening order.
        order = np.argsort(opened, kind="stable")
        seq = np.empty(k, dtype=np.int64)
        seq[order] = self.next_ids("support_tickets", k)
        return pl.DataFrame(
            {
                "ticket_id": pl.Series(seq + 100_001).cast(pl.String).str.pad_start(9, "0"),
                "opened_at": _ts_strings(opened),
                "closed_at": _mask(_ts_strings(closed), ~is_open),
                "email": email,
                "phone": phone,
                "category": _take(TICKET_CATEGORIES, _pick(rng, TICKET_MIX, ta)),
                "satisfaction": _mask(pl.Series(satisfaction).cast(pl.String), rated),
                "_pidx": who,
                "_ts": opened,
            }
        ).with_columns(ticket_id=pl.concat_str(pl.lit("T"), pl.col("ticket_id")))

    def gen_billing(self, m: int, act: np.ndarray, write: bool) -> pl.DataFrame | None:
        """One invoice per subscriber-month on the sign-up day; dormant accounts fail often."""
        rng = _rng(self.seed, _S_GEN["billing"], m)
        subs = act[self.subscribed[act]]
        a = self.arch[subs].astype(np.int64)
        lo, _ = self._window(m, subs)
        k = len(subs)
        ts = self.start(m) + self.bill_day[subs] * _DAY + rng.integers(0, _DAY, k)
        ts = np.minimum(np.maximum(ts, lo), self.start(m + 1) - 1)
        plan = self.plan[subs]
        cents = np.where(plan == 3, self.ent_cents[subs], PLAN_CENTS[plan])
        fail, refund = RATES["invoice_failed"], RATES["invoice_refunded"]
        table = np.stack([1 - fail - refund, fail, refund], axis=1)
        status = _pick(rng, table, a)
        paid = status == 0
        self.revenue[m] += np.bincount(subs[paid], cents[paid] / 100, minlength=self.n)
        if not write:
            return None
        self.seen_billing[subs] = True
        email = self.billing_email.gather(subs)
        before = np.flatnonzero(self.billing_alt[subs] & (m < self.billing_switch_m[subs]))
        email = email.scatter(before, self.email.gather(subs[before]))
        email = self._family_email(rng, email, subs)
        email = _mask(email, rng.random(k) > 0.03)
        return pl.DataFrame(
            {
                "invoice_id": _hex("in_", self.next_ids("billing", k), self.salt["invoice"]),
                "billing_customer_id": self.person_strings(subs, "billing_customer_id"),
                "email": _junk(rng, email, JUNK_EMAIL),
                "invoice_ts": _ts_strings(ts),
                "plan": _take(PLANS, plan),
                "amount": pl.select(_fmt_cents(pl.lit(pl.Series(cents)))).to_series(),
                "currency": _take(CURRENCIES, self.country[subs]),
                "status": _take(
                    _case_variants(BILLING_STATUSES), _varied(rng, status, len(BILLING_STATUSES))
                ),
                "_pidx": subs,
                "_ts": ts,
            }
        )

    def gen_orders(self, m: int, act: np.ndarray, write: bool) -> pl.DataFrame | None:
        """Shop orders as order lines; loyal customers buy dear, bargain hunters cheap."""
        rng = _rng(self.seed, _S_GEN["orders"], m)
        a = self.arch[act].astype(np.int64)
        lo, frac = self._window(m, act)
        n_o = _counts(rng, "orders", a, self.mult[act] * frac, frac)
        op, oa = np.repeat(act, n_o), np.repeat(a, n_o)
        o_ts = self._plan_ts(rng, op, np.repeat(lo, n_o), m)
        cancelled, refunded = RATES["order_cancelled"], RATES["order_refunded"]
        status = _pick(rng, np.stack([1 - cancelled - refunded, cancelled, refunded], 1), oa)
        lines = 1 + rng.poisson(RATES["order_lines_extra"][oa])
        lo_idx = np.repeat(np.arange(len(op)), lines)
        who, la = op[lo_idx], oa[lo_idx]
        n_l = len(who)
        tier = PRICE_TIER[la]
        q = tier[:, 0] + (tier[:, 1] - tier[:, 0]) * self.taste[who] + rng.normal(0, 0.03, n_l)
        sku = (np.clip(q, 0.0, 0.999) * len(self.sku_price)).astype(np.int64)
        qty = np.minimum(1 + rng.poisson(RATES["quantity_extra"][la]), 9)
        discount = np.where(
            (la == BARGAIN) & (rng.random(n_l) < 0.4), rng.uniform(0.1, 0.3, n_l), 0.0
        )
        cents = np.round(self.sku_price[sku] * qty * (1 - discount)).astype(np.int64)
        done = status[lo_idx] == 0
        self.revenue[m] += np.bincount(who[done], cents[done] / 100, minlength=self.n)
        self._count(m, op)
        if not write:
            return None
        self.seen_orders[op] = True
        order_no = self.next_ids("orders", len(op)) + 10_000_001
        order_id = pl.select(pl.lit("O") + pl.Series(order_no).cast(pl.String)).to_series()
        line_no = _group_pos(lines) + 1
        email = self._contact_email(rng, who, 0.1)
        # A household's address goes with whole orders, never with single lines.
        family = self._family_email(rng, pl.repeat(None, len(op), dtype=pl.String, eager=True), op)
        email = _replace(email, family.is_not_null().to_numpy()[lo_idx], family.gather(lo_idx))
        email = _junk(rng, _mask(email, rng.random(n_l) < 0.8), JUNK_EMAIL)
        order_ids = order_id.gather(lo_idx)
        return pl.DataFrame(
            {
                "order_line_id": pl.select(
                    pl.concat_str(order_ids, pl.lit("-"), pl.Series(line_no).cast(pl.String))
                ).to_series(),
                "order_id": order_ids,
                "order_ts": _ts_strings(o_ts[lo_idx]),
                "customer_key": self.person_strings(who, "customer_key"),
                "email": email,
                "product_id": self.sku_code.gather(sku),
                "category": _take(SHOP_CATEGORIES, self.sku_category[sku]),
                "quantity": pl.Series(qty).cast(pl.String),
                "amount": pl.select(_fmt_cents(pl.lit(pl.Series(cents)))).to_series(),
                "status": _take(
                    _case_variants(ORDER_STATUSES),
                    _varied(rng, status[lo_idx], len(ORDER_STATUSES)),
                ),
                "country": _take(COUNTRY_CODES, self.country[who]),
                "_pidx": who,
                "_ts": o_ts[lo_idx],
            }
        )

    def gen_crm_contacts(self, m: int, act: np.ndarray, write: bool) -> pl.DataFrame | None:
        """Contacts created or updated this month (the first file is the initial export), and
        second contacts: the same person entered again with a typo in the name."""
        if not write:
            return None
        rng = _rng(self.seed, _S_GEN["crm_contacts"], m)
        hi = self.start(m + 1)
        created_now = self.has_crm & (self.signup_m == m)
        if m == 0:
            created_now |= self.has_crm & (self.signup_m < 0)
        updated = self.has_crm & self.alive & (self.signup_m < m) & (rng.random(self.n) < 0.05)
        main = np.flatnonzero(created_now | (updated if m > 0 else False))
        second = np.flatnonzero(self.crm2_m == m)
        who = np.concatenate([main, second])
        k1, k = len(main), len(who)
        is2 = np.arange(k) >= k1
        created = np.where(
            is2, np.maximum(self.start(m), self.crm_created[who]), self.crm_created[who]
        )
        created = np.where(is2, self._uniform_ts(rng, created, m), created)
        # updated_at: empty for some fresh contacts, else after creation and within the month.
        upd_lo = np.where(created_now[who] & ~is2, created, self.start(m))
        upd_lo = np.maximum(upd_lo, created)
        upd = self._uniform_ts(rng, upd_lo, m)
        has_upd = ~(created_now[who] | is2) | (rng.random(k) < 0.65)
        upd = np.minimum(upd, hi - 1)
        # Second contacts: one typo in the first or last name, no account or phone, and an
        # address of their own or none, so only the name, company, role and country link them.
        first_txt = _take(FIRST_NAMES, self.first[who])
        last_txt = _take(LAST_NAMES, self.last[who])
        typo_first = _take(_FIRST_TYPOS, self.first[who] * N_TYPO_KINDS + self.typo_kind[who])
        typo_last = _take(_LAST_TYPOS, self.last[who] * N_TYPO_KINDS + self.typo_kind[who])
        first_txt = _replace(first_txt, is2 & (self.typo_which[who] == 0), typo_first)
        last_txt = _replace(last_txt, is2 & (self.typo_which[who] == 1), typo_last)
        shout = rng.random(k) < 0.02
        last_txt = _replace(last_txt, shout, last_txt.str.to_uppercase())
        email = _mask(self._contact_email(rng, who, 0.45), rng.random(k) < 0.95)
        at2 = np.flatnonzero(is2)
        variant = np.where(rng.random(len(at2)) < 0.45, rng.integers(1, 5, len(at2)), 0)
        own = self.crm2_email.gather(self.crm2_rank[who[at2]])
        email = email.scatter(at2, _email_variant(own, variant, np.zeros(len(at2), np.int64)))
        phone = _mask(self._contact_phone(rng, who), (rng.random(k) < 0.7) & ~is2)
        user = _mask(self.person_strings(who, "user_id"), self.crm_user[who] & ~is2)
        crm_idx = np.where(is2, self.n + self.crm2_rank[who], who)
        has_company = self.company[who] >= 0
        companies = COMPANY_NAMES
        country_names = COUNTRY_NAMES[0] + COUNTRY_NAMES[1]
        country = np.where(
            self.country[who] == 0,
            rng.integers(0, len(COUNTRY_NAMES[0]), k),
            len(COUNTRY_NAMES[0]) + rng.integers(0, len(COUNTRY_NAMES[1]), k),
        )
        return pl.DataFrame(
            {
                "crm_id": self.person_strings(crm_idx, "crm_id"),
                "user_id": _junk(rng, user, JUNK_ID, ~is2),
                "email": _junk(rng, email, JUNK_EMAIL, ~is2),
                "phone": _junk(rng, phone, JUNK_PHONE, ~is2),
                "first_name": first_txt,
                "last_name": last_txt,
                "company": _mask(_take(companies, np.maximum(self.company[who], 0)), has_company),
                "role": _mask(_take(ROLES, self.role[who]), has_company),
                "country": _take(country_names, country),
                "created_at": _ts_strings(created),
                "updated_at": _mask(_ts_strings(upd), has_upd),
                "_pidx": who,
                "_ts": created,
            }
        )

    def fresh_keys(self, source: str, k: int) -> dict[str, pl.Series]:
        """New key values for planted malformed records: never used by any other record."""
        if source in ("web_events", "app_events", "email_events"):
            prefix, salt = _EVENT_ID_PREFIX[source]
            return {"event_id": _hex(prefix, self.next_ids(source, k), self.salt[salt])}
        if source == "billing":
            return {"invoice_id": _hex("in_", self.next_ids("billing", k), self.salt["invoice"])}
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


# --------------------------------------------------------------------------------------------
# Files: late deliveries, duplicates, malformed rows, truth of every record
# --------------------------------------------------------------------------------------------


@dataclass
class _Stats:
    rows: int = 0
    files: int = 0
    malformed: int = 0
    duplicates: int = 0
    late: int = 0
    truncated: list[str] = field(default_factory=list)


class _SourceFiles:
    """Turns each month's valid rows of one source into its landing file.

    A month's file holds, in order: the month's on-time rows sorted by time (same-file duplicate
    copies a little after their original), then the previous month's late events and
    re-delivered duplicates, with malformed rows inserted at random lines, and possibly a
    truncated last line. Every row's CSV line number is known, so the truth can point at it.
    """

    def __init__(self, world: _World, source: Source, landing: Path, truth: _Truth, **shares):
        self.w, self.src, self.truth = world, source, truth
        self.folder = landing / source.name
        self.folder.mkdir(parents=True)
        self.gz = source.name == "email_events"
        self.malformed_share = shares["malformed_share"]
        self.duplicate_share = shares["duplicate_share"] if source.name in DUPLICATE_SOURCES else 0
        self.late_share = LATE_SHARE if source.name in LATE_SOURCES else 0.0
        self.carry: pl.DataFrame | None = None  # late rows and re-deliveries for next month
        self.carry_late = 0
        self.stats = _Stats()
        self.iso = source.name == "app_events"

    def file_name(self, m: int) -> str:
        return f"{self.src.name}_{self.w.labels[m]}.csv" + (".gz" if self.gz else "")

    def write_month(self, m: int, valid: pl.DataFrame) -> None:
        """Write month m's file from its valid rows. Copies of the month's rows are dropped as
        soon as they are not needed: at a million customers a month of web events is ~2M rows."""
        rng = _rng(self.w.seed, _S_FILES, SOURCE_ORDER.index(self.src.name), m)
        last = m == self.w.months - 1  # nothing can be delivered after the window
        valid = valid.with_columns(_seq=pl.int_range(pl.len(), dtype=pl.Int64)).sort("_ts", "_seq")
        late = (rng.random(valid.height) < self.late_share) & (not last)
        on_time = valid.filter(~pl.Series(late))
        late_rows = valid.filter(pl.Series(late))
        del valid
        n_on = on_time.height
        on_time = on_time.with_columns(_pos=pl.int_range(n_on, dtype=pl.Int64) * 4)

        # Duplicates: exact copies of on-time rows, here a little later or in next month's file.
        n_dup = int(round(self.duplicate_share * n_on))
        picks = np.sort(rng.choice(n_on, n_dup, replace=False)) if n_dup else np.zeros(0, int)
        copies = 1 + (rng.random(n_dup) < 0.1)
        redeliver = (rng.random(n_dup) < 0.5) & (not last)
        rows = np.repeat(picks, copies)
        later = np.repeat(redeliver, copies)
        near = rows + (rng.random(len(rows)) * np.minimum(n_on - rows, 2000)).astype(np.int64)
        dup_rows = on_time[rows]
        same = dup_rows.filter(~pl.Series(later)).with_columns(
            _pos=pl.Series(near[~later] * 4 + 1, dtype=pl.Int64)
        )
        next_dups = dup_rows.filter(pl.Series(later)).drop("_pos")
        if n_dup:
            key = self.src.key
            self.truth.duplicates.append(
                pl.DataFrame(
                    {
                        "source": self.src.name,
                        "record_key": on_time[picks][key],
                        "copies": copies.astype(np.int64),
                    }
                )
            )
            self.stats.duplicates += len(rows)

        carried = self.carry if self.carry is not None else on_time.clear().drop("_pos")
        carried = carried.with_columns(_pos=(n_on + pl.int_range(pl.len(), dtype=pl.Int64)) * 4)
        self.stats.late += self.carry_late
        body_n = n_on + same.height + carried.height

        # Malformed rows: new records made from random valid rows, inserted at random lines.
        n_bad = int(round(self.malformed_share * body_n))
        if body_n >= 200 and self.malformed_share > 0:
            # Every file of some size has its share, rounded up: at least one.
            n_bad = int(np.ceil(self.malformed_share * body_n))
        n_bad = n_bad if n_on else 0
        bad = self._malformed(rng, on_time, n_bad)
        slot = rng.integers(0, n_on + carried.height + 1, n_bad)
        bad = bad.with_columns(_pos=pl.Series(slot * 4 - 1, dtype=pl.Int64))

        final = pl.concat([on_time, same, carried, bad], how="diagonal")
        del on_time, same, carried, bad, dup_rows
        final = final.with_columns(_tie=pl.int_range(pl.len(), dtype=pl.Int64))
        final = final.sort("_pos", "_tie")
        self._write(m, final, rng)
        del final
        self.carry = pl.concat([late_rows, next_dups], how="diagonal").drop("_seq")
        self.carry_late = late_rows.height

    def _write(self, m: int, final: pl.DataFrame, rng: np.random.Generator) -> None:
        name = self.file_name(m)
        path = self.folder / name
        # Contract columns this generator does not make (e.g. a contact's date of birth) are
        # left out of the file, as a company without them would.
        cols = [c for c in self.src.column_names if c in final.columns]
        truncated = None
        if (self.src.name, m) in self.w.truncated and final.height and self.malformed_share:
            truncated = self._truncated_line(rng, final)
        if self.gz:
            final.select(cols).write_csv(path, compression="gzip", compression_level=1)
        else:
            final.select(cols).write_csv(path)
        line = pl.int_range(2, final.height + 2, dtype=pl.Int64, eager=True)
        person = self.w.person_ids.gather(final["_pidx"])
        records = pl.DataFrame(
            {"source": self.src.name, "record_key": final[self.src.key], "person_id": person}
        )
        bad = final.with_columns(source_row=line, person_id=person).filter(
            pl.col("_kind").is_not_null()
        )
        bad = bad.select(
            source=pl.lit(self.src.name),
            file=pl.lit(name),
            source_row="source_row",
            kind="_kind",
            column="_column",
            record_key=self.src.key,
            person_id="person_id",
        )
        if truncated is not None:
            text, key, pidx = truncated
            with path.open("ab") as fh:
                fh.write(text.encode())  # no newline: the export was cut off
            self.stats.truncated.append(name)
            person_id = self.w.person_ids[int(pidx)]
            records = pl.concat(
                [
                    records,
                    pl.DataFrame(
                        {"source": [self.src.name], "record_key": [key], "person_id": [person_id]}
                    ),
                ]
            )
            bad = pl.concat(
                [
                    bad,
                    pl.DataFrame(
                        {
                            "source": [self.src.name],
                            "file": [name],
                            "source_row": [final.height + 2],
                            "kind": ["truncated_line"],
                            "column": [None],
                            "record_key": [key],
                            "person_id": [person_id],
                        },
                        schema=bad.schema,
                    ),
                ]
            )
        self.truth.records(records)
        self.truth.malformed.append(bad)
        self._note_traps(final)
        self.stats.rows += records.height
        self.stats.files += 1
        self.stats.malformed += bad.height

    def _note_traps(self, final: pl.DataFrame) -> None:
        """Which persons' rows in this file carry a planted trap value, exactly as written."""
        for col in self.src.columns:
            traps = self.w.trap_values.get(col.identifier or "")
            if traps is None:
                continue
            hits = (
                final.lazy()
                .select(value=pl.col(col.name), person=pl.col("_pidx"))
                .filter(pl.col("value").is_in(traps["value"].implode()))
                .unique()
                .join(traps.lazy(), on="value")
                .select("trap", id_type=pl.lit(col.identifier), value="value", person="person")
                .collect()
            )
            self.truth.traps.append(hits)

    def _truncated_line(self, rng: np.random.Generator, final: pl.DataFrame):
        """A new record cut off in its third field: too few fields, no closing newline."""
        tmpl = final.filter(pl.col("_kind").is_null())
        row = tmpl[int(rng.integers(0, tmpl.height))]
        keys = self.w.fresh_keys(self.src.name, 1)
        row = row.with_columns(**{c: s for c, s in keys.items()})
        fields = [row[c][0] or "" for c in self.src.column_names[:3]]
        text = ",".join(fields[:2] + [fields[2][: max(1, len(fields[2]) // 2)]])
        key = row[self.src.key][0]
        return text, key, int(row["_pidx"][0])

    def _malformed(self, rng: np.random.Generator, tmpl: pl.DataFrame, k: int):
        """`k` new records, each breaking exactly one contract rule (its `_kind`)."""
        src = self.src
        empty = tmpl.clear().with_columns(
            _kind=pl.lit(None, pl.String), _column=pl.lit(None, pl.String)
        )
        if k == 0:
            return empty.drop("_pos")
        rows = tmpl[rng.integers(0, tmpl.height, k)].drop("_pos")
        rows = rows.with_columns(**self.w.fresh_keys(src.name, k))
        kinds = np.asarray(_KINDS_BY_SOURCE[src.name])[
            rng.integers(0, len(_KINDS_BY_SOURCE[src.name]), k)
        ]
        required = [c.name for c in src.columns if c.required]
        missing = np.asarray(required)[rng.integers(0, len(required), k)]
        column = np.full(k, src.timestamp, dtype=object)
        pick = rng.integers(0, 1 << 20, k)
        partner = {a: b for a, b in src.ordered}.get(src.timestamp)

        def choice(values: tuple[str, ...]) -> pl.Series:
            return _take(values, pick % len(values))

        def put(col: str, mask: np.ndarray, values: pl.Series | str | None) -> None:
            nonlocal rows
            if values is None:
                new = _mask(rows[col], ~mask)
            else:
                new = _replace(rows[col], mask, values)
            rows = rows.with_columns(new.alias(col))

        ts = src.timestamp
        for kind in sorted(set(kinds.tolist())):
            mask = kinds == kind
            if kind == "bad_timestamp":
                put(ts, mask, choice(_BAD_TIMESTAMPS_ISO if self.iso else _BAD_TIMESTAMPS))
            elif kind == "timestamp_out_of_range":
                put(ts, mask, choice(_OUT_OF_RANGE_TS_ISO if self.iso else _OUT_OF_RANGE_TS))
            elif kind == "missing_required":
                for col in required:
                    put(col, mask & (missing == col), None)
                column[mask] = missing[mask]
            elif kind == "non_numeric_amount":
                put("amount", mask, choice(_NON_NUMERIC))
                column[mask] = "amount"
            elif kind == "negative_amount":
                neg = pl.select(
                    pl.when(rows["amount"] == "0.00")
                    .then(pl.lit("-12.50"))
                    .otherwise(pl.lit("-") + rows["amount"])
                ).to_series()
                put("amount", mask, neg)
                column[mask] = "amount"
            elif kind == "bad_accepted_value":
                col, values = _BAD_ACCEPTED[src.name]
                put(col, mask, choice(values))
                column[mask] = col
            elif kind == "out_of_range":
                put("satisfaction", mask, choice(_BAD_SATISFACTION))
                column[mask] = "satisfaction"
            elif kind == "closed_before_opened":
                back = rows["_ts"].to_numpy() - rng.integers(3600, 72 * 3600, k)
                put("closed_at", mask, _ts_strings(back))
                column[mask] = "closed_at"
            elif kind == "missing_contact":
                put("email", mask, None)
                put("phone", mask, None)
                column[mask] = "email,phone"
            # A broken or absurd opening time must not also make the pair look out of order.
            if partner and kind in ("bad_timestamp", "timestamp_out_of_range"):
                put(partner, mask, None)
        return rows.with_columns(
            _kind=pl.Series(kinds.astype(str), dtype=pl.String),
            _column=pl.Series(column.astype(str), dtype=pl.String),
        )


class _Truth:
    """Ground truth collected while the files are written; records stream to Parquet."""

    RECORDS_SCHEMA = pa.schema(
        [("source", pa.string()), ("record_key", pa.string()), ("person_id", pa.string())]
    )

    def __init__(self, folder: Path):
        self.folder = folder
        self.malformed: list[pl.DataFrame] = []
        self.duplicates: list[pl.DataFrame] = []
        self.traps: list[pl.DataFrame] = []  # (trap, id_type, value, person) seen in the files
        self._records = pq.ParquetWriter(
            folder / "records.parquet", self.RECORDS_SCHEMA, compression="zstd"
        )

    def records(self, frame: pl.DataFrame) -> None:
        self._records.write_table(frame.to_arrow().cast(self.RECORDS_SCHEMA))

    def close(self) -> None:
        self._records.close()


def _write_parquet(frame: pl.DataFrame, path: Path) -> None:
    # Written through pyarrow with fixed settings so the bytes depend only on the data.
    pq.write_table(frame.to_arrow(), path, compression="zstd")


def _persons_frame(w: _World) -> pl.DataFrame:
    n = w.n
    idx = np.arange(n, dtype=np.int64)
    cookie_off = np.concatenate([[0], np.cumsum(w.cookie_n)])
    cookies = w.cookie_slot[np.repeat(idx, w.cookie_n), _group_pos(w.cookie_n)]
    dev_off = np.concatenate([[0], np.cumsum(w.device_n)])
    devices = w.device_slot[np.repeat(idx, w.device_n), _group_pos(w.device_n)]
    months = (w.first_month + w.signup_m).astype(str)
    churn = (w.first_month + np.maximum(w.churn_m, 0)).astype(str)
    companies = COMPANY_NAMES
    return pl.DataFrame(
        {
            "person_id": w.person_ids,
            "archetype": _take(ARCHETYPES, w.arch0),
            "signup_month": pl.Series(months, dtype=pl.String),
            "signup_ts": pl.Series(w.signup_ts * 1_000_000).cast(pl.Datetime("us")),
            "churn_month": _mask(pl.Series(churn, dtype=pl.String), w.churn_m >= 0),
            "email": w.email,
            "phone": _phone(idx, None, w.salt["phone"]),
            "first_name": _take(FIRST_NAMES, w.first),
            "last_name": _take(LAST_NAMES, w.last),
            "company": _mask(_take(companies, np.maximum(w.company, 0)), w.company >= 0),
            "country": _take(COUNTRY_CODES, w.country),
            "user_id": _mask(w.person_strings(idx, "user_id"), w.has_account),
            "anonymous_ids": _list_series(cookie_off, _hex("a_", cookies, w.salt["cookie"])),
            "device_ids": _list_series(dev_off, _hex("d_", devices, w.salt["device"])),
            "crm_id": _mask(w.person_strings(idx, "crm_id"), w.has_crm),
            "crm_id_2": _mask(
                w.person_strings(w.n + np.maximum(w.crm2_rank, 0), "crm_id"), w.has_crm2
            ),
            "billing_customer_id": _mask(
                w.person_strings(idx, "billing_customer_id"), w.seen_billing
            ),
            "billing_email": _mask(w.billing_email, w.seen_billing),
            "customer_key": _mask(w.person_strings(idx, "customer_key"), w.seen_orders),
            "has_account": w.has_account,
            "has_web_login": w.seen_user,
            "has_crm": w.has_crm,
            "has_second_crm": w.has_crm2,
            "has_billing": w.seen_billing,
            "has_orders": w.seen_orders,
            "has_shared_device": w.shared_device,
            "has_shared_cookie": w.cookie_shared.any(axis=1),
            "has_shared_email": w.family >= 0,
            "has_work_billing_email": w.billing_alt & w.seen_billing,
        }
    )


def _traps_frame(truth: _Truth) -> pl.DataFrame:
    """One row per trap value: shared identifiers used by two persons or more, and every junk
    value, with the number of distinct persons whose records carry it."""
    schema = {"trap": pl.String, "id_type": pl.String, "value": pl.String, "person": pl.Int64}
    hits = pl.concat([pl.DataFrame(schema=schema), *truth.traps], how="vertical_relaxed")
    order = pl.col("trap").replace_strict(TRAP_KINDS, range(len(TRAP_KINDS)))
    return (
        hits.group_by("trap", "id_type", "value")
        .agg(persons=pl.col("person").n_unique().cast(pl.Int64))
        .filter((pl.col("persons") >= 2) | (pl.col("trap") == "junk_identifier"))
        .sort(order, "id_type", "value")
    )


def _person_months(w: _World) -> tuple[np.ndarray, np.ndarray]:
    """(person, month) pairs of every written month a person had signed up by, sorted."""
    joined = w.signup_m[:, None] <= np.arange(w.months)[None, :]
    return np.nonzero(joined)


def _archetypes_frame(w: _World, p: np.ndarray, m: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "person_id": w.person_ids.gather(p),
            "month": _take(w.labels, m),
            "archetype": _take(ARCHETYPES, w.arch_hist[m, p]),
            "active": w.alive_hist[m, p],  # False once the person has churned
        }
    )


def _outcomes_frame(w: _World, p: np.ndarray, m: np.ndarray) -> pl.DataFrame:
    future_activity = np.zeros((w.months, w.n), dtype=np.int64)
    future_revenue = np.zeros((w.months, w.n), dtype=np.float64)
    for shift in (1, 2, 3):
        future_activity += w.activity[shift : shift + w.months]
        future_revenue += w.revenue[shift : shift + w.months]
    as_of = np.array([w.start(i + 1) - 1 for i in range(w.months)], dtype=np.int64)
    return pl.DataFrame(
        {
            "person_id": w.person_ids.gather(p),
            "month": _take(w.labels, m),
            "as_of": pl.Series(as_of[m] * 1_000_000).cast(pl.Datetime("us")),
            "churned_next_90d": future_activity[m, p] == 0,
            "revenue_next_90d": np.round(future_revenue[m, p], 2),
        }
    )


def _sources_yaml(gz: set[str]) -> str:
    lines = [
        "# Written by seg-platform generate: the synthetic company's landing files.",
        "version: 1",
        "sources:",
    ]
    for name in SOURCE_ORDER + FEEDBACK_SOURCES:
        ext = "csv.gz" if name in gz else "csv"
        lines += [f"  {name}:", f"    path: {name}/*.{ext}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Privacy and feedback sources: consent changes, survey answers, erasure requests
# --------------------------------------------------------------------------------------------

# These sources never link identities, so they are written after the simulation, from streams
# of their own (_S_CONSENT, _S_SURVEY) and id families of their own: the linking sources and
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


def _consent_frame(w: _World) -> pl.DataFrame:
    """Every consent change of the window, in time order, with `_ts`."""
    rng = _rng(w.seed, _S_CONSENT)
    n = w.n
    w0, w1 = w.start(0), w.start(w.months)
    # Opt-ins to the email channel a few minutes to hours after signing up in the window.
    joined = np.flatnonzero(w.signup_m >= 0)
    opt_in = joined[rng.random(len(joined)) < CONSENT_OPT_IN_SHARE]
    in_ts = w.signup_ts[opt_in] + (60 + rng.exponential(3 * 3600, len(opt_in))).astype(np.int64)
    ready = w.signup_ts.copy()  # nothing before sign-up (and after the opt-in)
    ready[opt_in] = in_ts + 60
    lo = np.maximum(ready, w0)
    who, ts = [opt_in], [in_ts]
    channel, status = [np.zeros(len(opt_in), np.int64)], [np.zeros(len(opt_in), np.int64)]
    channels = tuple(c for c, _ in CONSENT_OPT_OUT_SHARES)
    for c, (_, share) in enumerate(CONSENT_OPT_OUT_SHARES):
        t = lo + (rng.random(n) * np.maximum(w1 - lo, 0)).astype(np.int64)
        month = np.searchsorted(w._starts, t, side="right") - 1 - _PRE_WINDOW_MONTHS
        weight = CONSENT_OPT_OUT_WEIGHT[w.arch_hist[np.clip(month, 0, w.months - 1), np.arange(n)]]
        chance = share * weight / weight.mean()
        out = np.flatnonzero((rng.random(n) < chance) & (lo < w1))
        reopt = rng.random(len(out)) < CONSENT_REOPT_SHARE
        back = out[reopt]
        back_lo = t[back] + _DAY
        back_ts = back_lo + (rng.random(len(back)) * np.maximum(w1 - back_lo, 0)).astype(np.int64)
        kept = back_ts < w1
        who += [out, back[kept]]
        ts += [t[out], back_ts[kept]]
        channel += [np.full(len(out), c + 1), np.full(int(kept.sum()), c + 1)]
        status += [np.ones(len(out), np.int64), np.zeros(int(kept.sum()), np.int64)]
    who, ts = np.concatenate(who), np.concatenate(ts)
    channel, status = np.concatenate(channel), np.concatenate(status)
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
    email = _mask(w._contact_email(rng, who, CONSENT_VARIANT_SHARE, codes=4), ~by_user & ~by_phone)
    return pl.DataFrame(
        {
            "consent_id": _hex("cns_", w.next_ids("consent", k), w.salt["consent"]),
            "changed_at": _ts_strings(ts),
            "email": email,
            "phone": _mask(w._contact_phone(rng, who), by_phone),
            "user_id": _mask(w.person_strings(who, "user_id"), by_user),
            "channel": _take(("email",) + channels, channel),
            "status": _take(("opt_in", "opt_out"), status),
            "_ts": ts,
        }
    )


def _survey_frame(w: _World, m: int) -> pl.DataFrame:
    """Month m's survey answers, in time order: a few active persons each answer the survey
    their archetype of the month triggers, scoring and answering like it."""
    rng = _rng(w.seed, _S_SURVEY, m)
    act = np.flatnonzero(w.alive_hist[m] & (w.signup_m <= m))
    a = w.arch_hist[m, act].astype(np.int64)
    weight = SURVEY_WEIGHT[a]
    chance = SURVEY_RESPONSE_SHARE * weight / weight.mean() if len(act) else weight
    pick = rng.random(len(act)) < chance
    who, a = act[pick], a[pick]
    k = len(who)
    lo, _ = w._window(m, who)
    ts = w._uniform_ts(rng, lo, m)
    survey = _pick(rng, SURVEY_MIX, a)
    score = _pick(rng, NPS_MIX, a)
    answer = np.full(k, -1, dtype=np.int64)
    options: list[str] = []
    for s, mix in ANSWER_MIX.items():
        chosen = _pick(rng, mix, a)
        answer = np.where(survey == s, len(options) + chosen, answer)
        options += SURVEY_ANSWERS[s]
    order = np.lexsort((who, ts))
    who, ts, survey, score, answer = (x[order] for x in (who, ts, survey, score, answer))
    by_user = w.seen_user[who] & (rng.random(k) < SURVEY_USER_SHARE)
    email = w._contact_email(rng, who, SURVEY_VARIANT_SHARE, codes=4)
    return pl.DataFrame(
        {
            "response_id": _hex("rsp_", w.next_ids("survey_responses", k), w.salt["survey"]),
            "responded_at": _ts_strings(ts),
            "email": _mask(email, ~by_user),
            "user_id": _mask(w.person_strings(who, "user_id"), by_user),
            "survey_id": _take(SURVEY_IDS, survey),
            "score": _mask(pl.Series(score).cast(pl.String), survey == NPS),
            "answer": _mask(_take(tuple(options), np.maximum(answer, 0)), answer >= 0),
        }
    )


def _write_feedback(w: _World, landing: Path) -> dict[str, int]:
    """Write the consent, survey and erasure-request files; returns their row counts.

    Consent and surveys get one file per written month (header only in a month without
    changes); the demo company has no erasure requests: a header-only file to append to.
    """
    rows = {}
    consent = _consent_frame(w)
    month = np.searchsorted(w._starts, consent["_ts"].to_numpy(), side="right")
    month = month - 1 - _PRE_WINDOW_MONTHS
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


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def generate(
    customers: int,
    months: int,
    seed: int,
    out: Path,
    end_month: str = "2025-12",
    malformed_share: float = 0.005,
    duplicate_share: float = 0.01,
    switch_share: float = 0.05,
) -> dict:
    """Write a synthetic company's landing files and ground truth under `out`.

    customers: persons in total, ~55% already customers when the window starts, the rest
        signing up during it. months: calendar months written, ending with `end_month`
        ('YYYY-MM'); three more are simulated for the outcomes. seed: same arguments give
        byte-identical files.
    malformed_share: planted malformed rows per file (rounded up in files of 200+ rows, and
        a truncated last line in three files; 0 plants none). duplicate_share: re-delivered
        copies of event, order and billing rows. switch_share: monthly share of persons
        changing archetype (besides new sign-ups settling after their exploring month).

    Writes `out/landing/` (one CSV per source and month, `sources.yaml`) and `out/truth/`
    (persons, records, archetypes, outcomes, malformed, duplicates, traps, summary.json); both
    folders are replaced, anything else under `out` is left alone. Returns the summary
    (rows, malformed, duplicates and late rows per source) with the run's `seconds`, which
    summary.json leaves out so that it stays deterministic.
    """
    if customers < 1 or months < 1:
        raise ValueError("customers and months must be at least 1")
    if seed < 0:
        raise ValueError("seed must not be negative")
    shares = {
        "malformed_share": malformed_share,
        "duplicate_share": duplicate_share,
        "switch_share": switch_share,
    }
    for name, share in shares.items():
        if not 0 <= share < 1:
            raise ValueError(f"{name} must be in [0, 1)")
    started = time.perf_counter()
    out = Path(out)
    landing, truth_dir = out / "landing", out / "truth"
    for folder in (landing, truth_dir):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)

    world = _World(customers, months, seed, end_month, switch_share)
    truth = _Truth(truth_dir)
    files = {
        name: _SourceFiles(
            world,
            SOURCES[name],
            landing,
            truth,
            malformed_share=malformed_share,
            duplicate_share=duplicate_share,
        )
        for name in SOURCE_ORDER
    }
    for m in range(world.total):
        active = world.advance(m)
        for name in SOURCE_ORDER:
            generator = getattr(world, f"gen_{name}")
            if m < months:
                # The frame goes straight to the writer: no second reference keeps it alive.
                files[name].write_month(m, generator(m, active, True))
            else:
                generator(m, active, False)  # outcome months: activity and revenue only
    truth.close()
    feedback_rows = _write_feedback(world, landing)

    gz = {name for name, f in files.items() if f.gz}
    (landing / "sources.yaml").write_text(_sources_yaml(gz))
    _write_parquet(_persons_frame(world), truth_dir / "persons.parquet")
    p, m = _person_months(world)
    _write_parquet(_archetypes_frame(world, p, m), truth_dir / "archetypes.parquet")
    _write_parquet(_outcomes_frame(world, p, m), truth_dir / "outcomes.parquet")
    del p, m
    malformed = pl.concat(truth.malformed, how="vertical_relaxed")
    _write_parquet(malformed, truth_dir / "malformed.parquet")
    dup_schema = {"source": pl.String, "record_key": pl.String, "copies": pl.Int64}
    duplicates = pl.concat([pl.DataFrame(schema=dup_schema), *truth.duplicates])
    _write_parquet(duplicates, truth_dir / "duplicates.parquet")
    traps = _traps_frame(truth)
    _write_parquet(traps, truth_dir / "traps.parquet")

    summary = {
        "customers": customers,
        "months": months,
        "start_month": world.labels[0],
        "end_month": world.labels[months - 1],
        "seed": seed,
        "malformed_share": malformed_share,
        "duplicate_share": duplicate_share,
        "switch_share": switch_share,
        "rows": {n: f.stats.rows for n, f in files.items()},
        "files": {n: f.stats.files for n, f in files.items()},
        "malformed": {n: f.stats.malformed for n, f in files.items()},
        "duplicates": {n: f.stats.duplicates for n, f in files.items()},
        "late": {n: f.stats.late for n, f in files.items()},
        "truncated_files": sorted(t for f in files.values() for t in f.stats.truncated),
        "shared_devices": world.n_shared_devices,
        "traps": {k: int((traps["trap"] == k).sum()) for k in TRAP_KINDS},
        "persons_by_start_archetype": {
            ARCHETYPES[a]: int((world.arch0 == a).sum()) for a in range(N_ARCH)
        },
    }
    summary["rows_total"] = sum(summary["rows"].values())
    summary["feedback_rows"] = feedback_rows  # consent, surveys, erasure: not in `rows`
    (truth_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return summary
