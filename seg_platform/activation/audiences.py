"""One month's audiences in DuckDB: who goes to which destination with which action, who is held
out, and what changed since the last published feed. Plain SQL, no Dagster.

For every destination, each candidate row (a segment member whose segment's action goes
there, or a customer with one of its overlays) gets exactly one status, in this order:

- `control`: in the segment's holdout (a hash of the profile id and a salt below the
  segment's share; the same customer stays in control month after month while the salt and
  share stay the same). The holdout applies to every destination.
- `opted_out`: the latest consent change for the destination's channel (or `all`) is an
  opt-out; with `requires_opt_in`, also anyone without an opt-in on record.
- `unreachable`: none of the destination's identifiers is known for the person.
- `published`: in the feed.

`reachable` says whether the row would be published were it not held out (consent and an
identifier): the lift compares the members actually sent with the control members who could
have been sent, the same kind of people on both sides.

Consent is the latest known at run time, whatever the month: a withdrawal is honoured on the
next run, also when an older month is published again.
"""

import datetime as dt

import polars as pl

from seg_platform.activation.config import HASHED_IDENTIFIERS, RAW_IDENTIFIERS, Destination
from seg_platform.core.warehouse import (
    fetch_frame,
    fetch_one,
    frame_to_temp_table,
    quote,
    table_exists,
)
from seg_platform.core.yaml_files import sql_string

SCHEMA = "activation"
GROUPS = f"{SCHEMA}.experiment_groups"
CONSENT = f"{SCHEMA}.consent_status"
CANDIDATES = f"{SCHEMA}.audience_members"
FEED = f"{SCHEMA}.feed_members"
CHANGES = f"{SCHEMA}.feed_changes"
COUNTS = f"{SCHEMA}.feed_counts"
PUBLISHED = f"{SCHEMA}.published_feeds"
LOOKALIKE_MEMBERS = f"{SCHEMA}.lookalike_members"
LOOKALIKE_PREFIX = "lookalike_"  # a lookalike audience's files: destination lookalike_<name>
IDENTIFIER_COLUMNS = RAW_IDENTIFIERS + HASHED_IDENTIFIERS
FEED_COLUMNS = (
    "as_of_date", "destination", "profile_id", "audience_kind", "audience", "segment_id",
    "segment_name", "action_type", "action",
)  # fmt: skip
_UNIT = 2.0**60  # 15 hex digits of SHA-256 give a uniform integer below 2^60


def holdout_sql(salt: str, profile_id: str = "profile_id") -> str:
    """A uniform number in [0, 1) from the profile id and the salt (deterministic)."""
    literal = sql_string(f"{salt}:")
    return f"(('0x' || left(sha256({literal} || {profile_id}), 15))::UBIGINT / {_UNIT})::DOUBLE"


def ensure_tables(con) -> None:
    """The activation tables, empty, so checks and later months can always read them."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    ids = ", ".join(f"{quote(c)} VARCHAR" for c in IDENTIFIER_COLUMNS)
    con.execute(f"""
        CREATE TABLE IF NOT EXISTS {PUBLISHED} (
            as_of_date DATE, destination VARCHAR, kind VARCHAR, file VARCHAR, rows BIGINT,
            sha256 VARCHAR)""")
    con.execute(f"""
        CREATE TABLE IF NOT EXISTS {FEED} (
            as_of_date DATE, destination VARCHAR, profile_id VARCHAR, audience_kind VARCHAR,
            audience VARCHAR, segment_id BIGINT, segment_name VARCHAR, action_type VARCHAR,
            action VARCHAR, reasons VARCHAR, {ids})""")


def consent_status_sql() -> str:
    """The latest consent change per profile and channel (an opt-out wins a same-instant tie);
    consent rows whose person is unknown to the identity graph cannot apply to anyone."""
    return """
        SELECT profile_id, channel,
               arg_max(status, (changed_at, status = 'opt_out')) AS status,
               max(changed_at) AS changed_at
        FROM identity.profiled_consent
        WHERE profile_id IS NOT NULL
        GROUP BY profile_id, channel
        ORDER BY profile_id, channel"""


def build_signals(con, as_of_date: dt.date) -> pl.DataFrame:
    """The month's signals for overlays and surveys: features, scores and segment."""
    return fetch_frame(
        con,
        """
        SELECT f.*, p.churn_probability, p.purchase_probability, a.segment_id,
               a.segment_name, s.theme AS segment_theme
        FROM features.customer_features f
        JOIN segments.segment_assignments a
          ON a.profile_id = f.profile_id AND a.as_of_date = f.as_of_date
        JOIN segments.segment_profiles s
          ON s.segment_id = a.segment_id AND s.as_of_date = a.as_of_date
        LEFT JOIN predictions.customer_predictions p
          ON p.profile_id = f.profile_id AND p.as_of_date = f.as_of_date
        WHERE f.as_of_date = ?
        ORDER BY f.profile_id""",
        [as_of_date],
    )


