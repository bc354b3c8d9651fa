"""Identity assets (group `identity`): one profile per real person across every source.

One multi-asset writes the identity tables together (they must agree with each other) and logs
the duplicate model it learnt as an MLflow run; blocking checks guard what every later layer
relies on: one profile per identifier, per-type limits and a cap on component size. The match
rate is advisory (WARN). The rules are the `identity` resource merged over the sources.yaml's
`identity:` section (`IdentityConfig.rules`).
"""

import json
import tempfile
from pathlib import Path

import dagster as dg
import polars as pl

from seg_platform.core.failures import config_errors_as_failures
from seg_platform.core.identity_rules import IdentityRules
from seg_platform.core.layers import layer_key, layer_specs
from seg_platform.core.metadata import markdown
from seg_platform.core.resources import EngineResource, WarehouseResource
from seg_platform.core.tracking import MlflowResource
from seg_platform.core.warehouse import fetch_one
from seg_platform.identity.build import (
    AUDIT,
    CHANGES,
    EDGES,
    MAP,
    MATCH_RATE,
    PROFILES,
    IdentityResult,
    Resolver,
    build_identity,
)
from seg_platform.identity.linkage_store import Scorer
from seg_platform.identity.tables import SPECS
from seg_platform.sources.contract import SOURCES
from seg_platform.sources.resources import IdentityConfig, SourcesResource

# MLflow experiment of the duplicate models, one run per identity build that trained one.
IDENTITY_EXPERIMENT = "identity"
# MLflow refuses longer parameter values; the full values are in linkage_report.json.
MAX_PARAM_CHARS = 6000
WEIGHT_SCHEMA = {
    "comparison": pl.String, "level": pl.String, "m_probability": pl.Float64,
    "u_probability": pl.Float64, "match_weight": pl.Float64,
}  # fmt: skip

RAW_KEYS = [layer_key("raw", name) for name in SOURCES]
# Links by rule: how many were used and how many refused (and why, in identity_edges.reason).
LINKS_SQL = f"""
    SELECT rule, count(*) AS links, count(*) FILTER (status = 'used') AS used,
           count(*) FILTER (status <> 'used') AS refused,
           count(*) FILTER (status = 'dropped_hub') AS not_a_bridge,
           count(*) FILTER (status = 'dropped_limit') AS over_limit,
           count(*) FILTER (status = 'dropped_cluster') AS cluster_safeguard
    FROM {EDGES} GROUP BY rule ORDER BY rule"""


def _engine_backends(
    context: dg.AssetExecutionContext, engine: EngineResource
) -> tuple[Resolver | None, Scorer | None]:
    """Spark's parts of the identity build when the `engine` resource is Spark (set in the
    resource, or `SEG_PLATFORM_ENGINE=spark` when it is unset), on one session:
    the graph's resolution (`identity.spark_graph.SparkResolver`: components and merge
    protection on the executors) and the scoring of the blocked contact pairs with the
    duplicate model (`identity.spark_linkage.SparkScorer`; training stays on the driver).
    Normalisation, edges and stable ids stay in the warehouse. (None, None) with DuckDB."""
    if not engine.is_spark:
        return None, None
    from seg_platform.identity.spark_graph import SparkResolver
    from seg_platform.identity.spark_linkage import SparkScorer

    spark, lake = engine.session()
    if engine.settings().is_connect:
        context.log.warning(
            "identity: duplicate contacts scored with DuckDB on the driver: Splink's Spark "
            "backend needs a classic session, not Spark Connect"
        )
        return SparkResolver(spark, lake), None
    return SparkResolver(spark, lake), SparkScorer(spark)


