"""Read `dbt_like_sql/`: one SQL file per table, its dependencies parsed with sqlglot.

A model is `dbt_like_sql/<layer>/<name>.sql`: the table `<layer>.<name>`, the Dagster asset
`<layer>/<name>` in group `<layer>`. Its leading `--` comment is the description; the tables it
reads (found by parsing the SQL, never by pattern matching) are its dependencies. A model that
uses one of the as-of parameters (`$as_of`, `$as_of_date`, `$month_start`) is a monthly snapshot:
one partition per month, stored in one table with an `as_of_date` column. An output column
documented with a trailing comment `-- sources | window | meaning [| nulls <= 0.9]` is a catalog
entry (a feature).

This module knows nothing of Dagster or DuckDB connections; it is plain parsing.
"""

import graphlib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

# The as-of parameters a snapshot model may use, for the month being computed.
AS_OF_PARAMETERS = {
    "as_of": "last instant of the month (TIMESTAMP): count events with ts <= $as_of",
    "as_of_date": "last day of the month (DATE): the snapshot's `as_of_date`",
    "month_start": "first day of the month (DATE)",
}
PARTITION_COLUMN = "as_of_date"
WINDOWS = ("7d", "30d", "90d", "lifetime", "current")


class SqlModelError(ValueError):
    """A problem in a SQL model, naming the file and (where known) the line."""

    def __init__(self, path: Path | str, message: str, line: int | None = None):
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")
        self.path, self.line = Path(path), line


@dataclass(frozen=True)
class CatalogEntry:
    """One documented output column of a model: what a segment's number means."""

    name: str
    meaning: str
    sources: tuple[str, ...]
    window: str
    max_null_share: float | None = None  # None: never null when its sources have data
    minimum: float | None = 0.0  # numbers below are an error (counts, amounts, days)
    maximum: float | None = None  # rates (`*_rate`, `*_share`) default to at most 1
    line: int = 0


