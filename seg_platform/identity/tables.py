"""The identity group's tables: asset name -> (table, what it means to the business). The
identity assets are built from it; the SQL models map these tables to their assets."""

from seg_platform.identity.build import AUDIT, CHANGES, EDGES, MAP, MATCH_RATE, PROFILES

SPECS = {
    "identity_map": (
        MAP,
        "Which profile each identifier (email, phone, user id, cookie, "
        "device, CRM / billing / shop id) belongs to: the answer to 'who did this?'.",
    ),
    "identity_edges": (
        EDGES,
        "Links between identifiers seen together on a record (or matched "
        "by Splink), with source, rule, evidence and whether the link was used.",
    ),
    "profiles": (
        PROFILES,
        "One row per person: first and last seen, records, sources present "
        "and how many identifiers of each type they hold.",
    ),
    "identity_audit": (
        AUDIT,
        "Why identities were not merged: blocked junk values, shared "
        "identifiers not used as bridges, limits enforced, component sizes.",
    ),
    "identity_changes": (
        CHANGES,
        "History of profile merges and splits: old id, new id, "
        "reason and the run that made the change.",
    ),
    "match_rate": (
        MATCH_RATE,
        "Per source, the share of records attributed to a profile with at "
        "least one known (non-anonymous) identifier.",
    ),
}
