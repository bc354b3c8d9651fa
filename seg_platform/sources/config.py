"""Reading a sources.yaml: where each source's files are and how their columns map to the contract.

The file is validated by typed models (pydantic, `extra="forbid"`); every mistake a user can make
(unknown source, setting or column, unsafe SQL, a path outside the data folder, a missing file)
raises `SourceConfigError` with one message per problem, `<file>: sources.<name>.<setting>: <what
is wrong>`, never a traceback. The optional `identity:` section holds settings of the identity
rules: the fields of `core.identity_rules.IdentitySettings` (the `identity` resource), checked
here (`check_identity_settings`) for the file and for the launchpad alike.
"""

import datetime as dt
import functools
import glob
import json
import os
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import duckdb
import pydantic
import sqlglot
import sqlglot.expressions as exp
import yaml

from seg_platform.core.identifiers import IDENTIFIER_TYPES
from seg_platform.core.identity_rules import BLOCKING_COLUMNS, IdentitySettings
from seg_platform.core.warehouse import memory_connection
from seg_platform.core.yaml_files import ConfigFileError
from seg_platform.sources.contract import SOURCES, Source

DOCS_HINT = "see docs/sources.md"
IDENTITY_DOCS_HINT = "see docs/identity.md"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
DEFAULT_MAX_QUARANTINE_SHARE = 0.05
DEFAULT_TIMESTAMP_MIN = "2000-01-01"
DEFAULT_TIMESTAMP_MAX_DAYS_AHEAD = 1

CSV_OPTIONS = {
    "delim",
    "sep",
    "quote",
    "escape",
    "header",
    "encoding",
    "skip",
    "comment",
    "new_line",
    "compression",
    "decimal_separator",
    "null_padding",
    "nullstr",
    "ignore_errors",
    "strict_mode",
    "max_line_size",
}
PARQUET_OPTIONS = {"hive_partitioning", "union_by_name"}
# `format: text`: whitespace-separated (aligned) columns, one record a line.
TEXT_OPTIONS = {"header", "skip"}
# What happens to order lines identical in every column when they carry no line id.
EXACT_DUPLICATES = ("keep", "drop")

# DuckDB functions a mapping or `where:` may call: scalar functions of the row's own values
# (text, numbers, dates, conditionals, lists). Anything else, such as table functions that
# read files (read_csv, read_text, glob), settings (current_setting), aggregates, window and
# non-deterministic functions (random, now), is refused when sources.yaml is read.
ALLOWED_FUNCTIONS = frozenset(
    """
    + - * / // % ^ ** || ~~ !~~ ~~* !~~* ~~~ !~~~ & | << >> ~ @
    abs ceil ceiling floor round trunc sign greatest least sqrt pow power ln log log2 log10 exp
    mod isfinite isnan isinf even
    lower upper lcase ucase trim ltrim rtrim length strlen len concat concat_ws substring
    substr left right lpad rpad replace reverse repeat split_part string_split str_split
    regexp_replace regexp_extract regexp_matches regexp_full_match contains starts_with
    ends_with prefix suffix position instr strpos strip_accents format printf translate chr
    ascii unicode md5 sha256 nullif if ifnull array_to_string list_extract list_element
    array_extract list_value array_length list_contains struct_extract
    strptime try_strptime strftime date_trunc datetrunc date_part datepart to_timestamp
    epoch_ms epoch make_timestamp make_date to_days to_hours to_minutes to_seconds
    to_microseconds to_milliseconds to_months to_years date_diff datediff date_sub datesub
    date_add timezone last_day dayname monthname year month day hour minute second
    """.split()
)
# Node kinds of DuckDB's own parse of an expression that are scalar expressions over the row.
_ALLOWED_DUCKDB_CLASSES = frozenset(
    {"COLUMN_REF", "CONSTANT", "FUNCTION", "OPERATOR", "COMPARISON", "CONJUNCTION", "CASE"}
    | {"CAST", "BETWEEN", "COLLATE", "TYPE"}
)
# sqlglot node types allowed in an expression (functions are then checked by DuckDB name).
_ALLOWED_NODES = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Paren,
    exp.Neg,
    exp.Not,
    exp.BitwiseNot,
    exp.Binary,
    exp.In,
    exp.Between,
    exp.Case,
    exp.If,
    exp.Cast,
    exp.DataType,
    exp.DataTypeParam,
    exp.Interval,
    exp.Var,
    exp.Bracket,
    exp.Array,
    exp.Func,
)
_REFUSED_NODES = (exp.AggFunc, exp.Window, exp.Query, exp.Explode)


