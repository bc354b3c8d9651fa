"""Data-quality suites for the raw tables, derived from the contract (one suite per source)."""

import datetime as dt

from seg_platform.core.quality import Expectation
from seg_platform.sources.contract import Source


def raw_suite(source: Source, earliest: dt.datetime, latest: dt.datetime) -> list[Expectation]:
    """Keys and required columns not null, the key unique, timestamps within the sane range."""
    suite = [
        Expectation("ExpectColumnValuesToNotBeNull", {"column": c.name})
        for c in source.columns
        if c.required
    ]
    if not source.key_optional:
        suite.append(Expectation("ExpectColumnValuesToBeUnique", {"column": source.key}))
    suite += [
        Expectation(
            "ExpectColumnValuesToBeBetween",
            {"column": c.name, "min_value": earliest, "max_value": latest},
        )
        for c in source.columns
        if c.type == "TIMESTAMP"
    ]
    return suite


def suite_columns(suite: list[Expectation]) -> list[str]:
    """The columns a suite reads, in first-use order (only these are handed to GX)."""
    seen: dict[str, None] = {}
    for expectation in suite:
        if "column" in expectation.kwargs:
            seen.setdefault(expectation.kwargs["column"], None)
    return list(seen)