@dg.multi_asset(
    specs=layer_specs(
        "identity",
        [
            dg.AssetSpec(
                name,
                kinds={"duckdb", "scipy", "mlflow"} if name == "identity_map" else {"duckdb"},
                deps=RAW_KEYS,
                description=f"{meaning} Table `{table}`.",
                metadata={"dagster/table_name": table},
            )
            for name, (table, meaning) in SPECS.items()
        ],
    ),
)
def identity_graph(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    sources: SourcesResource,
    identity: IdentityConfig,
    mlflow_tracking: MlflowResource,
    engine: EngineResource,
):
    """Resolve identities from the raw tables: normalise, link, protect, cluster, keep ids."""
    with config_errors_as_failures():
        # Before the warehouse is touched: a mistake in the rules fails the step at once.
        config = sources.load()
        settings, rules = identity.settings(config), identity.rules(config)
        resolver, scorer = _engine_backends(context, engine)
        with warehouse.get_connection() as con:
            # A full reload of the raw tables rebuilds the graph in full too.
            result = build_identity(
                con,
                rules,
                context.run_id,
                full_rebuild=sources.full_reload,
                resolver=resolver,
                scorer=scorer,
            )
            counts = {
                name: fetch_one(con, f"SELECT count(*) FROM {table}")[0]
                for name, (table, _) in SPECS.items()
            }
            rates = con.sql(f"SELECT * FROM {MATCH_RATE}").pl()
            sizes = con.sql(
                f"SELECT value AS identifiers, count FROM {AUDIT} WHERE kind = 'component_size'"
            ).pl()
            links = con.sql(LINKS_SQL).pl()
            reasons = con.sql(
                f"SELECT rule, reason, count(*) AS links FROM {EDGES} WHERE reason IS NOT NULL "
                "GROUP BY ALL ORDER BY links DESC, rule, reason LIMIT 5"
            ).pl()
    context.log.info(f"identity: {result}")
    context.log.info(f"identity build: {json.dumps(result.incremental)}")
    model_run = {}
    if result.linkage.get("model"):
        model_run = _log_model_run(context, mlflow_tracking, result, rules)
    for name in SPECS:
        metadata = {"dagster/row_count": dg.MetadataValue.int(counts[name])}
        if name == "identity_map":
            metadata |= {
                "profiles": dg.MetadataValue.int(result.profiles),
                "identifiers": dg.MetadataValue.int(result.identifiers),
                "shared_identifiers_not_bridged": dg.MetadataValue.int(result.hubs),
                "blocked_values": dg.MetadataValue.int(result.blocked_values),
                "probabilistic_links": dg.MetadataValue.int(result.probabilistic_edges),
                "merges": dg.MetadataValue.int(result.merges),
                "splits": dg.MetadataValue.int(result.splits),
                "largest_profile_identifiers": dg.MetadataValue.int(result.largest_component),
                "component_sizes": markdown(sizes),
                "links_by_rule": markdown(links),
                "top_refusal_reasons": markdown(reasons),
                "duplicate_model_columns": dg.MetadataValue.json(result.linkage.get("columns", [])),
                "duplicate_model_blocking": dg.MetadataValue.json(
                    {
                        "rules": result.linkage.get("blocking_rules", []),
                        "skipped_over_budget": result.linkage.get(
                            "blocking_skipped_over_budget", {}
                        ),
                        "comparison_budget": result.linkage.get("comparison_budget"),
                    }
                ),
                "duplicate_model_training": dg.MetadataValue.json(
                    result.linkage.get("em_sessions", {})
                ),
                # Which stored version of each model scored the pairs, and whether this build
                # trained it (identity.linkage_store).
                "duplicate_model_stored": dg.MetadataValue.json(
                    result.linkage.get("stored_models", {})
                ),
                "duplicate_model_weights": markdown(
                    pl.DataFrame(result.linkage.get("weights", []), schema=WEIGHT_SCHEMA).head(60)
                ),
                **model_run,
                # Settings that are not the default, and where each was set.
                "identity_settings": dg.MetadataValue.json(
                    {n: {"value": v, "from": o} for n, (v, o) in settings.items() if o != "default"}
                ),
                "seconds_by_step": dg.MetadataValue.json(result.seconds),
                # Incremental or full (and why), components re-resolved and kept as they were.
                "build_mode": dg.MetadataValue.text(result.incremental["mode"]),
                "components_resolved": dg.MetadataValue.int(
                    result.incremental["components_resolved"]
                ),
                "components_kept": dg.MetadataValue.int(result.incremental["components_kept"]),
                "incremental": dg.MetadataValue.json(result.incremental),
                # Where the graph's components and merge protection ran (an incremental build
                # re-resolves only the changed components, in one process).
                "graph_resolved_on": "spark"
                if resolver is not None and result.incremental["mode"] != "incremental"
                else "one process",
                # Where the duplicate model scored the blocked contact pairs (in full and
                # incremental builds; the model is trained or stored on the driver).
                "linkage_scored_on": (
                    "not scored: no contacts to compare"
                    if not result.linkage.get("stored_models")
                    else "spark"
                    if scorer is not None
                    else "duckdb"
                ),
            }
        if name == "match_rate":
            metadata["by_source"] = markdown(rates)
        yield dg.MaterializeResult(asset_key=layer_key("identity", name), metadata=metadata)


