"""Build the identity layer in DuckDB: who is behind every record of every source.

Identifiers are normalised once per distinct raw value (a lookup table), records are reduced to
distinct identifier combinations per source (so events never pass through Python), edges link
each combination's identifiers to its highest-priority one, and the graph is resolved by
`identity.graph.resolve`. Profile ids survive rebuilds: each new component takes the previous
id that holds most of its identifiers; merges and splits are logged. Every output table is
replaced in one transaction.
"""

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import numpy as np
import polars as pl

from seg_platform.core.identifiers import e164 as _e164
from seg_platform.core.identifiers import email_sql as _email_sql
from seg_platform.core.identity_rules import KNOWN_TYPES, IdentityRules
from seg_platform.core.warehouse import (
    fetch_one,
    frame_to_temp_table,
    quote,
    replace_tables,
    table_exists,
)
from seg_platform.core.yaml_files import ConfigFileError
from seg_platform.identity import incremental
from seg_platform.identity.countries import country_region
from seg_platform.identity.graph import (
    APART,
    EDGE_STATUS,
    KEPT,
    OVERSIZE,
    TIGHTENED,
    components,
    dedup_clusters,
    resolve,
)
from seg_platform.identity.linkage_store import ModelStore, Scorer, rules_fingerprint
from seg_platform.sources.contract import LINKING_SOURCES, SOURCES, Source

SCHEMA = "identity"
VALUES = f"{SCHEMA}.identifier_values"
PHONE_CACHE = f"{SCHEMA}.phone_numbers"
EDGES = f"{SCHEMA}.identity_edges"
MAP = f"{SCHEMA}.identity_map"
PROFILES = f"{SCHEMA}.profiles"
AUDIT = f"{SCHEMA}.identity_audit"
CHANGES = f"{SCHEMA}.identity_changes"
MATCH_RATE = f"{SCHEMA}.match_rate"
RECORD_PROFILES = f"{SCHEMA}.record_profiles"
WEIGHTS = f"{SCHEMA}.linkage_weights"
# Each edge with the integer ids of its two identifiers, the smaller first.
_EDGE_NODES = """
    SELECT e.*, least(l.node_id, r.node_id) AS src, greatest(l.node_id, r.node_id) AS dst
    FROM _edges e
    JOIN _nodes l ON l.id_type = e.left_type AND l.value = e.left_value
    JOIN _nodes r ON r.id_type = e.right_type AND r.value = e.right_value"""
SIZE_BUCKETS = ((1, 1), (2, 2), (3, 5), (6, 10), (11, 50), (51, 200), (201, None))


@dataclass
class IdentityResult:
    profiles: int = 0
    identifiers: int = 0
    edges: int = 0
    probabilistic_edges: int = 0
    hubs: int = 0
    blocked_values: int = 0
    merges: int = 0
    splits: int = 0
    largest_component: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    # The probabilistic model: columns compared, prior, EM sessions, match weights (linkage).
    linkage: dict = field(default_factory=dict, repr=False)
    # Links by rule and what became of them: {(rule, status): edges}.
    links: dict[tuple[str, str], int] = field(default_factory=dict)
    # Incremental or full, why full, components resolved and kept (identity.incremental).
    incremental: dict = field(default_factory=dict)


def identifier_columns(source: Source, rules: IdentityRules) -> list[tuple[str, str]]:
    """(column, identifier type) of a source, highest priority first."""
    cols = [(c.name, c.identifier) for c in source.columns if c.identifier in rules.priority]
    return sorted(cols, key=lambda ct: rules.rank(ct[1]))


def record_key_sql(source: Source, alias: str = "r") -> str:
    key = f"{alias}.{quote(source.key)}"
    if source.key_optional:
        return f"coalesce({key}, {alias}.source_file || ':' || {alias}.source_row)"
    return key


# Another engine's resolution of the whole graph (`identity.spark_graph.SparkResolver`): it
# fills the temp tables `_pairs`, `_labels`, `_pair_status`, `_hubs` and `_limit_cuts` as
# `_resolve_graph` does (same rows; a component's `comp` numbered as `graph.resolve` numbers
# it: 0.. in the order of its smallest node) and sets `result.hubs`.
Resolver = Callable[[duckdb.DuckDBPyConnection, IdentityRules, "IdentityResult"], None]


def build_identity(
    con: duckdb.DuckDBPyConnection,
    rules: IdentityRules,
    run_id: str,
    full_rebuild: bool = False,
    retrain_model: bool | None = None,
    resolver: Resolver | None = None,
    scorer: Scorer | None = None,
) -> IdentityResult:
    """Rebuild every identity table from the raw tables. Components of the graph unchanged
    since the last build keep its outcome unless `full_rebuild` (identity.incremental). The
    stored duplicate model scores the contacts unless it is due for retraining or
    `retrain_model` (default: `full_rebuild`, so a requested full rebuild is a fresh home's).
    `resolver` resolves the graph of a full build on another engine (default: one process);
    `scorer` scores the contact pairs with the duplicate model on another engine, in full and
    incremental builds alike (default: DuckDB, where the model is trained).
    """
    result, clock = IdentityResult(), time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        result.seconds[name] = round(now - clock, 3)
        clock = now

    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {CHANGES} (run_id VARCHAR, old_profile_id VARCHAR, "
        "new_profile_id VARCHAR, reason VARCHAR, identifiers BIGINT)"
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {PHONE_CACHE} (digits VARCHAR, region VARCHAR, e164 VARCHAR)"
    )
    plan = incremental.plan_identity(con, rules, full_rebuild)
    _normalise(con, rules)
    _nickname_table(con)
    _shared_contact_points(con)
    lap("normalise")
    _combinations(con, rules)
    lap("combinations")
    _nodes_and_edges(con, rules)
    # The duplicate model is a stored artifact, retrained only when due (identity.linkage_store).
    retrain = full_rebuild if retrain_model is None else retrain_model
    models = ModelStore(
        con, run_id, plan.suppression, rules.dedup_model_retrain_share,
        rules=rules_fingerprint(rules), retrain="full rebuild requested" if retrain else None,
        scorer=scorer,
    )  # fmt: skip
    result.probabilistic_edges = _probabilistic_edges(con, rules, result, models)
    if models.used:
        result.linkage["stored_models"] = models.used
    lap("edges")
    if plan.incremental and not incremental.resolve_changed(con, rules, _EDGE_NODES, plan):
        plan.incremental, plan.reason = False, "a kept component is missing from identity_map"
    if plan.incremental:
        result.hubs = fetch_one(con, "SELECT count(*) FROM _hubs")[0]
    else:
        (resolver or _resolve_graph)(con, rules, result)
    lap("components")
    if plan.incremental:
        incremental.restrict_labels_to_resolved(con)
    _stable_ids(con, run_id, result)
    if plan.incremental:
        incremental.restore_labels(con)
    lap("stable_ids")
    incremental.invalidate(con)
    _write_outputs(con, rules)
    _write_model(con, result.linkage)
    incremental.write_state(con, rules, plan, run_id)
    result.incremental = plan.summary()
    lap("outputs")
    result.seconds |= plan.seconds  # parts of the steps above
    stats = fetch_one(
        con,
        f"SELECT (SELECT count(*) FROM {PROFILES}), (SELECT count(*) FROM {MAP}), "
        f"(SELECT count(*) FROM {EDGES}), (SELECT count(*) FROM {VALUES} "
        "WHERE blocked_reason IS NOT NULL), (SELECT max(identifiers) FROM "
        f"{PROFILES})",
    )
    result.profiles, result.identifiers, result.edges, result.blocked_values = stats[:4]
    result.links = {
        (rule, status): n
        for rule, status, n in con.execute(
            f"SELECT rule, status, count(*) FROM {EDGES} GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    }
    result.largest_component = int(stats[4] or 0)
    return result


# ------------------------------------------------------------------------------------------
# Normalisation: one row per (type, raw value) seen in any source.


def _normalise(con, rules: IdentityRules) -> None:
    def country(source: Source, id_type: str) -> str:
        # A phone in national format ("07700 900123") is read in the region of its records'
        # country where the source has one: a CRM holds numbers of several countries.
        has = id_type == "phone" and any(c.name == "country" for c in source.columns)
        return "nullif(trim(country), '')" if has else "NULL::VARCHAR"

    selects = [
        f"SELECT '{t}' AS id_type, {quote(col)} AS raw_value, {country(s, t)} AS country "
        f"FROM raw.{s.name} WHERE {quote(col)} IS NOT NULL"
        for s in SOURCES.values()
        if not s.pseudonymised
        for col, t in identifier_columns(s, rules)
    ]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _raw_countries AS SELECT DISTINCT id_type, raw_value, "
        "country FROM (" + " UNION ALL ".join(selects) + ")"
    )
    countries = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT country FROM _raw_countries WHERE country IS NOT NULL ORDER BY 1"
        ).fetchall()
    ]
    frame_to_temp_table(
        con,
        "_country_regions",
        pl.DataFrame(
            {"country": countries, "region": [country_region(c) for c in countries]},
            schema={"country": pl.String, "region": pl.String},
        ),
    )
    # One region per phone value: its records' most frequent country, else the default.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _raw_ids AS
        SELECT id_type, raw_value,
               CASE WHEN id_type = 'phone'
                    THEN coalesce(mode(r.region), '{rules.default_phone_region}') END AS region
        FROM _raw_countries LEFT JOIN _country_regions r USING (country)
        GROUP BY id_type, raw_value
    """)
    _parse_new_phones(con, rules)
    email = _email_sql(rules, "i.checked")
    blocked = _blocked_sql(rules)
    # `checked` (trimmed; lower-cased emails, digit strings of phones) is computed once per value
    # in its own layer: repeated inside the CASE branches it was recomputed for each use.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _values AS
        WITH c AS (
            SELECT id_type, raw_value, region,
                   CASE WHEN id_type = 'email' THEN lower(trim(raw_value))
                        WHEN id_type = 'phone' THEN regexp_replace(trim(raw_value),
                                                                   '[^0-9+]', '', 'g')
                        ELSE trim(raw_value) END AS checked
            FROM _raw_ids
        ),
        n AS (
            SELECT i.id_type, i.raw_value, i.checked,
                   CASE i.id_type
                       WHEN 'email' THEN {email}
                       WHEN 'phone' THEN p.e164
                       ELSE nullif(i.checked, '')
                   END AS value
            FROM c i
            LEFT JOIN {PHONE_CACHE} p
              ON i.id_type = 'phone' AND p.region = i.region AND p.digits = i.checked
        )
        SELECT id_type, raw_value,
               CASE WHEN blocked_reason IS NULL THEN value END AS value, blocked_reason
        FROM (SELECT *, {blocked} AS blocked_reason FROM n)
        ORDER BY id_type, raw_value
    """)


