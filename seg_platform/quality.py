"""Great Expectations 1.x run on an in-memory frame, for the asset checks of every layer.

Suites are plain data (`Expectation` lists built per table); GX is imported lazily because its
import takes seconds and the code location must load fast.
"""

from dataclasses import dataclass, field
from typing import Any

import polars as pl


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
    outcomes = []
    for expectation, result in zip(expectations, results, strict=True):
        outcomes.append(ExpectationOutcome(expectation, bool(result.success), _observed(result)))
    return outcomes


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
