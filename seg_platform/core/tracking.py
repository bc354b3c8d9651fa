"""MLflow through a small Dagster resource over the plain `mlflow` client.

Defaults to the platform home's embedded store (sqlite + an artifact folder); a tracking server
is one setting (`tracking_uri`). Artifacts always go to the experiment's own folder, never to
the working directory. Every experiment is set up for comparing models in the UI (see
`UI_TAGS`), and links carry the UI's "machine learning" view.
"""

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import dagster as dg
from pydantic import Field

from seg_platform.core import settings
from seg_platform.core.mlflow_registry import registry_client

DEFAULT_UI = settings.DEFAULT_MLFLOW_UI
log = logging.getLogger(__name__)
# Where the empty, migrated MLflow store of each MLflow version is kept for new homes.
CACHE_ENV = "SEG_PLATFORM_CACHE"

# The UI shows an experiment as model development (runs, models), not GenAI (traces), when its
# tag `mlflow.experimentKind` says so. MLflow 3.17's UI decides by its own "GenAI / Machine
# learning" switch (`workflowType`, default GenAI) instead: links therefore carry
# `?workflowType=machine_learning` as well.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_DEVELOPMENT = "custom_model_development"
WORKFLOW_QUERY = "workflowType=machine_learning"
# A run-table view stored on the experiment (the UI's "share view"): opened through
# `?viewStateShareKey=seg_platform`, the table shows the selection metrics as columns.
VIEW_KEY = "seg_platform"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
# Metric columns of that view, per experiment; run names, dates and models are always shown.
VIEW_METRICS = {
    "customer_segmentation": (
        "n_segments", "silhouette", "davies_bouldin", "bootstrap_stability",
        "smallest_segment_share", "bic", "inertia", "calinski_harabasz",
    ),
    "customer_predictions": (
        "model_roc_auc", "baseline_roc_auc", "model_pr_auc", "baseline_pr_auc",
        "model_top_decile_lift", "model_brier",
    ),
}  # fmt: skip


def view_state(metrics: tuple[str, ...]) -> str:
    """The shared run-table view: the given metrics as columns, newest runs first."""
    columns = [f"metrics.`{m}`" for m in metrics]
    return json.dumps(
        {"selectedColumns": columns, "orderByKey": "attributes.start_time", "orderByAsc": False}
    )


def ui_tags(experiment: str) -> dict[str, str]:
    """The experiment tags that make the MLflow UI open `experiment` on runs and models."""
    tags = {EXPERIMENT_KIND_TAG: MODEL_DEVELOPMENT}
    if experiment in VIEW_METRICS:
        tags[VIEW_TAG] = view_state(VIEW_METRICS[experiment])
    return tags


