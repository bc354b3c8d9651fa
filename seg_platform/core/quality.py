"""Great Expectations 1.x run on an in-memory frame, for the asset checks of every layer.

Suites are plain data (`Expectation` lists built per table); GX is imported lazily because its
import takes seconds and the code location must load fast.
"""

import os
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from seg_platform.core.warehouse import fetch_one, quote


@dataclass(frozen=True)
class Expectation:
    """One GX expectation by class name, e.g. Expectation("ExpectColumnValuesToNotBeNull", ...)."""

    type: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        column = self.kwargs.get("column")
        return f"{self.type}({column})" if column else self.type


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: Expectation
    success: bool
    observed: str  # short human-readable observation


def validate_frame(
    frame: pl.DataFrame, expectations: list[Expectation]
) -> list[ExpectationOutcome]:
    """Validate a Polars frame with GX's pandas data source in an ephemeral context."""
    if not expectations:
        return []
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # Our own config: GX's default ephemeral one creates a temporary docs-site folder per context
    # (writing outside the platform home) and sends usage analytics over the network.
    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        ),
    )
    batch = (
        context.data_sources.add_pandas("frame")
        .add_dataframe_asset("table")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": frame.to_pandas()})
    )
    suite = gx.ExpectationSuite(name="checks")
    for expectation in expectations:
        suite.add_expectation(getattr(gxe, expectation.type)(**expectation.kwargs))
    results = batch.validate(suite).results
    # GX returns results grouped its own way (by column), not in suite order: match each
    # result to its expectation by type and column.
    pending: dict[tuple, list] = {}
    for result in results:
        config = result.expectation_config
        assert config is not None  # GX fills it on every result of a suite's validation
        pending.setdefault((config.type, config.kwargs.get("column")), []).append(result)
    outcomes = []
    for expectation in expectations:
        result = pending[(_snake(expectation.type), expectation.kwargs.get("column"))].pop(0)
        outcomes.append(ExpectationOutcome(expectation, bool(result.success), _observed(result)))
    return outcomes


def _snake(class_name: str) -> str:
    """GX's configuration name of an expectation class: ExpectColumnX -> expect_column_x."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in class_name).lstrip("_")


def _observed(result) -> str:
    info = result.exception_info or {}
    if isinstance(info, dict) and info and not info.get("exception_message"):
        # Per-metric form: {metric_id: {"exception_message": ...}}
        info = next(iter(info.values()), {})
    if isinstance(info, dict) and info.get("exception_message"):
        return f"could not be evaluated: {info['exception_message']}"
    r = result.result or {}
    if "unexpected_count" in r:
        count, total = r.get("unexpected_count") or 0, r.get("element_count") or 0
        if not count:
            return f"all {total:,} rows as expected"
        sample = ", ".join(repr(v) for v in (r.get("partial_unexpected_list") or [])[:3])
        return f"{count:,} of {total:,} rows unexpected (e.g. {sample})"
    if "observed_value" in r:
        return f"observed {r['observed_value']}"
    return "passed" if result.success else "failed"


# Above this many rows a suite is evaluated inside DuckDB instead of in GX's pandas data source:
# at 1M customers a raw table holds tens of millions of rows, and copying them to pandas for GX
# took minutes and gigabytes (docs/scaling.md). GX's SQL data source is the intended push-down
# but fails on DuckDB (STACK_NOTES), so the few expectation types the raw suites use are
# translated here, with GX's semantics and wording; a test holds the two paths to the same
# outcomes.
MAX_GX_ROWS_ENV = "SEG_PLATFORM_GX_MAX_ROWS"
DEFAULT_MAX_GX_ROWS = 200_000
_PUSHED_DOWN = ("ExpectColumnValuesToNotBeNull", "ExpectColumnValuesToBeUnique",
                "ExpectColumnValuesToBeBetween")  # fmt: skip


def max_gx_rows() -> int:
    """The row count up to which suites run in Great Expectations itself."""
    value = os.environ.get(MAX_GX_ROWS_ENV, str(DEFAULT_MAX_GX_ROWS))
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"{MAX_GX_ROWS_ENV} must be a whole number of rows, not {value!r}"
        ) from None


def can_push_down(expectations: list[Expectation]) -> bool:
    return all(e.type in _PUSHED_DOWN for e in expectations)


def validate_relation(
    con, relation: str, expectations: list[Expectation]
) -> list[ExpectationOutcome]:
    """The same outcomes as `validate_frame`, computed by DuckDB on `relation` in one scan
    per expectation (samples of unexpected values as GX shows them, up to three)."""
    (total,) = fetch_one(con, f"SELECT count(*) FROM {relation}")
    outcomes = []
    for e in expectations:
        if e.type not in _PUSHED_DOWN:
            raise ValueError(f"{e.type} cannot be evaluated in SQL")
        col = quote(e.kwargs["column"])
        if e.type == "ExpectColumnValuesToNotBeNull":
            (bad,) = fetch_one(con, f"SELECT count(*) FROM {relation} WHERE {col} IS NULL")
            sample = [None] * min(bad, 3)
        elif e.type == "ExpectColumnValuesToBeUnique":
            bad, sample = fetch_one(
                con,
                f"SELECT coalesce(sum(n), 0), list(v ORDER BY v)[1:3] FROM ("
                f"SELECT {col} AS v, count(*) AS n FROM {relation} WHERE {col} IS NOT NULL "
                "GROUP BY 1 HAVING count(*) > 1)",
            )
        else:
            bounds = [e.kwargs.get("min_value"), e.kwargs.get("max_value")]
            tests = [t for t, b in zip((f"{col} < ?", f"{col} > ?"), bounds, strict=True)
                     if b is not None]  # fmt: skip
            params = [b for b in bounds if b is not None]
            where = " OR ".join(tests) or "false"
            bad, sample = fetch_one(
                con,
                f"SELECT count(*), list({col} ORDER BY {col})[1:3] FROM {relation} "
                f"WHERE {col} IS NOT NULL AND ({where})",
                params,
            )
        bad = int(bad or 0)
        if not bad:
            observed = f"all {total:,} rows as expected"
        else:
            shown = ", ".join(repr(v) for v in (sample or [])[:3])
            observed = f"{bad:,} of {total:,} rows unexpected (e.g. {shown})"
        outcomes.append(ExpectationOutcome(e, bad == 0, observed))
    return outcomes
