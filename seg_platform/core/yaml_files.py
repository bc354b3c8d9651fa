"""Reading the YAML files teams edit (destinations, surveys, overlays, playbook) into typed
pydantic models: one reader, one error format (`<file>: <dotted.path>: <what is wrong>`, one
line per mistake), and the one name pattern every name from YAML must match.

Names from these files end up in SQL (as values, view names, feed file names), so they are
checked here, when the file is read, and quoted again where they reach SQL (`sql_string`).
"""

import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

NAME_PATTERN = r"[a-z][a-z0-9_]{0,62}"
NAME_RULE = "a lower_case name: a letter a-z, then letters, digits or _, at most 63 characters"


class ConfigFileError(ValueError):
    """A YAML file teams edit is not usable; the message names the file and the entry."""


def check_name(value: str) -> str:
    """`value` if it matches NAME_PATTERN entirely (no trailing newline either), else ValueError."""
    if not isinstance(value, str) or not re.fullmatch(NAME_PATTERN, value):
        raise ValueError(f"{value!r} is not {NAME_RULE}")
    return value


Name = Annotated[str, AfterValidator(check_name)]


class StrictModel(BaseModel):
    """A section of a YAML file: unknown settings are mistakes, values never change after."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path, error: type[Exception], what: str):
    """The parsed file, or `error` saying which file could not be read or parsed."""
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "top level"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{path}: {where}: not valid YAML: {problem}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text ({exc.reason}); save the file as UTF-8") from None


def load_model(path: Path, model: type[M], error: type[Exception], what: str) -> M:
    """Read `path` and validate it as `model`; every mistake one line of `error`'s message."""
    data = read_yaml(path, error, what)
    if not isinstance(data, dict):
        fields = ", ".join(f"`{f}:`" for f in model.model_fields if f != "version")
        raise error(f"{path}: top level: the {what} file must be a mapping with {fields}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(format_errors(path, exc, model)) from None


def format_errors(path: Path, exc: ValidationError, model: type[BaseModel]) -> str:
    """One `<file>: <dotted.path>: <what is wrong>` line per error, without pydantic's URLs."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        key_error = bool(loc) and loc[-1] == "[key]"
        if key_error:
            loc = loc[:-1]
        where = dotted(loc) or "top level"
        lines.append(f"{path}: {where}: {_message(err, loc, model, key_error)}")
    return "\n".join(dict.fromkeys(lines))


def dotted(loc: list) -> str:
    """('families', 'intent', 'rules', 0, 'name') -> 'families.intent.rules[0].name'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)  # a name with a newline would break the one-line format
            out += ("." if out else "") + (text if text.isprintable() else repr(text))
    return out


def _message(err: Mapping[str, Any], loc: list, model: type[BaseModel], key_error: bool) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        allowed = ", ".join(parent.model_fields) if parent else ""
        return "unknown setting" + (f"; the settings here are: {allowed}" if allowed else "")
    if kind == "missing":
        return "required, but missing"
    ctx, found = err.get("ctx") or {}, type(err.get("input")).__name__
    if kind == "too_short":
        wanted = ctx.get("min_length", 1)
        return "must not be empty" if wanted == 1 else f"needs at least {wanted} entries"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping of settings (name: value), not {found}"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list, not {found}"
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if kind in ("literal_error", "enum"):
        msg = f"{msg}, not {err.get('input')!r}"
    if key_error:
        return f"the name {msg[0].lower()}{msg[1:]}" if msg else "bad name"
    return msg


def _model_at(model: Any, loc: list) -> type[BaseModel] | None:
    """The model class found by following `loc` through `model`'s field types, if any."""
    current = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        else:
            args = [a for a in typing.get_args(current) if a is not type(None)]
            if not args:
                return None
            current = args[-1]  # list[X] -> X, dict[K, X] -> X, tuple[X, ...] -> ...
            if current is Ellipsis:
                current = args[0]
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    """Annotated[X, ...] -> X; X | None -> X."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def sql_string(value: str) -> str:
    """`value` as a DuckDB string literal (quotes doubled), for SQL that cannot take a bound
    parameter (a view's body, a CASE over configured names)."""
    return "'" + str(value).replace("'", "''") + "'"
