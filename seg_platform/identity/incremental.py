"""Incremental identity: re-resolve only the components of the identity graph that changed.

Plain DuckDB and NumPy, no Dagster. The graph's identifiers and edges are extracted from the raw
tables as in a full rebuild; the graph is then cut into its components (the identifiers joined
by edges the deduplication did not refuse: everything the resolution of one identifier can
depend on), and each component is fingerprinted. A component whose fingerprint was stored by
the previous build keeps that build's outcome (profile ids, edge statuses, identifiers not used
as a bridge, limit cuts); only the others are resolved (merge protection, limits) and given
stable ids. The result equals a full rebuild's (docs/identity.md, "Incremental builds").

A full rebuild is made instead, and says why, when incremental is not safe: first build,
`full_rebuild` asked for, identity rules or this code changed, an erasure since the last build,
or a landing file changed, removed or reloaded in full per the ledger (`raw.source_loads`).
"""

import hashlib
import time
from dataclasses import dataclass, field

import duckdb
import numpy as np
import polars as pl

from seg_platform.core.identity_rules import IdentityRules
from seg_platform.core.warehouse import fetch_one, frame_to_temp_table, table_exists
from seg_platform.identity.graph import DROPPED_CLUSTER, EDGE_STATUS, components, resolve
from seg_platform.sources.contract import SOURCES
from seg_platform.sources.suppression import suppression_state

SCHEMA = "identity"
STATE = f"{SCHEMA}.identity_state"
COMPONENTS = f"{SCHEMA}.identity_components"
# One row per build (append-only): incremental or full and why, components re-resolved and kept.
BUILDS = f"{SCHEMA}.identity_builds"
# Bump when a change of the identity code alters what a component resolves to: the next build
# is then a full one, as the stored fingerprints no longer describe the same computation.
INCREMENTAL_VERSION = "1"
_LOADS = "raw.source_loads"
# Loads after which stored components may hold records that are gone: a source rebuilt from
# every file (first load, settings or erasure list changed, --full-reload), a file changed or
# removed. Pseudonymised sources (erasure requests, reloaded in full on every run) hold no
# identifier of the graph; erasures are the suppression fingerprint's business.
_GRAPH_SOURCES = ", ".join(f"'{s.name}'" for s in SOURCES.values() if not s.pseudonymised)
_UNSAFE_LOADS = (
    f"SELECT count(*) FROM {_LOADS} WHERE source IN ({_GRAPH_SOURCES}) "
    "AND (mode = 'full' OR files_changed > 0 OR files_removed > 0)"
)


@dataclass
class IdentityPlan:
    """How one identity build runs: incremental, or full and why."""

    incremental: bool
    reason: str = ""  # why full
    rules: str = ""  # fingerprint of the identity rules and of this code
    suppression: str = ""  # fingerprint of the erased identifiers (sources.suppression)
    unsafe_loads: int = 0  # full / changed / removed loads in the ledger so far
    components_resolved: int = 0
    components_kept: int = 0
    identifiers_resolved: int = 0
    identifiers_kept: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict:
        """What the run did, for the asset's metadata and the run summary."""
        return {
            "mode": "incremental" if self.incremental else "full",
            "full_reason": self.reason or None,
            "components_resolved": self.components_resolved,
            "components_kept": self.components_kept,
            "identifiers_resolved": self.identifiers_resolved,
            "identifiers_kept": self.identifiers_kept,
        }


def rules_fingerprint(rules: IdentityRules) -> str:
    return hashlib.sha256(f"{INCREMENTAL_VERSION}|{rules!r}".encode()).hexdigest()