class SourceConfigError(ConfigFileError):
    """A user mistake in sources.yaml or its files (or in the identity settings of the
    launchpad); the message says what to change. A `ConfigFileError`, so
    `yaml_files.config_errors_as_failures` turns it into a user error of the step."""


# --- The file's typed model -------------------------------------------------------------------


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class RangeSettings(_Model):
    """A plausible range of one numeric column; a bound left out keeps the contract's default,
    `null` removes it."""

    min: float | None = None
    max: float | None = None


Scalar = str | int | float | bool


class SourceSettings(_Model):
    path: str = pydantic.Field(min_length=1)
    format: Literal["csv", "parquet", "text"] | None = None
    read_options: dict[str, Scalar] = {}
    columns: dict[str, Scalar] = {}
    where: Scalar | None = None
    timestamp_format: str | list[str] | None = None
    # Overrides `defaults.timestamp_min` for this source only: one old export should not
    # widen the sane range of every other source.
    timestamp_min: dt.date | None = None
    max_quarantine_share: float | None = pydantic.Field(default=None, ge=0, le=1)
    ranges: dict[str, RangeSettings] = {}
    exact_duplicates: Literal["keep", "drop"] | None = None


class DefaultSettings(_Model):
    max_quarantine_share: float = pydantic.Field(default=DEFAULT_MAX_QUARANTINE_SHARE, ge=0, le=1)
    timestamp_min: dt.date = dt.date.fromisoformat(DEFAULT_TIMESTAMP_MIN)
    timestamp_max_days_ahead: int = pydantic.Field(default=DEFAULT_TIMESTAMP_MAX_DAYS_AHEAD, ge=0)


class SourcesFile(_Model):
    version: Literal[1] = 1
    defaults: DefaultSettings = DefaultSettings()
    allowed_roots: list[str] = []
    sources: dict[str, SourceSettings] = {}
    # Checked on its own by `identity_settings_model()` (built from `IdentitySettings`).
    identity: dict[str, Any] = {}


# --- What the rest of the platform uses ---------------------------------------------------------


