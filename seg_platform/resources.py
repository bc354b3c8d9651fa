"""Dagster resources: the DuckDB warehouse, the sources.yaml, and the identity rules."""

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from pydantic import Field

from seg_platform.core import settings
from seg_platform.core.warehouse import connect
from seg_platform.identity.rules import DEFAULT_BLOCKED, DEFAULT_LIMITS, IdentityRules
from seg_platform.segmentation.selection import SelectionRule
from seg_platform.sources.config import (
    BLOCKING_COLUMNS,
    LAUNCHPAD,
    LAUNCHPAD_PREFIX,
    MERGED_PER_TYPE,
    SourcesConfig,
    check_identity_settings,
    load_sources_config,
)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse: `database`, else `<platform home>/warehouse.duckdb`.

    Not Dagster's DuckDBResource: that one retries a locked file silently for ~100 s, which looks
    like a hang; this one fails at once and says which process holds the lock.
    """

    database: str | None = Field(
        default=None,
        description="The DuckDB file of the warehouse. Unset: warehouse.duckdb in the platform "
        "home.",
    )

    @property
    def path(self) -> Path:
        return Path(self.database) if self.database else settings.platform_home().warehouse

    @contextmanager
    def get_connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(self.path, read_only=read_only) as con:
            yield con


class SourcesResource(dg.ConfigurableResource):
    """The sources.yaml: `config_path`, else $SEG_PLATFORM_SOURCES, else the home's sample."""

    config_path: str | None = Field(
        default=None,
        description="The sources.yaml describing the landing files. Unset: $SEG_PLATFORM_SOURCES, "
        "else the platform home's sample.",
    )

    @property
    def path(self) -> Path:
        return settings.sources_config_path(self.config_path or None)

    def load(self) -> SourcesConfig:
        return load_sources_config(self.path)


_RULES = IdentityRules()
_RULE = SelectionRule()  # the selection rule's defaults, written once there


def _setting(description: str, default: Any) -> Any:
    """A field of `IdentityConfig`: unset (None) unless given, so a value given in the
    launchpad can be told from one that is not, even when it equals the default (Dagster drops
    values equal to a field's default). `default` is the rule's value when no one sets it."""
    default = json.loads(json.dumps(default))  # tuples as lists: as written in YAML
    return Field(
        default=None,
        description=f"{description} Default: {json.dumps(default)}.",
        json_schema_extra={"platform_default": default},
    )


