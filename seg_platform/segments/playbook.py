"""The playbook: which one action each segment triggers, from a YAML file teams can edit.

An action is only chosen when its channel can reach the segment: enough of its members carry
an identifier that channel delivers to (email for email, an app user id for in-app, ...) and
have not opted out of it. Otherwise the entry's `otherwise` action is tried, then the next
entry of the lookup; when no channel reaches the segment, its action says so plainly.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field, field_validator, model_validator

from seg_platform.core.yaml_files import (
    NAME_PATTERN,
    NAME_RULE,
    ConfigFileError,
    Name,
    StrictModel,
    load_model,
)
from seg_platform.sources.contract import CONSENT_CHANNELS

DEFAULT_PLAYBOOK = Path(__file__).with_name("playbook.yaml")
ACTION_TYPES = ("message", "in_app_prompt", "survey_question", "sales_routing")
# Identifiers a channel can deliver to (the identity graph's id types that reach a person).
REACH_IDENTIFIERS = ("email", "phone", "user_id", "crm_id")
NO_CHANNEL = "none"  # action_channel of a segment no channel reaches
DEFAULT_MIN_REACHABLE_SHARE = 0.05


class PlaybookError(ConfigFileError):
    """The playbook file is not usable; the message names the file and the entry."""


def _check_key(key: str) -> str:
    if not re.fullmatch(rf"{NAME_PATTERN}(\+high_value)?", key):
        raise ValueError(f"{key!r} is not a theme ({NAME_RULE}), optionally with `+high_value`")
    return key


class ActionSpec(StrictModel):
    type: Literal[ACTION_TYPES]  # type: ignore[valid-type]  # the tuple, read by pydantic
    channel: Name
    text: str = Field(min_length=1)
    # Tried when `channel` reaches too few of the segment's members.
    otherwise: Optional["ActionSpec"] = None


class ChannelSpec(StrictModel):
    """What reaches a customer on an action channel: any one of `identifiers`, and no
    opt-out (latest change) of the consent channel `consent` or of `all`."""

    # Literal of the tuples (pydantic reads them at run time; mypy cannot).
    identifiers: tuple[Literal[REACH_IDENTIFIERS], ...] = Field(min_length=1)  # type: ignore[valid-type]
    consent: Literal[tuple(c for c in CONSENT_CHANNELS if c != "all")]  # type: ignore[valid-type]


DEFAULT_CHANNELS = {
    "email": ChannelSpec(identifiers=("email",), consent="email"),
    "in_app": ChannelSpec(identifiers=("user_id",), consent="in_app"),
    "sales": ChannelSpec(identifiers=("crm_id", "email", "phone"), consent="crm"),
}


class PlaybookFile(StrictModel):
    version: Literal[1] = 1
    actions: dict[Annotated[str, AfterValidator(_check_key)], ActionSpec] = Field(min_length=1)
    channels: dict[Name, ChannelSpec] = Field(default_factory=lambda: dict(DEFAULT_CHANNELS))
    min_reachable_share: float = Field(DEFAULT_MIN_REACHABLE_SHARE, gt=0, le=1)

    @field_validator("actions")
    @classmethod
    def _has_default(cls, actions: dict[str, ActionSpec]) -> dict[str, ActionSpec]:
        if "default" not in actions:
            raise ValueError("`default` is required (the action of segments no theme matches)")
        return actions

    @model_validator(mode="after")
    def _channels_known(self) -> "PlaybookFile":
        for key, first in self.actions.items():
            spec: ActionSpec | None = first
            while spec is not None:
                if spec.channel not in self.channels:
                    raise ValueError(
                        f"actions.{key}: channel {spec.channel!r} is not under `channels` "
                        f"(known: {', '.join(sorted(self.channels))}); say which identifiers "
                        "reach a customer there"
                    )
                spec = spec.otherwise
        return self


@dataclass(frozen=True)
class Action:
    key: str  # the playbook entry it came from
    type: str
    channel: str  # NO_CHANNEL when nothing reaches the segment
    text: str
    otherwise: "Action | None" = None
    reachable_share: float | None = None  # of the segment, on `channel`; None: not measured

    @property
    def deliverable(self) -> bool:
        return self.channel != NO_CHANNEL


class Playbook(dict[str, Action]):
    """Entry key -> action, with the channels' reach rules of the same file."""

    def __init__(self, actions, channels: dict[str, ChannelSpec], min_reachable_share: float):
        super().__init__(actions)
        self.channels = channels
        self.min_reachable_share = min_reachable_share


def _action(key: str, spec: ActionSpec | None) -> Action | None:
    if spec is None:
        return None
    return Action(key, spec.type, spec.channel, spec.text, _action(key, spec.otherwise))


def load_playbook(path: str | Path | None = None) -> Playbook:
    """Read and validate a playbook (the embedded default when `path` is empty)."""
    path = Path(path) if path else DEFAULT_PLAYBOOK
    spec = load_model(path, PlaybookFile, PlaybookError, "playbook")
    actions = {key: _action(key, entry) for key, entry in spec.actions.items()}
    return Playbook(actions, dict(spec.channels), spec.min_reachable_share)


def action_for(
    playbook: dict[str, Action],
    theme: str,
    high_value: bool,
    reach: dict[str, float] | None = None,
) -> Action:
    """The segment's action: '<theme>+high_value', then '<theme>', then 'default', each with
    its `otherwise` actions; the first whose channel reaches at least the playbook's
    `min_reachable_share` of the segment (`reach`: channel -> share; None: not measured, the
    first action wins). When no channel reaches it, the preferred action, marked as not
    deliverable (channel NO_CHANNEL) with the reach measured in its text."""
    keys = [k for k in ([f"{theme}+high_value"] if high_value else []) + [theme, "default"]
            if k in playbook]  # fmt: skip
    if not keys:
        raise AssertionError("load_playbook guarantees a default")  # pragma: no cover
    if reach is None:
        return playbook[keys[0]]
    floor = getattr(playbook, "min_reachable_share", DEFAULT_MIN_REACHABLE_SHARE)
    for key in keys:
        action: Action | None = playbook[key]
        while action is not None:
            share = reach.get(action.channel, 0.0)
            if share >= floor:
                return Action(key, action.type, action.channel, action.text, None, share)
            action = action.otherwise
    preferred = playbook[keys[0]]
    measured = ", ".join(f"{c} {s:.0%}" for c, s in sorted(reach.items())) or "none measured"
    return Action(
        preferred.key, preferred.type, NO_CHANNEL,
        f"No reachable channel (members reachable with consent: {measured}; at least "
        f"{floor:.0%} needed). Intended: {preferred.text}",
        None, 0.0,
    )  # fmt: skip
