"""Reading the activation YAML files teams edit: destinations (feeds) and surveys (triggers).

Both are typed pydantic models (seg_platform.core.yaml_files): every mistake is an
`ActivationConfigError`, one `<file>: <dotted.path>: <what is wrong>` line each, raised before
anything is written. Names (destinations, survey ids, channels, themes) must be lower_case
identifiers; conditions are checked with sqlglot against the month's signals.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from seg_platform.activation.destinations import DEFAULT_KIND, DESTINATION_KINDS
from seg_platform.core.yaml_files import (
    NAME_PATTERN,
    NAME_RULE,
    ConfigFileError,
    Name,
    StrictModel,
    load_model,
)
from seg_platform.predictions.overlays import Condition, check_conditions
from seg_platform.sources.contract import CONSENT_CHANNELS

DEFAULT_DESTINATIONS = Path(__file__).with_name("destinations.yaml")
DEFAULT_SURVEYS = Path(__file__).with_name("surveys.yaml")
RAW_IDENTIFIERS = ("email", "phone", "user_id", "crm_id")
HASHED_IDENTIFIERS = ("email_sha256", "phone_sha256")
IDENTIFIERS = RAW_IDENTIFIERS + HASHED_IDENTIFIERS
CHANNELS = tuple(c for c in CONSENT_CHANNELS if c != "all")


class ActivationConfigError(ConfigFileError):
    """A destinations or surveys file is not usable; the message names the file and entry."""


def _check_overlay_key(key: str) -> str:
    if not re.fullmatch(rf"{NAME_PATTERN}/{NAME_PATTERN}", key):
        raise ValueError(f"{key!r} is not `family/name`, each {NAME_RULE}")
    return key


def _all_or_list(value):
    """`all` (or nothing) means every segment: None."""
    if value is None or value == "all":
        return None
    if not isinstance(value, list):
        raise ValueError(f"must be `all` or a list of names, not {value!r}")
    return value


def _empty_mapping(value):
    return {} if value is None else value


def _check_kind(kind: str) -> str:
    # Read at validation time, so a kind registered after import (a plugin, a test) is known.
    if kind not in DESTINATION_KINDS:
        raise ValueError(
            f"unknown destination kind {kind!r}; `kind` is one of {', '.join(DESTINATION_KINDS)}"
        )
    return kind


OverlayKey = Annotated[str, AfterValidator(_check_overlay_key)]
Text = Annotated[str, Field(min_length=1)]


class DestinationSpec(StrictModel):
    # Literal of the tuples (pydantic reads them at run time; mypy cannot).
    consent_channel: Literal[CHANNELS]  # type: ignore[valid-type]
    segments: Annotated[tuple[Name, ...] | None, BeforeValidator(_all_or_list)] = None
    overlays: Annotated[dict[OverlayKey, Text], BeforeValidator(_empty_mapping)] = {}
    identifiers: tuple[Literal[IDENTIFIERS], ...] = Field(min_length=1)  # type: ignore[valid-type]
    requires_opt_in: bool = False
    hashed_only: bool = False
    kind: Annotated[str, AfterValidator(_check_kind)] = DEFAULT_KIND

    @model_validator(mode="after")
    def _hashed_only_is_hashed(self) -> "DestinationSpec":
        raw = [i for i in self.identifiers if i in RAW_IDENTIFIERS]
        if self.hashed_only and raw:
            raise ValueError(
                f"hashed_only destinations may not receive raw {raw}; use "
                f"{', '.join(HASHED_IDENTIFIERS)}"
            )
        return self


class DestinationsFile(StrictModel):
    version: Literal[1] = 1
    destinations: dict[Name, DestinationSpec] = Field(min_length=1)


class SurveySpec(StrictModel):
    id: Name
    question: Text
    trigger: str | None = None  # what is reported; default: the condition
    when: Condition
    segments: Annotated[tuple[Name, ...] | None, BeforeValidator(_all_or_list)] = None
    cooldown_days: int = Field(90, ge=0, le=3650)


class SurveysFile(StrictModel):
    version: Literal[1] = 1
    surveys: list[SurveySpec] = Field(min_length=1)

    @field_validator("surveys")
    @classmethod
    def _ids_unique(cls, surveys: list[SurveySpec]) -> list[SurveySpec]:
        ids = [s.id for s in surveys]
        if len(set(ids)) != len(ids):
            raise ValueError(f"survey ids repeat: {ids}")
        return surveys


@dataclass(frozen=True)
class Destination:
    name: str
    consent_channel: str
    segments: tuple[str, ...] | None  # action channels; None = every segment
    overlays: dict[str, str]  # "family/name" -> action
    identifiers: tuple[str, ...]
    requires_opt_in: bool = False
    hashed_only: bool = False
    kind: str = DEFAULT_KIND  # destinations.DESTINATION_KINDS: where its feed goes


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
    spec = load_model(path, DestinationsFile, ActivationConfigError, "destinations")
    return [
        Destination(
            name=name,
            consent_channel=d.consent_channel,
            segments=d.segments,
            overlays=dict(d.overlays),
            identifiers=tuple(d.identifiers),
            requires_opt_in=d.requires_opt_in,
            hashed_only=d.hashed_only,
            kind=d.kind,
        )
        for name, d in spec.destinations.items()
    ]


def load_surveys(path: str | Path | None = None) -> list[Survey]:
    """The surveys of a file (the embedded default when `path` is empty)."""
    path = Path(path) if path else DEFAULT_SURVEYS
    spec = load_model(path, SurveysFile, ActivationConfigError, "surveys")
    return [
        Survey(
            id=s.id,
            question=s.question,
            trigger=s.trigger or s.when,
            when=s.when,
            segments=s.segments,
            cooldown_days=s.cooldown_days,
        )
        for s in spec.surveys
    ]


def check_survey_columns(surveys: list[Survey], columns: list[str], path=None) -> None:
    """Every survey's `when` is an allowed condition naming only columns of the signals."""
    path = Path(path) if path else DEFAULT_SURVEYS
    conditions = [(f"surveys[{i}].when", s.when) for i, s in enumerate(surveys)]
    check_conditions(conditions, columns, path, ActivationConfigError)