class IdentityConfig(dg.ConfigurableResource):
    """Identity resolution rules (see docs/identity.md); every field has a sensible default.

    Each field can also be set in the sources.yaml's `identity:` section. A run's rules are the
    defaults, then the sources.yaml, then the fields set here (the Dagster launchpad, under
    `resources.identity.config`, e.g. `probabilistic: false` or `limits: {email: 3}`); a field
    left empty (null) here keeps the file's value or the default. `rules(sources)` merges them.
    """

    priority: list[str] | None = _setting(
        "Identifier types, highest first: which identifier anchors a record and which link "
        "goes first when a limit is hit. A type left out is not used at all.",
        _RULES.priority,
    )
    limits: dict[str, int] | None = _setting(
        "The most identifiers of each type one profile may hold (for crm_id, deduplicated "
        "records of one person count once). Types given replace their default; the others "
        "keep it.",
        _RULES.limits,
    )
    extra_blocked: dict[str, list[str]] | None = _setting(
        "More values that never link anything: identifier type (or `*`, every type) to "
        "case-insensitive regular expressions (RE2), added to the built-in list.",
        {},
    )
    dotless_email_domains: list[str] | None = _setting(
        "Email domains where dots in the local part do not matter.",
        _RULES.dotless_email_domains,
    )
    strip_plus_tags: bool | None = _setting(
        "Drop `+tag` from email local parts (`ann+shop@x` is `ann@x`).", _RULES.strip_plus_tags
    )
    default_phone_region: str | None = _setting(
        "Country (two-letter code) national phone numbers are read in.",
        _RULES.default_phone_region,
    )
    max_component_size: int | None = _setting(
        "Blocking check: the most identifiers one profile may hold (a larger one means a junk "
        "value is bridging people).",
        _RULES.max_component_size,
    )
    match_rate_floor: float | None = _setting(
        "WARN check: the least share of each source's records tied to a known person.",
        _RULES.match_rate_floor,
    )
    probabilistic: bool | None = _setting(
        "Deduplicate CRM contacts with the Splink model (false: hard links only).",
        _RULES.probabilistic,
    )
    probabilistic_threshold: float | None = _setting(
        "Match probability at or above which two contacts are one person.",
        _RULES.probabilistic_threshold,
    )
    dedup_max_cluster_size: int | None = _setting(
        "The most records one person's cluster may have; larger clusters are split at "
        "stricter thresholds.",
        _RULES.dedup_max_cluster_size,
    )
    dedup_min_density: float | None = _setting(
        "The least share of its record pairs a cluster of 4 or more records must link "
        "directly; looser chains are split at stricter thresholds.",
        _RULES.dedup_min_density,
    )
    dedup_blocking_rules: list[list[str]] | None = _setting(
        "Candidate pairs of contacts: each rule a list of person columns that must be equal "
        f"({', '.join(BLOCKING_COLUMNS)}). Empty: chosen from the columns present.",
        _RULES.dedup_blocking_rules,
    )
    dedup_comparison_budget: int | None = _setting(
        "The most candidate pairs the broader automatic blocking rules (a column alone, name "
        "prefixes) may add; they add at most 200 per contact compared in any case.",
        _RULES.dedup_comparison_budget,
    )
    max_refused_link_share: float | None = _setting(
        "WARN check: the largest share of the duplicate model's links that may be refused "
        "(by the clusters' safeguards or the limits).",
        _RULES.max_refused_link_share,
    )

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every setting's value when no one sets it."""
        return {
            name: copy.deepcopy(info.json_schema_extra["platform_default"])
            for name, info in cls.model_fields.items()
        }

    def launchpad_settings(self) -> dict[str, Any]:
        """The settings given to this resource (the launchpad, or in code), checked like the
        file's: a mistake raises `SourceConfigError` naming `resources.identity.config.<..>`."""
        given = {n: getattr(self, n) for n in type(self).model_fields}
        given = {n: v for n, v in given.items() if v is not None}
        return check_identity_settings(given, LAUNCHPAD, prefix=LAUNCHPAD_PREFIX)

    def settings(self, sources: SourcesConfig | None = None) -> dict[str, tuple[Any, str]]:
        """Every setting's value for a run and where it came from: `default`, `sources.yaml`
        or `launchpad` (both, comma-separated, for `limits` and `extra_blocked`, which merge
        per identifier type; any other setting given later replaces the earlier value)."""
        values, origins = self.defaults(), {}
        layers = (
            ("sources.yaml", sources.identity if sources is not None else {}),
            (LAUNCHPAD, self.launchpad_settings()),
        )
        for origin, layer in layers:
            for name, value in layer.items():
                merge = name in MERGED_PER_TYPE
                values[name] = {**values[name], **value} if merge else value
                origins[name] = [*origins.get(name, []), origin] if merge else [origin]
        return {n: (v, ", ".join(origins.get(n, ["default"]))) for n, v in values.items()}

    def rules(self, sources: SourcesConfig | None = None) -> IdentityRules:
        """The rules of a run: defaults < the sources.yaml's `identity:` section (when `sources`
        is given) < this resource's settings."""
        s = {name: value for name, (value, _) in self.settings(sources).items()}
        blocked = {k: tuple(v) for k, v in DEFAULT_BLOCKED.items()}
        for id_type, patterns in s["extra_blocked"].items():
            blocked[id_type] = (*blocked.get(id_type, ()), *patterns)
        return IdentityRules(
            priority=tuple(s["priority"]),
            limits={**DEFAULT_LIMITS, **s["limits"]},
            blocked=blocked,
            dotless_email_domains=tuple(s["dotless_email_domains"]),
            strip_plus_tags=s["strip_plus_tags"],
            default_phone_region=s["default_phone_region"],
            max_component_size=s["max_component_size"],
            match_rate_floor=s["match_rate_floor"],
            probabilistic=s["probabilistic"],
            probabilistic_threshold=s["probabilistic_threshold"],
            dedup_max_cluster_size=s["dedup_max_cluster_size"],
            dedup_min_density=s["dedup_min_density"],
            dedup_blocking_rules=tuple(tuple(r) for r in s["dedup_blocking_rules"]),
            dedup_comparison_budget=s["dedup_comparison_budget"],
            max_refused_link_share=s["max_refused_link_share"],
        )