def build_groups(
    con, as_of_date: dt.date, salt: str, default_share: float, shares: dict[str, float]
) -> None:
    """`_groups`: every segment member of the month with its holdout share and group."""
    cases = " ".join(
        f"WHEN {sql_string(name)} THEN {float(share)}" for name, share in shares.items()
    )
    share = (
        f"CASE segment_name {cases} ELSE {float(default_share)} END"
        if cases
        else (str(float(default_share)))
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _groups AS
        SELECT as_of_date, profile_id, segment_id, segment_name, share AS holdout_share,
               CASE WHEN u < share THEN 'control' ELSE 'treatment' END AS "group"
        FROM (SELECT *, {share} AS share, {holdout_sql(salt)} AS u
              FROM segments.segment_assignments WHERE as_of_date = ?)
        ORDER BY profile_id""",
        [as_of_date],
    )


def build_contacts(con) -> None:
    """`_contacts`: one way to reach each profile per identifier type, and the hashed forms.

    The values are the identity graph's normalised ones (emails lower-cased, phones E.164), so
    the SHA-256 forms are what ad platforms match on.
    """
    picks = ", ".join(f"min(value) FILTER (id_type = '{t}') AS {quote(t)}" for t in RAW_IDENTIFIERS)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _contacts AS
        SELECT *, sha256(email) AS email_sha256, sha256(phone) AS phone_sha256
        FROM (SELECT profile_id, {picks} FROM identity.identity_map GROUP BY profile_id)""")


