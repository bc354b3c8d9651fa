"""Incremental identity equals a full rebuild: twelve monthly deliveries of a messy synthetic
company, loaded one by one, each built incrementally and, from the same warehouse, in full."""

import shutil

import pytest

from seg_platform.core.warehouse import connect
from seg_platform.identity.build import build_identity
from seg_platform.identity.incremental import COMPONENTS, STATE
from seg_platform.identity.linkage_store import MODELS
from seg_platform.sources.config import load_sources_config
from seg_platform.sources.contract import SOURCES
from seg_platform.sources.ingest import ingest_source
from seg_platform.sources.resources import IdentityConfig
from seg_platform.sources.suppression import suppression_condition, suppression_state
from seg_platform.synthetic.company import generate

MONTHS = [f"2025-{m:02d}" for m in range(1, 13)]
# Every identity table a later step reads, and the view of every record's profile.
TABLES = [
    "identity.identity_map",
    "identity.profiles",
    "identity.identity_edges",
    "identity.identity_audit",
    "identity.identity_changes",
    "identity.match_rate",
    "identity.identifier_values",
    "identity.record_profiles",
    "identity.linkage_weights",
    COMPONENTS,
]


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    """A year of a small company with many defects: malformed rows, re-delivered rows, CRM
    duplicates with typos and missing fields, shared devices and cookies (the generator's)."""
    out = tmp_path_factory.mktemp("messy")
    generate(customers=250, months=12, seed=23, out=out, malformed_share=0.03, duplicate_share=0.05)
    return out


def deliver(company, landing, month: str) -> None:
    """Copy one month's landing files (and, with the first, the files of no month)."""
    for path in sorted((company / "landing").rglob("*")):
        if path.is_dir():
            continue
        rel = path.relative_to(company / "landing")
        monthly = any(f"_{m}." in path.name for m in MONTHS)
        if (monthly and f"_{month}." in path.name) or (not monthly and month == MONTHS[0]):
            (landing / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, landing / rel)


def load_raw(warehouse, sources_yaml) -> None:
    """Load every source incrementally, as the raw assets do."""
    config = load_sources_config(sources_yaml)
    rules = IdentityConfig().rules(config)
    with connect(warehouse) as con:
        for source in SOURCES.values():
            ingest_source(
                con,
                source,
                config,
                suppress=lambda c, s=source: suppression_condition(c, s, rules),
                suppression_state=suppression_state(con, rules),
                incremental=True,
            )


def build(warehouse, sources_yaml, run_id: str, full: bool, retrain=None, **settings):
    rules = IdentityConfig(**settings).rules(load_sources_config(sources_yaml))
    with connect(warehouse) as con:
        return build_identity(con, rules, run_id, full_rebuild=full, retrain_model=retrain)


def tables(warehouse) -> dict[str, list[tuple]]:
    with connect(warehouse) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}


def partition(warehouse) -> set[frozenset]:
    """The profiles as sets of identifiers, whatever their ids."""
    with connect(warehouse) as con:
        rows = con.execute(
            "SELECT list(id_type || ':' || value) FROM identity.identity_map GROUP BY profile_id"
        ).fetchall()
    return {frozenset(r[0]) for r in rows}


