"""Probabilistic record linkage of contacts that share no hard identifier (Splink 5 on DuckDB).

Two CRM entries of the same person typed twice, with a typo in a name and no common e-mail or
phone, cannot be joined by rules on identifiers. This module scores candidate pairs with a
Fellegi-Sunter model (Splink): u probabilities from random sampling, m probabilities from
expectation maximisation, the prior from deterministic rules, and returns the pairs whose match
probability reaches a threshold.

The model is described as data (`LinkageSpec`), so a source can ship its own spec. Every run uses
its own in-memory DuckDB connection (never the warehouse) with spill files in a temporary
directory, and is deterministic: u sampling is hash-based with a fixed seed, EM is deterministic,
and the output is rounded and sorted.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import duckdb
import polars as pl
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import Linker, SettingsCreator, block_on
from splink.backends.duckdb import DuckDBAPI
from splink.blocking_analysis import count_comparisons_from_blocking_rules
from splink.internals.exceptions import SplinkException

from seg_platform.core.warehouse import memory_connection

LinkType = Literal["dedupe_only", "link_only"]
ComparisonKind = Literal[
    "name",
    "person_name",
    "jaro_winkler",
    "email",
    "email_strict",
    "exact",
    "levenshtein",
    "damerau_levenshtein",
    "date",
    "postcode",
    "uk_postcode",
]
BlockingRule = tuple[str, ...]

logger = logging.getLogger(__name__)

OUTPUT_COLUMNS = ("id_l", "id_r", "match_probability")
# Match probabilities are rounded so that float noise from parallel sums cannot change the output.
PROBABILITY_DECIMALS = 10
# Broad blocking rules may add at most this many candidate pairs per input record (and at most
# the spec's `comparison_budget`): the cost of linkage stays linear in the records.
BROAD_PAIRS_PER_RECORD = 200
SPLINK_LOG_LEVEL = logging.WARNING

# Default thresholds per kind: Jaro-Winkler similarities, or edit distances.
_DEFAULT_THRESHOLDS: dict[str, tuple[float, ...]] = {
    "name": (0.92, 0.88, 0.7),
    "person_name": (0.88, 0.7),
    "jaro_winkler": (0.9, 0.7),
    "levenshtein": (1, 2),
    "damerau_levenshtein": (1, 2),
    "postcode": (1,),
}


@dataclass(frozen=True)
class ColumnComparison:
    """How one column is compared between the two records of a pair.

    Attributes:
        column: Column name (compared after stripping, lower-casing, and empty -> null).
        kind: `name` (exact, then Jaro-Winkler levels, Splink's NameComparison),
            `person_name` (exact, one typo by Damerau-Levenshtein, then Jaro-Winkler levels: a
            typo in a short name stays strong evidence), `jaro_winkler`, `email` (full
            address, user name, Jaro-Winkler levels: Splink's EmailComparison), `email_strict`
            (exact, same user name at another domain, one typo, else: no Jaro-Winkler level,
            which two colleagues' addresses such as anna.smith@x.com / hannah.smith@x.com
            reach), `exact`, `levenshtein`,
            `damerau_levenshtein` (typos and transpositions), `date` (YYYYMMDD strings: exact,
            one edit, one month, one year, ten years), `postcode` (any country: exact, then
            Damerau-Levenshtein distances, e.g. a digit typo) or `uk_postcode` (full, sector,
            district, area).
        thresholds: Jaro-Winkler similarities (`name`, `jaro_winkler`) or edit distances
            (`levenshtein`, `damerau_levenshtein`, `postcode`); empty for the kind's defaults.
        term_frequency: Weight exact agreement by how rare the value is (a shared "Smith" says
            less than a shared "Nakamura").
        m_probabilities: Prior m probabilities (share of true matches at each level), one per
            non-null level, most similar first and "anything else" last; they must sum to 1.
            Used as they are when EM does not run (small inputs) and as EM's starting point
            otherwise. Empty for Splink's defaults.
        swapped_with: `person_name` only: the other name column (first and last name). A pair
            whose two names are equal crosswise ("Taylor, Colin" entered as first "Taylor",
            last "Colin") gets its own level after the exact one, with the prior m
            `SWAPPED_NAMES_M` taken from the exact level's.
    """

    column: str
    kind: ComparisonKind
    thresholds: tuple[float, ...] = ()
    term_frequency: bool = False
    m_probabilities: tuple[float, ...] = ()
    swapped_with: str = ""

    def __post_init__(self) -> None:
        if self.kind not in get_args(ComparisonKind):
            raise ValueError(f"unknown comparison kind {self.kind!r} for {self.column!r}")
        object.__setattr__(self, "thresholds", tuple(self.thresholds))
        object.__setattr__(self, "m_probabilities", tuple(self.m_probabilities))
        m = self.m_probabilities
        if m and (min(m) <= 0 or abs(sum(m) - 1) > 1e-6):
            raise ValueError(f"m_probabilities of {self.column!r} must be > 0 and sum to 1")


@dataclass(frozen=True)
class LinkageSpec:
    """A linkage model as data: comparisons, blocking, training and decision threshold.

    Attributes:
        comparisons: One `ColumnComparison` per compared column.
        blocking_rules: Candidate pairs are those equal on all items of at least one rule. An
            item is a column name or a SQL expression, e.g. `("company", "substr(last_name, 1,
            3)")`.
        link_type: `dedupe_only` (one frame against itself) or `link_only` (across frames).
        threshold: Minimum match probability of a returned pair.
        seed: Seed of the (hash-based) sample used to estimate u probabilities.
        training_blocking_rules: One EM session per rule; each estimates the m probabilities
            of the comparisons not on the rule's columns. Together they must cover every
            comparison.
        max_pairs: Random pairs sampled to estimate u probabilities.
        deterministic_rules: Rules that admit almost no false positives; the pairs they find,
            divided by `deterministic_recall`, estimate the prior match probability.
        deterministic_recall: Assumed share of the true pairs the deterministic rules find.
        probability_two_random_records_match: The prior, if known; overrides the estimate.
        expected_match_rate: Fallback prior when the deterministic rules find nothing: the
            share of records (of the smaller frame, for `link_only`) expected to have a match.
        em_min_records: EM runs only when the input has at least this many records; below,
            the prior m probabilities are used (EM on a few hundred records with a handful of
            matches does not find the match cluster). u is always estimated from the input.
        em_max_iterations: Iteration cap of each EM session.
        broad_blocking_rules: Rules that find what a typo in two fields hides from
            `blocking_rules` (one column alone, name prefixes), most useful first. Each is used
            only while the pairs it adds keep the total within `comparison_budget`; a rule
            over the budget is skipped (and reported), the next one is tried.
        comparison_budget: Candidate pairs the broad rules may add: at most this many, and at
            most `BROAD_PAIRS_PER_RECORD` per record (of the smallest frame, for `link_only`).
    """

    comparisons: tuple[ColumnComparison, ...]
    blocking_rules: tuple[BlockingRule, ...]
    link_type: LinkType = "dedupe_only"
    threshold: float = 0.9
    seed: int = 42
    training_blocking_rules: tuple[BlockingRule, ...] = ()
    max_pairs: float = 500_000
    deterministic_rules: tuple[BlockingRule, ...] = ()
    deterministic_recall: float = 0.7
    probability_two_random_records_match: float | None = None
    expected_match_rate: float = 0.05
    em_min_records: int = 1000
    em_max_iterations: int = 25
    broad_blocking_rules: tuple[BlockingRule, ...] = ()
    comparison_budget: int = 0

    def __post_init__(self) -> None:
        for name in (
            "comparisons",
            "blocking_rules",
            "training_blocking_rules",
            "broad_blocking_rules",
        ):
            object.__setattr__(self, name, _as_tuple(getattr(self, name)))
        object.__setattr__(self, "deterministic_rules", _as_tuple(self.deterministic_rules))
        if self.link_type not in ("dedupe_only", "link_only"):
            raise ValueError(f"link_type must be dedupe_only or link_only, not {self.link_type!r}")
        if not self.comparisons or not self.blocking_rules:
            raise ValueError("a LinkageSpec needs at least one comparison and one blocking rule")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], not {self.threshold}")
        if not 0.0 < self.deterministic_recall <= 1.0:
            raise ValueError("deterministic_recall must be in (0, 1]")
        if not 0.0 < self.expected_match_rate <= 1.0:
            raise ValueError("expected_match_rate must be in (0, 1]")

    @property
    def columns(self) -> tuple[str, ...]:
        """The compared columns, in comparison order."""
        return tuple(c.column for c in self.comparisons)


def _as_tuple(value: Sequence[Any]) -> tuple[Any, ...]:
    """Lists (of lists) given for tuple fields, converted so the spec stays hashable."""
    return tuple(tuple(v) if isinstance(v, list) else v for v in value)


# Priors for CRM duplicates: names are mostly re-typed identically or with one typo; e-mail,
# phone and role often differ between two entries of one person (work vs private address,
# mobile vs desk phone, promotion); the company rarely does.
_CRM_NAME_M = (0.84, 0.1, 0.03, 0.015, 0.015)

CRM_CONTACTS_SPEC = LinkageSpec(
    comparisons=(
        ColumnComparison(
            "first_name", "person_name", term_frequency=True, m_probabilities=_CRM_NAME_M
        ),
        ColumnComparison(
            "last_name", "person_name", term_frequency=True, m_probabilities=_CRM_NAME_M
        ),
        ColumnComparison("email", "email_strict", m_probabilities=(0.5, 0.08, 0.07, 0.35)),
        ColumnComparison(
            "phone", "levenshtein", thresholds=(1,), m_probabilities=(0.6, 0.05, 0.35)
        ),
        ColumnComparison(
            "company",
            "jaro_winkler",
            thresholds=(0.92,),
            term_frequency=True,
            m_probabilities=(0.8, 0.08, 0.12),
        ),
        ColumnComparison(
            "role",
            "jaro_winkler",
            thresholds=(0.92,),
            term_frequency=True,
            m_probabilities=(0.6, 0.1, 0.3),
        ),
        ColumnComparison("country", "exact", term_frequency=True, m_probabilities=(0.95, 0.05)),
    ),
    # A typo touches one name field; the other, with company and role, still blocks the pair.
    # Blocks stay small at scale (no block on a last name alone: at 600k contacts and a few
    # hundred common surnames that is ~1e9 pairs).
    blocking_rules=(
        ("first_name", "last_name"),
        ("first_name", "company", "role"),
        ("last_name", "company", "role"),
        ("email",),
        ("phone",),
    ),
    link_type="dedupe_only",
    threshold=0.9,
    # No EM: m comes from the priors above, u from the data. EM on contacts ran away to
    # "everything matches" (lambda -> 1) on company-blocked pairs, since country follows company
    # and typo duplicates are under 0.1% of such pairs. Pass training rules to opt in.
    training_blocking_rules=(),
    deterministic_rules=(("email",), ("first_name", "last_name", "company"), ("phone",)),
    deterministic_recall=0.7,
    expected_match_rate=0.05,
)
"""CRM contacts (first_name, last_name, email, phone, company, role, country), one table deduped.

Phone numbers are expected normalised upstream (E.164), so one edit is a typo. Company and role
get a fuzzy level for "Acme" / "Acme Corp" style variants. E-mail has no Jaro-Winkler level:
colleagues' addresses at one domain look alike. The prior comes from exact e-mail, phone or
full-name-at-company pairs (assumed to be 70% of duplicates), else 5% of contacts duplicated.
"""

# Person attributes of a contact, in the order they are compared, with how each is compared
# and its prior m probabilities (used as they are below `em_min_records`, and as EM's start).
_PERSON_COMPARISONS: dict[str, ColumnComparison] = {
    c.column: c
    for c in (
        *CRM_CONTACTS_SPEC.comparisons[:2],
        ColumnComparison("date_of_birth", "date",
                         m_probabilities=(0.8, 0.06, 0.03, 0.04, 0.03, 0.04)),
        ColumnComparison("address", "jaro_winkler", thresholds=(0.92, 0.8), term_frequency=True,
                         m_probabilities=(0.7, 0.12, 0.08, 0.1)),
        ColumnComparison("postcode", "postcode", thresholds=(1,), m_probabilities=(0.8, 0.1, 0.1)),
        ColumnComparison("city", "jaro_winkler", thresholds=(0.92,), term_frequency=True,
                         m_probabilities=(0.85, 0.07, 0.08)),
        *CRM_CONTACTS_SPEC.comparisons[2:],
    )
}  # fmt: skip
# Strong person keys: with one of them present, EM has blocking rules whose pairs are mostly
# matches, so the m probabilities are learnt from the data instead of taken from the priors.
_PERSON_KEYS = ("date_of_birth", "postcode", "address")
# Candidate blocking rules, most selective first; a rule is used when all its columns are
# present. Any single typo leaves at least one rule that still brings the pair together.
_PERSON_BLOCKING: tuple[BlockingRule, ...] = (
    # Both names, in either order: "Taylor, Colin" entered the wrong way round, or a full name
    # written family name first ("Douglas Robin"), meets its person's other records.
    ("least(first_name, last_name)", "greatest(first_name, last_name)"),
    ("last_name", "date_of_birth"),
    ("first_name", "date_of_birth"),
    ("date_of_birth", "postcode"),
    ("postcode", "last_name"),
    ("postcode", "first_name"),
    ("address", "postcode"),
    ("city", "last_name", "date_of_birth"),
    ("email",),
    ("phone",),
    ("first_name", "company", "role"),
    ("last_name", "company", "role"),
)


def _prefix(column: str, length: int) -> str:
    """A blocking item: the first `length` characters of `column`."""
    return f"substr({column}, 1, {length})"


_PREFIX_ITEM = re.compile(r"substr\((\w+), 1, \d+\)")
_ORDERED_ITEM = re.compile(r"(?:least|greatest)\((\w+), (\w+)\)")


def rule_columns(rule: BlockingRule) -> set[str]:
    """The columns a blocking rule reads (an item is a column, a `_prefix` of one, or the
    `least` / `greatest` of two)."""
    columns: set[str] = set()
    for item in rule:
        if m := _PREFIX_ITEM.fullmatch(item):
            columns.add(m.group(1))
        elif m := _ORDERED_ITEM.fullmatch(item):
            columns.update(m.groups())
        else:
            columns.add(item)
    return columns


# Broader rules, for what a typo in two fields hides from the rules above (a misspelt surname
# and a wrong birth day): used while their pairs fit the comparison budget, most useful first.
_PERSON_BROAD: tuple[BlockingRule, ...] = (
    ("last_name",),
    ("date_of_birth",),
    ("first_name", "city"),
    ("postcode",),
    (_prefix("first_name", 3), _prefix("last_name", 3)),
    (_prefix("postcode", 3), "date_of_birth"),
    (_prefix("first_name", 2), _prefix("last_name", 2), _prefix("date_of_birth", 4)),
    ("first_name",),
    ("address",),
    ("city", _prefix("last_name", 2)),
    (_prefix("first_name", 1), _prefix("last_name", 1), "company"),
)
_PERSON_TRAINING: tuple[BlockingRule, ...] = (
    ("date_of_birth",),
    ("first_name", "last_name"),
    ("postcode",),
)
_PERSON_DETERMINISTIC: tuple[BlockingRule, ...] = (
    ("email",),
    ("phone",),
    ("first_name", "last_name", "date_of_birth"),
    ("first_name", "last_name", "postcode"),
    ("first_name", "last_name", "company"),
)


def person_spec(
    present: Sequence[str],
    threshold: float = 0.9,
    blocking_rules: Sequence[BlockingRule] = (),
    comparison_budget: int = 2_000_000,
) -> LinkageSpec:
    """The linkage model for contacts with the columns in `present` (those filled in the data).

    Comparisons come from `_PERSON_COMPARISONS`, blocking from `_PERSON_BLOCKING`, both limited
    to present columns. With a strong person key (date of birth, postcode or address) the m
    probabilities are estimated by EM on rules whose pairs are mostly matches; without one, EM
    on name or company blocks runs away (a company's colleagues outnumber its duplicates), so the
    priors are used. `blocking_rules`, when given (lists of present columns), replace the
    automatic choice; otherwise broad rules fill `comparison_budget` (see `LinkageSpec`).
    """
    have = set(present)
    comparisons = tuple(c for name, c in _PERSON_COMPARISONS.items() if name in have)
    if {"first_name", "last_name"} <= have:
        comparisons = tuple(
            _with_swap(c, "last_name" if c.column == "first_name" else "first_name")
            if c.column in ("first_name", "last_name")
            else c
            for c in comparisons
        )
    if not comparisons:
        raise ValueError("no comparable person column is filled")

    def usable(rules: Sequence[BlockingRule]) -> tuple[BlockingRule, ...]:
        return tuple(tuple(r) for r in rules if have.issuperset(rule_columns(r)))

    broad: tuple[tuple[str, ...], ...]
    if blocking_rules:
        blocking, broad = usable(blocking_rules), ()
        if len(blocking) != len(blocking_rules):
            unknown = sorted({c for r in blocking_rules for c in r} - have)
            raise ValueError(f"blocking rules name columns the contacts do not fill: {unknown}")
    else:
        blocking = usable(_PERSON_BLOCKING) or tuple((c.column,) for c in comparisons[:1])
        broad = usable(_PERSON_BROAD)
    training = usable(_PERSON_TRAINING) if have.intersection(_PERSON_KEYS) else ()
    if "date_of_birth" in have:
        training = tuple(r for r in training if r != ("postcode",))
    return dataclasses.replace(
        CRM_CONTACTS_SPEC,
        comparisons=comparisons,
        blocking_rules=blocking,
        broad_blocking_rules=broad,
        comparison_budget=comparison_budget,
        training_blocking_rules=training,
        deterministic_rules=usable(_PERSON_DETERMINISTIC),
        threshold=threshold,
    )


# Prior share of one person's record pairs whose first and last names are swapped (a form
# filled "Surname, Name" the wrong way round); taken from the exact level's prior.
SWAPPED_NAMES_M = 0.01
# Jaro-Winkler similarity each name must reach with the other record's other name to count as
# swapped: the typo level of the name comparisons (`person_name`'s first threshold).
SWAPPED_NAMES_MIN_JW = 0.88
SWAPPED_LABEL = "First and last name swapped"


def _with_swap(c: ColumnComparison, other: str) -> ColumnComparison:
    """`c` (a person name) with a level for names swapped with the `other` name column."""
    m = c.m_probabilities
    if m:
        m = (m[0] - SWAPPED_NAMES_M, SWAPPED_NAMES_M, *m[1:])
    return dataclasses.replace(c, swapped_with=other, m_probabilities=m)


FEBRL_SPEC = LinkageSpec(
    comparisons=(
        ColumnComparison("given_name", "name", term_frequency=True),
        ColumnComparison("surname", "name", term_frequency=True),
        ColumnComparison("date_of_birth", "date"),
        ColumnComparison("soc_sec_id", "damerau_levenshtein", thresholds=(1, 2)),
        ColumnComparison("street_number", "damerau_levenshtein", thresholds=(1,)),
        ColumnComparison("address_1", "jaro_winkler", thresholds=(0.9, 0.7)),
        ColumnComparison("address_2", "jaro_winkler", thresholds=(0.9, 0.7)),
        ColumnComparison("suburb", "jaro_winkler", thresholds=(0.9,), term_frequency=True),
        ColumnComparison("postcode", "postcode", thresholds=(1,)),
        ColumnComparison("state", "exact", term_frequency=True),
    ),
    blocking_rules=(
        ("given_name", "surname"),
        ("surname", "date_of_birth"),
        ("given_name", "date_of_birth"),
        ("soc_sec_id",),
        ("postcode", "street_number"),
        ("date_of_birth",),
        ("postcode", "surname"),
        ("suburb", "given_name"),
    ),
    link_type="link_only",
    threshold=0.9,
    training_blocking_rules=(("date_of_birth",), ("surname",)),
    deterministic_rules=(("given_name", "surname", "date_of_birth"), ("soc_sec_id",)),
    deterministic_recall=0.8,
    expected_match_rate=0.5,
)
"""Febrl person records (names, address, date of birth, social-security id), two files linked.

`rec_id` carries the ground truth and is never a feature: it is only the record id.
"""


def _comparison(spec: ColumnComparison) -> Any:
    """The Splink comparison creator for one `ColumnComparison`."""
    col = spec.column
    thresholds = list(spec.thresholds or _DEFAULT_THRESHOLDS.get(spec.kind, ()))
    distances = [int(t) for t in thresholds]
    creator: Any  # one of Splink's comparison creators
    if spec.kind == "name":
        creator = cl.NameComparison(col, jaro_winkler_thresholds=thresholds)
    elif spec.kind == "person_name":
        creator = _person_name(col, thresholds, spec.swapped_with)
    elif spec.kind == "jaro_winkler":
        creator = cl.JaroWinklerAtThresholds(col, thresholds)
    elif spec.kind == "email":
        creator = cl.EmailComparison(col)
    elif spec.kind == "email_strict":
        creator = _email_strict(col)
    elif spec.kind == "exact":
        creator = cl.ExactMatch(col)
    elif spec.kind == "levenshtein":
        creator = cl.LevenshteinAtThresholds(col, distances)
    elif spec.kind in ("damerau_levenshtein", "postcode"):
        creator = cl.DamerauLevenshteinAtThresholds(col, distances)
    elif spec.kind == "date":
        creator = cl.DateOfBirthComparison(col, input_is_string=True, datetime_format="%Y%m%d")
    else:  # uk_postcode
        creator = cl.PostcodeComparison(col)
    if spec.term_frequency:
        creator.configure(term_frequency_adjustments=True)
    if spec.m_probabilities:
        creator.configure(m_probabilities=list(spec.m_probabilities))
    return creator


def _email_strict(col: str) -> Any:
    """Exact, same user name (another domain; dots, dashes and underscores ignored), one typo
    (Damerau-Levenshtein <= 1), else.

    Separators are ignored because one person writes "mota.anne" at one provider and is
    stored as "motaanne" at Gmail, where dots do not count (`dotless_email_domains`)."""
    user = "regexp_replace(regexp_extract({}, '^[^@]+'), '[._-]', '', 'g')"
    same_user = f"{user.format(col + '_l')} = {user.format(col + '_r')}"
    return cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel(col),
            cll.ExactMatchLevel(col),
            cll.CustomLevel(same_user, label_for_charts="Exact match on user name"),
            cll.DamerauLevenshteinLevel(col, 1),
            cll.ElseLevel(),
        ],
        output_column_name=col,
        comparison_description=f"{col}: exact, same user name, one typo",
    )


def _person_name(col: str, jaro_winkler_thresholds: Sequence[float], swapped_with: str) -> Any:
    """Exact, (names swapped with `swapped_with`), one typo (Damerau-Levenshtein <= 1),
    Jaro-Winkler levels, anything else."""
    # Both names swapped, each up to a typo ("shephsrdson jacob" for Jacob Shepherdson).
    crosswise = " AND ".join(
        f"jaro_winkler_similarity({x}_l, {y}_r) >= {SWAPPED_NAMES_MIN_JW}"
        for x, y in ((col, swapped_with), (swapped_with, col))
    )
    swapped = [cll.CustomLevel(crosswise, label_for_charts=SWAPPED_LABEL)] if swapped_with else []
    return cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel(col),
            cll.ExactMatchLevel(col),
            *swapped,
            cll.DamerauLevenshteinLevel(col, 1),
            *[cll.JaroWinklerLevel(col, t) for t in jaro_winkler_thresholds],
            cll.ElseLevel(),
        ],
        output_column_name=col,
        comparison_description=f"{col}: exact, one typo, Jaro-Winkler {jaro_winkler_thresholds}",
    )


def _rule(items: BlockingRule) -> Any:
    """A Splink blocking rule: equality on every column or expression of `items`."""
    return block_on(*items)


def _settings(spec: LinkageSpec, id_column: str, prior: float) -> SettingsCreator:
    """Splink settings for `spec`, with `prior` as the probability two random records match."""
    return SettingsCreator(
        link_type=spec.link_type,
        unique_id_column_name=id_column,
        comparisons=[_comparison(c) for c in spec.comparisons],
        blocking_rules_to_generate_predictions=[_rule(r) for r in spec.blocking_rules],
        probability_two_random_records_match=prior,
        max_iterations=spec.em_max_iterations,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
        linker_uid="seglink",
    )


def _normalise(frame: pl.DataFrame, spec: LinkageSpec, id_column: str) -> pl.DataFrame:
    """The id and compared columns, as trimmed lower-case strings with empty values as null.

    Dates become YYYYMMDD strings. Other columns are dropped, so blocking expressions may only
    use compared columns.
    """
    missing = [c for c in (id_column, *spec.columns) if c not in frame.columns]
    if missing:
        raise ValueError(f"input frame lacks columns {missing}")
    exprs = [pl.col(id_column)]
    for name in spec.columns:
        dtype = frame.schema[name]
        col = pl.col(name)
        if dtype == pl.Date or isinstance(dtype, pl.Datetime):
            text = col.dt.strftime("%Y%m%d")
        else:
            text = col.cast(pl.String).str.strip_chars().str.to_lowercase()
        exprs.append(pl.when(text == "").then(None).otherwise(text).alias(name))
    out = frame.select(exprs)
    if out[id_column].null_count() or out[id_column].n_unique() != out.height:
        raise ValueError(f"{id_column!r} must be unique and non-null within each frame")
    return out


def _frames(frames: pl.DataFrame | Sequence[pl.DataFrame], spec: LinkageSpec) -> list[pl.DataFrame]:
    """The input as a list of frames, checked against the link type."""
    frame_list = [frames] if isinstance(frames, pl.DataFrame) else list(frames)
    if spec.link_type == "dedupe_only" and len(frame_list) != 1:
        raise ValueError("dedupe_only takes exactly one frame")
    if spec.link_type == "link_only" and len(frame_list) < 2:
        raise ValueError("link_only takes two or more frames")
    return frame_list


def _fallback_prior(spec: LinkageSpec, sizes: Sequence[int]) -> float:
    """Prior from `expected_match_rate`: expected matching pairs over all comparable pairs."""
    if spec.link_type == "dedupe_only":
        n = sizes[0]
        return min(1.0, spec.expected_match_rate / max(n - 1, 1))
    total = sum(a * b for i, a in enumerate(sizes) for b in sizes[i + 1 :])
    return min(1.0, spec.expected_match_rate * min(sizes) / max(total, 1))


def _estimate_prior(
    spec: LinkageSpec, tables: Sequence[Any], id_column: str, sizes: Sequence[int]
) -> float:
    """Probability two random records match, from the deterministic rules (or the fallback).

    Pairs found by the deterministic rules, divided by their assumed recall, over all pairs.
    When the rules find nothing (e.g. every duplicate has a typo), `expected_match_rate` is used.
    """
    if spec.probability_two_random_records_match is not None:
        return spec.probability_two_random_records_match
    fallback = _fallback_prior(spec, sizes)
    if not spec.deterministic_rules:
        return fallback
    records = count_comparisons_from_blocking_rules(
        tables[0] if spec.link_type == "dedupe_only" else list(tables),
        blocking_rules=[_rule(r) for r in spec.deterministic_rules],
        link_type=spec.link_type,
        unique_id_column_name=id_column,
        record_sample_proportion=1.0,
    )
    found = records[-1]["cumulative_comparison_count"]
    total = records[-1]["total_possible_comparison_count"]
    if found <= 0 or total <= 0:
        return fallback
    return min(found / spec.deterministic_recall / total, 0.5)


def _train(linker: Linker, spec: LinkageSpec, n_records: int) -> dict[str, str]:
    """u by seeded random sampling, then one EM session per training rule (large inputs only).

    A session that fails (Splink rejects an m probability that collapsed towards 0, which
    happens when a rule's pairs hold almost no matches) is skipped: the parameters from before
    the session are restored and a warning is logged.
    """
    linker.training.estimate_u_using_random_sampling(max_pairs=spec.max_pairs, seed=spec.seed)
    sessions: dict[str, str] = {}
    for rule in spec.training_blocking_rules:
        name = " & ".join(rule)
        if n_records < spec.em_min_records:
            sessions[name] = f"skipped: fewer than {spec.em_min_records} records (priors used)"
            continue
        # Splink 5.0 edits the linker's model in place during EM; keep a copy to roll back.
        before = linker._settings_obj.core_model_settings.copy()
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(_rule(rule))
            sessions[name] = "trained"
        except (ValueError, SplinkException) as exc:
            linker._settings_obj.core_model_settings = before
            logger.warning("EM on blocking rule %s skipped: %s", rule, exc)
            sessions[name] = "skipped: EM did not converge to a usable model"
    return sessions


def _unrelated_m(linker: Linker, column: str) -> float | None:
    """The share of true matches that fall in the last level of `column`'s comparison
    (birth dates more than ten years apart or nothing alike; first names that are no typo,
    no variant of each other) as EM learnt it from the data; None when `column` is not
    compared or EM did not train that level (a prior is no evidence about the data).
    """
    for comparison in linker._settings_obj.comparisons:
        if comparison.output_column_name != column:
            continue
        levels = [lv for lv in comparison.comparison_levels if not lv.is_null_level]
        # Names swapped count as unrelated first names too: the first-name field holds the
        # family name (and the household rule, which reads first names, sees two names).
        # A swapped level EM saw no pair of (its training blocks hold none) counts as none:
        # else one rare level would leave the whole decision to the priors.
        if not levels[-1]._has_estimated_m_values:
            return None
        counted = [levels[-1], *(lv for lv in levels if lv.label_for_charts == SWAPPED_LABEL)]
        return float(sum(lv.m_probability or 0.0 for lv in counted if lv._has_estimated_m_values))
    return None


def _model_report(linker: Linker, prior: float, sessions: dict[str, str]) -> dict:
    """What the trained model is: its levels' m, u and match weights, Splink's JSON, the chart."""
    weights = []
    for comparison in linker._settings_obj.comparisons:
        for level in comparison.comparison_levels:
            if level.is_null_level:
                continue
            m, u = level.m_probability, level.u_probability
            weights.append(
                {
                    "comparison": comparison.output_column_name,
                    "level": level.label_for_charts,
                    "m_probability": m,
                    "u_probability": u,
                    "match_weight": level._log2_bayes_factor if m and u else None,
                }
            )
    try:
        chart = linker.visualisations.match_weights_chart().to_html()
    except Exception as exc:  # the chart is a convenience; the table above is the record
        logger.warning("match weight chart not drawn: %s", exc)
        chart = None
    return {
        "prior": prior,
        "em_sessions": sessions,
        "weights": weights,
        "unrelated_birth_dates_m": _unrelated_m(linker, "date_of_birth"),
        "unrelated_first_names_m": _unrelated_m(linker, "first_name"),
        "model": linker.misc.save_model_to_json(),
        "chart": chart,
    }


def _collect(con: duckdb.DuckDBPyConnection, table: str, id_column: str) -> pl.DataFrame:
    """The scored pairs as `id_l, id_r, match_probability`, earlier frame / smaller id left."""
    source = "source_dataset"
    columns = {row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()}
    if f"{source}_l" in columns:
        swap = f"{source}_l > {source}_r"
    else:
        swap = f"{id_column}_l > {id_column}_r"
    query = f"""
        SELECT CASE WHEN {swap} THEN "{id_column}_r" ELSE "{id_column}_l" END AS id_l,
               CASE WHEN {swap} THEN "{id_column}_l" ELSE "{id_column}_r" END AS id_r,
               round(match_probability, {PROBABILITY_DECIMALS}) AS match_probability
        FROM {table}
    """
    return con.sql(query).pl()


def _empty_output(id_dtype: pl.DataType) -> pl.DataFrame:
    """An empty result with the output schema."""
    return pl.DataFrame(
        schema=dict(zip(OUTPUT_COLUMNS, (id_dtype, id_dtype, pl.Float64), strict=True))
    )


def predict_links(
    frames: pl.DataFrame | list[pl.DataFrame],
    spec: LinkageSpec,
    id_column: str = "unique_id",
    report: dict | None = None,
    model: dict | None = None,
) -> pl.DataFrame:
    """Pairs of records that refer to the same entity, with their match probability.

    Trains a Splink model on the input itself (u by sampling, m by EM, prior from the
    deterministic rules) and scores the blocked pairs, in a private in-memory DuckDB database
    that is closed afterwards. Nothing is written outside a temporary directory. The same input
    gives the same output.

    Args:
        frames: One frame for `dedupe_only`, two or more for `link_only`. Each needs
            `id_column` (unique, non-null) and the columns of `spec.comparisons`.
        spec: The linkage model.
        id_column: The record id column; never used as a feature.

    Returns:
        Columns `id_l, id_r, match_probability` for pairs with probability >= `spec.threshold`,
        sorted by `id_l, id_r`. For dedupe `id_l < id_r`; for links `id_l` comes from the
        earlier frame in `frames`. When `report` is a dict it receives the trained model:
        `prior`, `em_sessions` (rule -> "trained" or the reason it was skipped), `weights`
        (one row per comparison level: comparison, level, m, u, match weight), `model` (Splink's
        JSON) and `chart` (the match-weight chart as HTML).
        model: A model trained before (`report["model"]`, Splink's JSON): the pairs are scored
            with it, nothing is trained, and `report` is left as it is. Its blocking rules,
            prior, m and u are the stored ones, so the same model scores the same pairs the
            same way whatever else the input holds.
    """
    frame_list = [_normalise(f, spec, id_column) for f in _frames(frames, spec)]
    id_dtype = frame_list[0].schema[id_column]
    if any(f.height == 0 for f in frame_list):
        return _empty_output(id_dtype)
    with tempfile.TemporaryDirectory(prefix="seg_linkage_") as temp_dir:
        con = memory_connection(temp_dir)  # private, spilling only into temp_dir
        try:
            pairs = _run_splink(con, frame_list, spec, id_column, report, model)
        finally:
            con.close()
    pairs = pairs.filter(pl.col("match_probability") >= spec.threshold).select(OUTPUT_COLUMNS)
    return pairs.cast({"id_l": id_dtype, "id_r": id_dtype}).sort(["id_l", "id_r"])


def _rule_pairs(
    con: duckdb.DuckDBPyConnection, rule: BlockingRule, tables: Sequence[str], dedupe: bool
) -> int:
    """Candidate pairs a blocking rule generates on its own (before other rules' overlap)."""
    keys = ", ".join(f"{item} AS k{i}" for i, item in enumerate(rule))
    present = " AND ".join(f"{item} IS NOT NULL" for item in rule)
    groups = [f"SELECT {keys}, count(*) AS n FROM {t} WHERE {present} GROUP BY ALL" for t in tables]
    if dedupe:
        sql = f"SELECT sum(n * (n - 1) // 2) FROM ({groups[0]})"
    else:
        on = " AND ".join(f"a.k{i} = b.k{i}" for i in range(len(rule)))
        parts = [
            f"SELECT sum(a.n * b.n) AS p FROM ({groups[i]}) a JOIN ({groups[j]}) b ON {on}"
            for i in range(len(groups)) for j in range(i + 1, len(groups))
        ]  # fmt: skip
        sql = f"SELECT sum(p) FROM ({' UNION ALL '.join(parts)})"
    return int(con.execute(sql).fetchall()[0][0] or 0)


def _with_broad_rules(
    con: duckdb.DuckDBPyConnection, spec: LinkageSpec, tables: Sequence[Any], report: dict | None
) -> LinkageSpec:
    """`spec` with the broad blocking rules that fit its comparison budget appended."""
    if not spec.broad_blocking_rules:
        return spec
    names = [t.physical_name for t in tables]
    sizes = [int(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]) for t in names]
    # Pairs per record of the table deduplicated, or of the smallest table linked to others.
    budget = min(spec.comparison_budget, BROAD_PAIRS_PER_RECORD * min(sizes))
    dedupe = spec.link_type == "dedupe_only"
    used, skipped, spent = [], {}, 0
    for rule in spec.broad_blocking_rules:
        pairs = _rule_pairs(con, rule, names, dedupe)
        if spent + pairs <= budget:
            used.append(rule)
            spent += pairs
        else:
            skipped[" & ".join(rule)] = pairs
    if report is not None:
        report["blocking_rules"] = [" & ".join(r) for r in (*spec.blocking_rules, *used)]
        report["blocking_skipped_over_budget"] = skipped
        report["comparison_budget"] = budget
    return dataclasses.replace(spec, blocking_rules=(*spec.blocking_rules, *used))


def _run_splink(
    con: duckdb.DuckDBPyConnection,
    frames: Sequence[pl.DataFrame],
    spec: LinkageSpec,
    id_column: str,
    report: dict | None = None,
    model: dict | None = None,
) -> pl.DataFrame:
    """Register the frames, train (unless `model` is given), predict and collect the pairs
    above the threshold."""
    db_api = DuckDBAPI(connection=con)
    tables = [
        db_api.register(f.to_arrow(), dataset_display_name=f"frame_{i:04d}")
        for i, f in enumerate(frames)
    ]
    if model is not None:
        inputs = tables[0] if spec.link_type == "dedupe_only" else tables
        # Splink edits the settings it is given; the caller's stored model stays as it was.
        linker = Linker(inputs, copy.deepcopy(model), log_level=SPLINK_LOG_LEVEL)
        predictions = linker.inference.predict(
            threshold_match_probability=spec.threshold, warning_mode="never"
        )
        return _collect(con, predictions.physical_name, id_column)
    linker = _trained_linker(con, tables, frames, spec, id_column, report)
    predictions = linker.inference.predict(
        threshold_match_probability=spec.threshold, warning_mode="never"
    )
    return _collect(con, predictions.physical_name, id_column)


def _trained_linker(
    con: duckdb.DuckDBPyConnection,
    tables: Sequence[Any],
    frames: Sequence[pl.DataFrame],
    spec: LinkageSpec,
    id_column: str,
    report: dict | None,
) -> Linker:
    """A linker trained on the registered `tables` (broad blocking rules within the budget,
    the prior, u and m); `report` receives the model."""
    spec = _with_broad_rules(con, spec, tables, report)
    prior = _estimate_prior(spec, tables, id_column, [f.height for f in frames])
    inputs = tables[0] if spec.link_type == "dedupe_only" else tables
    linker = Linker(inputs, _settings(spec, id_column, prior), log_level=SPLINK_LOG_LEVEL)
    sessions = _train(linker, spec, sum(f.height for f in frames))
    if report is not None:
        report.update(_model_report(linker, prior, sessions))
    return linker


def train_links(
    frames: pl.DataFrame | list[pl.DataFrame], spec: LinkageSpec, id_column: str = "unique_id"
) -> dict:
    """The model `predict_links(frames, spec, report=...)` trains, without scoring the pairs:
    the report it fills (`report["model"]` is Splink's JSON), for another engine to score
    with (`identity.spark_linkage.predict_links_on_spark`). Trained in a private in-memory
    DuckDB database, as `predict_links` trains; `predict_links(frames, spec, model=...)` with
    it gives the pairs `predict_links` would have given."""
    frame_list = [_normalise(f, spec, id_column) for f in _frames(frames, spec)]
    if any(f.height == 0 for f in frame_list):
        raise ValueError("nothing to train on: an input frame is empty")
    report: dict = {}
    with tempfile.TemporaryDirectory(prefix="seg_linkage_") as temp_dir:
        con = memory_connection(temp_dir)  # private, spilling only into temp_dir
        try:
            db_api = DuckDBAPI(connection=con)
            tables = [
                db_api.register(f.to_arrow(), dataset_display_name=f"frame_{i:04d}")
                for i, f in enumerate(frame_list)
            ]
            _trained_linker(con, tables, frame_list, spec, id_column, report)
        finally:
            con.close()
    return report


# --- Febrl benchmark -------------------------------------------------------------------------

FEBRL_ID = "rec_id"
_FEBRL_ENTITY = re.compile(r"rec-(\d+)-")


def read_febrl(path: Path) -> pl.DataFrame:
    """A Febrl CSV (delimiter ", ") with every column a stripped string, empty as null.

    Leading zeros (postcode, street number, social-security id) are kept.
    """
    frame = pl.read_csv(path, separator=",", infer_schema=False, quote_char=None)
    frame = frame.rename({c: c.strip() for c in frame.columns})
    return frame.with_columns(pl.col(c).str.strip_chars().replace("", None) for c in frame.columns)


def _entity(ids: pl.Expr) -> pl.Expr:
    """The Febrl entity number in a `rec-<N>-...` id (ground truth, for scoring only)."""
    return ids.str.extract(_FEBRL_ENTITY.pattern, 1)


def pairwise_scores(predicted: pl.DataFrame, true_pairs: int) -> dict[str, float | int]:
    """Pairwise precision, recall and F1 of predicted Febrl pairs against the rec_id truth."""
    correct = predicted.filter(_entity(pl.col("id_l")) == _entity(pl.col("id_r"))).height
    n = predicted.height
    precision = correct / n if n else 0.0
    recall = correct / true_pairs if true_pairs else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "pairs_predicted": n,
        "true_pairs": true_pairs,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def _true_cross_pairs(a: pl.DataFrame, b: pl.DataFrame) -> int:
    """Number of (a, b) record pairs with the same entity number."""
    count_a = a.select(_entity(pl.col(FEBRL_ID)).alias("n")).group_by("n").len()
    count_b = b.select(_entity(pl.col(FEBRL_ID)).alias("n")).group_by("n").len()
    joined = count_a.join(count_b, on="n")
    return int((joined["len"] * joined["len_right"]).sum())


def febrl_link_metrics(folder: Path) -> dict[str, float | int]:
    """Link Febrl dataset4a to dataset4b with `FEBRL_SPEC` and score it against the truth.

    `rec_id` is the record id only; the truth (same N in `rec-N-`) is read after linking.

    Args:
        folder: Folder holding dataset4a.csv and dataset4b.csv.

    Returns:
        pairs_predicted, true_pairs, precision, recall, f1, threshold and seconds (linking
        only, reading excluded).
    """
    folder = Path(folder)
    a = read_febrl(folder / "dataset4a.csv")
    b = read_febrl(folder / "dataset4b.csv")
    start = time.perf_counter()
    predicted = predict_links([a, b], FEBRL_SPEC, id_column=FEBRL_ID)
    seconds = time.perf_counter() - start
    scores = pairwise_scores(predicted, _true_cross_pairs(a, b))
    return {**scores, "threshold": FEBRL_SPEC.threshold, "seconds": round(seconds, 3)}


__all__ = [
    "CRM_CONTACTS_SPEC",
    "FEBRL_SPEC",
    "ColumnComparison",
    "LinkageSpec",
    "febrl_link_metrics",
    "pairwise_scores",
    "predict_links",
    "read_febrl",
    "train_links",
]
