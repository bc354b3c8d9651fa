"""One month's segment tables from the month's clustering: assignments with stable ids and
names, profiles with actions, migration from last month, and what the checks need.

Plain functions over Polars frames and NumPy arrays; the Dagster assets sit around them.
"""

import datetime as dt
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from seg_platform.segments.matching import lineage, match_clusters
from seg_platform.segments.naming import (
    RFM,
    THEME_BY_KEY,
    THEMES,
    describe,
    distinguishing,
    name_segments,
    observed_features,
    profile_frame,
    rfm_observed,
    theme_scores,
    unique_name,
)
from seg_platform.segments.playbook import Action, action_for
from seg_platform.segments.settings import DEFAULTS

RFM_KEYS = {key for _, _, high, low in RFM for _, key in (high, low)}


@dataclass
class Previous:
    """Last month: each customer's stable segment id, features and the segments' names."""

    assignments: pl.DataFrame  # profile_id, segment_id
    X: np.ndarray  # features of `assignments`' customers, same row order
    names: dict[int, str]
    themes: dict[int, str]
    next_id: int  # ids are never reused
    high_value: dict[int, bool] = field(default_factory=dict)


@dataclass
class MonthSegments:
    assignments: pl.DataFrame
    profiles: pl.DataFrame
    migration: pl.DataFrame
    checks: dict[str, Any] = field(default_factory=dict)


