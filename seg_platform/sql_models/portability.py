"""SQL written once, in DuckDB's dialect, compiled for Apache Spark.

sqlglot transpiles DuckDB to Spark without ever raising, yet some constructs give other values
on Spark, silently. `to_spark` compiles a statement with the rewrites that keep values equal
(they need the columns' types, so it is given the tables' schemas); `divergences` names the
constructs no rewrite makes portable, and a model using one fails the lint
(`portability_problems`) before it can give different numbers on the two engines.

| DuckDB | Spark, as sqlglot writes it | rewrite |
|---|---|---|
| `DATE - DATE` (whole days) | an interval | `DATEDIFF(end, start)` |
| `date_diff('day', a, b)` (day boundaries) | whole 24-hour spans | `DATEDIFF` of the dates |
| `date_diff('second', a, b)` | whole seconds | difference of `UNIX_SECONDS` |
| `x / y` (DOUBLE for numbers) | DECIMAL, with lost scale, for decimals | both sides `DOUBLE` |
| `$as_of` (a bound parameter) | a named marker | a typed literal |

Known to diverge, refused by the lint: `hash()` (another function; `md5` agrees),
`list_distinct`/`array_distinct` (another order), `date_diff` in other units, ordered
aggregates without an `ORDER BY` (`string_agg`, `list`, `array_agg`), `any_value`/`first`/`last`
and random functions (no defined result), and functions Spark does not know.

Plain parsing: no DuckDB connection, no Spark session, no Dagster.
"""

import datetime as dt
from collections.abc import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

# A table's columns and their DuckDB types, by schema: {"staging": {"stg_orders": {...}}}.
Schemas = Mapping[str, Mapping[str, Mapping[str, str]]]

_DAY_UNITS = {"day", "days", "d"}
_SECOND_UNITS = {"second", "seconds", "s"}
_UNORDERED_AGGREGATES = (exp.GroupConcat, exp.ArrayAgg)
_ANY_ROW = {"any_value", "first", "last", "arbitrary"}
_RANDOM = (exp.Rand, exp.Uuid)
_HASH = {"hash"}
_DOUBLES = {exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT}


class PortabilityError(ValueError):
    """A statement that cannot be compiled for Spark with equal results."""


