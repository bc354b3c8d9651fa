"""The input contract: every source the platform reads, its columns, types, keys and rules.

This module is data, not logic. Ingestion, checks, docs (`docs/sources.md`) and the synthetic
generator all read it, so a column is named and described in exactly one place.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    """One column of a source as the platform stores it in its raw table."""

    name: str
    type: str  # DuckDB type of the raw table column: VARCHAR, TIMESTAMP, DOUBLE, BIGINT
    meaning: str
    required: bool = False
    identifier: str | None = None  # identifier type this column carries, for the identity layer
    accepted: tuple[str, ...] = ()  # allowed values after trimming and lower-casing
    # Plausible range of a numeric column (None: no bound); outside it a row is quarantined.
    # sources.yaml can change it per source (`ranges: {amount: {max: 1e9}}`).
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Source:
    """One source: a folder of files of one kind, landing as the table `raw.<name>`."""

    name: str
    meaning: str
    key: str  # record id: the table holds one row per value (deduplicated)
    timestamp: str  # the column that says when the record happened
    columns: tuple[Column, ...]
    # Order that picks the surviving row among duplicates of one key (first wins); the source
    # position (`source_file`, `source_row`) breaks remaining ties, latest delivery first.
    dedup_order: tuple[str, ...] = ()
    # Groups of columns of which at least one must be present.
    any_of: tuple[tuple[str, ...], ...] = ()
    # (earlier, later) column pairs that must be in order when both are present.
    ordered: tuple[tuple[str, str], ...] = ()
    key_optional: bool = field(default=False)  # True: without the key, duplicates are whole rows
    # False: the source's identifiers are looked up in the identity graph but never link
    # records (consent, survey answers and erasure requests say nothing about who is whom).
    links_identities: bool = True
    # True: identifier columns are stored as SHA-256 of their normalised value, never raw
    # (erasure requests must not keep the identifiers they ask to erase).
    pseudonymised: bool = False
    # The source's own default for the largest quarantined share its blocking check accepts
    # (None: `defaults.max_quarantine_share`); only `sources.<name>.max_quarantine_share` in
    # sources.yaml overrides it.
    max_quarantine_share: float | None = None
    # True: a file with only a header is a normal delivery (a month without erasure requests),
    # so `no_empty_files` does not warn about it.
    empty_is_normal: bool = False

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _c(name: str, type_: str, meaning: str, **kw) -> Column:
    return Column(name=name, type=type_, meaning=meaning, **kw)


V, TS, D, INT = "VARCHAR", "TIMESTAMP", "DOUBLE", "BIGINT"
# Default plausible ranges: a single invoice or order line above ten million in any currency,
# or a million units, is a broken export (1e23, 1e308), and would swamp revenue and CLV.
MAX_AMOUNT = 1e7
MAX_QUANTITY = 1e6

WEB_EVENTS = Source(
    name="web_events",
    meaning="Website page views and shop actions, keyed by a cookie; user id once logged in.",
    key="event_id",
    timestamp="event_ts",
    columns=(
        _c("event_id", V, "Unique id of the event.", required=True),
        _c("event_ts", TS, "When the event happened (UTC).", required=True),
        _c(
            "anonymous_id", V, "Cookie id of the browser.", required=True, identifier="anonymous_id"
        ),
        _c("user_id", V, "Account id, present only after login.", identifier="user_id"),
        _c(
            "email",
            V,
            "Email the visitor gave at signup or login (the site's identify call); empty "
            "otherwise.",
            identifier="email",
        ),
        _c("session_id", V, "Web session id."),
        _c("event_type", V, "page_view, add_to_cart, checkout_started, login or signup."),
        _c(
            "page_path",
            V,
            "Path of the page, e.g. /pricing, /compare/x, /cart, /checkout.",
            required=True,
        ),
        _c("referrer", V, "Referring site or campaign."),
    ),
)

APP_EVENTS = Source(
    name="app_events",
    meaning="Product usage events from the app: features, onboarding steps, retries and errors.",
    key="event_id",
    timestamp="event_ts",
    columns=(
        _c("event_id", V, "Unique id of the event.", required=True),
        _c("event_ts", TS, "When the event happened (UTC).", required=True),
        _c("user_id", V, "Account id.", required=True, identifier="user_id"),
        _c("device_id", V, "Device the app ran on.", identifier="device_id"),
        _c(
            "event_name",
            V,
            "session_start, feature_used, onboarding_step_started, onboarding_step_completed, "
            "onboarding_step_abandoned, retry or error.",
            required=True,
        ),
        _c("feature", V, "Feature used (for feature_used, retry and error)."),
        _c("onboarding_step", V, "Onboarding step (for onboarding_step_* events)."),
        _c("platform", V, "ios, android or web."),
    ),
)

CRM_CONTACTS = Source(
    name="crm_contacts",
    meaning="Contacts from the CRM, one row per contact (latest update wins).",
    key="crm_id",
    timestamp="created_at",
    dedup_order=("updated_at DESC NULLS LAST",),
    ordered=(("created_at", "updated_at"),),
    columns=(
        _c("crm_id", V, "CRM contact id.", required=True, identifier="crm_id"),
        _c(
            "user_id",
            V,
            "Product account id of the contact, when it has an account.",
            identifier="user_id",
        ),
        _c("email", V, "Email address as entered (any case or spacing).", identifier="email"),
        _c("phone", V, "Phone number as entered (any format).", identifier="phone"),
        _c("first_name", V, "Given name."),
        _c("last_name", V, "Family name."),
        _c(
            "full_name",
            V,
            "The whole name, for a CRM that does not split it: used for matching when "
            "first_name and last_name are both empty (first word as given name, last word as "
            "family name).",
        ),
        _c(
            "date_of_birth",
            V,
            "Date of birth as YYYY-MM-DD or YYYYMMDD (map other formats with an SQL "
            "expression, e.g. `strftime(strptime(dob, '%d/%m/%Y'), '%Y-%m-%d')`); a value that "
            "is not a real date is ignored for matching.",
        ),
        _c("address", V, "Street address (number and street) as entered."),
        _c("postcode", V, "Postal code as entered (any case or spacing)."),
        _c("city", V, "City or town."),
        _c("company", V, "Company name."),
        _c("role", V, "Job role."),
        _c("country", V, "Country code or name."),
        _c("created_at", TS, "When the contact was created (UTC).", required=True),
        _c("updated_at", TS, "When the contact was last updated (UTC)."),
    ),
)

EMAIL_EVENTS = Source(
    name="email_events",
    meaning="Email marketing events per recipient address.",
    key="event_id",
    timestamp="event_ts",
    columns=(
        _c("event_id", V, "Unique id of the event.", required=True),
        _c("event_ts", TS, "When the event happened (UTC).", required=True),
        _c("email", V, "Recipient address.", required=True, identifier="email"),
        _c(
            "event_type",
            V,
            "What happened to the email.",
            required=True,
            accepted=("sent", "open", "click", "unsubscribe", "bounce"),
        ),
        _c("campaign_id", V, "Campaign the email belonged to."),
    ),
)

SUPPORT_TICKETS = Source(
    name="support_tickets",
    meaning="Support tickets, raised by email or phone.",
    key="ticket_id",
    timestamp="opened_at",
    any_of=(("email", "phone"),),
    ordered=(("opened_at", "closed_at"),),
    columns=(
        _c("ticket_id", V, "Ticket id.", required=True),
        _c("opened_at", TS, "When the ticket was opened (UTC).", required=True),
        _c("closed_at", TS, "When it was closed (UTC); empty while open."),
        _c("email", V, "Email of the requester (this or phone is needed).", identifier="email"),
        _c("phone", V, "Phone of the requester (this or email is needed).", identifier="phone"),
        _c("category", V, "Topic: billing, bug, how_to, onboarding, cancellation, other."),
        _c(
            "satisfaction",
            INT,
            "Satisfaction score from 1 (bad) to 5 (good).",
            minimum=1,
            maximum=5,
        ),
    ),
)

BILLING = Source(
    name="billing",
    meaning="Subscription invoices from the billing system.",
    key="invoice_id",
    timestamp="invoice_ts",
    columns=(
        _c("invoice_id", V, "Invoice id.", required=True),
        _c(
            "billing_customer_id",
            V,
            "Customer id in the billing system.",
            required=True,
            identifier="billing_customer_id",
        ),
        _c("email", V, "Billing email address.", identifier="email"),
        _c("invoice_ts", TS, "When the invoice was issued (UTC).", required=True),
        _c("plan", V, "Subscription plan, e.g. free, starter, pro, enterprise."),
        _c(
            "amount",
            D,
            "Invoice amount in the account currency; not negative.",
            required=True,
            minimum=0,
            maximum=MAX_AMOUNT,
        ),
        _c("currency", V, "ISO currency code."),
        _c(
            "status",
            V,
            "Outcome of the invoice.",
            required=True,
            accepted=("paid", "failed", "refunded"),
        ),
    ),
)

ORDERS = Source(
    name="orders",
    meaning="Shop orders or order lines, keyed by the shop's customer key.",
    key="order_line_id",
    key_optional=True,
    timestamp="order_ts",
    columns=(
        _c(
            "order_line_id",
            V,
            "Unique id of the order line. Optional: lines without it are all kept, even "
            "identical ones, unless `exact_duplicates: drop`.",
        ),
        _c("order_id", V, "Order (invoice) id; several lines may share it.", required=True),
        _c("order_ts", TS, "When the order was placed (UTC).", required=True),
        _c("customer_key", V, "Shop customer id.", required=True, identifier="customer_key"),
        _c("email", V, "Email given with the order.", identifier="email"),
        _c("product_id", V, "Product or stock code."),
        _c("category", V, "Product category."),
        _c(
            "quantity",
            INT,
            "Units ordered (negative for returns in some shops).",
            minimum=-MAX_QUANTITY,
            maximum=MAX_QUANTITY,
        ),
        _c(
            "amount",
            D,
            "Value of the line or order; not negative (cancellations use status).",
            required=True,
            minimum=0,
            maximum=MAX_AMOUNT,
        ),
        _c("status", V, "State of the order.", accepted=("completed", "cancelled", "refunded")),
        _c("country", V, "Country of delivery."),
    ),
)

CONSENT_CHANNELS = ("email", "sms", "ads", "in_app", "crm", "all")

CONSENT = Source(
    name="consent",
    meaning="Consent changes per channel from the preference centre or CMP: who opted in or out "
    "of which channel, and when. The latest change per person and channel wins.",
    key="consent_id",
    timestamp="changed_at",
    links_identities=False,
    any_of=(("email", "phone", "user_id"),),
    columns=(
        _c("consent_id", V, "Id of the consent change.", required=True),
        _c("changed_at", TS, "When the person gave or withdrew consent (UTC).", required=True),
        _c(
            "email",
            V,
            "Email of the person (this, phone or user_id is needed).",
            identifier="email",
        ),
        _c("phone", V, "Phone of the person.", identifier="phone"),
        _c("user_id", V, "Account id of the person.", identifier="user_id"),
        _c(
            "channel",
            V,
            "Channel the change is about; `all` covers every channel.",
            required=True,
            accepted=CONSENT_CHANNELS,
        ),
        _c("status", V, "opt_in or opt_out.", required=True, accepted=("opt_in", "opt_out")),
    ),
)

SURVEY_RESPONSES = Source(
    name="survey_responses",
    meaning="Answers to the surveys the platform triggers (activation.survey_triggers), from "
    "the survey tool.",
    key="response_id",
    timestamp="responded_at",
    links_identities=False,
    any_of=(("email", "user_id"),),
    columns=(
        _c("response_id", V, "Id of the response.", required=True),
        _c("responded_at", TS, "When the person answered (UTC).", required=True),
        _c("email", V, "Email of the respondent (this or user_id is needed).", identifier="email"),
        _c("user_id", V, "Account id of the respondent.", identifier="user_id"),
        _c("survey_id", V, "Survey (question) answered, as in the surveys YAML.", required=True),
        _c("score", INT, "Score from 0 to 10, for scored questions.", minimum=0, maximum=10),
        _c("answer", V, "Free-text or chosen answer."),
    ),
)

ERASURE_REQUESTS = Source(
    name="erasure_requests",
    meaning="Requests to erase a person (right to erasure). Stored pseudonymised: each "
    "identifier as the SHA-256 of its normalised value. On the next run everything the "
    'platform holds about the person is deleted (README, "Consent and erasure").',
    key="request_id",
    timestamp="requested_at",
    links_identities=False,
    pseudonymised=True,
    # A malformed request is quarantined; it must never stop the valid ones from taking effect.
    max_quarantine_share=1.0,
    empty_is_normal=True,
    any_of=(("email", "phone", "user_id", "crm_id", "customer_key"),),
    columns=(
        _c("request_id", V, "Id of the request.", required=True),
        _c("requested_at", TS, "When the request was received (UTC).", required=True),
        _c("email", V, "An email of the person.", identifier="email"),
        _c("phone", V, "A phone number of the person.", identifier="phone"),
        _c("user_id", V, "Account id of the person.", identifier="user_id"),
        _c("crm_id", V, "CRM contact id of the person.", identifier="crm_id"),
        _c("customer_key", V, "Shop customer id of the person.", identifier="customer_key"),
    ),
)

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        WEB_EVENTS,
        APP_EVENTS,
        CRM_CONTACTS,
        EMAIL_EVENTS,
        SUPPORT_TICKETS,
        BILLING,
        ORDERS,
        CONSENT,
        SURVEY_RESPONSES,
        ERASURE_REQUESTS,
    )
}
# The sources whose records the identity graph links (everything but the privacy and
# feedback sources above).
LINKING_SOURCES: dict[str, Source] = {n: s for n, s in SOURCES.items() if s.links_identities}

# Columns the raw layer adds to every table.
LINEAGE_COLUMNS = (
    Column("source_file", V, "File the row was read from."),
    Column(
        "source_row",
        INT,
        "Position in that file: CSV line number (header is line 1), or "
        "Parquet row number counted from 1.",
    ),
)