SHARED = "shared by contacts of clearly different people (a household, an office)"


def _shared_contact_points(con) -> None:
    """Emails and phones that CRM contacts of clearly different people carry link nothing
    by themselves; `_shared_raw` keeps their values for the duplicate model to compare.

    A household's landline, a family e-mail or an office switchboard is entered on the records
    of Michael and of Barbara: linking through it merges two people. Clearly different people
    are contacts whose first names clearly differ (`_different_first_names_sql`, and not a swap
    of given and family name). Each person's own records still come together when the model
    finds them alike (name, the shared value, address), under the household rule; so the
    stricter bar for alike first names (`FIRST_NAMES_ALIKE_MIN_JW_KEPT`: Faris and Carin) holds
    here whatever the data: a value refused here is still compared by the model.
    """
    first = FIRST_NAME_LETTERS
    fa, fb = first.format("a"), first.format("b")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _shared_raw AS
        WITH p AS ({_people_sql()}),
        r AS (
            SELECT DISTINCT v.id_type, v.value, p.first_name, p.last_name, p.suffix
            FROM (SELECT 'email' AS id_type, email AS raw_value, first_name, last_name,
                         suffix FROM p
                  UNION ALL
                  SELECT 'phone', phone, first_name, last_name, suffix FROM p) p
            JOIN _values v USING (id_type, raw_value)
            WHERE v.value IS NOT NULL AND p.first_name IS NOT NULL
            UNION
            -- a contact without a first name carries the first names of the contacts that
            -- share its e-mail (personal): "Allen" with lauren.allen@ and a landline is Lauren
            SELECT DISTINCT 'phone', ph.value, n.first_name, n.last_name, n.suffix
            FROM p x
            JOIN _values ph ON ph.id_type = 'phone' AND ph.raw_value = x.phone
            JOIN _values e ON e.id_type = 'email' AND e.raw_value = x.email
            JOIN _values ne ON ne.id_type = 'email' AND ne.value = e.value
            JOIN p n ON n.email = ne.raw_value AND n.first_name IS NOT NULL
            WHERE x.first_name IS NULL AND ph.value IS NOT NULL AND e.value IS NOT NULL
        ),
        shared AS (
            SELECT DISTINCT a.id_type, a.value
            FROM r a JOIN r b
              ON a.id_type = b.id_type AND a.value = b.value AND a.first_name < b.first_name
            WHERE {_different_first_names_sql(fa, fb, FIRST_NAMES_ALIKE_MIN_JW_KEPT)}
              AND a.first_name IS DISTINCT FROM b.last_name
              AND b.first_name IS DISTINCT FROM a.last_name
            UNION
            -- one name of two generations (Xavier Akhtar and Xavier Akhtar Jr.): the
            -- household's landline is the father's and the son's
            SELECT DISTINCT a.id_type, a.value
            FROM r a JOIN r b
              ON a.id_type = 'phone' AND b.id_type = 'phone' AND a.value = b.value
             AND a.first_name = b.first_name
             AND coalesce(a.suffix, '') < coalesce(b.suffix, '')
        )
        SELECT DISTINCT v.id_type, v.raw_value, v.value
        FROM _values v JOIN shared s USING (id_type, value)
    """)
    con.execute(
        "UPDATE _values SET value = NULL, blocked_reason = ? "
        "WHERE EXISTS (SELECT 1 FROM _shared_raw s WHERE s.id_type = _values.id_type "
        "AND s.raw_value = _values.raw_value)",
        [SHARED],
    )


def _blocked_sql(rules: IdentityRules) -> str:
    """The first reason a value cannot link anything, or NULL."""
    cases = []
    for id_type in rules.priority:
        literals = [p.replace("'", "''") for p in rules.blocked_patterns(id_type)]
        if not literals:
            continue
        # One alternation of the type's patterns first: almost no value matches any, and RE2
        # runs an alternation in one pass, where testing each pattern costs a pass per pattern
        # over millions of values. Only a match looks for the first pattern that matched.
        which = " ".join(
            f"WHEN regexp_matches(checked, '{lit}', 'i') THEN 'blocked value (matches {lit})'"
            for lit in literals
        )
        anyof = "|".join(f"(?:{lit})" for lit in literals)
        cases.append(
            f"WHEN id_type = '{id_type}' AND regexp_matches(checked, '{anyof}', 'i') "
            f"THEN CASE {which} END"
        )
    cases.append("WHEN value IS NULL AND id_type = 'email' THEN 'not an email address'")
    cases.append("WHEN value IS NULL AND id_type = 'phone' THEN 'not a phone number'")
    cases.append("WHEN value IS NULL THEN 'empty'")
    return "CASE " + " ".join(cases) + " END"


def _parse_new_phones(con, rules: IdentityRules) -> None:
    """Parse phone digit strings not parsed before in their region (a cache table keeps
    earlier results). A number that is no valid number of its records' country is read in the
    default region when it is possible there (a US mobile on a contact filed under the UK),
    else in its records' country after all."""
    default = rules.default_phone_region
    new = con.execute(
        f"""SELECT DISTINCT regexp_replace(trim(raw_value), '[^0-9+]', '', 'g') AS digits, region
            FROM _raw_ids WHERE id_type = 'phone'
            EXCEPT SELECT digits, region FROM {PHONE_CACHE}"""
    ).fetchall()
    rows = [
        (
            d,
            region,
            _e164(d, region)
            if region == default
            else _e164(d, region, valid=True) or _e164(d, default) or _e164(d, region),
        )
        for d, region in new
    ]
    if rows:
        frame = pl.DataFrame(rows, schema=["digits", "region", "e164"], orient="row")
        frame_to_temp_table(con, "_new_phones", frame)
        con.execute(f"INSERT INTO {PHONE_CACHE} SELECT * FROM _new_phones")


