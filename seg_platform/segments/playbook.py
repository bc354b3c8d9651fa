"""The playbook: which one action each segment triggers, from a YAML file teams can edit."""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from seg_platform.yaml_files import (
    NAME_PATTERN,
    NAME_RULE,
    ConfigFileError,
    Name,
    StrictModel,
    load_model,
)

DEFAULT_PLAYBOOK = Path(__file__).with_name("playbook.yaml")
ACTION_TYPES = ("message", "in_app_prompt", "survey_question", "sales_routing")


class PlaybookError(ConfigFileError):
    """The playbook file is not usable; the message names the file and the entry."""


def _check_key(key: str) -> str:
    if not re.fullmatch(rf"{NAME_PATTERN}(\+high_value)?", key):
        raise ValueError(f"{key!r} is not a theme ({NAME_RULE}), optionally with `+high_value`")
    return key


class ActionSpec(StrictModel):
    type: Literal[ACTION_TYPES]
    channel: Name
    text: str = Field(min_length=1)


class PlaybookFile(StrictModel):
    version: Literal[1] = 1
    actions: dict[Annotated[str, AfterValidator(_check_key)], ActionSpec] = Field(min_length=1)

    @field_validator("actions")
    @classmethod
    def _has_default(cls, actions: dict[str, ActionSpec]) -> dict[str, ActionSpec]:
        if "default" not in actions:
            raise ValueError("`default` is required (the action of segments no theme matches)")
        return actions


@dataclass(frozen=True)
class Action:
    key: str  # the playbook entry it came from
    type: str
    channel: str
    text: str


def load_playbook(path: str | Path | None = None) -> dict[str, Action]:
    """Read and validate a playbook (the embedded default when `path` is empty)."""
    path = Path(path) if path else DEFAULT_PLAYBOOK
    spec = load_model(path, PlaybookFile, PlaybookError, "playbook")
    return {
        key: Action(key, entry.type, entry.channel, entry.text)
        for key, entry in spec.actions.items()
    }


def action_for(playbook: dict[str, Action], theme: str, high_value: bool) -> Action:
    """The segment's action: '<theme>+high_value', then '<theme>', then 'default'."""
    for key in ([f"{theme}+high_value"] if high_value else []) + [theme, "default"]:
        if key in playbook:
            return playbook[key]
    raise AssertionError("load_playbook guarantees a default")  # pragma: no cover
