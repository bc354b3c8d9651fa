"""MLflow through a small Dagster resource over the plain `mlflow` client.

Defaults to the platform home's embedded store (sqlite + an artifact folder); a tracking server
is one setting (`tracking_uri`). Artifacts always go to the experiment's own folder, never to
the working directory.
"""

import dagster as dg
from pydantic import Field

from seg_platform.core import settings
from seg_platform.core.mlflow_registry import registry_client

DEFAULT_UI = "http://127.0.0.1:5000"


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
    ui_url: str = Field(
        default=DEFAULT_UI,
        description="Where people open the MLflow UI, for the run links in Dagster metadata.",
    )

    def uri(self) -> str:
        return self.tracking_uri or settings.platform_home().ensure().mlflow_tracking_uri

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
        mlflow.set_experiment(experiment_id=experiment_id)
        return experiment_id

    def client(self):
        return registry_client(self.uri())

    def run_url(self, experiment_id: str, run_id: str) -> str:
        return f"{self.ui_url}/#/experiments/{experiment_id}/runs/{run_id}"