def plan_identity(
    con: duckdb.DuckDBPyConnection, rules: IdentityRules, full_rebuild: bool
) -> IdentityPlan:
    """Whether this build may keep the components the last one stored, or why not."""
    suppression = suppression_state(con, rules)
    unsafe = fetch_one(con, _UNSAFE_LOADS)[0] if table_exists(con, "raw", "source_loads") else 0
    plan = IdentityPlan(False, "", rules_fingerprint(rules), suppression, int(unsafe))
    stored = None
    if table_exists(con, SCHEMA, "identity_state") and table_exists(con, SCHEMA, "identity_map"):
        stored = con.execute(f"SELECT rules, suppression, unsafe_loads FROM {STATE}").fetchone()
    if full_rebuild:
        plan.reason = "full rebuild requested"
    elif stored is None:
        plan.reason = "no earlier build to add to"
    elif stored[0] != plan.rules:
        plan.reason = "identity rules or code changed since the last build"
    elif stored[1] != plan.suppression:
        plan.reason = "people were erased since the last build"
    elif stored[2] != plan.unsafe_loads:
        plan.reason = (
            "a landing file was changed, removed or reloaded in full since the last build "
            "(raw.source_loads)"
        )
    else:
        plan.incremental = True
    return plan


def invalidate(con: duckdb.DuckDBPyConnection) -> None:
    """Forget the stored state before the outputs are replaced: a build that dies between the
    two leaves no state, so the next build is a full one."""
    con.execute(f"DROP TABLE IF EXISTS {STATE}")


# ------------------------------------------------------------------------------------------
# Components and their fingerprints.


def pairs_sql(edge_nodes: str) -> str:
    """Temp table `_pairs`: one undirected edge per identifier pair, evidence summed over
    sources and rules; a pair is refused when every edge behind it was refused by the
    deduplication (full and incremental builds alike)."""
    return f"""
        CREATE OR REPLACE TEMP TABLE _pairs AS
        SELECT (row_number() OVER (ORDER BY src, dst) - 1)::BIGINT AS pair_id, src, dst,
               sum(records)::BIGINT AS evidence, bool_and(refused IS NOT NULL) AS refused,
               bool_or(rule = 'probabilistic' AND refused IS NULL) AS duplicate
        FROM ({edge_nodes})
        GROUP BY src, dst
    """


def fingerprint_components(con: duckdb.DuckDBPyConnection) -> float:
    """`_comp_nodes(node_id, comp, pos)`, `_comp_pairs(pair_id, comp, pos)` and
    `_comp_prints(comp, structure, evidence, identifiers)` from `_nodes` and `_pairs`.

    A component is a connected component of the pairs the deduplication did not refuse: the
    resolution never looks past one (hubs, groups of duplicates, limits and splits are all
    within). `structure` hashes its identifiers (type, value, rank, position in node order)
    and its pairs (position, positions of their ends, duplicate flag): the resolution's whole
    input except the evidence, which `evidence` hashes and which matters only where a limit
    cut the component. Positions are within the component, so other components do not move
    them. Returns the seconds it took.
    """
    started = time.perf_counter()
    n = fetch_one(con, "SELECT count(*) FROM _nodes")[0]
    pairs = con.sql(
        "SELECT src, dst, refused, duplicate, evidence FROM _pairs ORDER BY pair_id"
    ).pl()
    keep = ~pairs["refused"].to_numpy()
    src, dst = pairs["src"].to_numpy(), pairs["dst"].to_numpy()
    comp = components(n, src, dst, keep) if n else np.array([], np.int64)
    pos = _positions(comp)
    frame_to_temp_table(
        con, "_comp_nodes", pl.DataFrame({"node_id": np.arange(n), "comp": comp, "pos": pos})
    )
    kept_pairs = np.flatnonzero(keep)
    pair_comp = comp[src[kept_pairs]]
    frame_to_temp_table(
        con,
        "_comp_pairs",
        pl.DataFrame(
            {
                "pair_id": kept_pairs,
                "comp": pair_comp,
                "pos": _positions(pair_comp),
                "a": pos[src[kept_pairs]],
                "b": pos[dst[kept_pairs]],
                "duplicate": pairs["duplicate"].to_numpy()[kept_pairs],
                "evidence": pairs["evidence"].to_numpy()[kept_pairs],
            },
            schema={
                "pair_id": pl.Int64, "comp": pl.Int64, "pos": pl.Int64, "a": pl.Int64,
                "b": pl.Int64, "duplicate": pl.Boolean, "evidence": pl.Int64,
            },
        ),
    )  # fmt: skip
    # Each element (an identifier with its position, a link with its own and its ends'
    # positions) is hashed twice (DuckDB's 64-bit hash, two orders of its fields) and the
    # hashes summed per component: 128 bits that the positions make depend on the order, with
    # no sort and no long string. Another DuckDB version may hash otherwise: then nothing
    # matches and everything is resolved again, as in a full build.
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _comp_prints AS
        WITH n AS (
            SELECT c.comp, count(*) AS identifiers,
                   sum(hash(c.pos, n.id_type, n.value, n.rank)) AS h1,
                   sum(hash(n.rank, n.value, n.id_type, c.pos, 'second')) AS h2
            FROM _nodes n JOIN _comp_nodes c USING (node_id) GROUP BY c.comp
        ), p AS (
            SELECT comp, count(*) AS links,
                   sum(hash(pos, a, b, duplicate)) AS h1,
                   sum(hash(duplicate, b, a, pos, 'second')) AS h2,
                   sum(hash(pos, evidence)) AS e1,
                   sum(hash(evidence, pos, 'second')) AS e2
            FROM _comp_pairs GROUP BY comp
        )
        SELECT n.comp,
               concat_ws('-', n.identifiers, n.h1, n.h2, coalesce(p.links, 0),
                         coalesce(p.h1, 0), coalesce(p.h2, 0)) AS structure,
               concat_ws('-', coalesce(p.e1, 0), coalesce(p.e2, 0)) AS evidence, n.identifiers
        FROM n LEFT JOIN p USING (comp)
    """)
    return round(time.perf_counter() - started, 3)


def _positions(labels: np.ndarray) -> np.ndarray:
    """Each element's rank among the elements of its label, in index order."""
    if not len(labels):
        return np.array([], np.int64)
    order = np.lexsort((np.arange(len(labels)), labels))
    sorted_labels = labels[order]
    start = np.ones(len(order), bool)
    start[1:] = sorted_labels[1:] != sorted_labels[:-1]
    first = np.maximum.accumulate(np.where(start, np.arange(len(order)), 0))
    pos = np.empty(len(labels), np.int64)
    pos[order] = np.arange(len(order)) - first
    return pos


