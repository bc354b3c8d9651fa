"""Identity resolution rules: identifier priority, per-profile limits, blocked values, email rules.

Plain data with defaults; the Dagster resource `IdentityConfig` builds one from its settings.
"""

from dataclasses import dataclass, field

from seg_platform.core.identifiers import IDENTIFIER_TYPES

# How many identifiers of a type one profile may hold. A person has one account; a few emails,
# phones and devices; many cookies. CRM may hold a person twice (typo duplicates).
DEFAULT_LIMITS = {
    "user_id": 1,
    "billing_customer_id": 2,
    "crm_id": 3,
    "customer_key": 2,
    "email": 5,
    "phone": 3,
    "device_id": 10,
    "anonymous_id": 200,
}

# Case-insensitive regular expressions; a matching value never links anything.
DEFAULT_BLOCKED = {
    "*": (
        r"^\s*$",
        r"^(null|none|nil|nan|undefined|unknown|test|n/?a|na|-+|\.+|#+|\?+)$",
        r"^0+$",
    ),
    "email": (
        r"^(test|example|noreply|no-reply|donotreply|null|none|unknown|anonymous)@",
        r"@(example|test|invalid)\.(com|org|net)$",
        r"^[^@]*$",  # no @ at all: not an email
    ),
    "phone": (
        r"^\+?1?0+$",  # all zeros
        # One digit repeated (RE2, DuckDB's regex engine, has no backreferences).
        r"^\+?1?(0{7,}|1{7,}|2{7,}|3{7,}|4{7,}|5{7,}|6{7,}|7{7,}|8{7,}|9{7,})$",
    ),
}

# Types that name a person (not just a browser or device): a profile with one is "known".
KNOWN_TYPES = ("user_id", "billing_customer_id", "crm_id", "customer_key", "email", "phone")


@dataclass(frozen=True)
class IdentityRules:
    # Highest first (the order of `IDENTIFIER_TYPES`).
    priority: tuple[str, ...] = IDENTIFIER_TYPES
    limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    blocked: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_BLOCKED))
    # Email: domains where dots in the local part do not matter, and whether "+tag" is dropped.
    dotless_email_domains: tuple[str, ...] = ("gmail.com", "googlemail.com")
    strip_plus_tags: bool = True
    email_domain_aliases: dict[str, str] = field(
        default_factory=lambda: {"googlemail.com": "gmail.com"}
    )
    default_phone_region: str = "US"
    max_component_size: int = 1000
    match_rate_floor: float = 0.5
    probabilistic: bool = True
    probabilistic_threshold: float = 0.9
    # Deduplication of contact records (one person entered several times): clusters of pairs
    # above `probabilistic_threshold`, re-clustered at stricter thresholds when larger than
    # `dedup_max_cluster_size` records or linked more loosely than `dedup_min_density` of
    # their record pairs (4 records or more).
    dedup_max_cluster_size: int = 50
    dedup_min_density: float = 0.25
    # Candidate pairs of contact records: the blocking rules, each a list of person columns that
    # must be equal (empty: chosen from the columns present, see linkage.person_spec), and the
    # number of pairs the broader automatic rules (one column alone, name prefixes) may add.
    dedup_blocking_rules: tuple[tuple[str, ...], ...] = ()
    dedup_comparison_budget: int = 2_000_000
    # WARN check: share of probabilistic links refused (by the clusters' safeguards or by the
    # identifier limits) above which the identity layer warns.
    max_refused_link_share: float = 0.2

    def rank(self, id_type: str) -> int:
        return self.priority.index(id_type)

    def blocked_patterns(self, id_type: str) -> tuple[str, ...]:
        return (*self.blocked.get("*", ()), *self.blocked.get(id_type, ()))