# The default run compares with a full rebuild after the last delivery (a divergence before
# stays in the tables: a kept component keeps it, and the one-shot load below catches a wrong
# partition); `-m slow` compares after every one. The duplicate model (Splink) is most of
# each build's time at this size.
@pytest.mark.parametrize(
    "compared",
    [
        pytest.param(("2025-12",), id="last_month"),
        pytest.param(tuple(MONTHS), id="every_month", marks=pytest.mark.slow),
    ],
)
def test_twelve_deliveries_built_incrementally_equal_full_rebuilds(company, tmp_path, compared):
    """Each month the raw tables take the new files and identity is built incrementally; after
    the `compared` months a copy of the warehouse is rebuilt in full and every identity table
    must be equal row for row (profile ids, change log, edge statuses included). Given equal
    previous tables an incremental build is a full one, so the chains are equal."""
    landing = tmp_path / "landing"
    sources_yaml = landing / "sources.yaml"
    incremental, full = tmp_path / "incremental.duckdb", tmp_path / "full.duckdb"
    summaries, models = [], []
    for month in MONTHS:
        deliver(company, landing, month)
        load_raw(incremental, sources_yaml)
        run_id = f"run-{month}"
        if month in compared:
            shutil.copyfile(incremental, full)
            # A full resolution of the graph with the same stored duplicate model (a requested
            # full rebuild would also retrain the model: the test below).
            done = build(full, sources_yaml, run_id, full=True, retrain=False)
            assert done.incremental["mode"] == "full"
        result = build(incremental, sources_yaml, run_id, full=False)
        summaries.append(result.incremental)
        models.append(result.linkage.get("stored_models", {}))
        if month in compared:
            got, want = tables(incremental), tables(full)
            for table in TABLES:
                assert got[table] == want[table], f"{month}: {table} differs from a full rebuild"
    assert summaries[0] == {
        **summaries[0],
        "mode": "full",
        "full_reason": "no earlier build to add to",
        "components_kept": 0,
    }
    steady = [s for s in summaries[1:] if s["mode"] == "incremental"]
    # Most months add to the graph; each keeps components and resolves others.
    assert len(steady) >= 8, summaries
    assert all(s["components_kept"] > 0 and s["components_resolved"] > 0 for s in steady)
    with connect(incremental) as con:
        changes = con.execute(
            "SELECT count(DISTINCT run_id), count(*) FROM identity.identity_changes"
        ).fetchone()
    assert changes[0] >= 2, "the deliveries should merge or split some profiles"

    # The duplicate model is stored: trained on the first delivery, again when the contacts
    # grew by more than a quarter, else reused (full and incremental builds alike).
    assert [sorted(m) for m in models] == [["dedupe", "link"]] * len(MONTHS), models
    trained = [[m[k]["trained_now"] is not None for k in ("dedupe", "link")] for m in models]
    assert trained[0] == [True, True] and [False, False] in trained[1:], trained
    assert [True, True] in trained[1:], "the contacts grow by more than a quarter early on"
    assert models[-1]["dedupe"]["version"] == sum(t[0] for t in trained)

    # One full load of all twelve months with the chain's stored model: the same profiles
    # (ids aside: the monthly chain keeps the ids of earlier months) and the same edges with
    # the same statuses and probabilities.
    once = tmp_path / "once"
    once.mkdir()
    for month in MONTHS:
        deliver(company, once, month)
    oneshot = tmp_path / "oneshot.duckdb"
    load_raw(oneshot, once / "sources.yaml")
    with connect(oneshot) as con:
        con.execute(f"ATTACH '{incremental}' AS chain (READ_ONLY)")
        con.execute("CREATE SCHEMA IF NOT EXISTS identity")
        con.execute(f"CREATE TABLE {MODELS} AS SELECT * FROM chain.{MODELS}")
        con.execute("DETACH chain")
    assert (
        build(oneshot, once / "sources.yaml", "once", full=False).linkage["stored_models"][
            "dedupe"
        ]["trained_now"]
        is None
    )
    assert partition(oneshot) == partition(incremental)
    with connect(oneshot) as con:
        edges = con.execute("SELECT * FROM identity.identity_edges ORDER BY ALL").fetchall()
    assert edges == tables(incremental)["identity.identity_edges"]