def _log_model_run(
    context: dg.AssetExecutionContext,
    tracking: MlflowResource,
    result: IdentityResult,
    rules: IdentityRules,
) -> dict:
    """Log the duplicate model as an MLflow run; its id and link as metadata. The identity
    tables are written by then and are what later layers need, so a tracking store that fails
    is a warning here (the model is also in identity.linkage_weights), not a failed step."""
    try:
        run_id, url = log_duplicate_model(
            tracking, result, rules, tags={"dagster_run_id": context.run.run_id}
        )
    except Exception as exc:  # noqa: BLE001 - reported, see the docstring
        context.log.warning(f"duplicate model not logged to MLflow: {type(exc).__name__}: {exc}")
        return {"mlflow_run": f"not logged: {type(exc).__name__}"}
    context.log.info(f"duplicate model: MLflow {url}")
    return {"mlflow_run": dg.MetadataValue.url(url), "mlflow_run_id": run_id}


def model_run_contents(result: IdentityResult, rules: IdentityRules) -> tuple[dict, dict]:
    """The MLflow params and metrics of a build's duplicate model: its settings and the counts
    of the run (profiles, links used and refused). Counts and model settings only: no value of
    any record."""
    linkage = result.linkage
    params = {
        "columns": ", ".join(linkage.get("columns", [])),
        "threshold": rules.probabilistic_threshold,
        "prior": linkage.get("prior"),
        "em_sessions": linkage.get("em_sessions"),
        "blocking_rules": linkage.get("blocking_rules"),
        "comparison_budget": linkage.get("comparison_budget"),
        "configured_blocking_rules": [list(r) for r in rules.dedup_blocking_rules] or None,
        "dedup_max_cluster_size": rules.dedup_max_cluster_size,
        "dedup_min_density": rules.dedup_min_density,
        "crm_id_limit": rules.limits.get("crm_id"),
    }
    params = {
        k: (str(v) if isinstance(v, str | int | float) else json.dumps(v))[:MAX_PARAM_CHARS]
        for k, v in params.items()
        if v is not None
    }
    links = result.links
    used = sum(n for (_, status), n in links.items() if status == "used")
    found = sum(n for (rule, _), n in links.items() if rule == "probabilistic")
    found_used = links.get(("probabilistic", "used"), 0)
    metrics = {
        "profiles": result.profiles,
        "identifiers": result.identifiers,
        "links_used": used,
        "links_refused": sum(links.values()) - used,
        "probabilistic_links": found,
        "probabilistic_links_used": found_used,
        "probabilistic_links_refused": found - found_used,
        **{f"probabilistic_links_{status}": n for (rule, status), n in links.items()
           if rule == "probabilistic" and status != "used"},
        "merges": result.merges,
        "splits": result.splits,
        "largest_profile_identifiers": result.largest_component,
    }  # fmt: skip
    return params, {k: float(v) for k, v in metrics.items()}


def log_duplicate_model(
    tracking: MlflowResource, result: IdentityResult, rules: IdentityRules, tags: dict
) -> tuple[str, str]:
    """One MLflow run (experiment `identity`) with the duplicate model of `result`: params and
    metrics (`model_run_contents`), and artifacts `splink_model.json` (Splink's settings with
    the learnt m and u), `match_weights.csv` (as in identity.linkage_weights),
    `match_weights_chart.html` (Splink's chart, when drawn) and `linkage_report.json` (columns,
    prior, training, blocking). Returns the run id and its link in the MLflow UI."""
    import mlflow  # slow to import: only when a model was trained

    linkage = result.linkage
    params, metrics = model_run_contents(result, rules)
    experiment_id = tracking.setup(IDENTITY_EXPERIMENT)
    with (
        tempfile.TemporaryDirectory(prefix="seg_identity_model_") as tmp,
        mlflow.start_run(
            experiment_id=experiment_id,
            run_name="duplicate model",
            tags={**tags, "asset": "identity_map"},
            description="The Splink model that deduplicated CRM contacts in this identity "
            "build: open match_weights_chart.html to see why two records were linked.",
        ) as run,
    ):
        out = Path(tmp)
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        (out / "splink_model.json").write_text(json.dumps(linkage["model"], indent=2))
        weights = pl.DataFrame(linkage.get("weights", []), schema=WEIGHT_SCHEMA)
        weights.write_csv(out / "match_weights.csv")
        if linkage.get("chart"):
            (out / "match_weights_chart.html").write_text(linkage["chart"])
        report = {k: v for k, v in linkage.items() if k not in ("model", "chart", "weights")}
        (out / "linkage_report.json").write_text(json.dumps(report, indent=2, default=str))
        mlflow.log_artifacts(str(out))
        run_id = run.info.run_id
    return run_id, tracking.run_url(experiment_id, run_id)


