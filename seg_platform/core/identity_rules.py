"""Identity resolution rules: identifier priority, per-profile limits, blocked values, email rules.

Plain data with defaults (`IdentityRules`), and the settings a user may give (`IdentitySettings`:
each one's type, meaning and default, read from `IdentityRules`). On the ground floor because
the raw layer (erasure suppression, pseudonymised sources), erasure and identity all normalise
identifiers with them. The Dagster resource `sources.resources.IdentityConfig` is
`IdentitySettings` set in the launchpad; `sources.config` checks the sources.yaml's `identity:`
section against the same settings.
"""

import copy
import json
from dataclasses import dataclass, field
from typing import Any

import pydantic
from pydantic import Field

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
    # The duplicate model is stored and reused (identity.linkage_store); a new one is trained
    # when the contacts grew by more than this share since the stored one was (0: every build).
    dedup_model_retrain_share: float = 0.25
    # WARN check: share of probabilistic links refused (by the clusters' safeguards or by the
    # identifier limits) above which the identity layer warns.
    max_refused_link_share: float = 0.2

    def rank(self, id_type: str) -> int:
        return self.priority.index(id_type)

    def blocked_patterns(self, id_type: str) -> tuple[str, ...]:
        return (*self.blocked.get("*", ()), *self.blocked.get(id_type, ()))


# Person columns of crm_contacts a blocking rule of the duplicate model may name. They reach
# Splink's SQL as column names, so nothing else is accepted.
BLOCKING_COLUMNS = (
    "first_name", "last_name", "full_name", "date_of_birth", "address", "postcode", "city",
    "email", "phone", "company", "role", "country",
)  # fmt: skip

_RULES = IdentityRules()


def _setting(description: str, default: Any) -> Any:
    """A field of `IdentitySettings`: unset (None) unless given, so a value given in the
    launchpad can be told from one that is not, even when it equals the default (Dagster drops
    values equal to a field's default). `default` is the rule's value when no one sets it."""
    default = json.loads(json.dumps(default))  # tuples as lists: as written in YAML
    return Field(
        default=None,
        description=f"{description} Default: {json.dumps(default)}.",
        json_schema_extra={"platform_default": default},
    )


class IdentitySettings(pydantic.BaseModel):
    """The identity rules a user may set (see docs/identity.md), each unset (None) by default:
    its value is then `IdentityRules`' default. `rules_from_settings` builds the rules."""

    priority: list[str] | None = _setting(
        "Identifier types, highest first: which identifier anchors a record and which link "
        "goes first when a limit is hit. A type left out is not used at all.",
        _RULES.priority,
    )
    limits: dict[str, int] | None = _setting(
        "The most identifiers of each type one profile may hold (for crm_id, deduplicated "
        "records of one person count once). Types given replace their default; the others "
        "keep it.",
        _RULES.limits,
    )
    extra_blocked: dict[str, list[str]] | None = _setting(
        "More values that never link anything: identifier type (or `*`, every type) to "
        "case-insensitive regular expressions (RE2), added to the built-in list.",
        {},
    )
    dotless_email_domains: list[str] | None = _setting(
        "Email domains where dots in the local part do not matter.",
        _RULES.dotless_email_domains,
    )
    strip_plus_tags: bool | None = _setting(
        "Drop `+tag` from email local parts (`ann+shop@x` is `ann@x`).", _RULES.strip_plus_tags
    )
    default_phone_region: str | None = _setting(
        "Country (two-letter code) national phone numbers are read in.",
        _RULES.default_phone_region,
    )
    max_component_size: int | None = _setting(
        "Blocking check: the most identifiers one profile may hold (a larger one means a junk "
        "value is bridging people).",
        _RULES.max_component_size,
    )
    match_rate_floor: float | None = _setting(
        "WARN check: the least share of each source's records tied to a known person.",
        _RULES.match_rate_floor,
    )
    probabilistic: bool | None = _setting(
        "Deduplicate CRM contacts with the Splink model (false: hard links only).",
        _RULES.probabilistic,
    )
    probabilistic_threshold: float | None = _setting(
        "Match probability at or above which two contacts are one person.",
        _RULES.probabilistic_threshold,
    )
    dedup_max_cluster_size: int | None = _setting(
        "The most records one person's cluster may have; larger clusters are split at "
        "stricter thresholds.",
        _RULES.dedup_max_cluster_size,
    )
    dedup_min_density: float | None = _setting(
        "The least share of its record pairs a cluster of 4 or more records must link "
        "directly; looser chains are split at stricter thresholds.",
        _RULES.dedup_min_density,
    )
    dedup_blocking_rules: list[list[str]] | None = _setting(
        "Candidate pairs of contacts: each rule a list of person columns that must be equal "
        f"({', '.join(BLOCKING_COLUMNS)}). Empty: chosen from the columns present.",
        _RULES.dedup_blocking_rules,
    )
    dedup_comparison_budget: int | None = _setting(
        "The most candidate pairs the broader automatic blocking rules (a column alone, name "
        "prefixes) may add; they add at most 200 per contact compared in any case.",
        _RULES.dedup_comparison_budget,
    )
    dedup_model_retrain_share: float | None = _setting(
        "The duplicate model is trained once and stored (identity.linkage_models); a build "
        "trains a new version when the CRM contacts grew by more than this share since (0: "
        "every build trains one), when people were erased, when other identity rules apply, "
        "or on a full rebuild (--full-reload).",
        _RULES.dedup_model_retrain_share,
    )
    max_refused_link_share: float | None = _setting(
        "WARN check: the largest share of the duplicate model's links that may be refused "
        "(by the clusters' safeguards or the limits).",
        _RULES.max_refused_link_share,
    )

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every setting's value when no one sets it."""
        return {
            name: copy.deepcopy(info.json_schema_extra["platform_default"])  # type: ignore[index]
            for name, info in cls.model_fields.items()
        }


def rules_from_settings(s: dict[str, Any]) -> IdentityRules:
    """The rules for a value of every setting (`IdentitySettings.defaults()` merged with what
    was given): extra blocked values are added to the built-in ones, limits to the defaults."""
    blocked = {k: tuple(v) for k, v in DEFAULT_BLOCKED.items()}
    for id_type, patterns in s["extra_blocked"].items():
        blocked[id_type] = (*blocked.get(id_type, ()), *patterns)
    return IdentityRules(
        priority=tuple(s["priority"]),
        limits={**DEFAULT_LIMITS, **s["limits"]},
        blocked=blocked,
        dotless_email_domains=tuple(s["dotless_email_domains"]),
        strip_plus_tags=s["strip_plus_tags"],
        default_phone_region=s["default_phone_region"],
        max_component_size=s["max_component_size"],
        match_rate_floor=s["match_rate_floor"],
        probabilistic=s["probabilistic"],
        probabilistic_threshold=s["probabilistic_threshold"],
        dedup_max_cluster_size=s["dedup_max_cluster_size"],
        dedup_min_density=s["dedup_min_density"],
        dedup_blocking_rules=tuple(tuple(r) for r in s["dedup_blocking_rules"]),
        dedup_comparison_budget=s["dedup_comparison_budget"],
        dedup_model_retrain_share=s["dedup_model_retrain_share"],
        max_refused_link_share=s["max_refused_link_share"],
    )