# ------------------------------------------------------------------------------------------
# Records -> distinct identifier combinations -> nodes and edges.


def _combinations(con, rules: IdentityRules) -> None:
    """_combos: one row per distinct identifier combination of a source, with its record count;
    _combo_ids: its usable identifiers (rank = priority)."""
    combos = []
    for s in LINKING_SOURCES.values():
        cols = identifier_columns(s, rules)
        if not cols:
            continue
        joins = " ".join(
            f"LEFT JOIN _values v{i} ON v{i}.id_type = '{t}' AND v{i}.raw_value = r.{quote(c)}"
            for i, (c, t) in enumerate(cols)
        )
        values = ", ".join(f"v{i}.value AS {quote(t)}" for i, (_, t) in enumerate(cols))
        ts = f"r.{quote(s.timestamp)}"
        combos.append(
            (
                cols,
                f"""
            SELECT '{s.name}' AS source, {values}, count(*) AS n,
                   min({ts}) AS first_seen, max({ts}) AS last_seen
            FROM raw.{s.name} r {joins} GROUP BY ALL""",
            )
        )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _combos (combo_id BIGINT, source VARCHAR, "
        "n BIGINT, first_seen TIMESTAMP, last_seen TIMESTAMP)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _combo_ids (combo_id BIGINT, id_type VARCHAR, "
        "value VARCHAR, rank INTEGER)"
    )
    offset = 0
    for cols, sql in combos:
        order = ", ".join(f"{quote(t)} NULLS FIRST" for _, t in cols)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _c AS SELECT row_number() OVER "
            f"(ORDER BY {order}) + {offset} AS combo_id, * FROM ({sql})"
        )
        con.execute("INSERT INTO _combos SELECT combo_id, source, n, first_seen, last_seen FROM _c")
        for _, t in cols:
            con.execute(
                f"INSERT INTO _combo_ids SELECT combo_id, '{t}', {quote(t)}, "
                f"{rules.rank(t)} FROM _c WHERE {quote(t)} IS NOT NULL"
            )
        offset = fetch_one(con, "SELECT coalesce(max(combo_id), 0) FROM _combos")[0]
    con.execute("DROP TABLE IF EXISTS _c")


def _nodes_and_edges(con, rules: IdentityRules) -> None:
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _anchor AS
        SELECT combo_id, arg_min(id_type, rank) AS id_type, arg_min(value, rank) AS value,
               min(rank) AS rank
        FROM _combo_ids GROUP BY combo_id
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _nodes AS
        SELECT (row_number() OVER (ORDER BY rank, value) - 1)::BIGINT AS node_id, *
        FROM (SELECT i.id_type, i.value, min(i.rank) AS rank, sum(c.n)::BIGINT AS records
              FROM _combo_ids i JOIN _combos c USING (combo_id) GROUP BY i.id_type, i.value)
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _edges AS
        SELECT c.source, 'co_occurrence' AS rule, NULL::DOUBLE AS probability,
               a.id_type AS left_type, a.value AS left_value,
               i.id_type AS right_type, i.value AS right_value,
               sum(c.n)::BIGINT AS records, min(c.first_seen) AS first_seen,
               max(c.last_seen) AS last_seen, NULL::VARCHAR AS refused
        FROM _combo_ids i
        JOIN _anchor a USING (combo_id)
        JOIN _combos c USING (combo_id)
        WHERE NOT (i.id_type = a.id_type AND i.value = a.value)
        GROUP BY ALL
    """)


# Common street words and their abbreviations, so "12 Wallaby Place" and "12 wallaby pl" agree.
_STREET_WORDS = {
    "street": "st", "road": "rd", "avenue": "ave", "av": "ave", "drive": "dr", "place": "pl",
    "lane": "ln", "court": "ct", "crescent": "cres", "boulevard": "blvd", "terrace": "tce",
    "highway": "hwy", "square": "sq", "parade": "pde", "close": "cl",
}  # fmt: skip
# A person column is compared when at least this share of contacts fill it.
PERSON_COLUMN_MIN_FILL = 0.01


# Titles written before a full name, dropped before the given name is taken from it.
_TITLES = "(mr|mrs|ms|miss|mx|dr|prof|sir|dame|rev)"


# A generational suffix at the end of a family or full name: Jr., Sr., II, III, IV.
_SUFFIX = ",? +(jr\\.?|sr\\.?|ii|iii|iv)\\s*$"


def _names_sql() -> str:
    """The select list of a CRM contact's (`r`) normalised first name, family name and birth
    date: from `first_name` and `last_name`, else split from `full_name`."""
    full = "trim(regexp_replace(lower(r.full_name), '\\s+', ' ', 'g'))"
    # A leading title ("Dr. John A. Smith") is not the given name.
    full = f"regexp_replace({full}, '^{_TITLES}\\.? ', '')"
    # A generational suffix ("Smith Jr.", "John Smith III") is no part of the family name.
    full = f"regexp_replace({full}, '{_SUFFIX}', '')"
    # "Smith, John" is family name first; otherwise the first word is the given name.
    first_of_full = (
        f"CASE WHEN {full} LIKE '%,%' THEN trim(split_part({full}, ',', 2)) "
        f"ELSE split_part({full}, ' ', 1) END"
    )
    last_of_full = (
        f"CASE WHEN {full} LIKE '%,%' THEN trim(split_part({full}, ',', 1)) "
        f"ELSE list_last(string_split({full}, ' ')) END"
    )
    dob = "trim(r.date_of_birth)"
    # A record with only one of first_name / last_name takes the other from its full_name
    # ("Wolfram" + "Wolfram Anastasi"): else the household rule, which needs both, cannot
    # tell it from another member of the family. A one-word full_name is a given name only
    # when no name column is filled.
    first = "nullif(trim(r.first_name), '')"
    last = f"nullif(trim(regexp_replace(lower(r.last_name), '{_SUFFIX}', '')), '')"
    two_words = f"{full} LIKE '% %'"
    suffix = (
        f"coalesce(nullif(regexp_extract(lower(r.last_name), '{_SUFFIX}', 1), ''), "
        f"regexp_extract(lower(r.full_name), '{_SUFFIX}', 1))"
    )
    given = f"""nullif(lower(trim(CASE WHEN {first} IS NOT NULL THEN {first}
                                     WHEN {last} IS NULL OR {two_words} THEN {first_of_full}
                                     END)), '')"""
    family = f"""nullif(lower(trim(CASE WHEN {last} IS NOT NULL THEN {last}
                                     WHEN {two_words} THEN {last_of_full} END)), '')"""
    return f"""
               coalesce({given}, {_given_of_email_sql(family)}) AS first_name,
               coalesce({family}, {_family_of_email_sql(given)}) AS last_name,
               strftime(coalesce(try_strptime({dob}, '%Y-%m-%d'), try_strptime({dob}, '%Y%m%d'))
                        ::DATE, '%Y%m%d') AS date_of_birth,
               nullif(replace(trim({suffix}), '.', ''), '') AS suffix"""


# Local parts of e-mails that are not a person's own name before the family name
# ("the.smiths", "mr.smith", "home.smith").
_NOT_GIVEN_NAMES = ("the", "mr", "mrs", "ms", "miss", "dr", "family", "home", "house", "info")


def _email_local_sql() -> str:
    """SQL: a contact's (`r`) e-mail local part, lower case, without a +tag or trailing digits."""
    local = "lower(split_part(split_part(trim(r.email), '@', 1), '+', 1))"
    return f"regexp_replace({local}, '[0-9]+$', '')"


