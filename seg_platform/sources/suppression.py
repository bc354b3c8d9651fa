"""Erased people are suppressed at load: a row carrying any identifier of a person erased
before never reaches a raw table or the quarantine, whatever the landing files still hold.

The durable list is `privacy.erased_identifiers`: for every identifier an erased person had,
its salted hash, `sha256(salt || ':' || sha256('<type>:<normalised value>'))`, with one random
salt per warehouse (`privacy.salt`), so the list cannot be matched against a dictionary of
known emails hashed the usual way. The erasure step (`privacy.erasure`) adds to it; every
load reads it.
"""

import hashlib
import secrets

import duckdb

from seg_platform.core.identifiers import fill_phone_table, identifier_hash_sql
from seg_platform.core.warehouse import fetch_one, quote, table_exists
from seg_platform.sources.contract import SOURCES, Source

SCHEMA = "privacy"
ERASED = f"{SCHEMA}.erased_identifiers"
SALT = f"{SCHEMA}.salt"
SUPPRESSED_VALUES = "_suppressed_values"


def ensure_privacy_tables(con: duckdb.DuckDBPyConnection) -> str:
    """Create the erased-identifier list and the warehouse's salt if missing; the salt.

    A list written before hashes were salted (plain SHA-256) is salted in place, once."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {ERASED} (identifier_sha256 VARCHAR PRIMARY KEY)")
    if not table_exists(con, SCHEMA, "salt"):
        salt = secrets.token_hex(32)
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"CREATE TABLE {SALT} (salt VARCHAR NOT NULL)")
            con.execute(f"INSERT INTO {SALT} VALUES (?)", [salt])
            con.execute(
                f"UPDATE {ERASED} SET identifier_sha256 = sha256(? || ':' || identifier_sha256)",
                [salt],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return str(fetch_one(con, f"SELECT salt FROM {SALT} LIMIT 1")[0])


def salted(salt: str, hash_sql: str) -> str:
    """SQL salting an unsalted identifier hash (`core.identifiers.identifier_hash_sql`)."""
    if not all(ch in "0123456789abcdef" for ch in salt):
        raise ValueError("the warehouse's privacy salt is not a hex string")
    return f"sha256('{salt}:' || {hash_sql})"


def salted_identifier_sql(rules, id_type: str, column: str) -> str:
    """SQL for the salted hash of `column` as an identifier of `id_type`, with the salt read
    from the warehouse (`ensure_privacy_tables` first; phones need `fill_phone_table`)."""
    unsalted = identifier_hash_sql(rules, id_type, column)
    return f"sha256((SELECT salt FROM {SALT}) || ':' || {unsalted})"


def _erased_hashes_sql(con: duckdb.DuckDBPyConnection) -> str | None:
    """Every salted hash to suppress: the durable list, and the identifiers of every request
    loaded so far (so a requested identifier is suppressed even before its erasure ran)."""
    parts = []
    if table_exists(con, SCHEMA, "erased_identifiers"):
        parts.append(f"SELECT identifier_sha256 AS hs FROM {ERASED}")
    if table_exists(con, "raw", "erasure_requests"):
        parts += [
            f"SELECT {quote(c.name)} FROM raw.erasure_requests WHERE {quote(c.name)} IS NOT NULL"
            for c in SOURCES["erasure_requests"].columns
            if c.identifier
        ]
    if not parts:
        return None
    union = " UNION ALL ".join(parts)
    return union if fetch_one(con, f"SELECT count(*) FROM ({union})")[0] else None


def suppression_condition(con: duckdb.DuckDBPyConnection, source: Source, rules) -> str | None:
    """An SQL condition over the load's `_checked` rows, true for a row carrying any erased
    identifier (in any spelling that normalises to it); None when nothing is to be suppressed.

    Each distinct value is hashed once (temp table `_suppressed_values`), not every row."""
    columns = [(c.name, c.identifier) for c in source.columns if c.identifier]
    if source.pseudonymised or not columns:
        return None
    erased = _erased_hashes_sql(con)
    if erased is None:
        return None
    salt = ensure_privacy_tables(con)
    phones = [quote(name) for name, id_type in columns if id_type == "phone"]
    if phones:
        fill_phone_table(
            con, rules, " UNION ALL ".join(f"SELECT {c} FROM _checked" for c in phones)
        )
    matches = " UNION ALL ".join(
        f"""SELECT '{id_type}' AS id_type, raw FROM
            (SELECT DISTINCT {quote(name)} AS raw FROM _checked WHERE {quote(name)} IS NOT NULL)
            WHERE {salted(salt, identifier_hash_sql(rules, id_type, "raw"))} IN ({erased})"""
        for name, id_type in columns
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {SUPPRESSED_VALUES} AS {matches}")
    if not fetch_one(con, f"SELECT count(*) FROM {SUPPRESSED_VALUES}")[0]:
        return None
    return " OR ".join(
        f"{quote(name)} IN (SELECT raw FROM {SUPPRESSED_VALUES} WHERE id_type = '{id_type}')"
        for name, id_type in columns
    )


def suppression_state(con: duckdb.DuckDBPyConnection, rules) -> str:
    """A fingerprint of what `suppression_condition` suppresses: every erased hash and the
    rules that normalise identifiers. The ledger stores it with each load; when it changes, a
    source is loaded again in full, so rows of newly erased people leave the earlier files'
    rows too and the per-file counts stay those of a full load."""
    erased = _erased_hashes_sql(con)
    hashes = ""
    if erased is not None:
        hashes = str(
            fetch_one(con, f"SELECT md5(string_agg(hs, ',' ORDER BY hs)) FROM ({erased})")[0]
        )
    return hashlib.sha256(f"{hashes}|{rules!r}".encode()).hexdigest()