def build_candidates(
    con,
    as_of_date: dt.date,
    destinations: list[Destination],
    overlays: pl.DataFrame,
) -> None:
    """`_candidates`: every (destination, customer, audience) with its status (module doc)."""
    frame_to_temp_table(
        con,
        "_overlays",
        overlays.select(
            "profile_id", pl.concat_str("family", pl.lit("/"), "overlay").alias("audience")
        ),
    )
    parts = []
    for d in destinations:
        name = sql_string(d.name)
        segment_filter = (
            "" if d.segments is None
            else "AND s.action_channel IN (" + ", ".join(map(sql_string, d.segments)) + ")"
        )  # fmt: skip
        parts.append(f"""
            SELECT {name} AS destination, g.profile_id, 'segment' AS audience_kind,
                   g.segment_name AS audience, g.segment_id, g.segment_name, s.action_type,
                   s.action, g."group"
            FROM _groups g JOIN segments.segment_profiles s
              ON s.as_of_date = g.as_of_date AND s.segment_id = g.segment_id
            WHERE true {segment_filter}""")
        for overlay, action in d.overlays.items():
            parts.append(f"""
                SELECT {name}, g.profile_id, 'overlay', o.audience, g.segment_id,
                       g.segment_name, 'overlay', {sql_string(action)}, g."group"
                FROM _overlays o JOIN _groups g USING (profile_id)
                WHERE o.audience = {sql_string(overlay)}""")
    union = " UNION ALL ".join(parts)
    channel = channel_case(destinations)
    opt_in = " ".join(
        f"WHEN {sql_string(d.name)} THEN {'true' if d.requires_opt_in else 'false'}"
        for d in destinations
    )
    reach = " ".join(
        f"WHEN {sql_string(d.name)} THEN "
        + " OR ".join(f"k.{quote(i)} IS NOT NULL" for i in d.identifiers)
        for d in destinations
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _candidates AS
        WITH c AS (SELECT *, CASE destination {channel} END AS channel FROM ({union})),
        consent AS (
            SELECT c.destination, c.profile_id, c.audience_kind, c.audience,
                   arg_max(x.status, (x.changed_at, x.status = 'opt_out')) AS status
            FROM c JOIN {CONSENT} x
              ON x.profile_id = c.profile_id AND x.channel IN (c.channel, 'all')
            GROUP BY ALL)
        SELECT CAST(? AS DATE) AS as_of_date, c.destination, c.profile_id, c.audience_kind,
               c.audience, c.segment_id, c.segment_name, c.action_type, c.action,
               CASE WHEN c."group" = 'control' THEN 'control' ELSE sendable END AS status,
               sendable = 'published' AS reachable
        FROM (
            SELECT c.*, CASE
                    WHEN consent.status = 'opt_out' THEN 'opted_out'
                    WHEN (CASE c.destination {opt_in} END) AND consent.status IS NULL
                        THEN 'opted_out'
                    WHEN NOT coalesce(CASE c.destination {reach} END, false) THEN 'unreachable'
                    ELSE 'published' END AS sendable
            FROM c
            LEFT JOIN consent USING (destination, profile_id, audience_kind, audience)
            LEFT JOIN _contacts k ON k.profile_id = c.profile_id) c
        ORDER BY c.destination, c.audience_kind DESC, c.audience, c.profile_id""",
        [as_of_date],
    )


def channel_case(destinations: list[Destination]) -> str:
    """`WHEN '<destination>' THEN '<consent channel>' ...` for a CASE over destination names."""
    return " ".join(
        f"WHEN {sql_string(d.name)} THEN {sql_string(d.consent_channel)}" for d in destinations
    )


def feed_sql(destinations: list[Destination]) -> str:
    """The published rows with each destination's identifiers (others left empty)."""
    ids = ", ".join(
        "CASE "
        + " ".join(f"WHEN c.destination = {sql_string(d.name)} THEN k.{quote(i)}"
                   for d in destinations
                   if i in d.identifiers)
        + f" END AS {quote(i)}"
        if any(i in d.identifiers for d in destinations)
        else f"NULL::VARCHAR AS {quote(i)}"
        for i in IDENTIFIER_COLUMNS
    )  # fmt: skip
    cols = ", ".join(f"c.{c}" for c in FEED_COLUMNS)
    # Why each member is in their segment (segments.assignment_reasons in words), on segment
    # rows only; ad audiences (hashed_only) receive no behaviour, only hashed identifiers.
    hashed = [sql_string(d.name) for d in destinations if d.hashed_only]
    no_reasons = f"c.destination IN ({', '.join(hashed)})" if hashed else "false"
    return f"""
        SELECT {cols},
               CASE WHEN c.audience_kind = 'segment' AND NOT {no_reasons} THEN a.reasons
               END AS reasons, {ids}
        FROM _candidates c LEFT JOIN _contacts k ON k.profile_id = c.profile_id
        LEFT JOIN segments.segment_assignments a
          ON a.profile_id = c.profile_id AND a.as_of_date = c.as_of_date
        WHERE c.status = 'published'
        ORDER BY c.destination, c.audience_kind DESC, c.audience, c.profile_id"""


def changes_sql(as_of_date: dt.date) -> str:
    """Entered / exited / changed segment since each destination's last published month.

    Segments are exclusive: a member whose segment differs `changed_segment`. Overlays are
    compared one by one: `entered` or `exited`. The first feed of a destination is all
    `entered`.
    """
    day = f"DATE '{as_of_date.isoformat()}'"
    return f"""
        WITH last AS (
            SELECT destination, max(as_of_date) AS previous FROM {PUBLISHED}
            WHERE kind = 'members' AND as_of_date < {day} GROUP BY destination),
        prev AS (
            SELECT f.destination, f.profile_id, f.audience_kind, f.audience, l.previous
            FROM {FEED} f JOIN last l
              ON l.destination = f.destination AND f.as_of_date = l.previous),
        cur AS (SELECT destination, profile_id, audience_kind, audience FROM _feed),
        seg AS (
            SELECT coalesce(c.destination, p.destination) AS destination,
                   coalesce(c.profile_id, p.profile_id) AS profile_id, 'segment' AS audience_kind,
                   CASE WHEN p.profile_id IS NULL THEN 'entered'
                        WHEN c.profile_id IS NULL THEN 'exited'
                        WHEN c.audience <> p.audience THEN 'changed_segment' END AS change,
                   c.audience, p.audience AS previous_audience
            FROM (FROM cur WHERE audience_kind = 'segment') c
            FULL JOIN (FROM prev WHERE audience_kind = 'segment') p
              ON c.destination = p.destination AND c.profile_id = p.profile_id),
        ovl AS (
            SELECT coalesce(c.destination, p.destination), coalesce(c.profile_id, p.profile_id),
                   'overlay', CASE WHEN p.profile_id IS NULL THEN 'entered' ELSE 'exited' END,
                   c.audience, p.audience
            FROM (FROM cur WHERE audience_kind = 'overlay') c
            FULL JOIN (FROM prev WHERE audience_kind = 'overlay') p
              ON c.destination = p.destination AND c.profile_id = p.profile_id
             AND c.audience = p.audience
            WHERE c.profile_id IS NULL OR p.profile_id IS NULL)
        SELECT {day} AS as_of_date, destination, profile_id, audience_kind, change, audience,
               previous_audience
        FROM (FROM seg UNION ALL FROM ovl)
        WHERE change IS NOT NULL
        ORDER BY destination, audience_kind DESC, change, profile_id, audience"""


def counts_sql() -> str:
    """Per destination and audience: candidates by status (what the reconciliation checks)."""
    return """
        SELECT as_of_date, destination, audience_kind, audience, segment_id,
               count(*) AS members,
               count(*) FILTER (status = 'control') AS control,
               count(*) FILTER (status = 'opted_out') AS opted_out,
               count(*) FILTER (status = 'unreachable') AS unreachable,
               count(*) FILTER (status = 'published') AS published
        FROM _candidates
        GROUP BY ALL
        ORDER BY destination, audience_kind DESC, audience"""


def previous_month_published(con, destination: str, as_of_date: dt.date) -> dt.date | None:
    if not table_exists(con, SCHEMA, "published_feeds"):
        return None
    return fetch_one(
        con,
        f"SELECT max(as_of_date) FROM {PUBLISHED} WHERE destination = ? AND as_of_date < ?",
        [destination, as_of_date],
    )[0]
