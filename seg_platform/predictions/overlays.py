"""Rule-based overlays (lifecycle, intent, ...) from a YAML file teams edit.

A rule's `when` is a DuckDB SQL condition; it is parsed with sqlglot before anything runs, so
a typo, an unknown column or anything but a condition over the signals' columns (a query, a
table function such as read_text, SHOW/DESCRIBE/PRAGMA, an unclosed quote) is an error naming
the file and the rule, never a failed run halfway through. What runs is the SQL regenerated
from the checked syntax tree, with every column quoted; names are quoted as SQL strings.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import polars as pl
import sqlglot
from pydantic import AfterValidator, Field, field_validator, model_validator
from sqlglot import exp

from seg_platform.core.warehouse import quote
from seg_platform.core.yaml_files import ConfigFileError, Name, StrictModel, load_model, sql_string

DEFAULT_OVERLAYS = Path(__file__).with_name("overlays.yaml")

# What a condition may be made of: columns, literals, comparisons, boolean and arithmetic
# operators, CASE, CAST and a few scalar functions. Everything else (queries, table functions
# such as read_text or glob, SHOW/DESCRIBE/SUMMARIZE/PRAGMA, aliases, unknown functions) is
# refused.
_OPERATORS = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren,
    exp.And, exp.Or, exp.Not, exp.Xor,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ,
    exp.Is, exp.In, exp.Between, exp.Like, exp.ILike,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Neg, exp.Pow, exp.DPipe,
    exp.Case, exp.If, exp.Cast, exp.TryCast, exp.DataType, exp.DataTypeParam,
)  # fmt: skip
_FUNCTIONS = {
    exp.Abs: "abs", exp.Round: "round", exp.Floor: "floor", exp.Ceil: "ceil",
    exp.Least: "least", exp.Greatest: "greatest", exp.Coalesce: "coalesce",
    exp.Nullif: "nullif", exp.Lower: "lower", exp.Upper: "upper", exp.Length: "length",
    exp.Sqrt: "sqrt", exp.Ln: "ln", exp.Log: "log", exp.Exp: "exp",
}  # fmt: skip
ALLOWED_NODES = _OPERATORS + tuple(_FUNCTIONS)
ALLOWED_FUNCTIONS = tuple(sorted(set(_FUNCTIONS.values())))


class OverlayError(ConfigFileError):
    """The overlays file is not usable; the message names the file and the rule."""


def parse_condition(text: str) -> exp.Expr:
    """The syntax tree of a `when` condition, or ValueError saying what is not allowed."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("must be a SQL condition, not empty")
    try:
        tree = sqlglot.parse_one(text, dialect="duckdb")
    except sqlglot.errors.TokenError:
        raise ValueError(
            f"is not a SQL condition: unbalanced quote or unclosed comment in {text!r}"
        ) from None
    except sqlglot.errors.ParseError as exc:
        detail = exc.errors[0]["description"] if exc.errors else "cannot be parsed"
        raise ValueError(f"is not a SQL condition: {detail} in {text!r}") from None
    except sqlglot.errors.SqlglotError as exc:
        raise ValueError(f"is not a SQL condition: {str(exc).splitlines()[0]}") from None
    if tree is None:
        raise ValueError("must be a SQL condition, not empty")
    for node in tree.walk():
        if isinstance(node, exp.Query | exp.Subquery):
            raise ValueError("must be a condition over the signals' columns, not a query")
        if not isinstance(node, ALLOWED_NODES):
            what = (
                f"function {node.name}()"
                if isinstance(node, exp.Anonymous | exp.Func)
                else "`AS` (an alias, or a statement such as SHOW or PRAGMA)"
                if isinstance(node, exp.Alias)
                else f"`{node.sql(dialect='duckdb')[:60]}`"
            )
            raise ValueError(
                f"{what} is not allowed: a condition may use the signals' columns, literals, "
                "comparisons, AND/OR/NOT, arithmetic, IN, BETWEEN, LIKE, CASE, CAST and the "
                f"functions {', '.join(ALLOWED_FUNCTIONS)}"
            )
        if isinstance(node, exp.Column) and (node.table or isinstance(node.this, exp.Star)):
            raise ValueError(f"`{node.sql(dialect='duckdb')}`: name columns alone, unqualified")
    return tree


