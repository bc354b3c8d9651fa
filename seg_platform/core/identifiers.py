"""Identifier normalisation shared by the raw layer (erasure suppression) and identity.

One definition of how an email or phone becomes the value the identity graph links on, so a
hash taken at load time matches `identity_map.value` exactly.
"""

from typing import Protocol

import duckdb
import phonenumbers
import polars as pl

from seg_platform.core.warehouse import frame_to_temp_table

# Every identifier type, highest priority first: the order decides which identifier anchors a
# record and which edge goes when a limit is hit (identity's default priority).
IDENTIFIER_TYPES = (
    "user_id",
    "billing_customer_id",
    "crm_id",
    "customer_key",
    "email",
    "phone",
    "device_id",
    "anonymous_id",
)


class NormalisationRules(Protocol):
    """What normalisation reads of the identity rules (`core.identity_rules.IdentityRules`).
    Read-only properties, so a frozen dataclass satisfies it."""

    @property
    def dotless_email_domains(self) -> tuple[str, ...]: ...
    @property
    def strip_plus_tags(self) -> bool: ...
    @property
    def email_domain_aliases(self) -> dict[str, str]: ...
    @property
    def default_phone_region(self) -> str: ...


def email_sql(rules: NormalisationRules, v: str) -> str:
    """SQL for the normalised email of the lower-cased SQL expression `v`, NULL when invalid."""
    local, domain = f"split_part({v}, '@', 1)", f"split_part({v}, '@', 2)"
    if rules.strip_plus_tags:
        local = f"split_part({local}, '+', 1)"
    aliases = " ".join(f"WHEN '{a}' THEN '{b}'" for a, b in rules.email_domain_aliases.items())
    if aliases:
        domain = f"CASE {domain} {aliases} ELSE {domain} END"
    if rules.dotless_email_domains:
        dotless = ", ".join(f"'{d}'" for d in rules.dotless_email_domains)
        local = f"CASE WHEN {domain} IN ({dotless}) THEN replace({local}, '.', '') ELSE {local} END"
    valid = f"regexp_full_match({v}, '[^@\\s]+@[^@\\s]+\\.[^@\\s]+')"
    return f"CASE WHEN {valid} THEN {local} || '@' || {domain} END"


def identifier_hash_sql(rules: NormalisationRules, id_type: str, column: str) -> str:
    """SQL for SHA-256 of `column`'s value as the identity graph normalises an identifier of
    `id_type` (`identity_map.value`), hashed as `sha256('<type>:<value>')`; NULL when empty.

    Phones are looked up in `_phone_e164`: call `fill_phone_table` first.
    """
    raw = f"trim(CAST({column} AS VARCHAR))"
    if id_type == "email":
        value = email_sql(rules, f"lower({raw})")
    elif id_type == "phone":
        value = (
            f"(SELECT p.e164 FROM _phone_e164 p "
            f"WHERE p.digits = regexp_replace({raw}, '[^0-9+]', '', 'g'))"
        )
    else:
        value = f"nullif({raw}, '')"
    return f"sha256('{id_type}:' || {value})"


def fill_phone_table(con: duckdb.DuckDBPyConnection, rules: NormalisationRules, sql: str) -> None:
    """Temp table `_phone_e164 (digits, e164)` for the phone strings `sql` returns (one
    column), parsed with phonenumbers: what `identifier_hash_sql` looks phones up in."""
    values = [r[0] for r in con.execute(f"SELECT DISTINCT * FROM ({sql})").fetchall() if r[0]]
    digits = sorted({"".join(ch for ch in v.strip() if ch.isdigit() or ch == "+") for v in values})
    frame = pl.DataFrame(
        {"digits": digits, "e164": [e164(d, rules.default_phone_region) for d in digits]},
        schema={"digits": pl.String, "e164": pl.String},
    )
    frame_to_temp_table(con, "_phone_e164", frame)


def e164(digits: str, region: str, valid: bool = False) -> str | None:
    """E.164 of a digit string read in `region`, if it is a possible number there (a valid
    one, with `valid`), else None."""
    if len(digits.lstrip("+")) < 7:
        return None
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return None
    check = phonenumbers.is_valid_number if valid else phonenumbers.is_possible_number
    if not check(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