class MlflowResource(dg.ConfigurableResource):
    """Where model runs are tracked: `tracking_uri`, else the platform home's sqlite store."""

    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI (a server or a database). Unset: the sqlite store and "
        "artifact folder in the platform home.",
    )
    experiment: str = Field(
        default="customer_segmentation", description="MLflow experiment of the segmentation runs."
    )
    registered_model: str = Field(
        default="customer_segmentation",
        description="Registered model the chosen segmentation is versioned under (alias champion).",
    )
    predictions_experiment: str = Field(
        default="customer_predictions",
        description="MLflow experiment of the propensity and value model runs.",
    )
    ui_url: str | None = Field(
        default=None,
        description="Where people open the MLflow UI, for the run links in Dagster metadata. "
        "Unset: the address `seg-platform mlflow-ui --port P` recorded in the platform home, "
        f"else {DEFAULT_UI}.",
    )

    def ui(self) -> str:
        """The MLflow UI's address for links (`ui_url`, else the one recorded in the home)."""
        return (self.ui_url or settings.mlflow_ui_url()).rstrip("/")

    def uri(self) -> str:
        return self.tracking_uri or home_store(settings.platform_home().ensure())

    def setup(self, experiment: str | None = None) -> str:
        """Point the mlflow client at the store; create the experiment (default: the
        segmentation one) if needed and make it the active one. Its id."""
        import mlflow  # slow to import: only when a run needs it, not when Dagster loads code

        name = experiment or self.experiment
        mlflow.set_tracking_uri(self.uri())
        existing = mlflow.get_experiment_by_name(name)
        if existing is not None:
            experiment_id = existing.experiment_id
        else:
            location = None
            if not self.tracking_uri:
                folder = settings.platform_home().mlflow_artifacts / name
                location = folder.resolve().as_uri()
            experiment_id = mlflow.create_experiment(name, artifact_location=location)
        # Also on experiments created before these tags existed; only written when they differ.
        have = existing.tags if existing is not None else {}
        for key, value in ui_tags(name).items():
            if have.get(key) != value:
                mlflow.MlflowClient().set_experiment_tag(experiment_id, key, value)
        mlflow.set_experiment(experiment_id=experiment_id)
        return experiment_id

    def client(self):
        return registry_client(self.uri())

    def run_url(self, experiment_id: str, run_id: str) -> str:
        return f"{self.ui()}/#/experiments/{experiment_id}/runs/{run_id}?{WORKFLOW_QUERY}"

    def artifact_url(self, experiment_id: str, run_id: str, path: str) -> str:
        """The run page opened on one of its artifacts (the UI previews HTML and images)."""
        run = f"{self.ui()}/#/experiments/{experiment_id}/runs/{run_id}"
        return f"{run}/artifacts/{path}?{WORKFLOW_QUERY}"

    def experiment_url(self, experiment_id: str) -> str:
        """The experiment's run table, with the selection metrics as columns."""
        return experiment_link(self.ui(), experiment_id)


def experiment_link(ui_url: str, experiment_id: str) -> str:
    """The MLflow UI at `ui_url` on the run table of `experiment_id`, in the machine-learning
    view, with the shared column view."""
    return (
        f"{ui_url}/#/experiments/{experiment_id}/runs?{WORKFLOW_QUERY}&viewStateShareKey={VIEW_KEY}"
    )


def cache_dir() -> Path:
    """The per-user cache: $SEG_PLATFORM_CACHE, else $XDG_CACHE_HOME/seg_platform, else
    ~/.cache/seg_platform."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "seg_platform"


def home_store(home: settings.PlatformHome) -> str:
    """The tracking URI of `home`'s embedded MLflow store, seeded on first use.

    MLflow creates a sqlite store by running every schema migration since its first release
    (3-13 s on 2 cores, in every new home: each `make test` creates dozens). A new home instead
    gets a copy of an empty store migrated once per MLflow version and kept in `cache_dir()`:
    the same schema, no runs. The copy is linked in only where no store exists (`os.link`
    fails on an existing file), so a store another process has started writing is never
    replaced. Without a writable cache (or if seeding fails in any way) MLflow creates the
    store itself, as before."""
    db = home.mlflow_dir / "mlflow.db"
    if not db.exists():
        try:
            _seed(db)
        except Exception as exc:  # noqa: BLE001 (a speed-up only: MLflow creates the store itself)
            log.debug("MLflow store not seeded from the cache: %s", type(exc).__name__)
    return home.mlflow_tracking_uri


def _seed(db: Path) -> None:
    import mlflow  # slow to import: only when a run needs the store

    template = cache_dir() / f"mlflow-{mlflow.__version__}.db"
    if not template.exists():
        template.parent.mkdir(parents=True, exist_ok=True)
        fd, fresh = tempfile.mkstemp(prefix=".mlflow-", suffix=".db", dir=template.parent)
        os.close(fd)
        os.unlink(fresh)  # MLflow creates and migrates it
        try:
            from mlflow.tracking import MlflowClient

            MlflowClient(tracking_uri=f"sqlite:///{fresh}").search_experiments()
            os.replace(fresh, template)  # concurrent creators write the same empty store
        finally:
            Path(fresh).unlink(missing_ok=True)
    db.parent.mkdir(parents=True, exist_ok=True)
    fd, copy = tempfile.mkstemp(prefix=".mlflow-", suffix=".db", dir=db.parent)
    os.close(fd)
    try:
        shutil.copyfile(template, copy)
        try:
            os.link(copy, db)
        except FileExistsError:
            pass  # another process created the store meanwhile: keep it
    finally:
        os.unlink(copy)
