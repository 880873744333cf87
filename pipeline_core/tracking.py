"""MLflow tracking: the settings block and the environment contract between the launch handler and the jobs.

One pipeline run is one MLflow run (tag ``forge.run_id``) in the experiment named after the pipeline, with a
nested run per job stage. The handlers put ``job_environment`` into CreateTrainingJob's ``Environment``;
job_code/tracking.py reads it inside the job. ``MLFLOW_TRACKING_URI`` and ``MLFLOW_EXPERIMENT_NAME`` are also
what transformers' MLflowCallback reads, so the trainers' own per-step logging lands in the same store.

Pure: pydantic and the standard library (it ships in the Lambda bundle with the settings).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline_core.tracking_env import (  # noqa: F401 - re-exported beside the settings block
    ENV_EXPERIMENT,
    ENV_RUN_ID,
    ENV_STAGE,
    ENV_TRACKING_URI,
    PIPELINE_TAG,
    RUN_ID_TAG,
    STAGE_TAG,
)

# SageMaker managed MLflow: a tracking server or an MLflow app (the AIMlflowConfig pattern of the API).
MLFLOW_ARN_PATTERN = (
    r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]+:[0-9]{12}:mlflow-(app|tracking-server)/[A-Za-z0-9\-]+$"
)
# SageMaker's MlflowExperimentName / MlflowRunName pattern; pipeline names always match it.
EXPERIMENT_PATTERN = r"^[a-zA-Z0-9\-_./]{1,256}$"


class TrackingSettings(BaseModel):
    """Where runs are tracked. Local mode fills ``mlflow_uri`` with its store under the output folder when
    both are unset; on AWS nothing is tracked unless ``mlflow_arn`` (or a URI the jobs can reach) is set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    mlflow_uri: Annotated[str, Field(min_length=1)] | None = None
    # A SageMaker managed MLflow tracking server (the sagemaker-mlflow plugin resolves it as a URI).
    mlflow_arn: Annotated[str, Field(pattern=MLFLOW_ARN_PATTERN)] | None = None
    # Default: the pipeline's name (Settings.experiment_name).
    experiment: Annotated[str, Field(pattern=EXPERIMENT_PATTERN)] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> TrackingSettings:
        if self.mlflow_uri and self.mlflow_arn:
            raise ValueError("tracking: set mlflow_uri or mlflow_arn, not both")
        return self

    @property
    def uri(self) -> str | None:
        """The tracking URI the jobs log to, or None (tracking off or nowhere to log)."""
        if not self.enabled:
            return None
        return self.mlflow_arn or self.mlflow_uri


def job_environment(
    tracking: TrackingSettings, *, experiment: str, run_id: str, stage: str
) -> dict[str, str]:
    """The Environment of a stage's training job: empty when nothing is tracked."""
    uri = tracking.uri
    if uri is None:
        return {}
    return {
        ENV_TRACKING_URI: uri,
        ENV_EXPERIMENT: experiment,
        ENV_RUN_ID: run_id,
        ENV_STAGE: stage,
    }


def nova_recipe_fields(
    tracking: TrackingSettings, *, experiment: str, run_id: str, stage: str
) -> dict[str, str]:
    """The Nova recipe's own ``run.mlflow_*`` fields: only for a SageMaker managed server (the Nova
    containers log there themselves); empty otherwise."""
    if not tracking.enabled or not tracking.mlflow_arn:
        return {}
    return {
        "mlflow_tracking_uri": tracking.mlflow_arn,
        "mlflow_experiment_name": experiment,
        "mlflow_run_name": f"{run_id}-{stage}",
    }