def _given_of_email_sql(family: str) -> str:
    """SQL: the given name (or initial) a contact without one gives in its e-mail, when the
    local part is that name, then the family name `family` ("jacob.schmidtke@",
    "t.vanrooij@", "kgaynard@"): a person's own address names them, a family's does not
    ("the.smiths@", "peri.home@"); else NULL."""
    local = f"regexp_replace({_email_local_sql()}, '[^a-z]', '', 'g')"
    fam = f"regexp_replace({family}, '[^a-z]', '', 'g')"
    given = f"left({local}, length({local}) - length({fam}))"
    stop = ", ".join(f"'{w}'" for w in _NOT_GIVEN_NAMES)
    return f"""CASE WHEN length({fam}) >= 2 AND length({local}) > length({fam})
                     AND ends_with({local}, {fam}) AND {given} NOT IN ({stop})
                THEN {given} END"""


def _family_of_email_sql(given: str) -> str:
    """SQL: the family name a contact without one gives in its e-mail, when the local part is
    its given name `given`, a separator, then one word ("xavier.akhtar@", "joy_shan@"); else
    NULL (without a separator "jimmychambers@" of Jim cannot be split)."""
    local = _email_local_sql()
    rest = f"substr({local}, length({given}) + 2)"
    return f"""CASE WHEN length({given}) >= 2 AND starts_with({local}, {given})
                     AND substr({local}, length({given}) + 1, 1) IN ('.', '_', '-')
                     AND regexp_full_match({rest}, '[a-z]{{2,}}')
                THEN {rest} END"""


def _people_sql() -> str:
    """Every CRM contact's normalised names, with its raw email and phone."""
    return f"SELECT {_names_sql()}, r.email, r.phone FROM raw.crm_contacts r"


def _contacts_sql() -> str:
    """Every CRM contact with its normalised person attributes (docs/sources.md)."""
    address = "regexp_replace(lower(r.address), '[^a-z0-9]+', ' ', 'g')"
    for word, short in _STREET_WORDS.items():
        address = f"regexp_replace({address}, '\\b{word}\\b', '{short}', 'g')"
    return f"""
        SELECT r.crm_id AS unique_id, {_names_sql()},
               nullif(trim(regexp_replace({address}, '\\s+', ' ', 'g')), '') AS address,
               nullif(lower(regexp_replace(r.postcode, '\\s+', '', 'g')), '') AS postcode,
               nullif(lower(trim(r.city)), '') AS city,
               e.value AS email, p.value AS phone,
               nullif(lower(trim(r.company)), '') AS company,
               nullif(lower(trim(r.role)), '') AS role,
               nullif(lower(trim(r.country)), '') AS country,
               c.value IN (SELECT crm_value FROM _orphans) AS orphan
        FROM raw.crm_contacts r
        JOIN _values c ON c.id_type = 'crm_id' AND c.raw_value = r.crm_id
        LEFT JOIN (SELECT id_type, raw_value, value FROM _values WHERE value IS NOT NULL
                   UNION ALL SELECT * FROM _shared_raw) e
          ON e.id_type = 'email' AND e.raw_value = r.email
        LEFT JOIN (SELECT id_type, raw_value, value FROM _values WHERE value IS NOT NULL
                   UNION ALL SELECT * FROM _shared_raw) p
          ON p.id_type = 'phone' AND p.raw_value = r.phone
        WHERE c.value IS NOT NULL
        ORDER BY unique_id
    """


def _probabilistic_edges(
    con, rules: IdentityRules, result: IdentityResult, models: ModelStore
) -> int:
    """CRM contacts left alone by hard identifiers, matched by Splink, become `probabilistic`
    crm_id edges; the deduplication's safeguards refuse some (`refused`, with the reason).

    A contact is alone ("orphan") when no identifier linked to it was seen outside the CRM: a
    person entered a second time with a typo and another email. Only orphans are compared, each
    with every other contact and with each other, so the work grows with the orphans, not with
    the square of the CRM. The model's comparisons and blocking follow the person columns the
    contacts fill (`linkage.person_spec`).
    """
    if not rules.probabilistic:
        return 0
    orphans = _orphan_crm_ids(con)
    if not orphans:
        return 0
    frame_to_temp_table(con, "_orphans", pl.DataFrame({"crm_value": orphans}))
    contacts = con.sql(_contacts_sql()).pl()
    alone = contacts.filter(pl.col("orphan")).drop("orphan")
    others = contacts.filter(~pl.col("orphan")).drop("orphan")
    if alone.height == 0 or contacts.height < 10:
        return 0
    from seg_platform.identity.linkage import person_spec

    filled = contacts.drop("unique_id", "orphan", "suffix").select(
        (pl.all().is_not_null().mean() >= PERSON_COLUMN_MIN_FILL) & (pl.all().n_unique() > 2)
    )
    present = [c for c in filled.columns if filled[c][0]]
    result.linkage["columns"] = present
    unfilled = sorted({c for r in rules.dedup_blocking_rules for c in r} - set(present))
    if unfilled:
        raise ConfigFileError(
            f"identity: dedup_blocking_rules: columns {unfilled} are not filled in crm_contacts "
            f"(filled: {present})"
        )
    spec = person_spec(
        present,
        rules.probabilistic_threshold,
        blocking_rules=rules.dedup_blocking_rules,
        comparison_budget=rules.dedup_comparison_budget,
    )
    found = []
    if others.height:
        found.append(
            models.predict(
                "link",
                [alone.select("unique_id", *present), others.select("unique_id", *present)],
                dataclasses.replace(spec, link_type="link_only"),
                contacts.height,
            )
        )
    if alone.height >= 2:
        found.append(
            models.predict(
                "dedupe", alone.select("unique_id", *present), spec, contacts.height,
                report=result.linkage,
            )
        )  # fmt: skip
    pairs = pl.concat(found) if found else None
    if pairs is None or pairs.height == 0:
        return 0
    frame_to_temp_table(con, "_links", pairs)
    names = [c for c in ("first_name", "last_name", "date_of_birth") if c in present]
    # A phone no two clearly different people carry (not `_shared_raw`) is personal.
    shared = con.sql("SELECT value FROM _shared_raw WHERE id_type = 'phone'").pl()["value"]
    personal_phone = pl.when(pl.col("phone").is_in(shared.implode())).then(None)
    frame_to_temp_table(
        con,
        "_names",
        contacts.select(
            "unique_id", *names, "suffix", pl.col("email").alias("_email"),
            personal_phone.otherwise(pl.col("phone")).alias("_phone"),
        ),
    )  # fmt: skip
    twins = _twins_apart(result.linkage, names)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _dedup AS
        SELECT l.value AS left_value, r.value AS right_value,
               max(p.match_probability) AS probability,
               bool_and(coalesce({_household_sql(names, twins)}, false)) AS household,
               bool_and(coalesce({_ambiguous_pair_sql(names, twins)}, false)) AS ambiguous,
               bool_and(coalesce({_generations_sql(names)}, false)) AS generations
        FROM _links p
        JOIN _values l ON l.id_type = 'crm_id' AND l.raw_value = p.id_l
        JOIN _values r ON r.id_type = 'crm_id' AND r.raw_value = p.id_r
        JOIN _names a ON a.unique_id = p.id_l
        JOIN _names b ON b.unique_id = p.id_r
        WHERE l.value <> r.value
        GROUP BY ALL ORDER BY ALL
    """)
    _cluster_duplicates(con, rules, names, result.linkage)
    con.execute("""
        INSERT INTO _edges
        SELECT 'crm_contacts', 'probabilistic', probability, 'crm_id', left_value, 'crm_id',
               right_value, 1, NULL, NULL, refused
        FROM _dedup
    """)
    return pairs.height


HOUSEHOLD = (
    "same family name, clearly different first names, birth dates not known to be equal "
    "(or twins): two members of one household"
)
HOUSEHOLD_KEPT = (
    "clearly different first names where the data keeps first names: two people (a "
    "household, a switchboard, a lodger)"
)
NO_FIRST_NAME = (
    "no first name: the family name, address, postcode and landline are the household's, and "
    "neither birth date, e-mail nor a phone of one person says which member it is"
)


def _ambiguous_pair_sql(names: list[str], kept: bool) -> str:
    """SQL over a pair (`a.*`, `b.*` of `_names`, with the normalised e-mail `_email` and the
    phone `_phone` when no two clearly different people carry it): true when either record
    has no first name and nothing personal to one person agrees: neither the birth date (up
    to a typo), nor the e-mail, nor such a phone (a mobile, or a landline only one person of
    the household was seen with).

    A record "Kernan" at the Kernans' address, with their landline, may be Emily or Lawrence:
    a family name, an address, a postcode, a city and a landline are the whole household's, and
    they say which household a record is of, not which member (and the other members may be
    in the CRM only under other addresses, so whether the household has several cannot be
    seen). Only where the data keeps first names (`kept`, the twins gate `_twins_apart`): in
    a file whose duplicates' names were replaced or dropped at random, a record without one is
    no more ambiguous than any other.
    """
    if not kept or not {"first_name", "last_name"}.issubset(names):
        return "false"
    dob = (
        "AND NOT coalesce(damerau_levenshtein(a.date_of_birth, b.date_of_birth) <= 1, false)"
        if "date_of_birth" in names
        else ""
    )
    return f"""(
        (a.first_name IS NULL OR b.first_name IS NULL)
        AND NOT coalesce(a._email = b._email, false)
        AND NOT coalesce(a._phone = b._phone, false)
        {dob}
    )"""


GENERATIONS = (
    "a generational suffix (Jr., Sr., II) on one record and another or none on the other: "
    "two people of one name, and neither birth date nor e-mail says which one it is"
)


def _generations_sql(names: list[str]) -> str:
    """SQL over a pair (`a.*`, `b.*` of `_names`, with `suffix` and `_email`): true when the
    two records carry different generational suffixes (Jr. and Sr., or Jr. and none) and
    nothing personal to one person agrees (neither the birth date, up to a typo, nor the
    e-mail); two suffixes both given and different (Jr. and Sr.) always.

    "Xavier Akhtar Jr." says that two Xavier Akhtars exist, most often at one address with one
    landline: a record without the suffix may be the father's or the son's (a son's records
    often drop it), so the name, address and landline cannot say which."""
    dob = (
        "AND NOT coalesce(damerau_levenshtein(a.date_of_birth, b.date_of_birth) <= 1, false)"
        if "date_of_birth" in names
        else ""
    )
    return f"""(
        coalesce(a.suffix, '') <> coalesce(b.suffix, '')
        AND ((a.suffix IS NOT NULL AND b.suffix IS NOT NULL)
             OR (NOT coalesce(a._email = b._email, false) {dob}))
    )"""


def _nickname_table(con) -> None:
    """`_nicknames(a, b)`: first names that can be one person's (Robert, Bob, Rob, Bobby), from
    the hand-curated English names and nicknames of the `nicknames` package."""
    import nicknames

    with nicknames.with_names_csv_path() as path:
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _nicknames AS
            WITH t AS (
                SELECT name1 AS c, name2 AS n FROM read_csv($path, all_varchar = true)
                WHERE relationship = 'has_nickname'
            )
            SELECT c AS a, n AS b FROM t UNION SELECT n, c FROM t
            UNION SELECT x.n, y.n FROM t x JOIN t y USING (c) WHERE x.n <> y.n
            """,
            {"path": str(path)},
        )


