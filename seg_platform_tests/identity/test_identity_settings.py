"""Identity rules from the sources.yaml's `identity:` section (issue 18): every setting of the
`identity` resource is accepted there, checked when the file is read, and a run's rules are
defaults < sources.yaml < launchpad."""

import json
import re
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from seg_platform.core.identity_rules import DEFAULT_LIMITS, IdentityRules
from seg_platform.core.resources import EngineResource, WarehouseResource
from seg_platform.core.tracking import MlflowResource
from seg_platform.core.warehouse import connect
from seg_platform.identity.assets import IDENTITY_ASSETS, IDENTITY_CHECKS, identity_graph
from seg_platform.sources.assets import RAW_ASSETS, RAW_CHECKS
from seg_platform.sources.config import SourceConfigError, load_sources_config
from seg_platform.sources.resources import IdentityConfig, SourcesResource
from seg_platform_tests.identity.person_records import read_febrl, write_crm_landing

FEBRL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "febrl"
needs_febrl = pytest.mark.skipif(not FEBRL.is_dir(), reason=f"febrl data not found at {FEBRL}")


def sources_yaml(folder: Path, identity: str) -> Path:
    """A sources.yaml with no source and the given `identity:` section (YAML text)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sources.yaml"
    path.write_text("version: 1\nsources: {}\nidentity:\n" + identity)
    return path


def with_identity(landing_yaml: Path, identity: str, name: str) -> Path:
    """A copy of a landing sources.yaml, next to it, with an `identity:` section appended."""
    path = landing_yaml.with_name(name)
    path.write_text(landing_yaml.read_text() + "identity:\n" + identity)
    return path


# --- Reading the section ------------------------------------------------------------------------


def test_every_setting_of_the_identity_resource_is_accepted(tmp_path):
    """The section's settings are the resource's fields: each, at its default, loads."""
    # JSON is YAML: each setting written as its default value
    lines = "".join(
        f"  {name}: {json.dumps(value)}\n" for name, value in IdentityConfig.defaults().items()
    )
    config = load_sources_config(sources_yaml(tmp_path, lines))
    assert set(config.identity) == set(IdentityConfig.model_fields)
    assert IdentityConfig().rules(config) == IdentityConfig().rules()


def test_values_from_the_file_reach_the_rules(tmp_path):
    path = sources_yaml(
        tmp_path,
        "  limits: {crm_id: 8, email: 2}\n"
        "  probabilistic_threshold: 0.97\n"
        "  dedup_max_cluster_size: 12\n"
        "  dedup_min_density: 0.5\n"
        "  dedup_blocking_rules: [[first_name, last_name], [date_of_birth]]\n"
        "  dedup_comparison_budget: 5000\n"
        "  max_refused_link_share: 0.3\n"
        '  extra_blocked: {email: ["@mycompany\\\\.test$"]}\n'
        "  default_phone_region: GB\n",
    )
    rules = IdentityConfig().rules(load_sources_config(path))
    assert rules.limits == {**DEFAULT_LIMITS, "crm_id": 8, "email": 2}
    assert rules.probabilistic_threshold == 0.97
    assert rules.dedup_max_cluster_size == 12
    assert rules.dedup_min_density == 0.5
    assert rules.dedup_blocking_rules == (("first_name", "last_name"), ("date_of_birth",))
    assert rules.dedup_comparison_budget == 5000
    assert rules.max_refused_link_share == 0.3
    assert rules.blocked_patterns("email")[-1] == r"@mycompany\.test$"
    assert rules.default_phone_region == "GB"
    # the other settings keep their defaults
    assert rules.match_rate_floor == IdentityRules().match_rate_floor
    assert rules.priority == IdentityRules().priority


def test_the_launchpad_beats_the_file_setting_by_setting(tmp_path):
    """Only settings given in the launchpad override the file; limits merge per type."""
    path = sources_yaml(
        tmp_path,
        "  limits: {crm_id: 8, email: 2}\n  probabilistic_threshold: 0.97\n"
        "  dedup_max_cluster_size: 12\n",
    )
    config = load_sources_config(path)
    launchpad = IdentityConfig(limits={"email": 4}, probabilistic_threshold=0.8)
    rules = launchpad.rules(config)
    assert rules.limits == {**DEFAULT_LIMITS, "crm_id": 8, "email": 4}
    assert rules.probabilistic_threshold == 0.8
    assert rules.dedup_max_cluster_size == 12
    # a launchpad value equal to the default still beats the file: it was set
    assert IdentityConfig(probabilistic_threshold=0.9).rules(config).probabilistic_threshold == 0.9
    assert IdentityConfig().rules(None) == IdentityRules()


# case: (the `identity:` section's text, how the message goes on after `<file>: `)
BAD_VALUES = {
    "unknown setting": (
        "  limit: {email: 2}\n",
        "identity.limit: unknown setting; the settings here are: priority, limits",
    ),
    "threshold zero": (
        "  probabilistic_threshold: 0\n",
        "identity.probabilistic_threshold: must be in (0, 1]",
    ),
    "threshold above one": (
        "  probabilistic_threshold: 1.5\n",
        "identity.probabilistic_threshold: must be in (0, 1]",
    ),
    "share negative": (
        "  max_refused_link_share: -0.1\n",
        "identity.max_refused_link_share: must be in (0, 1]",
    ),
    "density as text": (
        "  dedup_min_density: dense\n",
        "identity.dedup_min_density: Input should be a valid number",
    ),
    "size zero": (
        "  dedup_max_cluster_size: 0\n",
        "identity.dedup_max_cluster_size: must be a positive whole number",
    ),
    "size fractional": (
        "  max_component_size: 2.5\n",
        "identity.max_component_size: Input should be a valid integer",
    ),
    "budget negative": (
        "  dedup_comparison_budget: -5\n",
        "identity.dedup_comparison_budget: must be a positive whole number",
    ),
    "limit zero": (
        "  limits: {email: 0}\n",
        "identity.limits: email: must be a positive whole number",
    ),
    "limit of an unknown type": (
        "  limits: {fax: 2}\n",
        "identity.limits: 'fax' is not an identifier type",
    ),
    "limit as a list": (
        "  limits: [email, 2]\n",
        "identity.limits: Input should be a valid dictionary",
    ),
    "blocking rule empty": (
        "  dedup_blocking_rules: [[]]\n",
        "identity.dedup_blocking_rules.0: a blocking rule needs at least one column",
    ),
    "blocking rule not a list": (
        "  dedup_blocking_rules: [first_name]\n",
        "identity.dedup_blocking_rules.0: Input should be a valid list",
    ),
    "blocking on an unknown column": (
        "  dedup_blocking_rules: [[first_name, shoe_size]]\n",
        "identity.dedup_blocking_rules.0: 'shoe_size' is not a person column",
    ),
    "blocking on SQL": (
        '  dedup_blocking_rules: [["first_name = first_name OR 1=1 --"]]\n',
        "identity.dedup_blocking_rules.0: 'first_name = first_name OR 1=1 --' is not a person",
    ),
    "bad regular expression": (
        '  extra_blocked: {email: ["(unclosed"]}\n',
        "identity.extra_blocked: email: '(unclosed' is not a regular expression",
    ),
    "lookahead (not RE2)": (
        '  extra_blocked: {email: ["(?=x)"]}\n',
        "identity.extra_blocked: email: '(?=x)' is not a regular expression",
    ),
    "blocked of an unknown type": (
        '  extra_blocked: {fax: ["x"]}\n',
        "identity.extra_blocked: 'fax' is not an identifier type",
    ),
    "priority unknown": (
        "  priority: [email, fax]\n",
        "identity.priority: 'fax' is not an identifier type",
    ),
    "priority repeated": (
        "  priority: [email, email]\n",
        "identity.priority: 'email' is listed twice",
    ),
    "phone region": (
        '  default_phone_region: "US\'; DROP"\n',
        'identity.default_phone_region: "US\'; DROP" is not a region',
    ),
    "email domain": (
        '  dotless_email_domains: ["gmail.com\'"]\n',
        'identity.dotless_email_domains: "gmail.com\'" is not a domain name',
    ),
    "not a mapping": (
        "  - limits\n",
        "identity: Input should be a valid dictionary",
    ),
    "flag as text": (
        "  probabilistic: perhaps\n",
        "identity.probabilistic: Input should be a valid boolean",
    ),
}


@pytest.mark.parametrize("case", BAD_VALUES)
def test_a_bad_value_is_one_line_naming_the_file_and_the_setting(tmp_path, case):
    text, expected = BAD_VALUES[case]
    path = sources_yaml(tmp_path, text)
    with pytest.raises(SourceConfigError) as raised:
        load_sources_config(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: {expected}"), message
    assert "docs/identity.md" in message
    assert "Traceback" not in message and "pydantic" not in message
    assert len(message.splitlines()) == 1, message


def test_an_empty_section_is_no_setting(tmp_path):
    config = load_sources_config(sources_yaml(tmp_path, ""))
    assert config.identity == {}
    assert IdentityConfig().rules(config) == IdentityRules()


def test_a_bad_launchpad_value_is_named_as_such():
    with pytest.raises(SourceConfigError, match=re.escape(
        "launchpad: resources.identity.config.limits: email: must be a positive whole number"
    )):  # fmt: skip
        IdentityConfig(limits={"email": 0}).rules()


def test_every_setting_is_checked_and_documented():
    """Each setting is checked (types and ranges: they reach SQL and the graph) and described
    (the launchpad, docs/sources.md and docs/identity.md show it)."""
    from seg_platform.sources.config import identity_settings_table, unchecked_identity_settings

    assert unchecked_identity_settings() == []
    for name, field in IdentityConfig.model_fields.items():
        assert field.description, name
    identity_doc = (Path(__file__).resolve().parents[2] / "docs" / "identity.md").read_text()
    assert identity_settings_table() in identity_doc, "docs/identity.md: paste the new table"


# --- In a run -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def febrl_landing(tmp_path_factory):
    """About 380 Febrl 3 records of 150 persons as crm_contacts (a landing sources.yaml)."""
    frame = read_febrl(FEBRL / "dataset3.csv")
    small = frame.filter(pl.col("rec_id").str.extract(r"^rec-(\d+)-", 1).cast(pl.Int64) < 150).sort(
        "rec_id"
    )
    return write_crm_landing(small, tmp_path_factory.mktemp("febrl") / "landing")


def materialize(home, sources_yaml, identity=None, assets=None):
    assets = assets or [*RAW_ASSETS, *RAW_CHECKS, *IDENTITY_ASSETS, *IDENTITY_CHECKS]
    return dg.materialize(
        assets,
        resources={
            "warehouse": WarehouseResource(database=str(home.warehouse)),
            "sources": SourcesResource(config_path=str(sources_yaml)),
            "identity": identity or IdentityConfig(),
            "mlflow_tracking": MlflowResource(),
            "engine": EngineResource(),
        },
        raise_on_error=False,
    )


def identity_map_metadata(result) -> dict:
    (event,) = [
        m for m in result.get_asset_materialization_events()
        if m.asset_key == dg.AssetKey(["identity", "identity_map"])
    ]  # fmt: skip
    return event.materialization.metadata


def limits_seen_by_check(result) -> dict:
    (check,) = [
        c for c in result.get_asset_check_evaluations()
        if c.check_name == "profiles_within_identifier_limits"
    ]  # fmt: skip
    return check.metadata["threshold"].value


@needs_febrl
def test_the_file_reaches_the_run_and_the_launchpad_beats_it(home, febrl_landing):
    """`probabilistic: false` in the file turns the duplicate model off and its limits reach the
    blocking check; `probabilistic: true` in the launchpad turns the model back on, the file's
    limits still apply. Before: `identity:` was an unknown setting and every raw step failed."""
    yaml = with_identity(
        febrl_landing, "  probabilistic: false\n  limits: {email: 2, crm_id: 9}\n", "off.yaml"
    )
    off = materialize(home, yaml)
    assert off.success, [e.message for e in off.get_step_failure_events()]
    assert identity_map_metadata(off)["probabilistic_links"].value == 0
    assert "mlflow_run" not in identity_map_metadata(off)  # no model, no MLflow run
    assert limits_seen_by_check(off) == {**DEFAULT_LIMITS, "email": 2, "crm_id": 9}

    on = materialize(home, yaml, IdentityConfig(probabilistic=True, limits={"email": 3}))
    assert on.success, [e.message for e in on.get_step_failure_events()]
    assert identity_map_metadata(on)["probabilistic_links"].value > 100
    blocking = identity_map_metadata(on)["duplicate_model_blocking"].value
    both_names = "least(first_name, last_name) & greatest(first_name, last_name)"
    assert {both_names, "last_name"} <= set(blocking["rules"])
    assert limits_seen_by_check(on) == {**DEFAULT_LIMITS, "email": 3, "crm_id": 9}
    settings = identity_map_metadata(on)["identity_settings"].value
    assert settings["probabilistic"] == {"value": True, "from": "launchpad"}
    assert settings["limits"]["from"] == "sources.yaml, launchpad"


def test_a_bad_value_in_the_file_fails_the_identity_step_as_a_user_error(home, tmp_path):
    """Dagster's `Failure` with the file's line (no traceback), before the warehouse is read."""
    path = sources_yaml(tmp_path, "  dedup_blocking_rules: [[first_name, shoe_size]]\n")
    result = materialize(home, path, assets=[identity_graph])
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert failure.step_failure_data.error.cls_name == "Failure"
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith(f"{path}: identity.dedup_blocking_rules.0: 'shoe_size'")
    assert "Traceback" not in description


def test_a_bad_launchpad_value_fails_the_identity_step_as_a_user_error(home, tmp_path):
    path = sources_yaml(tmp_path, "")
    result = materialize(
        home, path, IdentityConfig(probabilistic_threshold=1.5), assets=[identity_graph]
    )
    (failure,) = result.get_step_failure_events()
    assert failure.step_failure_data.error.cls_name == "Failure"
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith(
        "launchpad: resources.identity.config.probabilistic_threshold: must be in (0, 1]"
    ), description


def test_erasure_requests_are_normalised_with_the_files_rules(home, tmp_path):
    """An erasure request finds the person when the file changes how emails are normalised
    (`strip_plus_tags: false`): the raw step hashes the request with the rules identity_graph
    uses. Before, it hashed with the defaults (`ann@mail.org`), which matched nothing the
    identity layer stored (`ann+shop@mail.org`), so erasure found no one."""
    from seg_platform.privacy.erasure import ensure_tables, find_erased

    landing = tmp_path / "landing"
    (landing / "crm").mkdir(parents=True)
    (landing / "crm" / "contacts.csv").write_text(
        "crm_id,email,created_at\nc1,Ann+Shop@mail.org,2024-01-01\nc2,bo@mail.org,2024-01-01\n"
    )
    (landing / "erasure.csv").write_text(
        "request_id,requested_at,email\nr1,2024-05-01,ann+shop@mail.org\n"
    )
    contacts = "  crm_contacts: {path: crm/*.csv}\n"
    erasure = "  erasure_requests: {path: erasure.csv}\n"
    rules = "identity:\n  strip_plus_tags: false\n"
    first, second = landing / "first.yaml", landing / "second.yaml"
    first.write_text(f"version: 1\nsources:\n{contacts}{rules}")
    second.write_text(f"version: 1\nsources:\n{contacts}{erasure}{rules}")
    # the contact is loaded and resolved first; the request arrives later
    assert materialize(home, first, assets=[*RAW_ASSETS, identity_graph]).success
    erasure_step = [a for a in RAW_ASSETS if a.key == dg.AssetKey(["raw", "erasure_requests"])]
    assert materialize(home, second, assets=erasure_step).success
    with connect(home.warehouse) as con:
        assert con.execute(
            "SELECT value FROM identity.identity_map WHERE id_type = 'email' ORDER BY value"
        ).fetchall() == [("ann+shop@mail.org",), ("bo@mail.org",)]
        assert find_erased(con, ensure_tables(con)) == 1
    # the erasure step itself deletes the person; a bad launchpad value there is a user error
    # (before: the erasure step read the rules without the file, and raised a traceback)
    bad = erase_step(home, second, IdentityConfig(probabilistic_threshold=1.5))
    (failure,) = bad.get_step_failure_events()
    assert failure.step_failure_data.error.cls_name == "Failure"
    assert failure.step_failure_data.user_failure_data.description.startswith(
        "launchpad: resources.identity.config.probabilistic_threshold"
    )
    erased = erase_step(home, second, IdentityConfig())
    assert erased.success, [e.message for e in erased.get_step_failure_events()]
    with connect(home.warehouse) as con:
        assert con.execute(
            "SELECT value FROM identity.identity_map WHERE id_type = 'email' ORDER BY value"
        ).fetchall() == [("bo@mail.org",)]


def erase_step(home, sources_yaml, identity):
    from seg_platform.activation.resources import ActivationConfig, published_outputs
    from seg_platform.privacy.assets import erasure

    return dg.materialize(
        [erasure],
        resources={
            "warehouse": WarehouseResource(database=str(home.warehouse)),
            "sources": SourcesResource(config_path=str(sources_yaml)),
            "identity": identity,
            "activation": ActivationConfig(),
            "published_outputs": published_outputs,
            "mlflow_tracking": MlflowResource(),
            "engine": EngineResource(),
        },
        raise_on_error=False,
    )