@dataclass(frozen=True)
class SourceConfig:
    """One configured source."""

    contract: Source
    pattern: str  # absolute path or glob
    base_dir: Path  # folder of the sources.yaml; stored file names are relative to it
    format: str | None = None  # csv, parquet or text; None: from each file's extension
    read_options: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)  # contract column -> SQL expression
    where: str | None = None
    timestamp_format: tuple[str, ...] = ()
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE
    # Plausible range of every numeric contract column: (min, max), None for no bound.
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    # Folders the files may resolve into: the sources.yaml's folder and `allowed_roots`.
    roots: tuple[Path, ...] = ()
    # Earliest sane timestamp (ISO date) when set under the source; None: `defaults:`.
    timestamp_min: str | None = None
    # Rows without a record id that are identical in every column: kept (real repeated lines)
    # or dropped (one kept). Rows with a record id are always deduplicated on it.
    exact_duplicates: str = "keep"

    @property
    def name(self) -> str:
        return self.contract.name

    def files(self) -> list[Path]:
        """The files the pattern matches, sorted; an error if there are none or if one resolves
        (through `..` or a symlink) outside the allowed folders."""
        matches = sorted(Path(p) for p in glob.glob(self.pattern, recursive=True))
        matches = [p for p in matches if p.is_file()]
        if not matches:
            raise SourceConfigError(
                f"Source '{self.name}': no file matches {self.pattern}. Fix `path` under "
                f"sources.{self.name} in sources.yaml, or remove the source to skip it."
            )
        roots = self.roots or (self.base_dir,)
        for match in matches:
            if not _inside(match.resolve(), roots):
                raise SourceConfigError(
                    f"Source '{self.name}': {match} resolves to {match.resolve()}, outside "
                    f"the folders sources may read ({', '.join(str(r) for r in roots)}). Move "
                    f"the file, or add its folder to `allowed_roots:` at the top of "
                    f"sources.yaml ({DOCS_HINT})."
                )
        return matches

    def file_format(self, path: Path) -> str:
        if self.format:
            return self.format
        name = path.name.lower()
        if name.endswith((".parquet", ".pq")):
            return "parquet"
        if name.endswith((".csv", ".csv.gz", ".tsv", ".txt", ".csv.zst")):
            return "csv"
        raise SourceConfigError(
            f"Source '{self.name}': cannot tell the format of {path.name} from its extension. "
            f"Add `format: csv`, `format: parquet` or `format: text` under "
            f"sources.{self.name} in sources.yaml."
        )

    def display_name(self, path: Path) -> str:
        """The file name stored with each row: relative to the sources.yaml folder if inside it."""
        try:
            return path.resolve().relative_to(self.base_dir).as_posix()
        except ValueError:
            return path.resolve().as_posix()


@dataclass(frozen=True)
class SourcesConfig:
    """A whole sources.yaml."""

    path: Path
    sources: dict[str, SourceConfig]
    timestamp_min: str = DEFAULT_TIMESTAMP_MIN
    timestamp_max_days_ahead: int = DEFAULT_TIMESTAMP_MAX_DAYS_AHEAD
    allowed_roots: tuple[Path, ...] = ()
    # The identity settings the file sets (checked), by name; `IdentityConfig.rules` merges
    # them between the defaults and the launchpad.
    identity: dict[str, Any] = field(default_factory=dict)

    def timestamp_min_of(self, source: str) -> str:
        """The earliest sane timestamp of one source (ISO date): its own setting, or
        `defaults:`'s."""
        own = self.sources.get(source)
        return own.timestamp_min if own is not None and own.timestamp_min else self.timestamp_min