# First names at least this Jaro-Winkler similar may be one person's. Spelling variants of one
# name score at least 0.8 (Steven / Stephen 0.89, Sean / Shawn 0.81, Caitlin / Kaitlyn 0.81);
# two names of one length that share a few letters 0.7-0.8 (Faris / Carin 0.73, Michael /
# Charles 0.74, Emily / Marilyn 0.79). Where the data keeps first names (the gate of the
# twins rule, `_twins_apart`), the stricter bar holds; in files whose duplicates' names were
# re-typed or replaced (Febrl), 0.7-0.8 may still be one person and the looser one holds.
FIRST_NAMES_ALIKE_MIN_JW = 0.7
FIRST_NAMES_ALIKE_MIN_JW_KEPT = 0.8


# A first name as compared by the household rules: letters only, without a middle initial
# entered after it ("Patrick D." is Patrick); `{}` is the record's alias.
FIRST_NAME_LETTERS = (
    "regexp_replace(regexp_replace({}.first_name, ' [a-z]\\.?$', ''), '[^a-z]', '', 'g')"
)


def _different_first_names_sql(fa: str, fb: str, min_jw: float = FIRST_NAMES_ALIKE_MIN_JW) -> str:
    """SQL: two normalised first names (letters only) that clearly belong to two people: not
    one typo apart, Jaro-Winkler below `min_jw`, neither an initial or a prefix of the other, not
    nicknames of one name (`_nicknames`), even with a typo in the nickname (Damny for Danny);
    or an initial that is not the other's (`_other_initial_sql`)."""
    return f"""(
        ({_other_initial_sql(fa, fb)}) OR ({_other_initial_sql(fb, fa)})
        OR (length({fa}) > 1 AND length({fb}) > 1
        AND damerau_levenshtein({fa}, {fb}) > 1
        AND jaro_winkler_similarity({fa}, {fb}) < {min_jw}
        AND NOT starts_with({fa}, {fb}) AND NOT starts_with({fb}, {fa})
        AND NOT EXISTS (SELECT 1 FROM _nicknames n
                        WHERE n.a = {fa} AND ({_nickname_form_sql("n.b", fb)}))
        AND NOT EXISTS (SELECT 1 FROM _nicknames n
                        WHERE n.a = {fb} AND ({_nickname_form_sql("n.b", fa)})))
    )"""


def _nickname_form_sql(nickname: str, name: str) -> str:
    """SQL: `name` is `nickname` with a typo (Damny for Danny) or a diminutive of it, the short
    form with a pet ending and perhaps its last letter doubled (Rob: Robbie, Robby; Dan:
    Danny; the list has Robby for Robert but not Robbie)."""
    return f"""damerau_levenshtein({nickname}, {name}) <= 1
        OR (length({nickname}) >= 3 AND starts_with({name}, {nickname})
            AND regexp_full_match(substr({name}, length({nickname}) + 1), '[a-z]?(ie|y|ey|i)'))"""


def _other_initial_sql(fa: str, fb: str) -> str:
    """SQL: first name `fa` is an initial ("L", "L.") that is not the initial of `fb` nor of
    one of its nicknames (B for Robert is Bob's), nor its second letter (the first two
    swapped by a typo: K for "aKrl"): L. George is not Carmelita George."""
    return f"""
        length({fa}) = 1 AND length({fb}) >= 1 AND NOT starts_with({fb}, {fa})
        AND substr({fb}, 2, 1) <> {fa}
        AND NOT EXISTS (SELECT 1 FROM _nicknames n WHERE n.a = {fb} AND starts_with(n.b, {fa}))"""


def _twins_apart(linkage: dict, names: list[str]) -> bool:
    """Whether clearly different first names split records with one family name and birth
    date too (twins): only when EM learnt from the data that true matches almost never carry
    unrelated first names (`UNRELATED_FIRST_NAMES_MAX_M`); recorded in `linkage`."""
    unrelated = linkage.get("unrelated_first_names_m")
    apart = unrelated is not None and unrelated <= UNRELATED_FIRST_NAMES_MAX_M
    if {"first_name", "last_name", "date_of_birth"}.issubset(names):
        linkage["twins_kept_apart"] = apart
    return apart