def parameter_literal(value: object) -> exp.Expr:
    """A bound parameter's value as a typed SQL literal (the as-of parameters are dates and
    timestamps; numbers and text also appear in embedded statements)."""
    if isinstance(value, dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(repr(value))
    if isinstance(value, str):
        return exp.Literal.string(value)
    raise PortabilityError(f"parameter of type {type(value).__name__} has no SQL literal")


def _parse(sql: str) -> exp.Expr:
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except SqlglotError as exc:
        raise PortabilityError(f"cannot parse the statement: {str(exc).splitlines()[0]}") from None
    if tree is None:
        raise PortabilityError("empty statement")
    return tree


def _bind(tree: exp.Expr, params: Mapping[str, object]) -> exp.Expr:
    missing = sorted({p.name for p in tree.find_all(exp.Placeholder)} - set(params))
    if missing:
        raise PortabilityError(f"no value for parameter(s) {', '.join(missing)}")
    return tree.transform(
        lambda node: (
            parameter_literal(params[node.name]) if isinstance(node, exp.Placeholder) else node
        )
    )


def _typed(tree: exp.Expr, schemas: Schemas) -> exp.Expr:
    plain: dict[str, object] = {
        s: {t: dict(cols) for t, cols in tables.items()} for s, tables in schemas.items()
    }
    try:
        qualified = qualify(
            tree,
            schema=plain,
            dialect="duckdb",
            validate_qualify_columns=False,
            quote_identifiers=False,
        )
    except OptimizeError as exc:
        raise PortabilityError(f"cannot resolve the statement's columns: {exc}") from None
    return annotate_types(qualified, schema=plain, dialect="duckdb")


def _is(node: exp.Expr | None, *types: object) -> bool:
    return node is not None and node.type is not None and node.type.this in types


def _unit(node: exp.Expr) -> str:
    unit = node.args.get("unit")
    return (unit.name if unit is not None else "day").lower()


def _datediff(end: exp.Expr, start: exp.Expr) -> exp.Expr:
    """Spark's two-argument DATEDIFF: whole days from `start` to `end`, both dates."""
    return exp.Anonymous(
        this="DATEDIFF", expressions=[exp.cast(end, "DATE"), exp.cast(start, "DATE")]
    )


def _portable(node: exp.Expr) -> exp.Expr | None:
    """The Spark form of one node whose value would differ (None: it is portable as it is).
    Built from the node's own children, not copies, so rewrites below it are kept."""
    date = exp.DataType.Type.DATE
    if isinstance(node, exp.Sub) and _is(node.left, date) and _is(node.right, date):
        return _datediff(node.left, node.right)
    if isinstance(node, exp.DateDiff):
        unit, end, start = _unit(node), node.this, node.expression
        if unit in _DAY_UNITS:
            return _datediff(end, start)
        if unit in _SECOND_UNITS:
            seconds = [exp.Anonymous(this="UNIX_SECONDS", expressions=[e]) for e in (end, start)]
            return exp.Paren(this=exp.Sub(this=seconds[0], expression=seconds[1]))
    if isinstance(node, exp.Div) and not (_is(node.left, *_DOUBLES) and _is(node.right, *_DOUBLES)):
        return exp.Div(
            this=exp.cast(node.left, "DOUBLE"), expression=exp.cast(node.right, "DOUBLE")
        )
    return None


def _depth(node: exp.Expr) -> int:
    depth = 0
    while node.parent is not None:
        node, depth = node.parent, depth + 1
    return depth


def _rewrite(tree: exp.Expr) -> exp.Expr:
    """Every diverging node replaced by its Spark form, the deepest first (a division inside
    a division is rewritten too), in place."""
    for node in sorted(tree.find_all(exp.Sub, exp.DateDiff, exp.Div), key=_depth, reverse=True):
        # Types are read before any child moves into the replacement.
        replacement = _portable(node)
        if replacement is not None:
            node.replace(replacement)
    return tree


def divergences(sql: str) -> list[str]:
    """The constructs of a DuckDB statement that give other results on Spark, in words.

    Types are not needed: each of these diverges whatever its arguments."""
    tree = _parse(sql)
    found: list[str] = []
    for node in tree.walk():
        name = node.name.lower() if isinstance(node, exp.Anonymous | exp.Func) else ""
        if isinstance(node, exp.Anonymous) and name in _HASH:
            found.append("hash(): another function on Spark; use md5()")
        elif isinstance(node, exp.ArrayDistinct) or name in {"list_distinct", "array_distinct"}:
            found.append("list_distinct(): elements come in another order; sort the result")
        elif isinstance(node, exp.DateDiff) and _unit(node) not in _DAY_UNITS | _SECOND_UNITS:
            found.append(
                f"date_diff('{_unit(node)}', ...): Spark counts whole units, DuckDB boundaries; "
                "use days or seconds"
            )
        elif isinstance(node, _UNORDERED_AGGREGATES) and not node.find(exp.Order):
            found.append(f"{node.sql('duckdb').split('(')[0]}() without ORDER BY: order differs")
        elif isinstance(node, exp.AnyValue | exp.First | exp.Last) or name in _ANY_ROW:
            found.append(f"{name or node.key}(): any row's value; results differ between engines")
        elif isinstance(node, _RANDOM) or name in {"random", "uuid", "gen_random_uuid"}:
            found.append(f"{name or node.key}(): random values differ between engines")
    return sorted(set(found))


def to_spark(sql: str, params: Mapping[str, object], schemas: Schemas) -> str:
    """Compile a DuckDB statement (a model's SELECT) for Spark SQL, with values kept equal.

    `params`: the bound parameters' values (`$as_of` and the like); `schemas`: the DuckDB
    types of the tables it reads. Raises PortabilityError for a construct known to diverge."""
    problems = divergences(sql)
    if problems:
        raise PortabilityError("not portable to Spark: " + "; ".join(problems))
    return _rewrite(_typed(_bind(_parse(sql), params), schemas)).sql(dialect="spark")