def load_sources_config(path: Path | str) -> SourcesConfig:
    """Read and validate a sources.yaml."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise SourceConfigError(
            f"No sources.yaml at {path}. Point the platform at yours with --sources PATH or "
            f"SEG_PLATFORM_SOURCES=PATH, or create the sample with `seg-platform generate` "
            f"(`make demo` does both)."
        )
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceConfigError(f"{path}: cannot read the file: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(top)"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SourceConfigError(f"{path}: {place}: not valid YAML: {problem}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise SourceConfigError(f"{path}: expected a mapping with a `sources:` key ({DOCS_HINT}).")
    if "identity" in doc and doc["identity"] is None:  # `identity:` with nothing under it
        doc = {**doc, "identity": {}}
    declared = doc.get("sources")
    if declared is None:
        doc = {**doc, "sources": {}}
    elif isinstance(declared, dict):
        # `orders:` with nothing under it reads as null: say what it needs, not "not a dict".
        for name, settings in declared.items():
            if settings is None:
                raise SourceConfigError(
                    f"{path}: sources.{name}: expected a mapping with at least `path:` "
                    f"({DOCS_HINT})."
                )
    try:
        model = SourcesFile.model_validate(doc)
    except pydantic.ValidationError as exc:
        raise SourceConfigError(_validation_message(path, exc)) from None
    identity = check_identity_settings(model.identity, str(path))

    base = path.parent
    roots = [base]
    for i, root in enumerate(model.allowed_roots):
        expanded = Path(os.path.expandvars(os.path.expanduser(root)))
        resolved = (expanded if expanded.is_absolute() else base / expanded).resolve()
        if not resolved.is_dir():
            raise SourceConfigError(
                f"{path}: allowed_roots.{i}: {root!r} is not an existing folder ({resolved})."
            )
        roots.append(resolved)
    sources = {}
    for name, settings in model.sources.items():
        if name not in SOURCES:
            raise SourceConfigError(
                f"{path}: sources.{name}: unknown source '{name}'. Known sources: "
                f"{', '.join(SOURCES)} ({DOCS_HINT})."
            )
        sources[name] = _source_config(path, SOURCES[name], settings, model.defaults, tuple(roots))
    return SourcesConfig(
        path=path,
        sources=sources,
        timestamp_min=str(model.defaults.timestamp_min),
        timestamp_max_days_ahead=model.defaults.timestamp_max_days_ahead,
        allowed_roots=tuple(roots[1:]),
        identity=identity,
    )


def _source_config(
    file: Path,
    contract: Source,
    settings: SourceSettings,
    defaults: DefaultSettings,
    roots: tuple[Path, ...],
) -> SourceConfig:
    where = f"{file}: sources.{contract.name}"
    base = file.parent
    pattern = os.path.expandvars(os.path.expanduser(settings.path))
    if not os.path.isabs(pattern):
        pattern = str(base / pattern)
    _check_pattern_root(pattern, roots, f"{where}.path", settings.path)

    fmt = settings.format
    _check_read_options(fmt, settings.read_options, where)
    _check_exact_duplicates(contract, settings, where)
    columns = {}
    for column, expression in settings.columns.items():
        if column not in contract.column_names:
            raise SourceConfigError(
                f"{where}.columns.{column}: '{column}' is not a column of the {contract.name} "
                f"contract. Its columns are: {', '.join(contract.column_names)} ({DOCS_HINT})."
            )
        columns[column] = check_expression(str(expression), f"{where}.columns.{column}")
    row_filter = settings.where
    if row_filter is not None:
        row_filter = check_expression(str(row_filter), f"{where}.where")

    ranges = {
        c.name: (c.minimum, c.maximum) for c in contract.columns if c.type in ("DOUBLE", "BIGINT")
    }
    for column, bounds in settings.ranges.items():
        if column not in ranges:
            raise SourceConfigError(
                f"{where}.ranges.{column}: '{column}' is not a numeric column of the "
                f"{contract.name} contract. Numeric columns: {', '.join(ranges) or 'none'}."
            )
        low, high = ranges[column]
        low = bounds.min if "min" in bounds.model_fields_set else low
        high = bounds.max if "max" in bounds.model_fields_set else high
        if low is not None and high is not None and low > high:
            raise SourceConfigError(f"{where}.ranges.{column}: min {low:g} is above max {high:g}.")
        ranges[column] = (low, high)

    share = settings.max_quarantine_share
    if share is None:
        share = (
            contract.max_quarantine_share
            if contract.max_quarantine_share is not None
            else defaults.max_quarantine_share
        )
    given = settings.timestamp_format or ()
    ts_format = (given,) if isinstance(given, str) else tuple(given)
    return SourceConfig(
        contract=contract,
        pattern=pattern,
        base_dir=base.resolve(),
        format=fmt,
        read_options=dict(settings.read_options),
        columns=columns,
        where=row_filter,
        timestamp_format=tuple(ts_format),
        max_quarantine_share=share,
        ranges=ranges,
        roots=roots,
        timestamp_min=str(settings.timestamp_min) if settings.timestamp_min else None,
        exact_duplicates=settings.exact_duplicates or "keep",
    )


def _check_read_options(fmt: str | None, options: dict[str, Scalar], where: str) -> None:
    """Only the reader settings of the source's format; for text, their types too (they
    shape the platform's own split, not DuckDB's reader, which would check them)."""
    allowed = {
        "parquet": PARQUET_OPTIONS,
        "text": TEXT_OPTIONS,
    }.get(fmt or "", CSV_OPTIONS | PARQUET_OPTIONS)
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise SourceConfigError(
            f"{where}.read_options: unknown setting(s) {', '.join(unknown)}. "
            f"Allowed: {', '.join(sorted(allowed))} ({DOCS_HINT})."
        )
    if fmt != "text":
        return
    if "header" in options and not isinstance(options["header"], bool):
        raise SourceConfigError(f"{where}.read_options.header: must be true or false.")
    skip = options.get("skip", 0)
    if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
        raise SourceConfigError(
            f"{where}.read_options.skip: must be a whole number of lines, 0 or more."
        )


def _check_exact_duplicates(contract: Source, settings: SourceSettings, where: str) -> None:
    """`exact_duplicates` only means something where rows may come without a record id."""
    if settings.exact_duplicates is not None and not contract.key_optional:
        raise SourceConfigError(
            f"{where}.exact_duplicates: {contract.name} rows always carry `{contract.key}`, "
            f"and are deduplicated on it (the latest delivery wins); the setting only applies "
            f"to sources whose record id is optional (orders). Remove it ({DOCS_HINT})."
        )


# --- Paths --------------------------------------------------------------------------------------


def _inside(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _check_pattern_root(pattern: str, roots: tuple[Path, ...], where: str, given: str) -> None:
    """Refuse at once a path whose fixed part (before any wildcard) leads out of every allowed
    folder; `files()` then checks every match after symlinks are resolved."""
    parts = Path(os.path.normpath(pattern)).parts
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    prefix = Path(*fixed).resolve() if fixed else Path("/")
    if _inside(prefix, roots) or any(root.is_relative_to(prefix) for root in roots):
        return
    raise SourceConfigError(
        f"{where}: {given!r} leads to {prefix}, outside the folders sources may read "
        f"({', '.join(str(r) for r in roots)}). Keep landing files under the sources.yaml's "
        f"folder, or list their folder under `allowed_roots:` at the top of sources.yaml "
        f"({DOCS_HINT})."
    )


# --- Expressions --------------------------------------------------------------------------------


def check_expression(expression: str, where: str) -> str:
    """Accept one SQL scalar expression over the file's columns (a column name or e.g.
    `abs(Quantity * UnitPrice)`), or raise `SourceConfigError` saying what is wrong.

    Two parsers must agree: sqlglot's tree may hold only allowed node types (no query, command,
    table, parameter, window or aggregate) and no comment; DuckDB's own parse of the expression
    may hold only scalar nodes and functions from `ALLOWED_FUNCTIONS`."""
    if not expression.strip():
        raise SourceConfigError(f"{where}: the expression is empty.")
    try:
        tokens = sqlglot.tokenize(expression, dialect="duckdb")
        statements = [s for s in sqlglot.parse(expression, dialect="duckdb") if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        detail = _ANSI.sub("", str(exc)).splitlines()[0] if str(exc).strip() else "parse error"
        if isinstance(exc, sqlglot.errors.TokenError):
            detail = "an unclosed quote or comment"
        raise SourceConfigError(
            f"{where}: {expression!r} is not a valid SQL expression: {detail}. Quote column "
            f"names with spaces in double quotes, e.g. '\"Customer ID\"' ({DOCS_HINT})."
        ) from None
    if any(token.comments for token in tokens):
        raise SourceConfigError(f"{where}: {expression!r}: comments are not allowed here.")
    if len(statements) != 1:
        raise SourceConfigError(
            f"{where}: {expression!r} must be a single column or expression, not a query."
        )
    for node in statements[0].walk():
        if isinstance(node, _REFUSED_NODES) or not isinstance(node, _ALLOWED_NODES):
            raise SourceConfigError(
                f"{where}: {expression!r} must be a single column or scalar expression over "
                f"the file's columns, not a query, command, table, parameter, aggregate or "
                f"window ({type(node).__name__}) ({DOCS_HINT})."
            )
    _check_duckdb_parse(expression, where)
    return expression


def _check_duckdb_parse(expression: str, where: str) -> None:
    with memory_connection() as con:
        serialized = con.execute(
            "SELECT json_serialize_sql(?)", [f"SELECT ({expression}) FROM _file"]
        ).fetchall()[0][0]
    tree = json.loads(serialized)
    if tree.get("error") or len(tree.get("statements", [])) != 1:
        raise SourceConfigError(
            f"{where}: {expression!r} is not a valid SQL expression: "
            f"{tree.get('error_message', 'DuckDB cannot parse it')}."
        )
    node = tree["statements"][0]["node"]
    if node.get("type") != "SELECT_NODE" or len(node.get("select_list", [])) != 1:
        raise SourceConfigError(f"{where}: {expression!r} must be a single expression.")
    for part in _expression_nodes(node["select_list"][0]):
        kind = part.get("class")
        name = str(part.get("function_name") or "").lower()
        if kind not in _ALLOWED_DUCKDB_CLASSES:
            raise SourceConfigError(
                f"{where}: {expression!r} must be a scalar expression over the file's columns; "
                f"DuckDB reads a {str(kind).lower().replace('_', ' ')} in it ({DOCS_HINT})."
            )
        if kind == "FUNCTION" and (
            name not in ALLOWED_FUNCTIONS or part.get("schema") or part.get("catalog")
        ):
            raise SourceConfigError(
                f"{where}: {expression!r} calls {name}(), which mappings may not use: only "
                f"scalar functions of the row's values are allowed ({DOCS_HINT}, "
                f'"Expressions").'
            )


def _expression_nodes(node) -> typing.Iterator[dict]:
    if isinstance(node, dict):
        if "class" in node:
            yield node
        for value in node.values():
            yield from _expression_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _expression_nodes(value)


# --- The identity: section ---------------------------------------------------------------------

# Settings that merge per identifier type across defaults, sources.yaml and the launchpad;
# any other setting given in a later place replaces the earlier value whole.
MERGED_PER_TYPE = ("limits", "extra_blocked")
LAUNCHPAD = "launchpad"
LAUNCHPAD_PREFIX = "resources.identity.config"
_DOMAIN = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")


def _share(value: float) -> float:
    if not 0 < value <= 1:
        raise ValueError(f"must be in (0, 1], not {value:g}")
    return value


def _growth(value: float) -> float:
    if value < 0:
        raise ValueError(f"must be 0 or more, not {value:g}")
    return value


def _positive(value: int) -> int:
    if value < 1:
        raise ValueError(f"must be a positive whole number, not {value}")
    return value


def _known_type(value: str, also: tuple[str, ...] = ()) -> str:
    if value not in (*IDENTIFIER_TYPES, *also):
        known = ", ".join((*IDENTIFIER_TYPES, *also))
        raise ValueError(f"{value!r} is not an identifier type; the types are: {known}")
    return value


def _priority(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("must list at least one identifier type")
    for i, kind in enumerate(value):
        _known_type(kind)
        if kind in value[:i]:
            raise ValueError(f"{kind!r} is listed twice")
    return value


def _limits(value: dict[str, int]) -> dict[str, int]:
    for kind, limit in value.items():
        _known_type(kind)
        try:
            _positive(limit)
        except ValueError as exc:
            raise ValueError(f"{kind}: {exc}") from None
    return value


def _extra_blocked(value: dict[str, list[str]]) -> dict[str, list[str]]:
    """Identifier types (or `*`, every type) to patterns, each one DuckDB's regular-expression
    engine (RE2, the one that applies them) accepts: no look-around, no back-references."""
    for kind in value:
        _known_type(kind, also=("*",))
    patterns = [(kind, pattern) for kind, listed in value.items() for pattern in listed]
    if not patterns:
        return value
    with memory_connection() as con:
        for kind, pattern in patterns:
            try:
                con.execute("SELECT regexp_matches('', ?, 'i')", [pattern]).fetchall()
            except duckdb.Error as exc:
                reason = str(exc).split("Error: ", 1)[-1]
                raise ValueError(
                    f"{kind}: {pattern!r} is not a regular expression DuckDB (RE2) accepts: "
                    f"{reason}"
                ) from None
    return value


def _email_domains(value: list[str]) -> list[str]:
    for domain in value:
        if not _DOMAIN.fullmatch(domain):
            raise ValueError(f"{domain!r} is not a domain name such as gmail.com (lower case)")
    return value


def _phone_region(value: str) -> str:
    import phonenumbers

    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"{value!r} is not a region phonenumbers knows: use a two-letter country code in "
            "capitals, such as US, GB or DE"
        )
    return value


def _blocking_rule(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("a blocking rule needs at least one column")
    for column in value:
        if column not in BLOCKING_COLUMNS:
            raise ValueError(
                f"{column!r} is not a person column; a rule lists columns from: "
                f"{', '.join(BLOCKING_COLUMNS)}"
            )
    return value


# Checks by setting name, on the whole value or on each item of a list (so a message names the
# item: `dedup_blocking_rules.2`); any other int setting must be positive, any other float
# setting a share in (0, 1]. `unchecked_identity_settings()` lists settings left unchecked.
_VALUE_CHECKS: dict[str, Callable] = {
    "priority": _priority,
    "limits": _limits,
    "extra_blocked": _extra_blocked,
    "dotless_email_domains": _email_domains,
    "default_phone_region": _phone_region,
    "dedup_model_retrain_share": _growth,
}
_ITEM_CHECKS: dict[str, Callable] = {"dedup_blocking_rules": _blocking_rule}


def _scalar_check(annotation: Any) -> Callable | None:
    if annotation is bool:
        return lambda value: value  # true or false: nothing else to check
    return {int: _positive, float: _share}.get(annotation)


def _identity_annotation(name: str, annotation: Any) -> Any:
    """The resource field's type with its check attached."""
    if name in _ITEM_CHECKS:
        (item,) = typing.get_args(annotation)  # list[X]
        return list[Annotated[item, pydantic.AfterValidator(_ITEM_CHECKS[name])]]  # type: ignore[valid-type]
    check = _VALUE_CHECKS.get(name) or _scalar_check(annotation)
    return Annotated[annotation, pydantic.AfterValidator(check)] if check else annotation