def _household_sql(names: list[str], twins: bool = False) -> str:
    """SQL over the name columns of a pair (`a.*`, `b.*`): true when the two contacts are two
    people of one household rather than one person entered twice.

    They share a family name (up to one typo) while their first names clearly differ (not
    equal, not one typo apart, Jaro-Winkler below 0.7 (0.8 with `twins`: the data keeps
    first names), neither an initial or a prefix of the
    other, not nicknames of one name, neither equal to the other's family name, which is a
    swap) and their birth dates are not known to be equal; with `twins`, whatever their birth
    dates (twins share one, and a person's records keep their first name). Partners,
    siblings and a parent and child share an address, a landline and often a family e-mail:
    the very evidence the model adds up. One person's records with a changed first name (a
    nickname) and no birth date are kept apart too: a missed duplicate costs less than two
    people merged.
    """
    if not {"first_name", "last_name"}.issubset(names):
        return "false"
    first = FIRST_NAME_LETTERS
    fa, fb = first.format("a"), first.format("b")
    dob = (
        "AND NOT coalesce(damerau_levenshtein(a.date_of_birth, b.date_of_birth) <= 1, false)"
        if "date_of_birth" in names and not twins
        else ""
    )
    min_jw = FIRST_NAMES_ALIKE_MIN_JW_KEPT if twins else FIRST_NAMES_ALIKE_MIN_JW
    # Where the data keeps first names, two unrelated first names are two people whatever
    # the family names say (one missing, a partner's own name, a lodger at the address).
    family = "" if twins else "damerau_levenshtein(a.last_name, b.last_name) <= 1 AND"
    return f"""(
        {family} {_different_first_names_sql(fa, fb, min_jw)}
        AND a.first_name IS DISTINCT FROM b.last_name
        AND b.first_name IS DISTINCT FROM a.last_name
        {dob}
    )"""


# Two birth dates split a cluster unless the model learnt that more than this share of true
# matches have unrelated birth dates (files whose dates were replaced at random, as Febrl's
# duplicates are in about 5% of pairs): there a different date is no proof of two people.
UNRELATED_BIRTH_DATES_MAX_M = 0.02
# Two records with one family name and birth date but clearly different first names are
# twins, not one person, when EM learnt that at most this share of true matches have first
# names that are no typo or variant of each other (Febrl replaced about 20% of its
# duplicates' first names; a CRM's records of one person keep the name or a nickname).
UNRELATED_FIRST_NAMES_MAX_M = 0.1
# Birth dates that stand for "unknown" in many CRMs (a form's default, the epoch): they say
# nothing about who a record is.
PLACEHOLDER_BIRTH_DATES = ("19000101", "19010101", "19700101")


def _birth_dates_conflict_sql(names: list[str]) -> str:
    """SQL over a pair's normalised birth dates (`a.date_of_birth`, `b.date_of_birth`,
    YYYYMMDD): true when both are known and cannot be one person's date mistyped.

    One person has one birth date; a record of them may carry it with one typo (a digit
    wrong, two digits swapped: 19850310 / 19580310), with day and month swapped (19850310 /
    19851003), or as a placeholder (1900-01-01). Two dates further apart are two people, what
    ever else they share: a father and his Jr., twins' elder siblings, two John Smiths.
    """
    if "date_of_birth" not in names:
        return "false"
    placeholders = ", ".join(f"'{d}'" for d in PLACEHOLDER_BIRTH_DATES)
    return f"""(
        a.date_of_birth NOT IN ({placeholders}) AND b.date_of_birth NOT IN ({placeholders})
        AND damerau_levenshtein(a.date_of_birth, b.date_of_birth) > 1
        AND NOT (left(a.date_of_birth, 4) = left(b.date_of_birth, 4)
                 AND substr(a.date_of_birth, 5, 2) = substr(b.date_of_birth, 7, 2)
                 AND substr(a.date_of_birth, 7, 2) = substr(b.date_of_birth, 5, 2))
    )"""