# ------------------------------------------------------------------------------------------
# Incremental resolution.


def resolve_changed(
    con: duckdb.DuckDBPyConnection, rules: IdentityRules, edge_nodes: str, plan: IdentityPlan
) -> bool:
    """Resolve the components that changed since the stored build and keep the others, writing
    the temp tables `identity.build._resolve_graph` writes (`_pairs`, `_labels`,
    `_pair_status`, `_hubs`, `_limit_cuts`) and `_kept_profiles(comp, profile_id)`.

    Returns False (nothing written that a full resolution would not overwrite) when a kept
    component's identifiers are not all in the stored identity_map: then the caller resolves
    everything.
    """
    con.execute(pairs_sql(edge_nodes))
    plan.seconds["components.fingerprints"] = fingerprint_components(con)
    # A stored component without a limit cut resolved the same whatever its evidence.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _kept AS
        SELECT c.comp, s.hub_positions, s.hub_types, s.hub_counts, s.dropped_positions,
               s.dropped_status, s.cut_types
        FROM _comp_prints c JOIN {COMPONENTS} s
          ON s.structure = c.structure AND (s.evidence IS NULL OR s.evidence = c.evidence)
    """)
    # Each kept node's profile id, from the stored map.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _kept_nodes AS
        SELECT cn.node_id, cn.comp, m.profile_id
        FROM _comp_nodes cn JOIN _kept k USING (comp) JOIN _nodes n USING (node_id)
        LEFT JOIN {SCHEMA}.identity_map m ON m.id_type = n.id_type AND m.value = n.value
    """)
    if fetch_one(con, "SELECT count(*) FILTER (profile_id IS NULL) FROM _kept_nodes")[0]:
        return False

    pairs = con.sql(
        "SELECT src, dst, evidence, refused, duplicate FROM _pairs ORDER BY pair_id"
    ).pl()
    nodes = con.sql("SELECT rank FROM _nodes ORDER BY node_id").pl()
    n = nodes.height
    comp = con.sql("SELECT comp FROM _comp_nodes ORDER BY node_id").pl()["comp"].to_numpy()
    n_comps = int(comp.max()) + 1 if n else 0
    kept_comp = np.zeros(n_comps, bool)
    kept_ids = con.sql("SELECT comp FROM _kept").pl()["comp"].to_numpy()
    kept_comp[kept_ids] = True
    src, dst = pairs["src"].to_numpy(), pairs["dst"].to_numpy()
    refused = pairs["refused"].to_numpy()
    duplicate = pairs["duplicate"].to_numpy()
    evidence = pairs["evidence"].to_numpy()
    limits = np.array([rules.limits.get(t, 10**9) for t in rules.priority], np.int64)

    # Groups of duplicate records (and so `lead`) as the full resolution has them.
    groups = components(n, src, dst, duplicate) if duplicate.any() else np.arange(n)
    first = np.full(int(groups.max()) + 1 if n else 0, n, np.int64)
    np.minimum.at(first, groups, np.arange(n))
    lead = first[groups] == np.arange(n)

    # The changed components, renumbered in node order (which keeps every tie-break).
    changed_node = ~kept_comp[comp] if n else np.zeros(0, bool)
    sub_nodes = np.flatnonzero(changed_node)
    local = np.full(n, -1, np.int64)
    local[sub_nodes] = np.arange(len(sub_nodes))
    sub_pairs = np.flatnonzero(~refused & changed_node[src]) if len(src) else np.array([], int)
    s_src, s_dst = local[src[sub_pairs]], local[dst[sub_pairs]]
    s_dup = duplicate[sub_pairs]
    graph = resolve(
        len(sub_nodes), s_src, s_dst, evidence[sub_pairs], nodes["rank"].to_numpy()[sub_nodes],
        limits, groups=components(len(sub_nodes), s_src, s_dst, s_dup) if s_dup.any() else None,
    )  # fmt: skip
    plan.components_kept = int(kept_comp.sum())
    plan.components_resolved = n_comps - plan.components_kept
    plan.identifiers_resolved = len(sub_nodes)
    plan.identifiers_kept = n - len(sub_nodes)

    # Labels: resolved components first, then one label per kept profile.
    frame_to_temp_table(
        con,
        "_labels_resolved",
        pl.DataFrame(
            {"node_id": sub_nodes, "comp": graph.labels.astype(np.int64)},
            schema={"node_id": pl.Int64, "comp": pl.Int64},
        ),
    )
    offset = int(graph.labels.max()) + 1 if len(sub_nodes) else 0
    frame_to_temp_table(con, "_lead", pl.DataFrame({"node_id": np.arange(n), "lead": lead}))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _labels AS
        SELECT node_id, comp, lead FROM (
            SELECT node_id, comp FROM _labels_resolved
            UNION ALL
            SELECT node_id, {offset} + dense_rank() OVER (ORDER BY profile_id) - 1
            FROM _kept_nodes
        ) JOIN _lead USING (node_id)
        ORDER BY node_id
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _kept_profiles AS
        SELECT DISTINCT {offset} + dense_rank() OVER (ORDER BY profile_id) - 1 AS comp,
               profile_id
        FROM _kept_nodes
    """)

    # Edge statuses: refused pairs are dropped_cluster; kept components' as stored.
    status = np.zeros(len(src), np.int8)
    status[refused] = DROPPED_CLUSTER
    status[sub_pairs] = graph.edge_status
    frame_to_temp_table(
        con, "_status_resolved", pl.DataFrame({"pair_id": np.arange(len(src)), "code": status})
    )
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _kept_dropped AS
        SELECT cp.pair_id, d.status
        FROM (SELECT comp, unnest(dropped_positions) AS pos, unnest(dropped_status) AS status
              FROM _kept) d
        JOIN _comp_pairs cp USING (comp, pos)
    """)
    codes = " ".join(f"WHEN {c} THEN '{s}'" for c, s in EDGE_STATUS.items())
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _pair_status AS
        SELECT s.pair_id, coalesce(k.status, CASE s.code {codes} END) AS status
        FROM _status_resolved s LEFT JOIN _kept_dropped k USING (pair_id)
        ORDER BY s.pair_id
    """)

    # Identifiers not used as a bridge, and limit cuts: resolved ones, then kept ones.
    frame_to_temp_table(
        con,
        "_hubs_resolved",
        pl.DataFrame(
            {
                "node_id": sub_nodes[graph.hubs],
                "nbr_type": [rules.priority[t] for t in graph.hub_type.tolist()],
                "nbr_count": graph.hub_count.astype(np.int64),
            },
            schema={"node_id": pl.Int64, "nbr_type": pl.String, "nbr_count": pl.Int64},
        ),
    )
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _hubs AS
        SELECT * FROM _hubs_resolved
        UNION ALL
        SELECT cn.node_id, h.nbr_type, h.nbr_count
        FROM (SELECT comp, unnest(hub_positions) AS pos, unnest(hub_types) AS nbr_type,
                     unnest(hub_counts) AS nbr_count FROM _kept) h
        JOIN _comp_nodes cn USING (comp, pos)
    """)
    cuts = pl.DataFrame(
        {
            "id_type": [rules.priority[t] for t in graph.limit_cuts],
            "components": list(graph.limit_cuts.values()),
        },
        schema={"id_type": pl.String, "components": pl.Int64},
    )
    frame_to_temp_table(con, "_cuts_resolved", cuts)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _limit_cuts AS
        SELECT id_type, sum(components)::BIGINT AS components FROM (
            SELECT * FROM _cuts_resolved
            UNION ALL
            SELECT unnest(cut_types), 1 FROM _kept
        ) GROUP BY id_type ORDER BY id_type
    """)
    return True


def restrict_labels_to_resolved(con: duckdb.DuckDBPyConnection) -> None:
    """Hide the kept components from `_labels` while stable ids are given to the resolved ones
    (`restore_labels` puts them back): a kept component's profiles keep their ids, and no
    earlier profile of a resolved component has an identifier in a kept one."""
    con.execute("ALTER TABLE _labels RENAME TO _labels_all")
    con.execute(
        "CREATE TEMP TABLE _labels AS SELECT * FROM _labels_all "
        "WHERE node_id IN (SELECT node_id FROM _labels_resolved)"
    )


def restore_labels(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DROP TABLE _labels")
    con.execute("ALTER TABLE _labels_all RENAME TO _labels")
    con.execute("INSERT INTO _profile_of_comp SELECT comp, profile_id FROM _kept_profiles")


# ------------------------------------------------------------------------------------------
# State for the next build.


def write_state(
    con: duckdb.DuckDBPyConnection, rules: IdentityRules, plan: IdentityPlan, run_id: str
) -> None:
    """Store every component's fingerprints and outcome (`identity.identity_components`) and
    the state they hold for (`identity.identity_state`), after the outputs are written.

    Needs `_pairs`, `_nodes`, `_pair_status`, `_hubs`; computes the components if the build
    did not (a full one). The evidence fingerprint is stored only for a component a limit cut.
    """
    started = time.perf_counter()
    if not plan.incremental:
        plan.seconds["outputs.fingerprints"] = fingerprint_components(con)
        plan.components_resolved, plan.identifiers_resolved = fetch_one(
            con, "SELECT count(*), coalesce(sum(identifiers), 0) FROM _comp_prints"
        )
    # Per component: how many of its sub-components a limit split or trimmed, by type. A full
    # resolution counts them over the whole graph; each cut component is resolved alone to
    # count its own (few components hit a limit). Kept components keep the stored count.
    kept = "EXCEPT SELECT comp FROM _kept" if plan.incremental else ""
    cut = (
        con.sql(f"""
        SELECT DISTINCT cp.comp FROM _pair_status s JOIN _comp_pairs cp USING (pair_id)
        WHERE s.status = 'dropped_limit' {kept}
    """)
        .pl()["comp"]
        .to_list()
    )
    rows = []
    if cut:
        frame_to_temp_table(con, "_cut_comps", pl.DataFrame({"comp": cut}))
        sub_nodes = con.sql("""
            SELECT cn.comp, cn.pos, n.rank FROM _comp_nodes cn JOIN _nodes n USING (node_id)
            WHERE cn.comp IN (SELECT comp FROM _cut_comps) ORDER BY cn.comp, cn.pos
        """).pl()
        sub_pairs = con.sql("""
            SELECT comp, a AS src, b AS dst, evidence, duplicate FROM _comp_pairs
            WHERE comp IN (SELECT comp FROM _cut_comps) ORDER BY comp, pair_id
        """).pl()
        limits = np.array([rules.limits.get(t, 10**9) for t in rules.priority], np.int64)
        node_parts = sub_nodes.partition_by("comp", as_dict=True, maintain_order=True)
        pair_parts = sub_pairs.partition_by("comp", as_dict=True, maintain_order=True)
        for key, part in node_parts.items():
            p = pair_parts[key]
            s, d = p["src"].to_numpy(), p["dst"].to_numpy()
            dup = p["duplicate"].to_numpy()
            g = resolve(
                part.height, s, d, p["evidence"].to_numpy(), part["rank"].to_numpy(), limits,
                groups=components(part.height, s, d, dup) if dup.any() else None,
            )  # fmt: skip
            rows += [(key[0], rules.priority[t]) for t, k in g.limit_cuts.items() for _ in range(k)]
    frame_to_temp_table(
        con,
        "_cut_types",
        pl.DataFrame(rows, schema={"comp": pl.Int64, "id_type": pl.String}, orient="row"),
    )
    if plan.incremental:
        con.execute("INSERT INTO _cut_types SELECT comp, unnest(cut_types) FROM _kept")
    con.execute(f"""
        CREATE OR REPLACE TABLE {COMPONENTS} AS
        WITH hubs AS (
            SELECT cn.comp, list(cn.pos ORDER BY cn.pos) AS hub_positions,
                   list(h.nbr_type ORDER BY cn.pos) AS hub_types,
                   list(h.nbr_count ORDER BY cn.pos) AS hub_counts
            FROM _hubs h JOIN _comp_nodes cn USING (node_id) GROUP BY cn.comp
        ), dropped AS (
            SELECT cp.comp, list(cp.pos ORDER BY cp.pos) AS dropped_positions,
                   list(s.status ORDER BY cp.pos) AS dropped_status
            FROM _pair_status s JOIN _comp_pairs cp USING (pair_id)
            WHERE s.status <> 'used' GROUP BY cp.comp
        ), cuts AS (
            SELECT comp, list(id_type ORDER BY id_type) AS cut_types FROM _cut_types
            GROUP BY comp
        )
        SELECT c.structure,
               CASE WHEN cuts.comp IS NOT NULL
                      OR list_contains(dropped.dropped_status, 'dropped_limit')
                    THEN c.evidence END AS evidence,
               c.identifiers,
               coalesce(hubs.hub_positions, []::BIGINT[]) AS hub_positions,
               coalesce(hubs.hub_types, []::VARCHAR[]) AS hub_types,
               coalesce(hubs.hub_counts, []::BIGINT[]) AS hub_counts,
               coalesce(dropped.dropped_positions, []::BIGINT[]) AS dropped_positions,
               coalesce(dropped.dropped_status, []::VARCHAR[]) AS dropped_status,
               coalesce(cuts.cut_types, []::VARCHAR[]) AS cut_types
        FROM _comp_prints c LEFT JOIN hubs USING (comp) LEFT JOIN dropped USING (comp)
        LEFT JOIN cuts USING (comp)
        ORDER BY c.structure
    """)
    con.execute(
        f"CREATE OR REPLACE TABLE {STATE} AS SELECT ?::VARCHAR AS rules, "
        "?::VARCHAR AS suppression, ?::BIGINT AS unsafe_loads",
        [plan.rules, plan.suppression, plan.unsafe_loads],
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {BUILDS} (run_id VARCHAR, mode VARCHAR, full_reason VARCHAR, "
        "components_resolved BIGINT, components_kept BIGINT, identifiers_resolved BIGINT, "
        "identifiers_kept BIGINT)"
    )
    plan.seconds["outputs.state"] = round(time.perf_counter() - started, 3)
    summary = plan.summary()
    con.execute(
        f"INSERT INTO {BUILDS} VALUES (?, ?, ?, ?, ?, ?, ?)",
        [run_id, *(summary[k] for k in (
            "mode", "full_reason", "components_resolved", "components_kept",
            "identifiers_resolved", "identifiers_kept",
        ))],
    )  # fmt: skip