class _StrictModel(_Model):
    # YAML has real numbers and booleans: "3" or `true` is not a limit, 2.5 not a size.
    model_config = pydantic.ConfigDict(extra="forbid", strict=True)


def _unset_removed(annotation: Any) -> Any:
    """`X | None` -> `X`: the resource's None means "not set"; in the file a setting that is
    not set is left out, so null there is a mistake."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return inner
    return annotation


@functools.cache
def identity_settings_model() -> type[pydantic.BaseModel]:
    """The `identity:` section: one optional setting per field of the `identity` resource,
    with the resource's type and description, and the checks above."""
    fields = {
        name: (
            _identity_annotation(name, _unset_removed(info.annotation)),
            pydantic.Field(default=None, description=info.description),
        )
        for name, info in IdentitySettings.model_fields.items()
    }
    return pydantic.create_model(  # type: ignore[call-overload]  # fields built at run time
        "IdentitySettings", __base__=_StrictModel, **fields
    )


def unchecked_identity_settings() -> list[str]:
    """Settings of the identity resource with no check of their values (should be none)."""
    checked = {**_VALUE_CHECKS, **_ITEM_CHECKS}
    return [
        name
        for name, info in IdentitySettings.model_fields.items()
        if name not in checked and _scalar_check(_unset_removed(info.annotation)) is None
    ]