class SegmentationConfig(dg.ConfigurableResource):
    """The candidate sweep and the selection rule (README, "Segmentation"); all have defaults.

    Override in the Dagster launchpad under `resources.segmentation.config`.
    """

    # Names in seg_platform.segmentation.algorithms.ALGORITHMS (checked when the sweep is set up;
    # a literal here, as importing the registry would load scikit-learn with the code location).
    algorithms: list[str] = Field(
        default=["kmeans", "gmm", "ward", "hdbscan"],
        description="Clustering algorithms the sweep tries, each for every segment count from "
        "k_min to k_max (names registered in seg_platform.segmentation.algorithms).",
    )
    k_min: int = Field(default=3, description="The fewest segments a candidate is fitted with.")
    k_max: int = Field(default=10, description="The most segments a candidate is fitted with.")
    selection_sample: int = Field(
        default=20_000, description="Customers the candidates are fitted and compared on."
    )
    silhouette_sample: int = Field(
        default=5_000, description="Customers the silhouette is computed on (a fixed sample)."
    )
    quadratic_sample: int = Field(
        default=2_000,
        description="Customers Ward and HDBSCAN are fitted on (their cost grows with the square "
        "of the rows).",
    )
    bootstrap: int = Field(default=5, description="Resamples for the stability metric.")
    jobs: int = Field(
        default=-1,
        description="Candidates scored side by side: -1 one process per core, 1 in the run's "
        "own process, n that many processes.",
    )
    pca_variance: float | None = Field(
        default=None,
        description="Share of the variance PCA keeps before clustering (0 to 1). Unset: no PCA.",
    )
    seed: int = Field(default=42, description="Random seed: same data and seed, same segments.")
    min_segments: int = Field(
        default=_RULE.min_segments, description="Selection rule: the fewest segments to publish."
    )
    max_segments: int = Field(
        default=_RULE.max_segments, description="Selection rule: the most segments to publish."
    )
    min_segment_share: float = Field(
        default=_RULE.min_segment_share,
        description="Selection rule: the smallest share of customers a segment may hold.",
    )
    min_stability: float = Field(
        default=_RULE.min_stability,
        description="Selection rule: the least stability (mean adjusted Rand index across "
        "bootstrap resamples) a candidate needs.",
    )
    min_silhouette: float = Field(
        default=0.1, description="Blocking check: the least silhouette of a champion model."
    )
    # Segment tables (group `segments`).
    playbook: str | None = Field(
        default=None,
        description='YAML of one action per segment theme (README, "Actions"). Unset: the '
        "embedded default playbook.",
    )
    max_match_ratio: float = Field(
        default=1.0,
        description="A segment keeps last month's id when last month's centre is closer than "
        'this times the distance to its nearest neighbour (README, "Stable ids").',
    )
    min_outcome_spread: float = Field(
        default=0.3,
        description="Check: segments must differ in a later outcome by at least this much.",
    )
    unchanged_quantile: float = Field(
        default=0.25,
        description='"Barely moved" customers: this share with the smallest feature moves '
        "since last month.",
    )
    min_kept_share: float = Field(
        default=0.9,
        description="WARN check: the least share of barely moved customers that keep their "
        "segment.",
    )

    def rule(self):
        return SelectionRule(
            self.min_segments, self.max_segments, self.min_segment_share, self.min_stability
        )

    def sweep_config(self):
        from seg_platform.segmentation.algorithms import ALGORITHMS
        from seg_platform.segmentation.candidates import default_candidates
        from seg_platform.segmentation.sweep import SweepConfig

        unknown = [name for name in self.algorithms if name not in ALGORITHMS]
        if unknown:
            raise ValueError(
                f"resources.segmentation.config.algorithms: unknown {', '.join(unknown)}; "
                f"registered: {', '.join(ALGORITHMS)}"
            )
        if self.jobs == 0:
            raise ValueError(
                "resources.segmentation.config.jobs = 0: use -1 (one process per core), 1 (in "
                "the run's own process) or a number of processes"
            )
        return SweepConfig(
            candidates=default_candidates(
                self.k_min,
                self.k_max,
                tuple(self.algorithms),
                (self.min_segments, self.max_segments),
            ),
            rule=self.rule(),
            selection_sample=self.selection_sample,
            silhouette_sample=self.silhouette_sample,
            quadratic_sample=self.quadratic_sample,
            bootstrap=self.bootstrap,
            pca_variance=self.pca_variance or None,
            min_cluster_share=self.min_segment_share,
            seed=self.seed,
            jobs=self.jobs,
        )


