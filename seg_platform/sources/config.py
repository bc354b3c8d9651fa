"""Reading a sources.yaml: where each source's files are and how their columns map to the contract.

Every mistake a user can make here (unknown source or column, bad SQL, missing file) raises
`SourceConfigError` with one message that names the source and says how to fix it.
"""

import glob
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
import sqlglot.expressions as exp
import yaml

from seg_platform.sources.contract import SOURCES, Source

DOCS_HINT = "see docs/sources.md"
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
SOURCE_KEYS = {
    "path",
    "format",
    "read_options",
    "columns",
    "where",
    "timestamp_format",
    "max_quarantine_share",
}
DEFAULT_KEYS = {"max_quarantine_share", "timestamp_min", "timestamp_max_days_ahead"}


class SourceConfigError(ValueError):
    """A user mistake in sources.yaml or its files; the message says what to change."""


@dataclass(frozen=True)
class SourceConfig:
    """One configured source."""

    contract: Source
    pattern: str  # absolute path or glob
    base_dir: Path  # folder of the sources.yaml; stored file names are relative to it
    format: str | None = None  # csv or parquet; None: from each file's extension
    read_options: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)  # contract column -> SQL expression
    where: str | None = None
    timestamp_format: tuple[str, ...] = ()
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE

    @property
    def name(self) -> str:
        return self.contract.name

    def files(self) -> list[Path]:
        """The files the pattern matches, sorted; an error if there are none."""
        matches = sorted(Path(p) for p in glob.glob(self.pattern, recursive=True))
        matches = [p for p in matches if p.is_file()]
        if not matches:
            raise SourceConfigError(
                f"Source '{self.name}': no file matches {self.pattern}. Fix `path` under "
                f"sources.{self.name} in sources.yaml, or remove the source to skip it."
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
            f"Add `format: csv` or `format: parquet` under sources.{self.name} in sources.yaml."
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
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SourceConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise SourceConfigError(f"{path}: expected a mapping with a `sources:` key ({DOCS_HINT}).")
    _no_unknown_keys(doc, {"version", "defaults", "sources"}, f"{path}: top level")
    defaults = doc.get("defaults") or {}
    _no_unknown_keys(defaults, DEFAULT_KEYS, f"{path}: defaults")
    declared = doc.get("sources") or {}
    if not isinstance(declared, dict):
        raise SourceConfigError(f"{path}: `sources:` must map source names to settings.")
    sources = {}
    for name, settings in declared.items():
        if name not in SOURCES:
            raise SourceConfigError(
                f"{path}: unknown source '{name}'. Known sources: {', '.join(SOURCES)} "
                f"({DOCS_HINT})."
            )
        sources[name] = _source_config(SOURCES[name], settings or {}, path.parent, defaults)
    return SourcesConfig(
        path=path,
        sources=sources,
        timestamp_min=str(defaults.get("timestamp_min", DEFAULT_TIMESTAMP_MIN)),
        timestamp_max_days_ahead=int(
            defaults.get("timestamp_max_days_ahead", DEFAULT_TIMESTAMP_MAX_DAYS_AHEAD)
        ),
    )


def _source_config(contract: Source, settings: dict, base: Path, defaults: dict) -> SourceConfig:
    where = f"sources.{contract.name}"
    if not isinstance(settings, dict):
        raise SourceConfigError(f"{where}: expected a mapping with at least `path:`.")
    _no_unknown_keys(settings, SOURCE_KEYS, where)
    if not settings.get("path"):
        raise SourceConfigError(f"{where}: `path:` is required (a file or glob, CSV or Parquet).")
    pattern = os.path.expandvars(os.path.expanduser(str(settings["path"])))
    if not os.path.isabs(pattern):
        pattern = str(base / pattern)
    fmt = settings.get("format")
    if fmt not in (None, "csv", "parquet"):
        raise SourceConfigError(f"{where}: format must be csv or parquet, not {fmt!r}.")
    read_options = dict(settings.get("read_options") or {})
    allowed = PARQUET_OPTIONS if fmt == "parquet" else CSV_OPTIONS | PARQUET_OPTIONS
    _no_unknown_keys(read_options, allowed, f"{where}.read_options")
    columns = {}
    for column, expression in (settings.get("columns") or {}).items():
        if column not in contract.column_names:
            raise SourceConfigError(
                f"{where}.columns: '{column}' is not a column of the {contract.name} contract. "
                f"Its columns are: {', '.join(contract.column_names)} ({DOCS_HINT})."
            )
        columns[column] = _check_expression(str(expression), f"{where}.columns.{column}")
    row_filter = settings.get("where")
    if row_filter is not None:
        row_filter = _check_expression(str(row_filter), f"{where}.where")
    share = float(
        settings.get(
            "max_quarantine_share",
            defaults.get("max_quarantine_share", DEFAULT_MAX_QUARANTINE_SHARE),
        )
    )
    if not 0 <= share <= 1:
        raise SourceConfigError(f"{where}.max_quarantine_share must be between 0 and 1.")
    ts_format = settings.get("timestamp_format") or ()
    if isinstance(ts_format, str):
        ts_format = (ts_format,)
    return SourceConfig(
        contract=contract,
        pattern=pattern,
        base_dir=base.resolve(),
        format=fmt,
        read_options=read_options,
        columns=columns,
        where=row_filter,
        timestamp_format=tuple(str(f) for f in ts_format),
        max_quarantine_share=share,
    )


def _check_expression(expression: str, where: str) -> str:
    """Parse one SQL scalar expression (a column name or e.g. `Quantity * UnitPrice`)."""
    try:
        statements = [s for s in sqlglot.parse(expression, dialect="duckdb") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise SourceConfigError(
            f"{where}: {expression!r} is not a valid SQL expression: "
            f"{_ANSI.sub('', str(exc)).splitlines()[0]}"
        ) from exc
    if not statements:
        raise SourceConfigError(f"{where}: the expression is empty.")
    parsed = statements[0]
    if (
        len(statements) > 1
        or isinstance(parsed, exp.Query | exp.Command | exp.DDL | exp.DML)
        or parsed.find(exp.Query)
    ):
        raise SourceConfigError(
            f"{where}: {expression!r} must be a single column or expression, not a query."
        )
    return expression


def _no_unknown_keys(mapping: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise SourceConfigError(
            f"{where}: unknown setting(s) {', '.join(unknown)}. "
            f"Allowed: {', '.join(sorted(allowed))} ({DOCS_HINT})."
        )
