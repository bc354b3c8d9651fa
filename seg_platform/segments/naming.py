"""Segment profiles and readable names derived from the data.

A segment is described by how its feature means differ from the whole population (z-scores:
the difference of means in population standard deviations). Named *themes* (power users,
pricing-curious prospects, setup strugglers, ...) are signed sets of features; a segment's
theme is the one its z-scores support most, and its value level (what it spends against the
population) qualifies the name. Names are deterministic and unique within a month; nothing is
ever called "Cluster 3".
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


THEMES = (
    Theme("power_user", "Power Users", "Engaged", {
        "sessions_30d": 1, "active_days_30d": 1, "feature_breadth_30d": 1,
        "feature_depth_30d": 1, "page_views_30d": 1}),
    Theme("loyalist", "Loyalists", "Long-Standing", {
        "orders_lifetime": 1, "revenue_lifetime": 1, "category_breadth": 1, "tenure_days": 1,
        "billing_revenue_lifetime": 1, "mean_days_between_purchases": -1}),
    Theme("bargain_hunter", "Bargain Hunters", "Deal-Seeking", {
        "cart_adds_30d": 1, "checkouts_abandoned_30d": 1, "refunds_lifetime": 1,
        "orders_90d": 1, "avg_order_value": -1}),
    Theme("pricing_curious", "Pricing-Curious Prospects", "Price-Checking", {
        "pricing_views_7d": 1, "compare_views_7d": 1}),
    Theme("setup_struggler", "Setup Strugglers", "Struggling", {
        "errors_30d": 1, "retries_30d": 1, "onboarding_abandoned_90d": 1, "tickets_90d": 1,
        "failed_payments_90d": 1}),
    Theme("dormant", "Dormant Customers", "Quiet", {
        "days_since_last_activity": 1, "sessions_30d": -1, "active_days_30d": -1,
        "engagement_velocity": -1, "days_since_last_purchase": 1}),
    Theme("newcomer", "Newcomers", "New", {
        "tenure_days": -1, "engagement_velocity": 1, "onboarding_completed_lifetime": 1}),
    Theme("email_responsive", "Email Responders", "Email-Responsive", {
        "email_open_rate": 1, "email_click_rate": 1}),
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


def theme_scores(z: np.ndarray, columns: list[str]) -> np.ndarray:
    """Segments x themes: the mean signed z-score of each theme's features that exist."""
    index = {c: i for i, c in enumerate(columns)}
    scores = np.zeros((z.shape[0], len(THEMES)))
    for j, theme in enumerate(THEMES):
        present = [(index[f], sign) for f, sign in theme.signature.items() if f in index]
        if present:
            scores[:, j] = np.mean([z[:, i] * sign for i, sign in present], axis=0)
        else:
            scores[:, j] = -np.inf
    return scores


def value_scores(z: np.ndarray, columns: list[str]) -> np.ndarray:
    present = [columns.index(f) for f in VALUE_FEATURES if f in columns]
    return z[:, present].mean(axis=1) if present else np.zeros(z.shape[0])


@dataclass(frozen=True)
class SegmentName:
    name: str
    theme: str  # Theme.key
    high_value: bool


def name_segments(z: np.ndarray, columns: list[str]) -> list[SegmentName]:
    """A unique, readable name per segment (rows of `z`), from its z-scores.

    The strongest theme gives the noun; "High-Value" qualifies segments spending well above
    the population ("Dormant Big Spenders" for a dormant one). Two segments with the same name
    are told apart by the qualifier of each one's next theme ("New Setup Strugglers"); the
    segment with the stronger claim keeps the plain name.
    """
    scores = theme_scores(z, columns)
    value = value_scores(z, columns)
    order = np.argsort(-scores, axis=1, kind="stable")
    names: list[SegmentName] = []
    for s in range(z.shape[0]):
        theme = THEMES[order[s, 0]]
        high = bool(value[s] >= HIGH_VALUE)
        if not scores[s, order[s, 0]] > MIN_THEME_SCORE:
            # No theme fits (e.g. a feature set of one's own): say what stands out instead.
            names.append(SegmentName(_by_feature(z[s], columns), "default", high))
            continue
        names.append(SegmentName(_base(theme, high), theme.key, high))
    # Resolve clashes: the weaker claimants take their next theme's qualifier, then a numeral.
    strength = scores[np.arange(z.shape[0]), order[:, 0]]
    taken: set[str] = set()
    final = [None] * len(names)
    for s in sorted(range(len(names)), key=lambda i: (-strength[i], i)):
        candidate = names[s].name
        rank = 1
        while candidate in taken and rank < len(THEMES):
            qualifier = THEMES[order[s, rank]].qualifier
            candidate = f"{qualifier} {names[s].name}"
            rank += 1
        numeral = 2
        base = candidate
        while candidate in taken:
            candidate = f"{base} {_roman(numeral)}"
            numeral += 1
        taken.add(candidate)
        final[s] = SegmentName(candidate, names[s].theme, names[s].high_value)
    return final


def _base(theme: Theme, high_value: bool) -> str:
    if theme.key == "dormant":
        return "Dormant Big Spenders" if high_value else theme.noun
    if high_value and theme.key not in ("pricing_curious",):
        return f"High-Value {theme.noun}"
    return theme.noun


def _by_feature(row: np.ndarray, columns: list[str]) -> str:
    """'High Sessions 30d and Low Tenure Days': the two features that stand out most."""
    order = [i for i in np.argsort(-np.abs(row), kind="stable")[:2] if abs(row[i]) > 0]
    if not order:
        return "Typical Customers"
    words = [
        f"{'High' if row[i] > 0 else 'Low'} {columns[i].replace('_', ' ').title()}" for i in order
    ]
    return " and ".join(words)


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