def _cluster_duplicates(
    con, rules: IdentityRules, names: list[str], linkage: dict | None = None
) -> None:
    """Adds `refused` to `_dedup`: why the clustering's safeguards refused a pair (else NULL).

    Two birth dates no typo explains split a cluster unless the model learnt from the data
    (`linkage["unrelated_birth_dates_m"]`) that true matches often carry unrelated dates; the
    decision is recorded in `linkage["birth_dates_split_clusters"]`.
    """
    twins = _twins_apart(linkage or {}, names)
    unrelated = (linkage or {}).get("unrelated_birth_dates_m")
    split_on_dates = unrelated is None or unrelated <= UNRELATED_BIRTH_DATES_MAX_M
    if linkage is not None and "date_of_birth" in names:
        linkage["birth_dates_split_clusters"] = split_on_dates
    dedup = con.sql(
        "SELECT left_value, right_value, probability, household, ambiguous, generations "
        "FROM _dedup "
        "ORDER BY left_value, right_value"
    ).pl()
    household = dedup["household"].to_numpy()
    ambiguous = dedup["ambiguous"].to_numpy() & ~household
    generations = dedup["generations"].to_numpy() & ~household & ~ambiguous
    ids = pl.concat([dedup["left_value"], dedup["right_value"]]).unique().sort()
    index = {v: i for i, v in enumerate(ids.to_list())}
    src = np.array([index[v] for v in dedup["left_value"].to_list()], np.int64)
    dst = np.array([index[v] for v in dedup["right_value"].to_list()], np.int64)
    # Household pairs never link, nor end in one cluster through other records: any two
    # records of a cluster that are two household members, or that carry two birth dates no
    # typo explains (whatever their own pair scored), make it split link by link. The other
    # pairs keep the safeguards.
    keep = ~household & ~ambiguous & ~generations
    labels = components(len(ids), src, dst, keep)
    frame_to_temp_table(
        con,
        "_dedup_nodes",
        pl.DataFrame({"node": np.arange(len(ids)), "value": ids, "comp": labels}),
    )
    apart = con.execute(f"""
        WITH n AS (
            SELECT d.node, d.comp, v.raw_value
            FROM _dedup_nodes d
            JOIN (SELECT value, min(raw_value) AS raw_value FROM _values
                  WHERE id_type = 'crm_id' GROUP BY value) v USING (value)
        )
        SELECT x.node, y.node
        FROM n x JOIN n y ON x.comp = y.comp AND x.node < y.node
        JOIN _names a ON a.unique_id = x.raw_value
        JOIN _names b ON b.unique_id = y.raw_value
        WHERE coalesce({_household_sql(names, twins)}, false)
           OR coalesce({_birth_dates_conflict_sql(names if split_on_dates else [])}, false)
        ORDER BY ALL
    """).fetchall()
    apart_src = np.array([a for a, _ in apart], np.int64)
    apart_dst = np.array([b for _, b in apart], np.int64)
    reason = np.full(len(src), KEPT, np.int8)
    reason[keep] = dedup_clusters(
        len(ids), src[keep], dst[keep], dedup["probability"].to_numpy()[keep],
        rules.dedup_max_cluster_size, rules.dedup_min_density,
        apart=(apart_src, apart_dst), certain=np.inf if twins else None,
    )  # fmt: skip
    text = {
        TIGHTENED: "loose cluster (below dedup_min_density): link below a stricter threshold",
        OVERSIZE: "cluster above dedup_max_cluster_size records",
        APART: (
            "cluster holding two different people (household members, or two birth dates): "
            "a weaker link than each person's own"
        ),
    }
    refused = pl.DataFrame(
        {
            "i": np.arange(len(src)),
            "refused": [
                (HOUSEHOLD_KEPT if twins else HOUSEHOLD)
                if h
                else NO_FIRST_NAME
                if a
                else GENERATIONS
                if g
                else text.get(int(r))
                for h, a, g, r in zip(household, ambiguous, generations, reason, strict=True)
            ],
        },
        schema={"i": pl.Int64, "refused": pl.String},
    )
    frame_to_temp_table(con, "_dedup_refused", refused)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _dedup AS
        SELECT d.*, r.refused
        FROM (SELECT *, row_number() OVER (ORDER BY left_value, right_value) - 1 AS i
              FROM _dedup) d JOIN _dedup_refused r USING (i)
    """)


def _orphan_crm_ids(con) -> list[str]:
    """CRM ids whose hard-linked group holds no identifier seen outside crm_contacts."""
    pairs = con.sql(f"SELECT src, dst FROM ({_EDGE_NODES})").pl()
    n = fetch_one(con, "SELECT count(*) FROM _nodes")[0]
    labels = components(n, pairs["src"].to_numpy(), pairs["dst"].to_numpy())
    frame_to_temp_table(con, "_hard", pl.DataFrame({"node_id": np.arange(n), "comp": labels}))
    return [
        r[0]
        for r in con.execute("""
        WITH crm_only AS (
            SELECT i.id_type, i.value, bool_and(c.source = 'crm_contacts') AS only_crm
            FROM _combo_ids i JOIN _combos c USING (combo_id) GROUP BY ALL
        ), comp AS (
            SELECT h.comp, bool_and(o.only_crm) AS only_crm
            FROM _nodes n JOIN _hard h USING (node_id)
            JOIN crm_only o ON o.id_type = n.id_type AND o.value = n.value
            GROUP BY h.comp
        )
        SELECT n.value FROM _nodes n JOIN _hard h USING (node_id) JOIN comp USING (comp)
        WHERE n.id_type = 'crm_id' AND comp.only_crm ORDER BY n.value
    """).fetchall()
    ]


# ------------------------------------------------------------------------------------------
# Graph -> components -> stable profile ids.


def graph_pairs(con: duckdb.DuckDBPyConnection) -> None:
    """The temp table `_pairs`: the graph's undirected edges between `_nodes`' node ids."""
    con.execute(incremental.pairs_sql(_EDGE_NODES))


def graph_limits(rules: IdentityRules) -> np.ndarray:
    """Per priority index, the most identifiers of that type one profile may hold."""
    return np.array([rules.limits.get(t, 10**9) for t in rules.priority], np.int64)


def _resolve_graph(con, rules: IdentityRules, result: IdentityResult) -> None:
    graph_pairs(con)
    pairs = con.sql(
        "SELECT src, dst, evidence, refused, duplicate FROM _pairs ORDER BY pair_id"
    ).pl()
    nodes = con.sql("SELECT rank FROM _nodes ORDER BY node_id").pl()
    limits = graph_limits(rules)
    src, dst = pairs["src"].to_numpy(), pairs["dst"].to_numpy()
    # Records of one person (accepted duplicate links) act as one node for limits and hubs.
    duplicate = pairs["duplicate"].to_numpy()
    groups = components(nodes.height, src, dst, duplicate) if duplicate.any() else None
    graph = resolve(
        nodes.height, src, dst, pairs["evidence"].to_numpy(), nodes["rank"].to_numpy(), limits,
        groups=groups, refused=pairs["refused"].to_numpy(),
    )  # fmt: skip
    result.hubs = len(graph.hubs)
    labels = pl.DataFrame({"node_id": np.arange(nodes.height), "comp": graph.labels})
    status = pl.DataFrame(
        {
            "pair_id": np.arange(pairs.height),
            "status": [EDGE_STATUS[s] for s in graph.edge_status.tolist()],
        }
    )
    hubs = pl.DataFrame(
        {
            "node_id": graph.hubs,
            "nbr_type": [rules.priority[t] for t in graph.hub_type.tolist()],
            "nbr_count": graph.hub_count,
        }
    )
    # A node leads its group when it is the group's smallest node: counting leads counts
    # persons, so several CRM records of one person count once against the crm_id limit.
    if groups is None:
        labels = labels.with_columns(lead=pl.lit(True))
    else:
        first = np.full(int(groups.max()) + 1, nodes.height, np.int64)
        np.minimum.at(first, groups, np.arange(nodes.height))
        labels = labels.with_columns(lead=pl.Series(first[groups] == np.arange(nodes.height)))
    frame_to_temp_table(con, "_labels", labels)
    frame_to_temp_table(con, "_pair_status", status)
    frame_to_temp_table(con, "_hubs", hubs)
    cuts = pl.DataFrame(
        {
            "id_type": [rules.priority[t] for t in graph.limit_cuts],
            "components": list(graph.limit_cuts.values()),
        },
        schema={"id_type": pl.String, "components": pl.Int64},
    )
    frame_to_temp_table(con, "_limit_cuts", cuts)


def _stable_ids(con, run_id: str, result: IdentityResult) -> None:
    """_profile_of_comp: comp -> profile_id, keeping previous ids; logs merges and splits."""
    has_previous = table_exists(con, SCHEMA, "identity_map")
    previous = (
        f"SELECT id_type, value, profile_id FROM {MAP}"
        if has_previous
        else (
            "SELECT NULL::VARCHAR AS id_type, NULL::VARCHAR AS value, NULL::VARCHAR AS profile_id "
            "WHERE false"
        )
    )
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _overlap AS
        SELECT l.comp, p.profile_id, count(*) AS shared, sum(n.records) AS weight
        FROM _nodes n JOIN _labels l USING (node_id)
        JOIN ({previous}) p ON p.id_type = n.id_type AND p.value = n.value
        GROUP BY ALL
    """)
    # Each previous profile is claimed by the component holding most of its evidence (records
    # behind its identifiers); each component keeps the claiming profile with the most evidence
    # (ties: the smaller id). So the part a person is mostly seen through keeps its id.
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _claim AS
        SELECT profile_id, comp, weight FROM _overlap
        QUALIFY row_number() OVER (PARTITION BY profile_id ORDER BY weight DESC, comp) = 1
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _survivor AS
        SELECT comp, profile_id FROM _claim
        QUALIFY row_number() OVER (PARTITION BY comp ORDER BY weight DESC, profile_id) = 1
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _fresh AS
        SELECT l.comp,
               'P' || substr(md5(min(n.rank::VARCHAR || ':' || n.id_type || ':' || n.value)),
                             1, 16) AS candidate,
               'P' || substr(md5(string_agg(n.id_type || ':' || n.value, '|'
                                 ORDER BY n.rank, n.value)), 1, 16) AS fallback
        FROM _nodes n JOIN _labels l USING (node_id)
        WHERE l.comp NOT IN (SELECT comp FROM _survivor)
        GROUP BY l.comp
    """)
    # A fresh id must not reuse any id still or previously in use (a split can hand the
    # identifier that named the old profile to the part that does not keep its id).
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _profile_of_comp AS
        SELECT comp, profile_id FROM _survivor
        UNION ALL
        SELECT comp, CASE WHEN candidate IN (SELECT profile_id FROM _survivor)
                            OR candidate IN (SELECT profile_id FROM ({previous}))
                          THEN fallback ELSE candidate END
        FROM _fresh
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _changes AS
        SELECT '{run_id}' AS run_id, c.profile_id AS old_profile_id,
               s.profile_id AS new_profile_id, 'merged' AS reason, o.shared AS identifiers
        FROM _claim c JOIN _profile_of_comp s USING (comp)
        JOIN _overlap o ON o.profile_id = c.profile_id AND o.comp = c.comp
        WHERE s.profile_id <> c.profile_id
        UNION ALL
        SELECT '{run_id}', o.profile_id, s.profile_id, 'split', o.shared
        FROM _overlap o JOIN _claim c USING (profile_id)
        JOIN _profile_of_comp s ON s.comp = o.comp
        WHERE o.comp <> c.comp AND s.profile_id <> o.profile_id
        ORDER BY reason, old_profile_id, new_profile_id
    """)
    result.merges, result.splits = fetch_one(
        con,
        "SELECT count(*) FILTER (reason = 'merged'), count(*) FILTER (reason = 'split') "
        "FROM _changes",
    )


# ------------------------------------------------------------------------------------------
# Outputs.