def build_month(
    as_of_date: dt.date,
    profile_ids: pl.Series,
    X: np.ndarray,
    columns: list[str],
    cluster: np.ndarray,
    runner_up: np.ndarray,
    distance: np.ndarray,
    probability: np.ndarray | None,
    model_version: int,
    transform,
    previous: Previous | None,
    playbook: dict[str, Action],
    meanings: dict[str, str],
    max_match_ratio: float = DEFAULTS.max_match_ratio,
    unchanged_quantile: float = DEFAULTS.unchanged_quantile,
    reach: dict[str, np.ndarray] | None = None,
) -> MonthSegments:
    """The month's three tables. `transform` maps raw features to the model's fitted space
    (the registered pipeline without its clusterer); it places both months in one space.
    `reach`: per action channel, whether each customer (rows of X) can be reached there
    (None: not measured, every playbook action counts as deliverable)."""
    Z = transform(X)
    clusters = np.unique(cluster)
    centroids = np.vstack([Z[cluster == c].mean(axis=0) for c in clusters])

    # Stable ids: match this month's clusters to last month's segments.
    if previous is not None and previous.assignments.height:
        prev_ids = previous.assignments["segment_id"].to_numpy()
        Zp = transform(previous.X)
        old_ids = sorted(set(prev_ids.tolist()))
        old_centroids = np.vstack([Zp[prev_ids == i].mean(axis=0) for i in old_ids])
        ids, matched, match_distance = match_clusters(
            old_ids, old_centroids, centroids, previous.next_id, max_match_ratio
        )
    else:
        old_ids, ids = [], list(range(len(clusters)))
        matched, match_distance = [None] * len(clusters), [None] * len(clusters)
    id_of = dict(zip(clusters.tolist(), ids, strict=True))
    segment_id = np.array([id_of[c] for c in cluster.tolist()], dtype=np.int64)
    runner_up_id = np.array([id_of[c] for c in runner_up.tolist()], dtype=np.int64)

    # Profiles, names and actions.
    means, z, sizes = profile_frame(X, cluster, columns)
    with warnings.catch_warnings():  # a feature of an absent source has no mean: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        population = np.nanmean(X, axis=0)
    # Only features the data shows (a source present, values that vary) may name a segment.
    observed = observed_features(X, columns)
    generated = name_segments(z, columns, observed)
    scores = theme_scores(z, columns, observed)
    by_rfm = rfm_observed(columns, observed)
    carried: list[str | None] = []  # a matched segment's name from last month, or None
    themes: list[str] = []
    high_value = [g.high_value for g in generated]
    taken: set[str] = set()
    for i, source in enumerate(matched):  # matched segments keep their name (and so action)
        if (
            source is not None and previous is not None and source in previous.names
            and _still_shown(previous.themes.get(source), scores[i], by_rfm)
        ):  # fmt: skip
            carried.append(previous.names[source])
            themes.append(previous.themes.get(source, generated[i].theme))
            high_value[i] = previous.high_value.get(source, high_value[i])
            taken.add(previous.names[source])
        else:
            carried.append(None)
            themes.append(generated[i].theme)
    names: list[str] = []
    for i, name in enumerate(carried):
        if name is None:
            name = unique_name(generated[i].name, scores[i], taken, generated[i].theme)
            taken.add(name)
        names.append(name)
    shares = _reach_shares(reach, cluster, clusters)
    actions = [
        action_for(playbook, t, h, r) for t, h, r in zip(themes, high_value, shares, strict=True)
    ]
    top = distinguishing(z, columns)

    transitions: dict[tuple[int, int], int] = {}
    migration = _empty_migration(as_of_date)
    if previous is not None and previous.assignments.height:
        now = pl.DataFrame({"profile_id": profile_ids, "to_segment_id": segment_id})
        moves = previous.assignments.rename({"segment_id": "from_segment_id"}).join(
            now, on="profile_id", how="full", coalesce=True
        )
        counts = moves.group_by("from_segment_id", "to_segment_id").agg(
            pl.len().cast(pl.Int64).alias("customers")
        )
        for old, new, n in counts.iter_rows():
            if old is not None and new is not None:
                transitions[(old, new)] = n
        name_of = {**previous.names, **dict(zip(ids, names, strict=True))}
        migration = counts.with_columns(
            pl.lit(as_of_date).alias("as_of_date"),
            pl.col("from_segment_id").replace_strict(name_of, default=None).alias("from_name"),
            pl.col("to_segment_id").replace_strict(name_of, default=None).alias("to_name"),
            pl.when(pl.col("from_segment_id").is_null()).then(pl.lit("new"))
            .when(pl.col("to_segment_id").is_null()).then(pl.lit("departed"))
            .when(pl.col("from_segment_id") == pl.col("to_segment_id")).then(pl.lit("stayed"))
            .otherwise(pl.lit("moved")).alias("movement"),
        ).select(_MIGRATION_COLUMNS)  # fmt: skip
        migration = migration.sort("from_segment_id", "to_segment_id", nulls_last=True)
    lineages, retired = lineage(ids, matched, old_ids, transitions)

    total = int(sizes.sum())
    descriptions = [
        describe(names[i], int(sizes[i]), sizes[i] / total, means[i], population, z[i], columns,
                 meanings, actions[i].text)
        for i in range(len(clusters))
    ]  # fmt: skip
    profiles = pl.DataFrame(
        {
            "as_of_date": [as_of_date] * len(clusters),
            "segment_id": ids,
            "name": names,
            "theme": themes,
            "high_value": high_value,
            "customers": sizes.astype(np.int64),
            "share": np.round(sizes / total, 4),
            "distinguishing_features": top,
            "description": descriptions,
            "action_type": [a.type for a in actions],
            "action_channel": [a.channel for a in actions],
            "action": [a.text for a in actions],
            "action_deliverable": [a.deliverable for a in actions],
            "action_reachable_share": pl.Series(
                [
                    None if a.reachable_share is None else round(a.reachable_share, 4)
                    for a in actions
                ],
                dtype=pl.Float64,
            ),
            "channel_reach": pl.Series(
                [
                    None if r is None else ", ".join(f"{c} {v:.0%}" for c, v in sorted(r.items()))
                    for r in shares
                ],
                dtype=pl.String,
            ),
            "lineage": lineages,
            "continues_segment_id": pl.Series(matched, dtype=pl.Int64),
            "match_distance": pl.Series(match_distance, dtype=pl.Float64),
            "model_version": [model_version] * len(clusters),
            "cluster": clusters.astype(np.int64),
            "feature_means": [_struct(columns, means[i]) for i in range(len(clusters))],
            "feature_zscores": [_struct(columns, z[i]) for i in range(len(clusters))],
        }
    ).sort("segment_id")
    name_by_id = dict(zip(ids, names, strict=True))
    assignments = pl.DataFrame(
        {
            "profile_id": profile_ids,
            "as_of_date": [as_of_date] * len(profile_ids),
            "segment_id": segment_id,
            "segment_name": [name_by_id[i] for i in segment_id.tolist()],
            "distance": distance,
            "probability": pl.Series(probability, dtype=pl.Float64)
            if probability is not None
            else pl.Series([None] * len(profile_ids), dtype=pl.Float64),
            "runner_up_segment_id": runner_up_id,
            "runner_up_name": [name_by_id[i] for i in runner_up_id.tolist()],
            "model_version": [model_version] * len(profile_ids),
        }
    )
    checks = {
        "stability": _stability(previous, profile_ids, Z, segment_id, transform, centroids,
                                unchanged_quantile),
        "retired": retired,
    }  # fmt: skip
    return MonthSegments(assignments, profiles, migration, checks)