def check_identity_settings(
    values: Mapping[str, Any], origin: str, prefix: str = "identity"
) -> dict[str, Any]:
    """The identity settings in `values` (any of them), checked, as plain values: only those
    given. A mistake raises `SourceConfigError`, one line per setting, `<origin>:
    <prefix>.<setting>: <what is wrong>` (origin: the sources.yaml, or "launchpad")."""
    model = identity_settings_model()
    try:
        checked = model.model_validate(dict(values))
    except pydantic.ValidationError as exc:
        raise SourceConfigError(
            _validation_message(origin, exc, model=model, prefix=prefix.split("."))
        ) from None
    return checked.model_dump(exclude_unset=True)


def identity_settings_table() -> str:
    """The settings as a Markdown table (setting, default, meaning) for the docs."""
    defaults = IdentitySettings.defaults()
    rows = "".join(
        f"| `{name}` | `{json.dumps(defaults[name])}` | "
        f"{(info.description or '').rsplit(' Default: ', 1)[0]} |\n"
        for name, info in IdentitySettings.model_fields.items()
    )
    return "| setting | default | meaning |\n|---|---|---|\n" + rows


# --- Messages -----------------------------------------------------------------------------------


_BRANCH_TAG = re.compile(r"^(str|int|float|bool|none|(list|dict|literal|union|function)[\[-].*)$")


