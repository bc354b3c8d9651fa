"""The duplicate model as a stored, versioned artifact: trained once, reused by later builds.

Training the Splink model (u by sampling, m by EM) reads every CRM contact and was most of an
identity build's time in a steady month, when the model it learns hardly moves. The trained
model (Splink's JSON and the report the deduplication reads: prior, EM sessions, weights, the
m of unrelated birth dates and first names) is kept in `identity.linkage_models`, one row per
model and version. A build scores the pairs with the latest version and trains a new one only
when there is none for the same specification (columns compared, blocking rules, threshold,
budget, every other identity rule, this code's version), when a full rebuild was asked for
(`--full-reload`: the result is then a fresh home's), when people were erased since it was
trained, when the contacts grew by more than `dedup_model_retrain_share` since, or when that
share is 0 (every build trains: the behaviour before the store). Incremental builds and the
full ones the planner falls back to use the same stored model, so they stay equal
(identity.incremental).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from seg_platform.core.identity_rules import IdentityRules
from seg_platform.core.warehouse import table_exists

if TYPE_CHECKING:  # Splink is imported only by a build that compares contacts
    from seg_platform.identity.linkage import LinkageSpec

# Another engine's scoring of the blocked pairs with a trained model (Splink's JSON):
# `(frames, spec, model) -> pairs` as `linkage.predict_links(frames, spec, model=model)` gives
# them (`identity.spark_linkage.SparkScorer`).
Scorer = Callable[["pl.DataFrame | list[pl.DataFrame]", "LinkageSpec", dict], pl.DataFrame]

MODELS = "identity.linkage_models"
# Bump when a change of linkage.py alters what a model learns or how it scores: stored models
# are then retrained.
MODEL_VERSION = "1"


def rules_fingerprint(rules: IdentityRules) -> str:
    """The identity rules a model was trained under (the normalisation shapes the contacts it
    learns from), its own retraining share aside: changing that share retrains nothing."""
    kept = dataclasses.replace(rules, dedup_model_retrain_share=0.0)
    return hashlib.sha256(repr(kept).encode()).hexdigest()


def spec_fingerprint(spec: LinkageSpec, rules: str = "") -> str:
    """What a model was trained for: its specification, the identity rules' fingerprint and
    this code's version."""
    return hashlib.sha256(f"{MODEL_VERSION}|{rules}|{spec!r}".encode()).hexdigest()


@dataclasses.dataclass
class ModelStore:
    """The stored models of one build: `predict` scores with a stored model or trains one."""

    con: duckdb.DuckDBPyConnection
    run_id: str
    suppression: str  # fingerprint of the erased identifiers (sources.suppression)
    retrain_share: float
    rules: str = ""  # rules_fingerprint of the build's identity rules
    retrain: str | None = None  # why every model is trained in this build (a full rebuild)
    used: dict[str, dict] = dataclasses.field(default_factory=dict)  # name -> what was done
    # Scores the pairs on another engine (default: the same in-memory DuckDB as training).
    # Training stays here, on the driver: it needs a sample, not every pair.
    scorer: Scorer | None = None

    def _latest(self, name: str) -> tuple | None:
        if not table_exists(self.con, "identity", "linkage_models"):
            return None
        rows = self.con.execute(
            f"SELECT version, fingerprint, suppression, contacts, trained_run_id, report "
            f"FROM {MODELS} WHERE name = ? ORDER BY version DESC LIMIT 1",
            [name],
        ).fetchall()
        return rows[0] if rows else None

    def why_train(self, latest: tuple | None, fingerprint: str, contacts: int) -> str | None:
        """Why a new model is trained (None: the latest one is used)."""
        if latest is None:
            return "no stored model"
        if latest[1] != fingerprint:
            return "the model's specification, the identity rules or the code changed"
        if self.retrain:
            return self.retrain
        if latest[2] != self.suppression:
            return "people were erased since it was trained"
        if self.retrain_share <= 0:
            return "retrained on every build (dedup_model_retrain_share 0)"
        if contacts > latest[3] * (1 + self.retrain_share):
            return f"contacts grew by more than {self.retrain_share:.0%} since it was trained"
        return None

    def predict(
        self,
        name: str,
        frames: pl.DataFrame | list[pl.DataFrame],
        spec: LinkageSpec,
        contacts: int,
        report: dict | None = None,
    ) -> pl.DataFrame:
        """`linkage.predict_links` with the stored model `name`, or with a model trained now
        (and stored as a new version). `report` receives the model's report either way."""
        from seg_platform.identity.linkage import predict_links, train_links

        fingerprint = spec_fingerprint(spec, self.rules)
        latest = self._latest(name)
        reason = self.why_train(latest, fingerprint, contacts)
        if reason is None and latest is not None:
            stored = json.loads(latest[5])
            if report is not None:
                report.update(copy.deepcopy(stored))
            if self.scorer is None:
                pairs = predict_links(frames, spec, id_column="unique_id", model=stored["model"])
            else:
                pairs = self.scorer(frames, spec, stored["model"])
            version, trained_run, contacts_then = latest[0], latest[4], latest[3]
        else:
            if self.scorer is None:
                trained: dict = {}
                pairs = predict_links(frames, spec, id_column="unique_id", report=trained)
            else:
                trained = train_links(frames, spec, id_column="unique_id")
                pairs = self.scorer(frames, spec, trained["model"])
            version = (latest[0] + 1) if latest is not None else 1
            trained_run, contacts_then = self.run_id, contacts
            self._save(name, version, fingerprint, contacts, reason or "", trained)
            if report is not None:
                report.update(copy.deepcopy(trained))
        self.used[name] = {
            "version": version,
            "trained_run_id": trained_run,
            "contacts_when_trained": contacts_then,
            "trained_now": reason,
        }
        return pairs

    def _save(
        self, name: str, version: int, fingerprint: str, contacts: int, reason: str, report: dict
    ) -> None:
        self.con.execute(
            f"CREATE TABLE IF NOT EXISTS {MODELS} (name VARCHAR, version INTEGER, "
            "fingerprint VARCHAR, suppression VARCHAR, contacts BIGINT, trained_run_id VARCHAR, "
            "reason VARCHAR, report VARCHAR)"
        )
        self.con.execute(
            f"INSERT INTO {MODELS} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                name, version, fingerprint, self.suppression, contacts, self.run_id, reason,
                json.dumps(report, default=str),
            ],
        ).fetchall()  # fmt: skip
