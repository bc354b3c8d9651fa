"""Which defects are planted where (late, duplicate, truncated, malformed rows) and with what."""

LATE_SHARE = 0.02  # events of month m delivered in month m+1's file
LATE_SOURCES = ("web_events", "app_events", "email_events")
DUPLICATE_SOURCES = ("web_events", "app_events", "email_events", "billing", "orders")
# Truncated lines are cut by hand in the third field, so only plain-text sources whose first
# three columns never need CSV quoting qualify (not the gzipped email events, not CRM emails
# with stray spaces).
TRUNCATABLE_SOURCES = ("web_events", "app_events", "support_tickets", "billing", "orders")
N_TRUNCATED_FILES = 3

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
KINDS_BY_SOURCE = {
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
BAD_ACCEPTED = {
    "email_events": ("event_type", ("opened??", "delivered", "spam_report")),
    "billing": ("status", ("pending_x", "chargeback", "paid?")),
    "orders": ("status", ("pending_x", "shipped??", "on_hold")),
}
BAD_TIMESTAMPS = ("not-a-date", "2025-13-45 25:61:00", "2025-02-30 10:00:00")
BAD_TIMESTAMPS_ISO = ("not-a-date", "2025-13-45T25:61:00Z", "2025-02-30T10:00:00Z")
OUT_OF_RANGE_TS = ("1970-01-01 00:00:00", "2099-01-01 00:00:00")
OUT_OF_RANGE_TS_ISO = ("1970-01-01T00:00:00Z", "2099-01-01T00:00:00Z")
NON_NUMERIC = ("twelve", "12,50€", "1O.00")
BAD_SATISFACTION = ("9", "0", "6", "-1")
