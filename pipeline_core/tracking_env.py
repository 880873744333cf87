"""The MLflow environment contract between the launch handler and the jobs: standard library only, since the
jobs import it on SageMaker, where the code channel brings no pydantic (pipeline_core/tracking.py holds the
settings block that fills it)."""

from __future__ import annotations

ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
ENV_EXPERIMENT = "MLFLOW_EXPERIMENT_NAME"
ENV_RUN_ID = "FORGE_RUN_ID"
ENV_STAGE = "FORGE_STAGE"
RUN_ID_TAG = "forge.run_id"
STAGE_TAG = "forge.stage"
PIPELINE_TAG = "forge.pipeline"
