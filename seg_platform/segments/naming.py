"""Segment profiles and readable names derived from the data.

A segment is described by how its feature means differ from the whole population (z-scores:
the difference of means in population standard deviations). Named *themes* (power users,
pricing-curious prospects, setup strugglers, ...) are signed sets of features; a segment's
theme is the one its z-scores support most, and its value level (what it spends against the
population) qualifies the name. A theme is only used when the data can show it: at least one
of the features that define it (`Theme.requires`) is observed, i.e. its source delivered data
and it varies across customers; so an orders-only shop never gets "Power Users" (no product
usage) or "Bargain Hunters" (no cart behaviour). A segment no theme fits is named from what
orders do show: recency, frequency and spend ("Lapsed Occasional Buyers"). Names are
deterministic and unique within a month; nothing is ever called "Cluster 3".
"""

import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Theme:
    key: str  # what the playbook keys actions on
    noun: str  # the segment's name when nothing qualifies it
    qualifier: str  # how the theme reads as an adjective, for telling two segments apart
    signature: dict[str, int]  # feature -> +1 (high in the theme) or -1 (low)
    # The features that define the theme: it is used only when at least one is observed
    # (the rest of the signature may sharpen the score but cannot justify the name alone).
    requires: tuple[str, ...] = ()


THEMES = (
    Theme("power_user", "Power Users", "Engaged", {
        "sessions_30d": 1, "active_days_30d": 1, "feature_breadth_30d": 1,
        "feature_depth_30d": 1, "page_views_30d": 1},
        requires=("sessions_30d", "page_views_30d", "feature_breadth_30d", "feature_depth_30d")),
    Theme("loyalist", "Loyalists", "Long-Standing", {
        "orders_lifetime": 1, "revenue_lifetime": 1, "category_breadth": 1, "tenure_days": 1,
        "billing_revenue_lifetime": 1, "mean_days_between_purchases": -1},
        requires=("orders_lifetime", "billing_revenue_lifetime")),
    Theme("bargain_hunter", "Bargain Hunters", "Deal-Seeking", {
        "cart_adds_30d": 1, "checkouts_abandoned_30d": 1, "refunds_lifetime": 1,
        "orders_90d": 1, "avg_order_value": -1},
        requires=("cart_adds_30d", "checkouts_abandoned_30d")),
    Theme("pricing_curious", "Pricing-Curious Prospects", "Price-Checking", {
        "pricing_views_7d": 1, "compare_views_7d": 1},
        requires=("pricing_views_7d", "compare_views_7d")),
    Theme("setup_struggler", "Setup Strugglers", "Struggling", {
        "errors_30d": 1, "retries_30d": 1, "onboarding_abandoned_90d": 1, "tickets_90d": 1,
        "failed_payments_90d": 1},
        requires=("errors_30d", "retries_30d", "onboarding_abandoned_90d", "tickets_90d",
                  "failed_payments_90d")),
    Theme("dormant", "Dormant Customers", "Quiet", {
        "days_since_last_activity": 1, "sessions_30d": -1, "active_days_30d": -1,
        "engagement_velocity": -1, "days_since_last_purchase": 1},
        requires=("days_since_last_activity", "days_since_last_purchase")),
    Theme("newcomer", "Newcomers", "New", {
        "tenure_days": -1, "engagement_velocity": 1, "onboarding_completed_lifetime": 1},
        requires=("tenure_days",)),
    Theme("email_responsive", "Email Responders", "Email-Responsive", {
        "email_open_rate": 1, "email_click_rate": 1},
        requires=("email_open_rate", "email_click_rate")),
)  # fmt: skip
THEME_BY_KEY = {t.key: t for t in THEMES}
VALUE_FEATURES = (
    "revenue_90d", "revenue_lifetime", "avg_order_value", "monthly_revenue",
    "billing_revenue_lifetime",
)  # fmt: skip
HIGH_VALUE = 0.5  # mean z-score of the value features that makes a segment "High-Value"
TOP_FEATURES = 5  # distinguishing features kept per segment
MIN_THEME_SCORE = 0.25  # a theme names a segment only when its features stand out this much