def _validation_message(
    path: Path | str,
    exc: pydantic.ValidationError,
    model: type[pydantic.BaseModel] | None = None,
    prefix: list[str] | None = None,
) -> str:
    """One line per problem: `<file>: <setting path>: <what is wrong>`, no pydantic dump.
    `model` is what was validated (default: the whole file), found at `prefix` in the file."""
    model = model or SourcesFile
    prefix = prefix or []
    lines, seen = [], set()
    for error in exc.errors(include_url=False):
        # Unions (text or a list, scalar types) add a branch tag to the place and report one
        # error per branch: drop the tag and keep the first error of each place.
        inner = [str(p) for p in error["loc"] if not _BRANCH_TAG.match(str(p))]
        loc = [*prefix, *inner]
        setting = ".".join(loc) or "top level"
        if setting in seen:
            continue
        seen.add(setting)
        kind = error["type"]
        # The same wording as the other YAML files (seg_platform.core.yaml_files.format_errors).
        if kind == "extra_forbidden":
            allowed = _allowed_keys(inner[:-1], model)
            what = "unknown setting" + (
                f"; the settings here are: {', '.join(allowed)}" if allowed else ""
            )
        elif kind == "missing":
            what = "required, but missing"
        else:
            what = str(error["msg"]).removeprefix("Value error, ")
            if kind in ("literal_error", "enum"):
                what = f"{what}, not {error.get('input')!r}"
        hint = IDENTITY_DOCS_HINT if loc[:1] == ["identity"] or prefix else DOCS_HINT
        line = f"{path}: {setting}: {what} ({hint})."
        if line not in lines:
            lines.append(line)
    return "\n".join(lines[:5])


def _allowed_keys(loc: list[str], root: type[pydantic.BaseModel]) -> list[str]:
    """The settings allowed at a place in `root` (for "unknown setting" messages)."""
    model: Any = root
    for part in loc:
        if isinstance(model, type) and issubclass(model, pydantic.BaseModel):
            info = model.model_fields.get(part)
            if info is None:
                return []
            model = info.annotation
        elif typing.get_origin(model) is dict:
            model = typing.get_args(model)[1]
        else:
            return []
        while typing.get_origin(model) in (typing.Union, type(int | None)):
            candidates = [a for a in typing.get_args(model) if a is not type(None)]
            model = candidates[0]
    if isinstance(model, type) and issubclass(model, pydantic.BaseModel):
        return list(model.model_fields)
    return []