@dataclass(frozen=True)
class Model:
    """One SQL file: one table, one asset."""

    name: str
    layer: str
    path: Path
    sql: str
    description: str
    reads: tuple[str, ...]  # qualified tables, e.g. ("raw.orders", "identity.profiles")
    parameters: frozenset[str] = frozenset()
    grain: tuple[str, ...] = ()  # columns that identify a row (checked unique)
    columns: tuple[str, ...] = ()  # output column names, in order (when statically known)
    catalog: tuple[CatalogEntry, ...] = field(default=())

    @property
    def table(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def partitioned(self) -> bool:
        return bool(self.parameters)

    @property
    def code_version(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]


def leading_comment(sql: str) -> tuple[str, tuple[str, ...]]:
    """The `--` comment at the top of the file: (description, grain).

    A line `-- grain: col, col` names the columns that identify a row; the other lines are the
    description, joined into one paragraph.
    """
    lines: list[str] = []
    grain: tuple[str, ...] = ()
    for raw in sql.splitlines():
        line = raw.strip()
        if not line:
            if lines:
                break
            continue
        if not line.startswith("--"):
            break
        text = line.removeprefix("--").strip()
        if text.lower().startswith("grain:"):
            grain = tuple(c.strip() for c in text.split(":", 1)[1].split(",") if c.strip())
        else:
            lines.append(text)
    return " ".join(x for x in lines if x), grain


def _catalog_entry(path: Path, name: str, comment: str, line: int) -> CatalogEntry:
    parts = [p.strip() for p in comment.split("|")]
    if len(parts) not in (3, 4):
        raise SqlModelError(
            path,
            f"column {name!r}: a catalog comment is 'sources | window | meaning' "
            f"(optionally '| nulls <= 0.9; range -1..1'), got {comment.strip()!r}",
            line,
        )
    sources = tuple(s.strip() for s in parts[0].split(",") if s.strip())
    window = parts[1]
    if window not in WINDOWS:
        raise SqlModelError(
            path, f"column {name!r}: window {window!r} is not one of {', '.join(WINDOWS)}", line
        )
    if not sources or not parts[2]:
        raise SqlModelError(
            path, f"column {name!r}: catalog comment needs sources and a meaning", line
        )
    rules: dict[str, float | None] = {"max_null_share": None, "minimum": 0.0, "maximum": None}
    for rule in (r.replace(" ", "") for r in (parts[3] if len(parts) == 4 else "").split(";")):
        try:
            if not rule:
                continue
            if rule.startswith("nulls<="):
                share = rules["max_null_share"] = float(rule.removeprefix("nulls<="))
                if not 0 <= share <= 1:
                    raise ValueError
            elif rule.startswith("range"):
                low, high = rule.removeprefix("range").split("..")
                rules["minimum"] = float(low) if low else None
                rules["maximum"] = float(high) if high else None
            else:
                raise ValueError
        except ValueError:
            raise SqlModelError(
                path,
                f"column {name!r}: rules are 'nulls <= <share in [0, 1]>' and 'range <low>..<high>'"
                f" separated by ';', got {rule!r}",
                line,
            ) from None
    if rules["maximum"] is None and name.endswith(("_rate", "_share")):
        rules["maximum"] = 1.0
    return CatalogEntry(name, parts[2], sources, window, line=line, **rules)


def _line_of(sql: str, projection: exp.Expression) -> int:
    """Line (1-based) of an output column's alias (or the column itself) in the file.

    From the token's character offset: sqlglot's own line numbers drift after comments.
    """
    node = projection.args.get("alias") or projection
    for candidate in (node, *node.find_all(exp.Identifier)):
        start = (getattr(candidate, "meta", None) or {}).get("start")
        if start is not None:
            return sql.count("\n", 0, int(start)) + 1
    return 0


def parse_model(path: Path, layer: str) -> Model:
    """Parse one SQL file into a Model, or raise SqlModelError naming the file and line."""
    sql = path.read_text()
    name = path.stem
    description, grain = leading_comment(sql)
    if not description:
        raise SqlModelError(path, "starts without a `--` comment saying what the table means", 1)
    if not grain:
        raise SqlModelError(
            path, "the leading comment needs a line `-- grain: <columns that identify a row>`", 1
        )
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        raise SqlModelError(
            path, f"SQL does not parse: {first.get('description', exc)}", first.get("line")
        ) from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise SqlModelError(path, "must hold exactly one SELECT (or WITH ... SELECT) statement")
    tree = statements[0]

    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    reads: set[str] = set()
    for table in tree.find_all(exp.Table):
        if not table.db and table.name in ctes:
            continue
        if not table.name:  # table functions such as range() or read_parquet()
            continue
        if not table.db:
            raise SqlModelError(
                path,
                f"table {table.name!r} has no schema: write it as <schema>.{table.name} "
                "(e.g. staging.stg_orders, raw.orders)",
            )
        reads.add(f"{table.db}.{table.name}")

    parameters = frozenset(p.name for p in tree.find_all(exp.Placeholder) if p.name)
    unknown = parameters - AS_OF_PARAMETERS.keys()
    if unknown:
        raise SqlModelError(
            path,
            f"unknown parameter(s) {', '.join('$' + u for u in sorted(unknown))}; "
            f"known: {', '.join('$' + k for k in AS_OF_PARAMETERS)}",
        )

    columns: list[str] = []
    catalog: list[CatalogEntry] = []
    select = tree if isinstance(tree, exp.Select) else tree.find(exp.Select)
    for projection in select.expressions if select is not None else []:
        if isinstance(projection, exp.Star):
            columns = []
            break
        column = projection.alias_or_name
        columns.append(column)
        comments = [c for c in (projection.comments or []) if c.strip()]
        if comments:
            catalog.append(_catalog_entry(path, column, comments[-1], _line_of(sql, projection)))
    if parameters and PARTITION_COLUMN not in columns:
        raise SqlModelError(
            path,
            f"a monthly snapshot model must select `$as_of_date AS {PARTITION_COLUMN}` "
            "(its rows are stored per month under that column)",
        )
    missing = [c for c in grain if columns and c not in columns]
    if missing:
        raise SqlModelError(path, f"grain column(s) {', '.join(missing)} are not selected", 1)
    return Model(
        name=name,
        layer=layer,
        path=path,
        sql=sql,
        description=description,
        reads=tuple(sorted(reads)),
        parameters=parameters,
        grain=grain,
        columns=tuple(columns),
        catalog=tuple(catalog),
    )


def load_project(root: Path) -> list[Model]:
    """Every model under `root` (one folder per layer), in dependency order."""
    models: dict[str, Model] = {}
    for path in sorted(root.glob("*/*.sql")):
        model = parse_model(path, path.parent.name)
        if model.name in models:
            raise SqlModelError(
                path, f"a model named {model.name!r} already exists in {models[model.name].path}"
            )
        models[model.name] = model
    by_table = {m.table: m for m in models.values()}
    for model in models.values():
        for table in model.reads:
            schema = table.split(".")[0]
            if schema in {m.layer for m in models.values()} and table not in by_table:
                raise SqlModelError(model.path, f"reads {table}, which no model in {root} builds")
    order = graphlib.TopologicalSorter(
        {m.table: [t for t in m.reads if t in by_table] for m in models.values()}
    )
    try:
        return [by_table[t] for t in order.static_order()]
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise SqlModelError(root, f"models depend on each other in a cycle: {cycle}") from None
