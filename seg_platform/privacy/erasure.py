"""The right to erasure: delete everything the platform holds about a person. Plain DuckDB.

`raw.erasure_requests` holds each request's identifiers as SHA-256 of their normalised value
(`core.identifiers.identifier_hash_sql`); the raw values never reach the warehouse. On every run,
after the identity graph is rebuilt and before anything reads it:

1. A person is erased when any identifier of their profile hashes to a requested one, or to
   an identifier erased before (`privacy.erased_identifiers`: hashes only), so a person seen
   again in an old landing file, or under a new cookie linked to an erased email, is erased
   again.
2. In one transaction: their rows leave every raw table (by any identifier of the profile,
   in any spelling the sources used) and quarantined rows containing one of those values;
   their identifiers, edges, profile and audit rows leave the identity tables; and every
   other table with a `profile_id` column (features, segments, predictions, activation, all
   months) loses their rows; tables of stored history (named `*_history`) also lose the rows
   of profile ids the identity graph no longer has (an erased person's id before a merge).
3. Aggregates stay consistent with what remains: segment sizes and shares, and the migration
   counts, are decreased by the erased members (`segments.segment_profiles`,
   `segments.segment_migration`). Statistical summaries (feature means, model metrics) are
   left as they were computed: they hold nothing that identifies anyone.
4. Published outputs that held the person (the activation feeds) are written again from the
   tables, through the `PublishedOutputs` interface (`privacy.published`) activation
   implements, and MLflow never receives per-customer rows, so there is nothing to erase
   there.

`privacy.erasure_log` records each request (id, when received, persons and rows erased),
without the identifiers.
"""

from dataclasses import dataclass, field

from seg_platform.core.identifiers import identifier_hash_sql
from seg_platform.core.identity_rules import IdentityRules
from seg_platform.core.warehouse import fetch_one, quote, replace_tables, table_exists
from seg_platform.identity.build import (
    AUDIT,
    CHANGES,
    EDGES,
    MAP,
    PHONE_CACHE,
    PROFILES,
    VALUES,
)
from seg_platform.identity.incremental import COMPONENTS as INCREMENTAL_COMPONENTS
from seg_platform.identity.incremental import STATE as INCREMENTAL_STATE
from seg_platform.privacy.published import PublishedOutputs
from seg_platform.sources.contract import SOURCES
from seg_platform.sources.suppression import ERASED, SCHEMA, ensure_privacy_tables, salted

LOG = f"{SCHEMA}.erasure_log"
REQUESTS = "raw.erasure_requests"
_SKIP_SCHEMAS = ("raw", "identity", SCHEMA)
_MIN_QUARANTINE_MATCH = 5  # shorter values are not searched for in quarantined text


@dataclass
class ErasureResult:
    requests: int = 0
    requests_matched: int = 0
    profiles: int = 0
    rows_deleted: dict[str, int] = field(default_factory=dict)
    months_touched: list = field(default_factory=list)
    feeds_touched: list = field(default_factory=list)  # (destination, as_of_date) published

    @property
    def total_rows(self) -> int:
        return sum(self.rows_deleted.values())


def ensure_tables(con) -> str:
    """The privacy tables, created if missing; the warehouse's salt."""
    salt = ensure_privacy_tables(con)
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {LOG} (request_id VARCHAR, requested_at TIMESTAMP, "
        "first_erased_run VARCHAR, persons BIGINT, rows_erased BIGINT)"
    )
    return salt


def _request_hashes_sql() -> str:
    columns = [c.name for c in SOURCES["erasure_requests"].columns if c.identifier]
    return " UNION ALL ".join(
        f"SELECT request_id, requested_at, {quote(c)} AS hs FROM {REQUESTS} "
        f"WHERE {quote(c)} IS NOT NULL"
        for c in columns
    )


