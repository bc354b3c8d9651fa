"""Rule-based overlays (lifecycle, intent, ...) from a YAML file teams edit.

A rule's `when` is a DuckDB SQL condition; it is parsed with sqlglot before anything runs, so
a typo or an unknown column is an error naming the file, the rule and the columns there are,
never a failed run halfway through.
"""

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import sqlglot
from sqlglot import exp

from seg_platform.yaml_files import read_yaml

DEFAULT_OVERLAYS = Path(__file__).with_name("overlays.yaml")
NAME = r"^[a-z][a-z0-9_]*$"


class OverlayError(ValueError):
    """The overlays file is not usable; the message names the file and the rule."""


@dataclass(frozen=True)
class Rule:
    name: str
    when: str


@dataclass(frozen=True)
class Family:
    name: str
    rules: tuple[Rule, ...]
    exclusive: bool
    otherwise: str | None


def load_overlays(path: str | Path | None = None) -> list[Family]:
    """Read and check the structure of an overlays file (the embedded default when empty)."""
    import re

    path = Path(path) if path else DEFAULT_OVERLAYS
    data = read_yaml(path, OverlayError, "overlays")
    families = (data or {}).get("families") if isinstance(data, dict) else None
    if not isinstance(families, dict) or not families:
        raise OverlayError(f"{path}: expected a mapping `families:` of name -> rules")
    out = []
    for family, body in families.items():
        where = f"{path}: families.{family}"
        if not re.match(NAME, str(family)) or not isinstance(body, dict):
            raise OverlayError(f"{where}: expected a lower_case name with `rules:`")
        rules = body.get("rules")
        if not isinstance(rules, list) or not rules:
            raise OverlayError(f"{where}: `rules` must be a non-empty list")
        parsed = []
        for i, rule in enumerate(rules):
            if not isinstance(rule, dict) or not rule.get("name") or not rule.get("when"):
                raise OverlayError(f"{where}.rules[{i}]: each rule needs `name` and `when`")
            if not re.match(NAME, str(rule["name"])):
                raise OverlayError(
                    f"{where}.rules[{i}]: name {rule['name']!r} must be lower_case_with_underscores"
                )
            parsed.append(Rule(str(rule["name"]), str(rule["when"])))
        names = [r.name for r in parsed]
        if len(set(names)) != len(names):
            raise OverlayError(f"{where}: rule names repeat: {names}")
        exclusive = bool(body.get("exclusive", False))
        otherwise = body.get("otherwise")
        if otherwise is not None and not exclusive:
            raise OverlayError(f"{where}: `otherwise` only applies to an exclusive family")
        out.append(Family(str(family), tuple(parsed), exclusive, otherwise and str(otherwise)))
    return out


def check_columns(families: list[Family], columns: list[str], path: str | Path | None = None):
    """Every `when` parses as one condition and names only columns of the signals."""
    path = Path(path) if path else DEFAULT_OVERLAYS
    known = set(columns)
    for family in families:
        for rule in family.rules:
            where = f"{path}: families.{family.name}, rule {rule.name}"
            try:
                tree = sqlglot.parse_one(rule.when, dialect="duckdb")
            except sqlglot.errors.ParseError as exc:
                raise OverlayError(f"{where}: `when` is not a SQL condition: {exc}") from None
            if isinstance(tree, exp.Query) or tree.find(exp.Query):
                raise OverlayError(f"{where}: `when` must be a condition, not a query")
            unknown = sorted({c.name for c in tree.find_all(exp.Column)} - known)
            if unknown:
                raise OverlayError(
                    f"{where}: unknown column(s) {', '.join(unknown)}; the signals are: "
                    f"{', '.join(sorted(known))}"
                )


def evaluate(con, families: list[Family], signals: str, path=None) -> pl.DataFrame:
    """(profile_id, family, overlay, rule) for every customer of the table `signals`."""
    import duckdb

    parts = []
    for family in families:
        if family.exclusive:
            cases = " ".join(f"WHEN ({r.when}) THEN '{r.name}'" for r in family.rules)
            fallback = f"'{family.otherwise}'" if family.otherwise else "NULL"
            parts.append(
                f"SELECT profile_id, '{family.name}' AS family, "
                f"CASE {cases} ELSE {fallback} END AS overlay FROM {signals}"
            )
        else:
            parts += [
                f"SELECT profile_id, '{family.name}' AS family, '{r.name}' AS overlay "
                f"FROM {signals} WHERE ({r.when})"
                for r in family.rules
            ]
    sql = " UNION ALL ".join(parts)
    try:
        return con.sql(
            f"SELECT * FROM ({sql}) WHERE overlay IS NOT NULL ORDER BY profile_id, family, overlay"
        ).pl()
    except duckdb.Error as exc:
        raise OverlayError(
            f"{Path(path) if path else DEFAULT_OVERLAYS}: a rule failed in DuckDB: {exc}"
        ) from None