def profile_frame(
    X: np.ndarray, segment: np.ndarray, columns: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per segment (rows, ordered by segment id) the feature means and z-scores; and sizes.

    Missing values are left out of each mean; a feature with no spread has z-score 0.
    """
    ids = np.unique(segment)
    with warnings.catch_warnings():  # a feature empty in a whole segment has no mean: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        population_mean = np.nanmean(X, axis=0) if len(X) else np.zeros(len(columns))
        population_std = np.nanstd(X, axis=0) if len(X) else np.zeros(len(columns))
        means = np.vstack([np.nanmean(X[segment == s], axis=0) for s in ids])
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (means - population_mean) / population_std
    z = np.where(np.isfinite(z), z, 0.0)
    sizes = np.array([(segment == s).sum() for s in ids])
    return means, z, sizes


def observed_features(X: np.ndarray, columns: list[str]) -> set[str]:
    """The features the data can show: some value known and not the same for everyone.

    A feature of an absent source is empty for every customer (its mean is undefined) and a
    constant one says nothing about anyone; neither may justify a theme or a name.
    """
    if not len(X):
        return set()
    with warnings.catch_warnings():  # an all-empty column has no spread: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = np.nanstd(X, axis=0)
    return {c for c, s in zip(columns, spread, strict=True) if np.isfinite(s) and s > 0}


def available_themes(columns: list[str], observed: set[str] | None = None) -> list[bool]:
    """Per theme (THEMES order): whether a feature that defines it is observed."""
    seen = set(columns) if observed is None else observed & set(columns)
    return [any(f in seen for f in (t.requires or tuple(t.signature))) for t in THEMES]


def theme_scores(z: np.ndarray, columns: list[str], observed: set[str] | None = None) -> np.ndarray:
    """Segments x themes: the mean signed z-score of each theme's observed features; -inf for
    a theme the data cannot show (no defining feature observed). `observed` None: every
    column counts as observed."""
    index = {c: i for i, c in enumerate(columns)}
    seen = set(columns) if observed is None else observed
    available = available_themes(columns, observed)
    scores = np.full((z.shape[0], len(THEMES)), -np.inf)
    for j, theme in enumerate(THEMES):
        present = [(index[f], sign) for f, sign in theme.signature.items()
                   if f in index and f in seen]  # fmt: skip
        if available[j] and present:
            scores[:, j] = np.mean([z[:, i] * sign for i, sign in present], axis=0)
    return scores


def value_scores(z: np.ndarray, columns: list[str], observed: set[str] | None = None) -> np.ndarray:
    seen = set(columns) if observed is None else observed
    present = [columns.index(f) for f in VALUE_FEATURES if f in columns and f in seen]
    return z[:, present].mean(axis=1) if present else np.zeros(z.shape[0])


# The fallback when no theme fits: what orders (or visits) show, as recency, frequency and
# monetary value (RFM). Each dimension is a signed set of features, read like a theme; the
# words say which way the segment leans, the key picks its playbook action.
RFM = (
    ("recency", {"days_since_last_purchase": -1, "days_since_last_activity": -1},
     ("Recent", "recent_buyer"), ("Lapsed", "lapsed_buyer")),
    ("frequency", {"orders_90d": 1, "orders_lifetime": 1, "active_days_90d": 1,
                   "sessions_30d": 1},
     ("Regular", "regular_buyer"), ("Occasional", "occasional_buyer")),
    ("monetary", {"revenue_90d": 1, "revenue_lifetime": 1, "avg_order_value": 1,
                  "monthly_revenue": 1, "billing_revenue_lifetime": 1},
     ("Big Spenders", "big_spender"), ("Light Spenders", "light_spender")),
)  # fmt: skip
RFM_LEVEL = MIN_THEME_SCORE  # how far a dimension must lean to be named


def rfm_scores(z: np.ndarray, columns: list[str], observed: set[str] | None = None) -> np.ndarray:
    """Segments x (recency, frequency, monetary): mean signed z-score; NaN when unobserved."""
    index = {c: i for i, c in enumerate(columns)}
    seen = set(columns) if observed is None else observed
    out = np.full((z.shape[0], len(RFM)), np.nan)
    for j, (_, signature, _, _) in enumerate(RFM):
        present = [(index[f], s) for f, s in signature.items() if f in index and f in seen]
        if present:
            out[:, j] = np.mean([z[:, i] * s for i, s in present], axis=0)
    return out


def rfm_name(row: np.ndarray, buyers: bool) -> tuple[str, str]:
    """('Lapsed Occasional Buyers', 'lapsed_buyer'): a name from the RFM scores of one segment
    and the playbook key of its strongest lean ('default' when it leans nowhere)."""
    words, noun, key, strongest = [], "Buyers" if buyers else "Customers", "default", 0.0
    for j, (dimension, _, high, low) in enumerate(RFM):
        score = row[j]
        if not np.isfinite(score) or abs(score) < RFM_LEVEL:
            continue
        word, theme = high if score > 0 else low
        if dimension == "monetary":
            noun = word
        else:
            words.append(word)
        if abs(score) > strongest:
            key, strongest = theme, abs(score)
    if key == "default":
        return f"Typical {noun}", key
    return " ".join([*words, noun]), key


@dataclass(frozen=True)
class SegmentName:
    name: str
    theme: str  # Theme.key, an RFM key ("lapsed_buyer", ...) or "default"
    high_value: bool


def name_segments(
    z: np.ndarray, columns: list[str], observed: set[str] | None = None
) -> list[SegmentName]:
    """A unique, readable name per segment (rows of `z`), from its z-scores.

    The strongest theme the data can show (`observed`: the features with data, see
    `observed_features`; None counts every column) gives the noun; "High-Value" qualifies
    segments spending well above the population ("Dormant Big Spenders" for a dormant one).
    A segment no theme fits is named by recency, frequency and spend. Two segments with the
    same name are told apart by the qualifier of each one's next theme ("New Setup
    Strugglers"); the segment with the stronger claim keeps the plain name.
    """
    scores = theme_scores(z, columns, observed)
    value = value_scores(z, columns, observed)
    rfm = rfm_scores(z, columns, observed)
    seen = set(columns) if observed is None else observed
    buyers = any(f in seen for f in ("orders_lifetime", "orders_90d"))
    order = np.argsort(-scores, axis=1, kind="stable")
    names: list[SegmentName] = []
    for s in range(z.shape[0]):
        theme = THEMES[order[s, 0]]
        high = bool(value[s] >= HIGH_VALUE)
        if not scores[s, order[s, 0]] > MIN_THEME_SCORE:
            # No theme fits (or none can be shown): say what orders show instead; a feature
            # set of one's own with no order or visit feature at all: what stands out in it.
            if np.isfinite(rfm[s]).any():
                name, key = rfm_name(rfm[s], buyers)
            else:
                name, key = _by_feature(z[s], columns), "default"
            names.append(SegmentName(name, key, high))
            continue
        names.append(SegmentName(_base(theme, high), theme.key, high))
    # Resolve clashes: the weaker claimants take their next theme's qualifier, then a numeral.
    strength = scores[np.arange(z.shape[0]), order[:, 0]]
    taken: set[str] = set()
    final: list = [None] * len(names)  # every slot is filled below
    for s in sorted(range(len(names)), key=lambda i: (-strength[i], i)):
        candidate = unique_name(names[s].name, scores[s], taken, names[s].theme, _roman)
        taken.add(candidate)
        final[s] = SegmentName(candidate, names[s].theme, names[s].high_value)
    return final


# Qualifiers that would contradict a name ("Long-Standing Newcomers", "Quiet Power Users"):
# never used to tell two segments apart.
CONTRADICTS = {frozenset(("loyalist", "newcomer")), frozenset(("dormant", "power_user"))}


def unique_name(
    name: str, scores: np.ndarray, taken: set[str], theme: str | None = None, numeral=str
) -> str:
    """`name`, or when taken, qualified by the segment's next theme the data can show (by
    score, never one contradicting its own `theme`), then numbered. A name not from a theme
    (recency, frequency and spend) is only numbered: another theme's adjective would mix two
    ways of reading the segment."""
    candidate = name
    if theme in THEME_BY_KEY:
        for j in np.argsort(-scores, kind="stable"):
            if candidate not in taken:
                break
            other = THEMES[j].key
            if other == theme or not np.isfinite(scores[j]):
                continue
            if frozenset((theme, other)) not in CONTRADICTS:
                candidate = f"{THEMES[j].qualifier} {name}"
    base, n = candidate, 2
    while candidate in taken:
        candidate = f"{base} {numeral(n)}"
        n += 1
    return candidate


def _base(theme: Theme, high_value: bool) -> str:
    if theme.key == "dormant":
        return "Dormant Big Spenders" if high_value else theme.noun
    if high_value and theme.key not in ("pricing_curious",):
        return f"High-Value {theme.noun}"
    return theme.noun


def _by_feature(row: np.ndarray, columns: list[str]) -> str:
    """'High F0 and Low F3': the two features that stand out most, for feature sets with no
    order or visit feature to read recency, frequency and spend from."""
    order = [i for i in np.argsort(-np.abs(row), kind="stable")[:2] if abs(row[i]) > 0]
    if not order:
        return "Typical Customers"
    words = [
        f"{'High' if row[i] > 0 else 'Low'} {columns[i].replace('_', ' ').title()}" for i in order
    ]
    return " and ".join(words)


def rfm_observed(columns: list[str], observed: set[str] | None = None) -> bool:
    """Whether any recency, frequency or spend feature is observed (else names fall back to
    the features that stand out)."""
    seen = set(columns) if observed is None else observed & set(columns)
    return any(f in seen for _, signature, _, _ in RFM for f in signature)


def _roman(n: int) -> str:
    return (
        ["", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"][n] if n <= 10 else str(n)
    )


def distinguishing(z: np.ndarray, columns: list[str], top: int = TOP_FEATURES) -> list[list[str]]:
    """Per segment, the features that most set it apart (largest |z|, ties by catalog order)."""
    out = []
    for row in z:
        order = np.argsort(-np.abs(row), kind="stable")[:top]
        out.append([columns[i] for i in order if abs(row[i]) > 0])
    return out


def describe(
    name: str,
    size: int,
    share: float,
    means: np.ndarray,
    population: np.ndarray,
    z: np.ndarray,
    columns: list[str],
    meanings: dict[str, str],
    action: str,
    top: int = 3,
) -> str:
    """One paragraph: who they are (size, what sets them apart in plain words) and the action."""
    parts = []
    for i in np.argsort(-np.abs(z), kind="stable")[:top]:
        if abs(z[i]) < 0.2:
            break
        meaning = meanings.get(columns[i], columns[i]).split(";")[0].rstrip(".")
        direction = "well above" if z[i] >= 1 else "above" if z[i] > 0 else (
            "well below" if z[i] <= -1 else "below")  # fmt: skip
        parts.append(
            f"{meaning[0].lower()}{meaning[1:]} {direction} average "
            f"({_fmt(means[i])} against {_fmt(population[i])})"
        )
    stands_out = "; ".join(parts) if parts else "close to the average on every feature"
    return (
        f"{name}: {size:,} customers ({share:.1%}). Compared with all customers: {stands_out}. "
        f"Action: {action}"
    )


def _fmt(value: float) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def zscore_frame(z: np.ndarray, ids: list[int], columns: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"segment_id": ids, **{c: z[:, i] for i, c in enumerate(columns)}})