def find_erased(con, salt: str) -> int:
    """Temp tables `_req` (request, hash), `_erased_profiles`, `_erased_values` (the profiles'
    normalised identifiers, with their salted hash `hs`) and `_erased_raw` (every raw spelling
    of them). Persons found."""
    has_requests = table_exists(con, "raw", "erasure_requests")
    requests = _request_hashes_sql() if has_requests else (
        "SELECT NULL::VARCHAR AS request_id, NULL::TIMESTAMP AS requested_at, "
        "NULL::VARCHAR AS hs WHERE false"
    )  # fmt: skip
    con.execute(f"CREATE OR REPLACE TEMP TABLE _req AS {requests}")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _map_hashed AS
        SELECT *, {salted(salt, "h")} AS hs FROM (
            SELECT id_type, value, profile_id, sha256(id_type || ':' || value) AS h FROM {MAP})""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _erased_profiles AS
        SELECT DISTINCT profile_id FROM _map_hashed
        WHERE hs IN (SELECT hs FROM _req) OR hs IN (SELECT identifier_sha256 FROM {ERASED})""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _erased_values AS
        SELECT id_type, value, h, hs FROM _map_hashed
        WHERE profile_id IN (SELECT profile_id FROM _erased_profiles)""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _erased_raw AS
        SELECT DISTINCT v.id_type, v.raw_value FROM {VALUES} v
        JOIN _erased_values e ON e.id_type = v.id_type AND e.value = v.value""")
    return fetch_one(con, "SELECT count(*) FROM _erased_profiles")[0]


def _profile_tables(con) -> list[str]:
    rows = con.execute(
        """SELECT c.table_schema || '.' || c.table_name FROM information_schema.columns c
           JOIN information_schema.tables t USING (table_catalog, table_schema, table_name)
           WHERE c.column_name = 'profile_id' AND t.table_type = 'BASE TABLE'
             AND NOT c.table_schema IN ('raw', 'identity', 'privacy')
             AND NOT starts_with(c.table_name, '_')
           ORDER BY 1"""
    ).fetchall()
    return [r[0] for r in rows]


def _count(con, sql: str) -> int:
    return int(fetch_one(con, f"SELECT count(*) FROM ({sql})")[0])


def erase(con, run_id: str, rules=None, published: PublishedOutputs | None = None) -> ErasureResult:
    """Find the persons to erase and delete them everywhere in the warehouse (module doc).

    `rules` (identity rules) normalise the words of quarantined records that could not be
    parsed, to find erased identifiers in them; without, the defaults. `published` says which
    published outputs held the persons (`result.feeds_touched`, to scrub afterwards)."""
    salt = ensure_tables(con)
    result = ErasureResult()
    persons = find_erased(con, salt)
    result.requests = _count(con, "SELECT DISTINCT request_id FROM _req")
    result.requests_matched = _count(
        con, "SELECT DISTINCT request_id FROM _req JOIN _map_hashed USING (hs)"
    )
    result.profiles = persons
    quarantined = _erased_in_quarantine(con, salt, rules)
    if not persons and not quarantined:
        _log(con, run_id, result)
        return result

    statements: list[tuple[str, str]] = []

    def delete(table: str, where: str) -> None:
        n = _count(con, f"SELECT 1 FROM {table} WHERE {where}")
        if n:
            result.rows_deleted[table] = result.rows_deleted.get(table, 0) + n
            statements.append((table, f"DELETE FROM {table} WHERE {where}"))

    # Raw tables: every row carrying any spelling of the persons' identifiers.
    for source in SOURCES.values():
        if source.pseudonymised or not table_exists(con, "raw", source.name):
            continue
        conditions = [
            f"{quote(c.name)} IN (SELECT raw_value FROM _erased_raw WHERE id_type = "
            f"'{c.identifier}')"
            for c in source.columns
            if c.identifier
        ]
        if conditions:
            delete(f"raw.{source.name}", " OR ".join(conditions))
    if table_exists(con, "raw", "quarantine"):
        delete(
            "raw.quarantine",
            "record IS NOT NULL AND (EXISTS (SELECT 1 FROM _erased_raw e WHERE "
            f"length(trim(e.raw_value)) >= {_MIN_QUARANTINE_MATCH} AND "
            "contains(lower(record), lower(trim(e.raw_value)))) "
            "OR (source, source_file, source_row) IN (SELECT * FROM _erased_quarantine))",
        )

    # Identity tables.
    in_values = "IN (SELECT value FROM _erased_values)"
    in_profiles = "IN (SELECT profile_id FROM _erased_profiles)"
    delete(VALUES, "(id_type, raw_value) IN (SELECT id_type, raw_value FROM _erased_raw)")
    delete(MAP, f"profile_id {in_profiles}")
    delete(EDGES, f"left_value {in_values} OR right_value {in_values}")
    delete(PROFILES, f"profile_id {in_profiles}")
    delete(AUDIT, f"value {in_profiles} OR value {in_values} OR value IN "
                  "(SELECT raw_value FROM _erased_raw)")  # fmt: skip
    delete(CHANGES, f"old_profile_id {in_profiles} OR new_profile_id {in_profiles}")
    delete(PHONE_CACHE, "e164 IN (SELECT value FROM _erased_values WHERE id_type = 'phone')")
    # The incremental identity state fingerprints the graph with the erased people in it: it
    # goes, and the next identity build is a full one (identity.incremental).
    for table in (INCREMENTAL_COMPONENTS, INCREMENTAL_STATE):
        if table_exists(con, *table.split(".")):
            delete(table, "true")

    # Aggregates first (they need the members), then every table keyed by profile.
    if table_exists(con, "segments", "segment_assignments"):
        statements += _aggregate_statements(con)
        result.months_touched = [
            r[0] for r in con.execute(
                "SELECT DISTINCT as_of_date FROM segments.segment_assignments "
                f"WHERE profile_id {in_profiles} ORDER BY 1"
            ).fetchall()
        ]  # fmt: skip
    if published is not None:
        result.feeds_touched = published.holding(con)
    tables = _profile_tables(con)
    for table in tables:
        delete(table, f"profile_id {in_profiles}")
    # Stored history (`features.history`) may keep a month computed before a rebuild merged a
    # person's old profile into another: rows of any id the graph no longer has go too.
    for table in tables:
        if table.endswith("_history"):
            delete(table, f"profile_id NOT IN (SELECT profile_id FROM {PROFILES})")

    statements.append(
        (ERASED, f"INSERT OR IGNORE INTO {ERASED} SELECT DISTINCT hs FROM _erased_values")
    )
    replace_tables(con, statements)
    _log(con, run_id, result)
    return result


def _erased_in_quarantine(con, salt: str, rules) -> int:
    """Temp table `_erased_quarantine` (source, source_file, source_row): quarantined records
    holding a word that normalises to an erased identifier. Such a record never reached the
    identity graph (it could not be parsed, or its person was erased in an earlier run), so
    only its text can say whose it is. Phones written with spaces are not recognised."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _erased_quarantine "
        "(source VARCHAR, source_file VARCHAR, source_row BIGINT)"
    )
    if not table_exists(con, "raw", "quarantine"):
        return 0

    rules = rules or IdentityRules()
    types = sorted({c.identifier for s in SOURCES.values() for c in s.columns if c.identifier})
    hashes = " UNION ALL ".join(
        f"SELECT q.*, {salted(salt, identifier_hash_sql(rules, t, 'q.word'))} AS hs FROM w q"
        for t in types
        if t != "phone"
    )
    con.execute(f"""
        INSERT INTO _erased_quarantine
        WITH w AS (
            SELECT DISTINCT source, source_file, source_row, word FROM (
                SELECT source, source_file, source_row,
                       unnest(regexp_split_to_array(record, '[\\s,;|"{{}}\\[\\]]+')) AS word
                FROM raw.quarantine WHERE record IS NOT NULL)
            WHERE length(word) >= {_MIN_QUARANTINE_MATCH})
        SELECT DISTINCT source, source_file, source_row FROM ({hashes})
        WHERE hs IN (SELECT identifier_sha256 FROM {ERASED}) OR hs IN (
            SELECT hs FROM _erased_values)""")
    return int(fetch_one(con, "SELECT count(*) FROM _erased_quarantine")[0])


