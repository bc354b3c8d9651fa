"""Dagster resources of the sources.yaml: where the landing files are, and the identity rules.

The identity rules sit here, not in `identity/`, because the raw layer is the first to read them
(it normalises identifiers of erased people and of pseudonymised sources as identity does), and
the sources.yaml's `identity:` section carries them; privacy and identity read them too.
"""

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from seg_platform.core import settings
from seg_platform.core.identity_rules import IdentityRules, IdentitySettings, rules_from_settings
from seg_platform.sources.config import (
    LAUNCHPAD,
    LAUNCHPAD_PREFIX,
    MERGED_PER_TYPE,
    SourcesConfig,
    check_identity_settings,
    load_sources_config,
)


class SourcesResource(dg.ConfigurableResource):
    """The sources.yaml: `config_path`, else $SEG_PLATFORM_SOURCES, else the home's sample;
    `full_reload` (launchpad: `resources.sources.config.full_reload: true`, CLI: `seg-platform
    run --full-reload`) rebuilds the raw tables from every file instead of the changed ones."""

    config_path: str | None = Field(
        default=None,
        description="The sources.yaml describing the landing files. Unset: $SEG_PLATFORM_SOURCES, "
        "else the platform home's sample.",
    )

    full_reload: bool = Field(
        default=False,
        description="Rebuild every raw table from all its landing files. Unset: read only the "
        "files that are new or changed since the last load (the ledger in raw.source_files).",
    )

    @property
    def path(self) -> Path:
        return settings.sources_config_path(self.config_path or None)

    def load(self) -> SourcesConfig:
        return load_sources_config(self.path)


class IdentityConfig(dg.ConfigurableResource, IdentitySettings):
    """Identity resolution rules (see docs/identity.md); every field has a sensible default.

    The fields are `core.identity_rules.IdentitySettings` (their meanings and defaults are
    written there). Each can also be set in the sources.yaml's `identity:` section. A run's
    rules are the defaults, then the sources.yaml, then the fields set here (the Dagster
    launchpad, under `resources.identity.config`, e.g. `probabilistic: false` or `limits:
    {email: 3}`); a field left empty (null) here keeps the file's value or the default.
    `rules(sources)` merges them.
    """

    def launchpad_settings(self) -> dict[str, Any]:
        """The settings given to this resource (the launchpad, or in code), checked like the
        file's: a mistake raises `SourceConfigError` naming `resources.identity.config.<..>`."""
        given = {n: getattr(self, n) for n in IdentitySettings.model_fields}
        given = {n: v for n, v in given.items() if v is not None}
        return check_identity_settings(given, LAUNCHPAD, prefix=LAUNCHPAD_PREFIX)

    def settings(self, sources: SourcesConfig | None = None) -> dict[str, tuple[Any, str]]:
        """Every setting's value for a run and where it came from: `default`, `sources.yaml`
        or `launchpad` (both, comma-separated, for `limits` and `extra_blocked`, which merge
        per identifier type; any other setting given later replaces the earlier value)."""
        values, origins = self.defaults(), {}
        layers = (
            ("sources.yaml", sources.identity if sources is not None else {}),
            (LAUNCHPAD, self.launchpad_settings()),
        )
        for origin, layer in layers:
            for name, value in layer.items():
                merge = name in MERGED_PER_TYPE
                values[name] = {**values[name], **value} if merge else value
                origins[name] = [*origins.get(name, []), origin] if merge else [origin]
        return {n: (v, ", ".join(origins.get(n, ["default"]))) for n, v in values.items()}

    def rules(self, sources: SourcesConfig | None = None) -> IdentityRules:
        """The rules of a run: defaults < the sources.yaml's `identity:` section (when `sources`
        is given) < this resource's settings."""
        return rules_from_settings({n: v for n, (v, _) in self.settings(sources).items()})