def _rules(identity: IdentityConfig, sources: SourcesResource) -> IdentityRules:
    """The run's rules (as identity_graph used them); a mistake is a user error of the step."""
    with config_errors_as_failures():
        return identity.rules(sources.load())


@dg.asset_check(asset=layer_key("identity", "identity_map"), blocking=True)
def identifiers_map_to_one_profile(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Every identifier maps to exactly one profile (no duplicates, no missing profile)."""
    with warehouse.get_connection() as con:
        rows, distinct, missing = fetch_one(
            con,
            f"SELECT count(*), count(DISTINCT (id_type, value)), "
            f"count(*) FILTER (profile_id IS NULL) FROM {MAP}",
        )
    passed = rows == distinct and missing == 0
    return dg.AssetCheckResult(
        passed=passed,
        description=None
        if passed
        else (
            f"{rows - distinct:,} identifiers map to more than one profile and {missing:,} to "
            "none: downstream tables would attribute their records twice or not at all."
        ),
        metadata={
            "observed_duplicates": rows - distinct,
            "observed_unmapped": missing,
            "threshold": 0,
        },
    )


@dg.asset_check(asset=layer_key("identity", "profiles"), blocking=True)
def profiles_within_identifier_limits(
    warehouse: WarehouseResource, sources: SourcesResource, identity: IdentityConfig
) -> dg.AssetCheckResult:
    """No profile holds more identifiers of a type than the per-type limit."""
    rules = _rules(identity, sources)
    with warehouse.get_connection() as con:
        over = {
            t: fetch_one(con, f'SELECT count(*) FROM {PROFILES} WHERE "n_{t}" > ?', [limit])[0]
            for t, limit in rules.limits.items()
            if t in rules.priority
        }
    broken = {t: n for t, n in over.items() if n}
    return dg.AssetCheckResult(
        passed=not broken,
        description=None
        if not broken
        else "Profiles over a per-type limit: "
        + ", ".join(f"{n:,} with more than {rules.limits[t]} {t}" for t, n in broken.items()),
        metadata={
            "observed_profiles_over_limit": sum(over.values()),
            "threshold": dg.MetadataValue.json(rules.limits),
        },
    )


@dg.asset_check(asset=layer_key("identity", "profiles"), blocking=True)
def largest_profile_within_cap(
    warehouse: WarehouseResource, sources: SourcesResource, identity: IdentityConfig
) -> dg.AssetCheckResult:
    """The largest profile (identifiers) stays under the cap: a giant one means a junk bridge."""
    cap = _rules(identity, sources).max_component_size
    with warehouse.get_connection() as con:
        largest, profile = fetch_one(
            con,
            f"SELECT identifiers, profile_id FROM {PROFILES} "
            "ORDER BY identifiers DESC, profile_id LIMIT 1",
        ) or (0, None)
    passed = largest <= cap
    return dg.AssetCheckResult(
        passed=passed,
        description=None
        if passed
        else (
            f"Profile {profile} holds {largest:,} identifiers (cap {cap:,}): some identifier is "
            "bridging many people. Add it to identity.extra_blocked or lower the limits."
        ),
        metadata={"observed": largest, "threshold": cap, "profile_id": str(profile)},
    )


@dg.asset_check(asset=layer_key("identity", "match_rate"))
def match_rate_above_floor(
    warehouse: WarehouseResource, sources: SourcesResource, identity: IdentityConfig
) -> dg.AssetCheckResult:
    """Advisory: each source's share of records tied to a known person is above the floor."""
    floor = _rules(identity, sources).match_rate_floor
    with warehouse.get_connection() as con:
        rates = con.sql(f"SELECT source, records, match_rate FROM {MATCH_RATE}").pl()
    low = rates.filter((pl.col("records") > 0) & (pl.col("match_rate") < floor))
    return dg.AssetCheckResult(
        passed=low.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=None
        if low.height == 0
        else "Low match rate: "
        + ", ".join(f"{r['source']} {r['match_rate']:.1%}" for r in low.iter_rows(named=True)),
        metadata={"observed": markdown(rates), "threshold": floor},
    )


@dg.asset_check(asset=layer_key("identity", "identity_edges"), blocking=True)
def used_edges_stay_within_one_profile(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Every link marked used joins two identifiers of the same profile."""
    with warehouse.get_connection() as con:
        (crossing,) = fetch_one(
            con,
            f"""
            SELECT count(*) FROM {EDGES} e
            JOIN {MAP} l ON l.id_type = e.left_type AND l.value = e.left_value
            JOIN {MAP} r ON r.id_type = e.right_type AND r.value = e.right_value
            WHERE e.status = 'used' AND l.profile_id <> r.profile_id""",
        )
    return dg.AssetCheckResult(
        passed=crossing == 0,
        description=None if crossing == 0 else f"{crossing:,} used links cross profiles.",
        metadata={"observed": crossing, "threshold": 0},
    )


@dg.asset_check(asset=layer_key("identity", "identity_audit"))
def audit_counts_every_profile(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """The component-size distribution in the audit adds up to the number of profiles."""
    with warehouse.get_connection() as con:
        counted, profiles = fetch_one(
            con,
            f"""
            SELECT (SELECT coalesce(sum(count), 0) FROM {AUDIT} WHERE kind = 'component_size'),
                   (SELECT count(*) FROM {PROFILES})""",
        )
    return dg.AssetCheckResult(
        passed=counted == profiles,
        metadata={"observed": int(counted), "threshold": int(profiles)},
    )


@dg.asset_check(asset=layer_key("identity", "identity_changes"))
def changes_point_at_current_profiles(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """Every merge or split logged by this run names a profile that exists now."""
    with warehouse.get_connection() as con:
        logged, dangling = fetch_one(
            con,
            f"""
            SELECT count(*), count(*) FILTER (p.profile_id IS NULL)
            FROM {CHANGES} c LEFT JOIN {PROFILES} p ON p.profile_id = c.new_profile_id
            WHERE c.run_id = ?""",
            [context.run.run_id],
        )
    return dg.AssetCheckResult(
        passed=dangling == 0,
        metadata={"changes_this_run": logged, "observed_dangling": dangling, "threshold": 0},
    )


@dg.asset_check(asset=layer_key("identity", "identity_edges"))
def probabilistic_links_mostly_used(
    warehouse: WarehouseResource, sources: SourcesResource, identity: IdentityConfig
) -> dg.AssetCheckResult:
    """Advisory: most links the duplicate model found are used. Many refused ones mean the
    limits or the clusters' safeguards do not fit this data (identity_edges.reason says why)."""
    limit = _rules(identity, sources).max_refused_link_share
    with warehouse.get_connection() as con:
        found, refused = fetch_one(
            con,
            f"SELECT count(*), count(*) FILTER (status <> 'used') FROM {EDGES} "
            "WHERE rule = 'probabilistic'",
        )
        reasons = con.sql(
            f"SELECT reason, count(*) AS links FROM {EDGES} WHERE rule = 'probabilistic' "
            "AND status <> 'used' GROUP BY reason ORDER BY links DESC, reason"
        ).pl()
    share = refused / found if found else 0.0
    passed = share <= limit
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{refused:,} of {found:,} probabilistic links refused ({share:.1%})."
            if passed
            else f"{refused:,} of {found:,} probabilistic links were refused ({share:.1%}, above "
            f"{limit:.0%}): see identity_edges.reason. Raise identity.limits for duplicate-heavy "
            "data, or dedup_max_cluster_size, if the refused links are right."
        ),
        metadata={
            "observed": dg.MetadataValue.float(round(share, 4)),
            "threshold": dg.MetadataValue.float(limit),
            "refused_by_reason": markdown(reasons),
        },
    )


IDENTITY_ASSETS = [identity_graph]
IDENTITY_CHECKS = [
    identifiers_map_to_one_profile,
    profiles_within_identifier_limits,
    largest_profile_within_cap,
    match_rate_above_floor,
    used_edges_stay_within_one_profile,
    audit_counts_every_profile,
    changes_point_at_current_profiles,
    probabilistic_links_mostly_used,
]
