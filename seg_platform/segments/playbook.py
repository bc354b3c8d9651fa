"""The playbook: which one action each segment triggers, from a YAML file teams can edit."""

from dataclasses import dataclass
from pathlib import Path

from seg_platform.yaml_files import read_yaml

DEFAULT_PLAYBOOK = Path(__file__).with_name("playbook.yaml")
ACTION_TYPES = ("message", "in_app_prompt", "survey_question", "sales_routing")


class PlaybookError(ValueError):
    """The playbook file is not usable; the message names the file and the entry."""


@dataclass(frozen=True)
class Action:
    key: str  # the playbook entry it came from
    type: str
    channel: str
    text: str


def load_playbook(path: str | Path | None = None) -> dict[str, Action]:
    """Read and validate a playbook (the embedded default when `path` is empty)."""
    path = Path(path) if path else DEFAULT_PLAYBOOK
    data = read_yaml(path, PlaybookError, "playbook")
    entries = (data or {}).get("actions") if isinstance(data, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise PlaybookError(f"{path}: expected a mapping `actions:` of theme -> action")
    actions = {}
    for key, entry in entries.items():
        if not isinstance(entry, dict):
            raise PlaybookError(f"{path}: actions.{key}: expected type, channel and text")
        missing = [f for f in ("type", "channel", "text") if not entry.get(f)]
        if missing:
            raise PlaybookError(f"{path}: actions.{key}: missing {', '.join(missing)}")
        if entry["type"] not in ACTION_TYPES:
            raise PlaybookError(
                f"{path}: actions.{key}: type {entry['type']!r} is not one of "
                f"{', '.join(ACTION_TYPES)}"
            )
        actions[str(key)] = Action(str(key), entry["type"], str(entry["channel"]), entry["text"])
    if "default" not in actions:
        raise PlaybookError(f"{path}: actions.default is required (segments no theme matches)")
    return actions


def action_for(playbook: dict[str, Action], theme: str, high_value: bool) -> Action:
    """The segment's action: '<theme>+high_value', then '<theme>', then 'default'."""
    for key in ([f"{theme}+high_value"] if high_value else []) + [theme, "default"]:
        if key in playbook:
            return playbook[key]
    raise AssertionError("load_playbook guarantees a default")  # pragma: no cover
