"""Reading the activation YAML files teams edit: destinations (feeds) and surveys (triggers).

Every mistake is an `ActivationConfigError` naming the file and the entry, raised before
anything is written; conditions are parsed with sqlglot against the month's signals.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from seg_platform.predictions.overlays import Family, OverlayError, Rule, check_columns
from seg_platform.sources.contract import CONSENT_CHANNELS
from seg_platform.yaml_files import read_yaml

DEFAULT_DESTINATIONS = Path(__file__).with_name("destinations.yaml")
DEFAULT_SURVEYS = Path(__file__).with_name("surveys.yaml")
NAME = r"^[a-z][a-z0-9_]*$"
RAW_IDENTIFIERS = ("email", "phone", "user_id", "crm_id")
HASHED_IDENTIFIERS = ("email_sha256", "phone_sha256")
IDENTIFIERS = RAW_IDENTIFIERS + HASHED_IDENTIFIERS


class ActivationConfigError(ValueError):
    """A destinations or surveys file is not usable; the message names the file and entry."""


@dataclass(frozen=True)
class Destination:
    name: str
    consent_channel: str
    segments: tuple[str, ...] | None  # action channels; None = every segment
    overlays: dict[str, str]  # "family/name" -> action
    identifiers: tuple[str, ...]
    requires_opt_in: bool = False
    hashed_only: bool = False


@dataclass(frozen=True)
class Survey:
    id: str
    question: str
    trigger: str
    when: str
    segments: tuple[str, ...] | None = None  # segment themes; None = every segment
    cooldown_days: int = 90


def load_destinations(path: str | Path | None = None) -> list[Destination]:
    """The destinations of a file (the embedded default when `path` is empty)."""
    path = Path(path) if path else DEFAULT_DESTINATIONS
    data = read_yaml(path, ActivationConfigError, "destinations")
    body = (data or {}).get("destinations") if isinstance(data, dict) else None
    if not isinstance(body, dict) or not body:
        raise ActivationConfigError(f"{path}: expected a mapping `destinations:` of name -> feed")
    out = []
    for name, spec in body.items():
        where = f"{path}: destinations.{name}"
        if not re.match(NAME, str(name)) or not isinstance(spec, dict):
            raise ActivationConfigError(f"{where}: expected a lower_case name with settings")
        unknown = set(spec) - {
            "consent_channel", "segments", "overlays", "identifiers", "requires_opt_in",
            "hashed_only",
        }  # fmt: skip
        if unknown:
            raise ActivationConfigError(f"{where}: unknown setting(s) {sorted(unknown)}")
        channel = spec.get("consent_channel")
        if channel not in CONSENT_CHANNELS or channel == "all":
            raise ActivationConfigError(
                f"{where}: consent_channel must be one of "
                f"{', '.join(c for c in CONSENT_CHANNELS if c != 'all')}, not {channel!r}"
            )
        segments = spec.get("segments", "all")
        if segments != "all" and not (
            isinstance(segments, list) and all(isinstance(s, str) for s in segments)
        ):
            raise ActivationConfigError(
                f"{where}: segments must be `all` or a list of action channels"
            )
        overlays = spec.get("overlays") or {}
        if not isinstance(overlays, dict) or not all(
            re.match(r"^[a-z0-9_]+/[a-z0-9_]+$", str(k)) and isinstance(v, str)
            for k, v in overlays.items()
        ):
            raise ActivationConfigError(f"{where}: overlays must map `family/name` to an action")
        identifiers = spec.get("identifiers")
        if not isinstance(identifiers, list) or not identifiers:
            raise ActivationConfigError(f"{where}: identifiers must list at least one column")
        bad = [i for i in identifiers if i not in IDENTIFIERS]
        if bad:
            raise ActivationConfigError(
                f"{where}: unknown identifier(s) {bad}; use {', '.join(IDENTIFIERS)}"
            )
        hashed_only = bool(spec.get("hashed_only", False))
        raw = [i for i in identifiers if i in RAW_IDENTIFIERS]
        if hashed_only and raw:
            raise ActivationConfigError(
                f"{where}: hashed_only destinations may not receive raw {raw}; use "
                f"{', '.join(HASHED_IDENTIFIERS)}"
            )
        out.append(
            Destination(
                name=str(name),
                consent_channel=channel,
                segments=None if segments == "all" else tuple(segments),
                overlays={str(k): v for k, v in overlays.items()},
                identifiers=tuple(identifiers),
                requires_opt_in=bool(spec.get("requires_opt_in", False)),
                hashed_only=hashed_only,
            )
        )
    return out


def load_surveys(path: str | Path | None = None) -> list[Survey]:
    """The surveys of a file (the embedded default when `path` is empty)."""
    path = Path(path) if path else DEFAULT_SURVEYS
    data = read_yaml(path, ActivationConfigError, "surveys")
    body = (data or {}).get("surveys") if isinstance(data, dict) else None
    if not isinstance(body, list) or not body:
        raise ActivationConfigError(f"{path}: expected a list `surveys:`")
    out = []
    for i, spec in enumerate(body):
        where = f"{path}: surveys[{i}]"
        if not isinstance(spec, dict) or not all(spec.get(k) for k in ("id", "question", "when")):
            raise ActivationConfigError(f"{where}: each survey needs `id`, `question` and `when`")
        if not re.match(NAME, str(spec["id"])):
            raise ActivationConfigError(f"{where}: id {spec['id']!r} must be lower_case")
        segments = spec.get("segments")
        out.append(
            Survey(
                id=str(spec["id"]),
                question=str(spec["question"]),
                trigger=str(spec.get("trigger") or spec["when"]),
                when=str(spec["when"]),
                segments=tuple(segments) if segments else None,
                cooldown_days=int(spec.get("cooldown_days", 90)),
            )
        )
    ids = [s.id for s in out]
    if len(set(ids)) != len(ids):
        raise ActivationConfigError(f"{path}: survey ids repeat: {ids}")
    return out


def check_survey_columns(surveys: list[Survey], columns: list[str], path=None) -> None:
    """Every survey's `when` parses and names only columns of the month's signals."""
    family = Family("surveys", tuple(Rule(s.id, s.when) for s in surveys), False, None)
    try:
        check_columns([family], columns, Path(path) if path else DEFAULT_SURVEYS)
    except OverlayError as exc:
        raise ActivationConfigError(str(exc).replace("families.surveys, rule", "survey")) from None