def _aggregate_statements(con) -> list[tuple[str, str]]:
    """Segment sizes, shares and migration counts without the erased members."""
    profiles, migration = "segments.segment_profiles", "segments.segment_migration"
    statements = []
    if table_exists(con, "segments", "segment_profiles"):
        statements.append(
            (
                profiles,
                f"""
            UPDATE {profiles} p SET customers = p.customers - e.n
            FROM (SELECT as_of_date, segment_id, count(*) AS n
                  FROM segments.segment_assignments
                  WHERE profile_id IN (SELECT profile_id FROM _erased_profiles)
                  GROUP BY ALL) e
            WHERE p.as_of_date = e.as_of_date AND p.segment_id = e.segment_id""",
            )
        )
        # Shares of segments without an erased member change too (the total shrank).
        statements.append(
            (
                profiles,
                f"""
            UPDATE {profiles} p SET share = p.customers / t.total
            FROM (SELECT as_of_date, sum(customers) AS total FROM {profiles} GROUP BY ALL) t
            WHERE t.as_of_date = p.as_of_date AND t.total > 0""",
            )
        )
    if table_exists(con, "segments", "segment_migration"):
        # Each erased person's (last month's segment, this month's) cell, month by month.
        cells = """
            WITH a AS (
                SELECT profile_id, as_of_date, segment_id FROM segments.segment_assignments
                WHERE profile_id IN (SELECT profile_id FROM _erased_profiles)),
            months AS (SELECT DISTINCT as_of_date FROM segments.segment_migration),
            moves AS (
                SELECT m.as_of_date, prev.segment_id AS from_id, cur.segment_id AS to_id
                FROM months m CROSS JOIN _erased_profiles p
                LEFT JOIN a cur ON cur.profile_id = p.profile_id AND cur.as_of_date = m.as_of_date
                LEFT JOIN a prev ON prev.profile_id = p.profile_id
                 AND prev.as_of_date = last_day(m.as_of_date - INTERVAL 1 MONTH)
                WHERE cur.segment_id IS NOT NULL OR prev.segment_id IS NOT NULL)
            SELECT as_of_date, from_id, to_id, count(*) AS n FROM moves GROUP BY ALL"""
        statements.append(
            (
                migration,
                f"""
            UPDATE {migration} g SET customers = g.customers - c.n
            FROM ({cells}) c
            WHERE g.as_of_date = c.as_of_date
              AND g.from_segment_id IS NOT DISTINCT FROM c.from_id
              AND g.to_segment_id IS NOT DISTINCT FROM c.to_id""",
            )
        )
        statements.append((migration, f"DELETE FROM {migration} WHERE customers <= 0"))
    return statements


def _log(con, run_id: str, result: ErasureResult) -> None:
    """One row per request, added the first run it is seen (persons and rows erased then)."""
    con.execute(
        f"""INSERT INTO {LOG}
            SELECT r.request_id, any_value(r.requested_at), ?,
                   count(DISTINCT m.profile_id), ?
            FROM _req r LEFT JOIN _map_hashed m USING (hs)
            WHERE r.request_id NOT IN (SELECT request_id FROM {LOG})
            GROUP BY r.request_id""",
        [run_id, result.total_rows],
    )