def condition_sql(text: str, table: str | None = None) -> str:
    """The checked condition as DuckDB SQL, regenerated from its syntax tree, columns quoted
    (and qualified with `table`, so a join cannot make a column ambiguous)."""
    tree = parse_condition(text)
    if table:
        tree = tree.transform(
            lambda n: exp.column(n.name, table=table) if isinstance(n, exp.Column) else n
        )
    return tree.sql(dialect="duckdb", identify=True)


def _checked_condition(text: str) -> str:
    parse_condition(text)
    return text


Condition = Annotated[str, AfterValidator(_checked_condition)]


class RuleSpec(StrictModel):
    name: Name
    when: Condition


class FamilySpec(StrictModel):
    exclusive: bool = False
    otherwise: Name | None = None
    rules: list[RuleSpec] = Field(min_length=1)

    @field_validator("rules")
    @classmethod
    def _names_unique(cls, rules: list[RuleSpec]) -> list[RuleSpec]:
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise ValueError(f"rule names repeat: {names}")
        return rules

    @model_validator(mode="after")
    def _otherwise_needs_exclusive(self) -> "FamilySpec":
        if self.otherwise is not None and not self.exclusive:
            raise ValueError("`otherwise` only applies to an exclusive family")
        return self


class OverlaysFile(StrictModel):
    version: Literal[1] = 1
    families: dict[Name, FamilySpec] = Field(min_length=1)


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
    """Read and check an overlays file (the embedded default when empty)."""
    path = Path(path) if path else DEFAULT_OVERLAYS
    spec = load_model(path, OverlaysFile, OverlayError, "overlays")
    return [
        Family(name, tuple(Rule(r.name, r.when) for r in body.rules), body.exclusive,
               body.otherwise)
        for name, body in spec.families.items()
    ]  # fmt: skip


def check_conditions(
    conditions: list[tuple[str, str]], columns: list[str], path: Path, error: type[Exception]
) -> None:
    """Every (dotted place, `when`) is an allowed condition naming only `columns`; else `error`
    with one `<file>: <place>: <what is wrong>` line per bad condition."""
    known = set(columns)
    lines = []
    for where, when in conditions:
        try:
            tree = parse_condition(when)
        except ValueError as exc:
            lines.append(f"{path}: {where}: {exc}")
            continue
        unknown = sorted({c.name for c in tree.find_all(exp.Column)} - known)
        if unknown:
            lines.append(
                f"{path}: {where}: unknown column(s) {', '.join(unknown)}; the signals are: "
                f"{', '.join(sorted(known))}"
            )
    if lines:
        raise error("\n".join(lines))


def check_columns(families: list[Family], columns: list[str], path: str | Path | None = None):
    """Every `when` is an allowed condition and names only columns of the signals."""
    path = Path(path) if path else DEFAULT_OVERLAYS
    conditions = [
        (f"families.{family.name}.rules[{i}].when", rule.when)
        for family in families
        for i, rule in enumerate(family.rules)
    ]
    check_conditions(conditions, columns, path, OverlayError)


def evaluate(con, families: list[Family], signals: str, path=None) -> pl.DataFrame:
    """(profile_id, family, overlay, rule) for every customer of the table `signals`."""
    import duckdb

    path = Path(path) if path else DEFAULT_OVERLAYS
    table = quote(signals)
    parts = []
    for family in families:
        try:
            whens = [condition_sql(r.when) for r in family.rules]
        except ValueError as exc:
            raise OverlayError(f"{path}: families.{family.name}: `when` {exc}") from None
        if family.exclusive:
            cases = " ".join(
                f"WHEN ({when}) THEN {sql_string(r.name)}"
                for r, when in zip(family.rules, whens, strict=True)
            )
            fallback = sql_string(family.otherwise) if family.otherwise else "NULL"
            parts.append(
                f"SELECT profile_id, {sql_string(family.name)} AS family, "
                f"CASE {cases} ELSE {fallback} END AS overlay FROM {table}"
            )
        else:
            parts += [
                f"SELECT profile_id, {sql_string(family.name)} AS family, "
                f"{sql_string(r.name)} AS overlay FROM {table} WHERE ({when})"
                for r, when in zip(family.rules, whens, strict=True)
            ]
    sql = " UNION ALL ".join(parts)
    try:
        return con.sql(
            f"SELECT * FROM ({sql}) WHERE overlay IS NOT NULL ORDER BY profile_id, family, overlay"
        ).pl()
    except duckdb.Error as exc:
        raise OverlayError(f"{path}: a rule failed in DuckDB: {exc}") from None
