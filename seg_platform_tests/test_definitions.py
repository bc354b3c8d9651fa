"""The code location loads, and every asset follows the house rules (group, kinds, docs, checks)."""

import dagster as dg

from seg_platform.definitions import MAIN_JOB, defs
from seg_platform.sources.assets import RAW_CHECKS
from seg_platform.sources.contract import SOURCES


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    # What `dagster dev` builds on load: every job, the implicit asset job included (an op
    # named like a job only fails here).
    assert {job.name for job in defs.get_repository_def().get_all_jobs()} >= {
        "full_pipeline", "refresh_current_tables", "monthly_snapshot", "daily_scoring"
    }  # fmt: skip
    assert defs.resolve_job_def(MAIN_JOB) is not None


def test_every_asset_is_documented_grouped_and_checked():
    graph = defs.resolve_asset_graph()
    checked = {key.asset_key for key in graph.asset_check_keys}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, key
        assert node.group_name, key
        assert node.kinds, key
        assert key in checked, f"{key} has no asset check"


def test_every_asset_key_is_prefixed_by_its_layer():
    """`raw/orders`, `segments/segment_profiles`: the key's first part is the asset's group and
    its last part the table's name, for every asset and every check's target (README,
    "Asset keys")."""
    graph = defs.resolve_asset_graph()
    unprefixed = [
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if len(key.path) != 2 or key.path[0] != graph.get(key).group_name
    ]
    assert not unprefixed, f"keys without their group as prefix: {unprefixed}"
    assert {key.asset_key for key in graph.asset_check_keys} <= graph.get_all_asset_keys()
    assert dg.AssetKey(["segments", "segment_profiles"]) in graph.get_all_asset_keys()


def test_raw_assets_one_per_source_with_blocking_contract_check():
    graph = defs.resolve_asset_graph()
    raw = {
        k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).group_name == "raw"
    }
    assert raw == {f"raw/{name}" for name in SOURCES}
    specs = [spec for check in RAW_CHECKS for spec in check.check_specs]
    assert {s.asset_key.to_user_string() for s in specs} == {f"raw/{name}" for name in SOURCES}
    assert all(s.blocking and s.name == "meets_source_contract" for s in specs)


def test_every_asset_has_an_owner_a_layer_and_a_pii_tag():
    """Owners and tags come from one pass in definitions.py; `pii` says whether the table holds
    rows about one person (README, "Owners, PII tags and freshness")."""
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners and all(o.startswith("team:") for o in node.owners), key
        assert node.tags.get("layer") == node.group_name, key
        assert node.tags.get("pii") in ("true", "false"), key

    def pii(key: str) -> str:
        return graph.get(dg.AssetKey.from_user_string(key)).tags["pii"]

    # Names, emails, identifiers; identifier -> profile; per-person scores and feeds.
    for key in ("raw/crm_contacts", "identity/identity_map", "identity/profiles",
                "identity/identity_edges", "activation/activation_feeds"):  # fmt: skip
        assert pii(key) == "true", key
    # One row per segment, per candidate model or per source: aggregates.
    for key in ("segments/segment_profiles", "segments/segment_migration",
                "segmentation/segmentation_candidates", "identity/match_rate"):  # fmt: skip
        assert pii(key) == "false", key
    assert graph.get(dg.AssetKey(["segments", "segment_profiles"])).owners == ["team:growth"]
    assert graph.get(dg.AssetKey(["raw", "crm_contacts"])).owners == ["team:data-platform"]


def launchpad_fields(config_type, path: str):
    """Every field a user sees in the launchpad under `config_type`, with its path."""
    for name, field in (getattr(config_type, "fields", None) or {}).items():
        yield f"{path}.{name}", field
        yield from launchpad_fields(field.config_type, f"{path}.{name}")
    inner = getattr(config_type, "inner_type", None)  # Noneable, Array
    if inner is not None:
        yield from launchpad_fields(inner, path)


def test_every_launchpad_config_field_is_described_and_never_defaults_to_an_empty_string():
    """Every resource of the definitions and every op / asset config schema of every job:
    each field says what it means, and an unset value is null (None), not ''."""
    fields = []
    for key, resource in defs.resources.items():
        # A ConfigurableResource, or an old-style resource definition (published_outputs).
        definition = getattr(resource, "get_resource_definition", lambda r=resource: r)()
        schema = definition.config_schema
        fields += launchpad_fields(schema.config_type, f"resources.{key}.config")
    for job in defs.get_repository_def().get_all_jobs():
        for node_def in job.all_node_defs:
            if node_def.config_schema is not None and node_def.config_schema.config_type:
                path = f"{job.name}: ops.{node_def.name}.config"
                fields += launchpad_fields(node_def.config_schema.config_type, path)
    assert len(fields) > 50  # the walk reached the resources' fields
    undescribed = [path for path, field in fields if not (field.description or "").strip()]
    assert not undescribed, undescribed
    empty = [p for p, f in fields if f.default_provided and f.default_value == ""]
    assert not empty, empty