class PredictionsConfig(dg.ConfigurableResource):
    """Propensity, value and daily scoring settings (README, "Predictions"); all have defaults.

    Override in the Dagster launchpad under `resources.predictions.config`.
    """

    training_months: int = Field(
        default=6, description="Labelled months each propensity model learns from."
    )
    max_training_rows: int = Field(
        default=300_000, description="Training rows beyond which a deterministic sample is used."
    )
    max_evaluation_rows: int = Field(
        default=200_000,
        description="The evaluation month's customers, sampled beyond this many.",
    )
    min_training_rows: int = Field(
        default=500,
        description="Fewer training rows: no model is trained this month (said in metadata).",
    )
    calibration: str = Field(
        default="isotonic",
        description="Probability calibration of the propensity models: isotonic or sigmoid.",
    )
    active_days: int = Field(
        default=90,
        description="A customer is active with an event or order within this many days of the "
        "as-of date.",
    )
    champion_tolerance: float = Field(
        default=0.0,
        description="The champion alias moves when the new model's ROC AUC is at least the "
        "champion's minus this.",
    )
    permutation_sample: int = Field(
        default=5_000, description="Evaluation rows permutation importances are computed on."
    )
    value_horizon_months: int = Field(
        default=12, description="Months the predicted value and purchases cover."
    )
    clv_holdout_months: int = Field(
        default=3, description="Months of the value model's backtest holdout period."
    )
    clv_max_error: float = Field(
        default=0.10,
        description="WARN check: the largest median |predicted / actual - 1| of holdout purchases.",
    )
    clv_max_revenue_error: float = Field(
        default=0.20,
        description="WARN check: the largest median |predicted / actual - 1| of holdout revenue.",
    )
    clv_backtest_cutoffs: int = Field(
        default=4, description="Rolling value backtest: this many cut-offs, one month apart (1-24)."
    )
    min_buyers: int = Field(
        default=50, description="Fewer purchasing customers: no value model this month."
    )
    overlays: str | None = Field(
        default=None,
        description="YAML of the rule-based overlays (lifecycle, intent). Unset: the embedded "
        "default.",
    )
    seed: int = Field(default=42, description="Random seed of sampling and model fits.")

    def validate_settings(self) -> None:
        if self.calibration not in ("isotonic", "sigmoid"):
            raise ValueError(
                f"predictions.calibration = {self.calibration!r}: use 'isotonic' or 'sigmoid'"
            )
        if not 1 <= self.clv_backtest_cutoffs <= 24:
            raise ValueError(
                f"predictions.clv_backtest_cutoffs = {self.clv_backtest_cutoffs}: use 1 to 24"
            )


class ActivationConfig(dg.ConfigurableResource):
    """Feeds, holdouts, lift and surveys (README, "Activation"); all have defaults.

    Override in the Dagster launchpad under `resources.activation.config`.
    """

    destinations: str | None = Field(
        default=None,
        description="YAML of the destinations (channels and their feeds). Unset: the embedded "
        "default.",
    )
    surveys: str | None = Field(
        default=None, description="YAML of the survey triggers. Unset: the embedded default."
    )
    feeds_folder: str | None = Field(
        default=None,
        description="Folder the feed files are written to. Unset: activation/ in the platform "
        "home.",
    )
    holdout_share: float = Field(
        default=0.10,
        description="Share of each segment held out of every feed as a control group, in [0, 1).",
    )
    segment_holdout_shares: dict[str, float] = Field(
        default={},
        description="Segment name to its own holdout share, replacing holdout_share for it.",
    )
    holdout_salt: str = Field(
        default="seg_platform",
        description="Salt of the deterministic holdout draw: changing it draws a new control "
        "group.",
    )
    confidence: float = Field(
        default=0.95, description="Confidence level of the lift intervals, in (0.5, 1)."
    )
    min_group: int = Field(
        default=30,
        description="Fewer customers with an outcome in a group: no lift interval for it.",
    )
    survey_response_days: int = Field(
        default=60, description="Answers this many days after a trigger count for it."
    )

    def folder(self):
        from pathlib import Path

        return (
            Path(self.feeds_folder)
            if self.feeds_folder
            else (settings.platform_home().root / "activation")
        )

    def validate_settings(self) -> None:
        for name, share in {"holdout_share": self.holdout_share,
                            **self.segment_holdout_shares}.items():  # fmt: skip
            if not 0 <= share < 1:
                raise ValueError(f"activation holdout share for {name} = {share}: use [0, 1)")
        if not 0.5 < self.confidence < 1:
            raise ValueError(f"activation.confidence = {self.confidence}: use (0.5, 1)")
