"""MLflow in the training requests: the open-weights jobs get the tracking environment (and none when
tracking is off or points nowhere); Nova recipes get their own run.mlflow_* fields for a managed server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.validate import ParamValidator
from forge_handlers.training_requests import ModelSource, build_training_job

from job_code.tracking import Target
from pipeline_core.settings import ConfigError, Settings, load_settings
from tests.handlers.conftest import CONFIG_FILES, a_run, derive
from tests.handlers.test_training_requests import CREATE_JOB, ENV

CONFIG_DIR = Path(CONFIG_FILES[0]).parent
ARN = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/forge-team"


def _build(settings: Settings, stage: str, run_id: str = "run-7"):
    name = f"{settings.resource_prefix}--{run_id}-{stage.replace('_', '-')}-a1"
    built = build_training_job(settings, ENV, a_run(run_id, settings.model.family), stage, name,
                               ModelSource(uri=settings.model.base_model))
    report = ParamValidator().validate(built.request, CREATE_JOB)
    assert not report.has_errors(), report.generate_report()
    return built


@pytest.mark.parametrize("stage", ["baseline_eval", "sft", "rft"])
@pytest.mark.parametrize("target", [{"mlflow_arn": ARN}, {"mlflow_uri": "http://mlflow.internal:5000"}])
def test_hf_jobs_get_the_tracking_environment_the_job_reads(stage, target):
    settings = derive(load_settings(CONFIG_DIR / "open-weights.yaml"), tracking=target)
    environment = _build(settings, stage).request["Environment"]
    # What job_code/tracking.py reads inside the job: the same store, experiment, run and stage.
    assert Target.from_env(environment) == Target(
        uri=next(iter(target.values())), experiment=settings.name, run_id="run-7", stage=stage
    )


@pytest.mark.parametrize("tracking", [{}, {"enabled": False, "mlflow_arn": ARN}])
def test_no_environment_when_nothing_is_tracked(tracking):
    settings = derive(load_settings(CONFIG_DIR / "open-weights.yaml"), tracking=tracking)
    assert "Environment" not in _build(settings, "sft").request


def test_the_experiment_can_be_named():
    settings = derive(load_settings(CONFIG_DIR / "open-weights.yaml"),
                      tracking={"mlflow_arn": ARN, "experiment": "team/llm-forge"})
    assert _build(settings, "sft").request["Environment"]["MLFLOW_EXPERIMENT_NAME"] == "team/llm-forge"


@pytest.mark.parametrize("stage", ["baseline_eval", "sft", "rft"])
def test_nova_recipes_get_their_mlflow_fields_with_an_arn(stage):
    settings = derive(load_settings(CONFIG_DIR / "nova.yaml"), tracking={"mlflow_arn": ARN})
    built = _build(settings, stage)
    (body,) = built.uploads.values()
    run = json.loads(body)["run"]
    assert run["mlflow_tracking_uri"] == ARN
    assert run["mlflow_experiment_name"] == settings.name
    assert run["mlflow_run_name"] == f"run-7-{stage}"
    assert "Environment" not in built.request  # the Nova containers log through the recipe


def test_nova_recipes_have_no_mlflow_fields_without_an_arn():
    built = _build(load_settings(CONFIG_DIR / "nova.yaml"), "sft")
    (body,) = built.uploads.values()
    assert not [key for key in json.loads(body)["run"] if key.startswith("mlflow")]


@pytest.mark.parametrize(
    ("tracking", "message"),
    [
        ({"mlflow_arn": "arn:aws:s3:::bucket"}, "tracking.mlflow_arn"),
        ({"mlflow_arn": ARN, "mlflow_uri": "http://x"}, "not both"),
        ({"experiment": "has space"}, "tracking.experiment"),
        ({"mlflw_uri": "http://x"}, "tracking.mlflw_uri"),
    ],
)
def test_bad_tracking_settings_name_the_field(tracking, message):
    with pytest.raises(ConfigError, match=message):
        derive(load_settings(CONFIG_DIR / "open-weights.yaml"), tracking=tracking)