def test_unsafe_changes_fall_back_to_a_full_rebuild(company, tmp_path):
    """A changed landing file, changed rules, or the wish for it make the build a full one,
    and the summary says why. (Without the duplicate model, which takes no part in this.)"""
    landing = tmp_path / "landing"
    sources_yaml = landing / "sources.yaml"
    warehouse = tmp_path / "w.duckdb"
    for month in MONTHS[:2]:
        deliver(company, landing, month)
    load_raw(warehouse, sources_yaml)
    off = {"probabilistic": False}
    assert build(warehouse, sources_yaml, "r1", False, **off).incremental["mode"] == "full"
    again = build(warehouse, sources_yaml, "r2", False, **off).incremental
    assert again["mode"] == "incremental" and again["components_resolved"] == 0
    assert again["components_kept"] > 100
    assert build(warehouse, sources_yaml, "r3", True, **off).incremental["full_reason"] == (
        "full rebuild requested"
    )
    # A delivered file replaced with other bytes: the ledger reloads it.
    orders = sorted((landing / "orders").glob("*"))[0]
    orders.write_text("\n".join(orders.read_text().splitlines()[:-5]) + "\n")
    load_raw(warehouse, sources_yaml)
    after = build(warehouse, sources_yaml, "r4", False, **off).incremental
    assert after["mode"] == "full" and "landing file" in after["full_reason"]
    # Other identity rules.
    settings = IdentityConfig(strip_plus_tags=False, probabilistic=False)
    rules = settings.rules(load_sources_config(sources_yaml))
    with connect(warehouse) as con:
        changed = build_identity(con, rules, "r5").incremental
        assert changed["full_reason"] == "identity rules or code changed since the last build"
        # A build that dies before its state is written leaves none: the next one is full.
        con.execute(f"DROP TABLE {STATE}")
        assert build_identity(con, rules, "r6").incremental["full_reason"] == (
            "no earlier build to add to"
        )


def test_a_requested_full_rebuild_retrains_the_stored_model_as_a_fresh_home(company, tmp_path):
    """A model trained on two months scores the next ten (the contacts' growth is under the
    share); `--full-reload` (full_rebuild) trains a new one on every contact: the same tables,
    row for row, as the same warehouse with no stored model. Other identity rules retrain too."""
    landing = tmp_path / "landing"
    sources_yaml = landing / "sources.yaml"
    chain, fresh = tmp_path / "chain.duckdb", tmp_path / "fresh.duckdb"
    lax = {"dedup_model_retrain_share": 100.0}
    for month in MONTHS[:2]:
        deliver(company, landing, month)
    load_raw(chain, sources_yaml)
    build(chain, sources_yaml, "r1", False, **lax)
    for month in MONTHS[2:]:
        deliver(company, landing, month)
    load_raw(chain, sources_yaml)
    reused = build(chain, sources_yaml, "r2", False, **lax)
    assert reused.linkage["stored_models"]["dedupe"] == {
        **reused.linkage["stored_models"]["dedupe"], "version": 1, "trained_run_id": "r1",
        "trained_now": None,
    }  # fmt: skip
    stale = tables(chain)["identity.linkage_weights"]

    shutil.copyfile(chain, fresh)
    with connect(fresh) as con:
        con.execute(f"DROP TABLE {MODELS}")
    want = build(fresh, sources_yaml, "r3", True, **lax)
    got = build(chain, sources_yaml, "r3", True, **lax)
    assert got.linkage["stored_models"]["dedupe"]["trained_now"] == "full rebuild requested"
    assert want.linkage["stored_models"]["dedupe"]["trained_now"] == "no stored model"
    assert got.linkage["stored_models"]["dedupe"]["version"] == 2
    after, wanted = tables(chain), tables(fresh)
    for table in TABLES:
        assert after[table] == wanted[table], f"{table} differs from a fresh home's"
    assert after["identity.linkage_weights"] != stale, "twelve months should move the weights"

    # Other rules (the normalisation of the contacts' e-mails): trained again.
    other = build(chain, sources_yaml, "r4", False, strip_plus_tags=False, **lax)
    assert other.linkage["stored_models"]["dedupe"]["trained_now"] == (
        "the model's specification, the identity rules or the code changed"
    )