_MIGRATION_COLUMNS = [
    "as_of_date", "from_segment_id", "from_name", "to_segment_id", "to_name", "movement",
    "customers",
]  # fmt: skip


def _empty_migration(as_of_date: dt.date) -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "as_of_date": pl.Date, "from_segment_id": pl.Int64, "from_name": pl.String,
            "to_segment_id": pl.Int64, "to_name": pl.String, "movement": pl.String,
            "customers": pl.Int64,
        }
    )  # fmt: skip


def _struct(columns: list[str], values: np.ndarray) -> dict[str, float | None]:
    pairs = zip(columns, values, strict=True)
    return {c: (round(float(v), 4) if np.isfinite(v) else None) for c, v in pairs}


def _still_shown(theme: str | None, scores: np.ndarray, by_rfm: bool) -> bool:
    """Whether last month's name may be kept: its theme is one the data can still show. A name
    from recency, frequency and spend always can; a name no theme justified ('default') is
    kept only while there is no order or visit feature to name it by (older versions named
    orders-only segments by feature pairs: those are named again)."""
    if theme in THEME_BY_KEY:
        return bool(np.isfinite(scores[THEMES.index(THEME_BY_KEY[theme])]))
    return theme in RFM_KEYS or (theme == "default" and not by_rfm)


def _reach_shares(
    reach: dict[str, np.ndarray] | None, cluster: np.ndarray, clusters: np.ndarray
) -> list[dict[str, float] | None]:
    """Per cluster, the share of its members each channel reaches (None: not measured)."""
    if reach is None:
        return [None] * len(clusters)
    return [
        {channel: float(np.mean(ok[cluster == c])) for channel, ok in reach.items()}
        for c in clusters
    ]


def _stability(previous, profile_ids, Z, segment_id, transform, centroids, quantile) -> dict:
    """Of the customers in both months whose features barely moved (the `quantile` of smallest
    moves in the fitted space), the share that kept their segment id."""
    if previous is None or not previous.assignments.height:
        return {"evaluated": False, "reason": "no previous month"}
    index = {p: i for i, p in enumerate(profile_ids.to_list())}
    prev_rows, rows = [], []
    for j, p in enumerate(previous.assignments["profile_id"].to_list()):
        i = index.get(p)
        if i is not None:
            prev_rows.append(j)
            rows.append(i)
    if not rows:
        return {"evaluated": False, "reason": "no customer in both months"}
    before, now = np.array(prev_rows), np.array(rows)
    moved = np.linalg.norm(transform(previous.X[before]) - Z[now], axis=1)
    # "Barely moved": within the quantile of moves, and well inside a segment's spread.
    limit = float(np.quantile(moved, quantile))
    calm = moved <= limit
    kept = previous.assignments["segment_id"].to_numpy()[before][calm] == segment_id[now][calm]
    return {
        "evaluated": True,
        "customers_in_both_months": int(len(rows)),
        "unchanged_customers": int(calm.sum()),
        "move_limit": round(limit, 4),
        "kept_segment_share": round(float(kept.mean()) if len(kept) else 1.0, 4),
    }


def theme_label(key: str) -> str:
    return THEME_BY_KEY[key].noun if key in THEME_BY_KEY else key