def _write_outputs(con, rules: IdentityRules) -> None:
    type_counts = ", ".join(
        f"count(*) FILTER (n.id_type = '{t}' AND l.lead) AS {quote('n_' + t)}"
        for t in rules.priority
    )
    known = ", ".join(f"'{t}'" for t in KNOWN_TYPES)
    buckets = " ".join(
        f"WHEN size >= {lo} THEN '{lo}+'"
        if hi is None
        else f"WHEN size = {lo} THEN '{lo}'"
        if lo == hi
        else f"WHEN size BETWEEN {lo} AND {hi} THEN '{lo}-{hi}'"
        for lo, hi in SIZE_BUCKETS
    )
    statements = [
        (VALUES, f"CREATE OR REPLACE TABLE {VALUES} AS SELECT * FROM _values"),
        (
            MAP,
            f"""CREATE OR REPLACE TABLE {MAP} AS
            SELECT n.id_type, n.value, p.profile_id
            FROM _nodes n JOIN _labels l USING (node_id) JOIN _profile_of_comp p USING (comp)
            ORDER BY n.rank, n.value""",
        ),
        (
            EDGES,
            f"""CREATE OR REPLACE TABLE {EDGES} AS
            SELECT e.source, e.rule, e.probability, e.left_type, e.left_value, e.right_type,
                   e.right_value, e.records, e.first_seen, e.last_seen, s.status,
                   CASE s.status
                       WHEN 'dropped_cluster' THEN e.refused
                       WHEN 'dropped_hub' THEN 'an identifier at one end is shared by more '
                            || 'identifiers than a profile may hold: not a bridge'
                       WHEN 'dropped_limit' THEN 'the profile would exceed a per-type limit '
                            || '(rules.limits); the best-evidenced links were kept'
                   END AS reason
            FROM ({_EDGE_NODES}) e
            JOIN _pairs pr USING (src, dst)
            JOIN _pair_status s USING (pair_id)
            ORDER BY ALL""",
        ),
        (
            PROFILES,
            f"""CREATE OR REPLACE TABLE {PROFILES} AS
            WITH ids AS (
                SELECT p.profile_id, count(*) AS identifiers, {type_counts},
                       count(*) FILTER (NOT l.lead) AS duplicates_merged,
                       bool_or(n.id_type IN ({known})) AS known
                FROM _nodes n JOIN _labels l USING (node_id)
                JOIN _profile_of_comp p USING (comp) GROUP BY p.profile_id
            ), recs AS (
                SELECT m.profile_id, sum(c.n)::BIGINT AS records, min(c.first_seen) AS first_seen,
                       max(c.last_seen) AS last_seen, list(DISTINCT c.source ORDER BY c.source)
                       AS sources
                FROM _combos c JOIN _anchor a USING (combo_id)
                JOIN _nodes n ON n.id_type = a.id_type AND n.value = a.value
                JOIN _labels l USING (node_id) JOIN _profile_of_comp m USING (comp)
                GROUP BY m.profile_id
            )
            SELECT ids.profile_id, recs.first_seen, recs.last_seen,
                   coalesce(recs.records, 0) AS records, recs.sources, ids.* EXCLUDE (profile_id)
            FROM ids LEFT JOIN recs USING (profile_id)
            ORDER BY ids.profile_id""",
        ),
        (
            MATCH_RATE,
            f"""CREATE OR REPLACE TABLE {MATCH_RATE} AS
            SELECT c.source, sum(c.n)::BIGINT AS records,
                   coalesce(sum(c.n) FILTER (a.combo_id IS NOT NULL), 0)::BIGINT AS attributed,
                   coalesce(sum(c.n) FILTER (p.known), 0)::BIGINT AS known,
                   round(coalesce(sum(c.n) FILTER (p.known), 0) / sum(c.n), 6) AS match_rate
            FROM _combos c LEFT JOIN _anchor a USING (combo_id)
            LEFT JOIN _nodes n ON n.id_type = a.id_type AND n.value = a.value
            LEFT JOIN _labels l USING (node_id) LEFT JOIN _profile_of_comp m USING (comp)
            LEFT JOIN {PROFILES} p ON p.profile_id = m.profile_id
            GROUP BY c.source ORDER BY c.source""",
        ),
        (
            AUDIT,
            f"""CREATE OR REPLACE TABLE {AUDIT} AS
            SELECT 'blocked_value' AS kind, id_type, raw_value AS value, blocked_reason AS detail,
                   NULL::BIGINT AS count
            FROM _values WHERE blocked_reason IS NOT NULL
            UNION ALL
            SELECT 'not_a_bridge', n.id_type, n.value,
                   'linked to ' || h.nbr_count || ' ' || h.nbr_type || ' identifiers (a profile '
                   || 'may hold ' || {_limit_case(rules, "h.nbr_type")}
                   || '): all its links dropped',
                   h.nbr_count
            FROM _hubs h JOIN _nodes n USING (node_id)
            UNION ALL
            SELECT 'limit_enforced', id_type, NULL, 'components split or trimmed to respect the '
                   || 'per-profile limit', components
            FROM _limit_cuts WHERE id_type IS NOT NULL
            UNION ALL
            SELECT 'component_size', NULL, bucket, NULL, count(*) FROM (
                SELECT CASE {buckets} END AS bucket, size
                FROM (SELECT comp, count(*) AS size FROM _labels GROUP BY comp))
            GROUP BY bucket
            UNION ALL
            SELECT * FROM (
                SELECT 'largest_component', NULL, profile_id,
                       'identifiers by type: ' || {_type_summary(rules)}, identifiers
                FROM {PROFILES} ORDER BY identifiers DESC, profile_id LIMIT 10)
            ORDER BY kind, id_type, value""",
        ),
        (CHANGES, f"INSERT INTO {CHANGES} SELECT * FROM _changes"),
    ]
    replace_tables(con, statements)
    for source in SOURCES.values():
        if source.pseudonymised:
            continue
        view_sql = profiled_source_sql(source, rules)
        con.execute(f"CREATE OR REPLACE VIEW {profiled_view(source)} AS {view_sql}")
    con.execute(f"CREATE OR REPLACE VIEW {RECORD_PROFILES} AS {record_profiles_sql()}")


def _write_model(con, linkage: dict) -> None:
    """`identity.linkage_weights`: the duplicate model of this run, one row per comparison
    level (m, u, match weight), so a user can see why two contacts were linked."""
    weights = pl.DataFrame(
        linkage.get("weights", []),
        schema={
            "comparison": pl.String, "level": pl.String, "m_probability": pl.Float64,
            "u_probability": pl.Float64, "match_weight": pl.Float64,
        },
    )  # fmt: skip
    frame_to_temp_table(con, "_weights", weights)
    con.execute(f"CREATE OR REPLACE TABLE {WEIGHTS} AS SELECT * FROM _weights")


def _limit_case(rules: IdentityRules, column: str) -> str:
    whens = " ".join(f"WHEN '{t}' THEN '{n}'" for t, n in rules.limits.items())
    return f"(CASE {column} {whens} END)"


def _type_summary(rules: IdentityRules) -> str:
    return " || ', ' || ".join(f"'{t}=' || {quote('n_' + t)}" for t in rules.priority)


def profiled_view(source: Source) -> str:
    """The view `identity.profiled_<source>`: the raw table with each record's `profile_id`."""
    return f"{SCHEMA}.profiled_{source.name}"


def profiled_source_sql(source: Source, rules: IdentityRules) -> str:
    """Every record of one raw table with its profile: that of its best usable identifier."""
    cols = identifier_columns(source, rules)
    joins = " ".join(
        f"LEFT JOIN {VALUES} v{i} ON v{i}.id_type = '{t}' AND v{i}.raw_value = r.{quote(c)} "
        f"LEFT JOIN {MAP} m{i} ON m{i}.id_type = '{t}' AND m{i}.value = v{i}.value"
        for i, (c, t) in enumerate(cols)
    )
    profile = f"coalesce({', '.join(f'm{i}.profile_id' for i in range(len(cols)))})"
    return f"SELECT r.*, {profile} AS profile_id FROM raw.{source.name} r {joins}"


def record_profiles_sql() -> str:
    """Every raw record with its profile: (source, record_key, event_ts, profile_id)."""
    return " UNION ALL ".join(
        f"SELECT '{s.name}' AS source, {record_key_sql(s)} AS record_key, "
        f"r.{quote(s.timestamp)} AS event_ts, r.profile_id FROM {profiled_view(s)} r"
        for s in LINKING_SOURCES.values()
    )


def record_identifiers_sql(rules: IdentityRules) -> str:
    """Every identifier on every raw record: (source, record_key, id_type, raw_value)."""
    return " UNION ALL ".join(
        f"SELECT '{s.name}' AS source, {record_key_sql(s)} AS record_key, '{t}' AS id_type, "
        f"r.{quote(c)} AS raw_value FROM raw.{s.name} r WHERE r.{quote(c)} IS NOT NULL"
        for s in LINKING_SOURCES.values()
        for c, t in identifier_columns(s, rules)
    )
