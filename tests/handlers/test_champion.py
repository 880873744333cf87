"""The Champion handler (moto): the model the pipeline's endpoint serves as a run begins, and how the
champion's evaluation starts from its weights (never from the base model)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from forge_handlers import artifacts, champion, deploy, jobs
from forge_handlers.config import Environment
from forge_handlers.entry import champion as champion_entry
from forge_handlers.errors import ArtifactMissingError

from pipeline_core import stages as stage_table
from pipeline_core.layout import champion_key
from pipeline_core.settings import load_settings
from tests.handlers.conftest import ARTIFACTS_BUCKET, CONFIG_FILES, REGION, ROLE_ARN, a_run, derive
from tests.handlers.scripted import MOTO_ENDPOINT_INSTANCE_TYPE, ScriptedSageMaker

CONFIG_DIR = Path(CONFIG_FILES[0]).parent
ENV = Environment(data_bucket="forge-data", artifacts_bucket=ARTIFACTS_BUCKET, sagemaker_role_arn=ROLE_ARN,
                  region=REGION)
CHAMPION = stage_table.champion_stage()


@pytest.fixture
def hf(use_settings):
    return use_settings(load_settings(CONFIG_DIR / "local-demo.yaml"))


def deploy_as(settings, run_id: str, weights: str) -> None:
    """What an earlier run's Deploy left: its model (tagged with its run), config and endpoint (moto)."""
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model(**deploy.model_request(settings, ENV, run_id, weights))
    config = deploy.endpoint_config_request(settings, run_id)
    # moto accepts only older instance types in endpoint configs (tests/handlers/scripted.py).
    config["ProductionVariants"][0]["InstanceType"] = MOTO_ENDPOINT_INSTANCE_TYPE
    sagemaker.create_endpoint_config(**config)
    sagemaker.create_endpoint(EndpointName=deploy.endpoint_name(settings.resource_prefix),
                              EndpointConfigName=config["EndpointConfigName"])


def stored(s3, run_id: str = "run-1") -> dict:
    return json.loads(s3.get_object(Bucket=ARTIFACTS_BUCKET, Key=champion_key(run_id))["Body"].read())


def test_no_endpoint_is_no_champion_and_says_so(hf, aws, lambda_context) -> None:
    found = champion_entry.handler({"run": a_run()}, lambda_context)
    assert found["present"] is False and "no endpoint forge-demo--endpoint" in found["reason"]
    assert found["record_uri"] == f"s3://{ARTIFACTS_BUCKET}/runs/run-1/champion.json"
    assert stored(aws) == {k: v for k, v in found.items() if k != "record_uri"}


def test_the_endpoint_in_service_names_the_deployed_weights_and_their_run(hf, aws, lambda_context) -> None:
    weights = f"s3://{ARTIFACTS_BUCKET}/runs/run-0/deployed/model.tar.gz"
    deploy_as(hf, "run-0", weights)
    found = champion_entry.handler({"run": a_run()}, lambda_context)
    assert found == {
        "present": True,
        "endpoint_name": "forge-demo--endpoint",
        "endpoint_config_name": "forge-demo--run-0-epc",
        "model_name": "forge-demo--run-0-model",
        "model_data_uri": weights,
        "run_id": "run-0",
        "record_uri": f"s3://{ARTIFACTS_BUCKET}/runs/run-1/champion.json",
    }
    assert stored(aws)["model_data_uri"] == weights


def test_nova_champion_is_the_deployed_checkpoint(use_settings, aws) -> None:
    nova = use_settings(load_settings(CONFIG_DIR / "nova.yaml"))
    checkpoint = "s3://customer-escrow-111/forge-nova--run-0-rft-a1/step-final"
    deploy_as(nova, "run-0", checkpoint)
    found = champion.find(nova)
    # Deploy serves the checkpoint as an S3 prefix (ModelDataSource), which the eval reads as its model.
    assert found["present"] is True and found["model_data_uri"] == checkpoint + "/"


def test_an_endpoint_not_in_service_is_no_champion(hf, aws) -> None:
    deploy_as(hf, "run-0", f"s3://{ARTIFACTS_BUCKET}/runs/run-0/deployed/model.tar.gz")
    scripted = ScriptedSageMaker(boto3.client("sagemaker", region_name=REGION), aws)
    scripted.describe_endpoint = lambda **params: {**scripted._real.describe_endpoint(**params),
                                                   "EndpointStatus": "Updating"}
    from forge_handlers.aws import clients

    clients.override("sagemaker", scripted)
    found = champion.find(hf)
    assert found == {"present": False, "endpoint_name": "forge-demo--endpoint",
                     "reason": "endpoint forge-demo--endpoint is Updating, not InService"}


def test_a_model_without_model_data_fails_naming_it() -> None:
    with pytest.raises(ArtifactMissingError, match="m1 on the pipeline's endpoint names no model data"):
        champion.model_data_uri({"ModelName": "m1", "PrimaryContainer": {"Image": "x"}})


def test_the_champions_evaluation_launches_on_the_deployed_weights(hf, aws) -> None:
    weights = f"s3://{ARTIFACTS_BUCKET}/runs/run-0/deployed/model.tar.gz"
    deploy_as(hf, "run-0", weights)
    champion.champion(hf, ARTIFACTS_BUCKET, "run-1")
    scripted = ScriptedSageMaker(boto3.client("sagemaker", region_name=REGION), aws)
    from forge_handlers.aws import clients

    clients.override("sagemaker", scripted)
    launched = jobs.launch(hf, ENV, CHAMPION.name, a_run(), 1)
    assert launched["job_name"] == f"forge-demo--run-1-{CHAMPION.token}-a1"
    assert launched["source_model_uri"] == weights
    (request,) = [r for op, r in scripted.calls if op == "create_training_job"]
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
                for c in request["InputDataConfig"]}
    assert channels["model"] == weights  # the eval job loads the champion, not hyperparameter base_model
    assert "base_model" not in request["HyperParameters"]


def test_without_a_champion_its_evaluation_never_falls_back_to_the_base_model(hf, aws) -> None:
    champion.champion(hf, ARTIFACTS_BUCKET, "run-1")  # nothing deployed: present false
    with pytest.raises(ArtifactMissingError, match="deployed model, but run run-1 has no champion"):
        artifacts.resolve_model_source(hf, ARTIFACTS_BUCKET, "run-1", CHAMPION.name)


def test_the_champion_is_evaluated_only_where_the_pipeline_deploys_what_it_trained() -> None:
    settings = load_settings(CONFIG_DIR / "local-demo.yaml")
    assert CHAMPION.name in settings.enabled_job_stages()
    assert settings.enabled_job_stages().index(CHAMPION.name) == 1  # right after the baseline
    assert CHAMPION.name not in derive(settings, deploy__enabled=False).enabled_job_stages()
    nothing_trained = derive(settings, stages__sft__enabled=False, stages__rft__enabled=False)
    assert nothing_trained.enabled_job_stages() == ["baseline_eval"]
