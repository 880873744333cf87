"""The local SageMaker runtime rejects what AWS rejects and botocore's validator lets through: names,
hyperparameter limits, instance types, Nova instance types / counts and endpoint tiers, as a
ValidationException."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from forge.local.sagemaker import LocalSageMaker
from tests.local.test_local_sagemaker import job_request

ROLE = "arn:aws:iam::123456789012:role/sm"
NOVA_ECR = "708977205387.dkr.ecr.us-east-1.amazonaws.com"
NOVA_SFT = f"{NOVA_ECR}/nova-fine-tune-repo:SM-TJ-SFT-V2-latest"
NOVA_EVAL = f"{NOVA_ECR}/nova-evaluation-repo:SM-TJ-Eval-V2-latest"
NOVA_INFERENCE = f"{NOVA_ECR}/nova-inference-repo:SM-Inference-latest"
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture
def sagemaker(tmp_path):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        runtime = LocalSageMaker(s3, tmp_path)
        yield runtime
        runtime.shutdown()


def _rejected(call, *fragments: str) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException", error
    for fragment in fragments:
        assert fragment in error["Message"], error["Message"]
    return error["Message"]


def _job(name: str = "job-1", image: str | None = None, instance: str = "ml.m5.xlarge", count: int = 1,
         **hyperparameters: str) -> dict:
    request = job_request(name, **hyperparameters)
    if image:
        request["AlgorithmSpecification"]["TrainingImage"] = image
    request["ResourceConfig"].update(InstanceType=instance, InstanceCount=count)
    return request


@pytest.mark.parametrize(
    ("request_changes", "fragments"),
    [
        ({"name": "j" * 64}, ("at 'trainingJobName'", "less than or equal to 63")),
        ({"name": "job_1"}, ("regular expression pattern",)),
        ({**{f"h{i}": "1" for i in range(101)}}, ("Value of 103 entries", "less than or equal to 100")),
        ({"note": "x" * 2_501}, ("2501 characters for key 'note'", "less than or equal to 2500")),
        ({"instance": "ml.g5.13xlarge"}, ("'resourceConfig.instanceType'", "enum value set")),
        ({"image": NOVA_SFT}, ("ml.m5.xlarge is not supported for Nova Lite 2 sft", "ml.p5.48xlarge")),
        ({"image": NOVA_SFT, "instance": "ml.p5.48xlarge"}, ("instanceCount: 1", "supported: 4, 8, 16")),
        ({"image": NOVA_EVAL, "instance": "ml.g5.12xlarge"}, ("Nova Lite 2 eval", "ml.p4d.24xlarge")),
        ({"image": NOVA_SFT, "instance": "local", "count": 4}, ("local is not supported",)),
    ],
)
def test_create_training_job_outside_the_limits_is_rejected(sagemaker, request_changes, fragments):
    _rejected(lambda: sagemaker.create_training_job(**_job(**request_changes)), *fragments)
    assert sagemaker.jobs == {}  # nothing started


def test_requests_at_the_limits_are_accepted(sagemaker):
    sagemaker.create_training_job(**_job("j" * 63, **{f"h{i}": "x" * 2_500 for i in range(98)}))
    sagemaker.create_training_job(**_job("local-1", instance="local"))  # local mode's own instance type
    # A Nova job that fits the table is created (and fails: local mode runs the hf family only).
    sagemaker.create_training_job(**_job("nova-1", image=NOVA_SFT, instance="ml.p5en.48xlarge", count=8))
    assert "hf' only" in sagemaker.describe_training_job(TrainingJobName="nova-1")["FailureReason"]
    sagemaker.create_training_job(**_job("nova-2", image=NOVA_EVAL, instance="ml.p4d.24xlarge", count=2))


def _model(sagemaker, name: str, image: str = "img", **environment: str) -> None:
    container = {"Image": image, "ModelDataUrl": "s3://artifacts/m/model.tar.gz", "Environment": environment}
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)


def _config(sagemaker, name: str, model: str, instance: str) -> None:
    variant = {"VariantName": "AllTraffic", "ModelName": model, "InstanceType": instance,
               "InitialInstanceCount": 1}
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])


@pytest.mark.parametrize(
    ("instance", "environment", "fragments"),
    [
        # the old hard-coded pair on the instance type config/nova.yaml now deploys to
        ("ml.g6.48xlarge", {"CONTEXT_LENGTH": "16000", "MAX_CONCURRENCY": "2"}, ("tiers", "8000/8")),
        ("ml.g6.48xlarge", {"CONTEXT_LENGTH": "8000", "MAX_CONCURRENCY": "9"}, ("MAX_CONCURRENCY=9",)),
        ("ml.p5.48xlarge", {"CONTEXT_LENGTH": "256000", "MAX_CONCURRENCY": "4"}, ("256000/2",)),
        ("ml.g5.12xlarge", {"CONTEXT_LENGTH": "8000", "MAX_CONCURRENCY": "8"},
         ("supported: ml.g6.48xlarge, ml.p5.48xlarge",)),
        ("ml.p5.48xlarge", {"CONTEXT_LENGTH": "lots", "MAX_CONCURRENCY": "8"}, ("not an integer",)),
    ],
)
def test_nova_endpoint_config_outside_the_tiers_is_a_validation_exception(sagemaker, instance, environment,
                                                                          fragments):
    _model(sagemaker, "nova-m", NOVA_INFERENCE, **environment)
    _rejected(lambda: _config(sagemaker, "nova-c", "nova-m", instance), *fragments)
    assert sagemaker.endpoint_configs == {}


@pytest.mark.parametrize(
    ("instance", "environment"),
    [
        ("ml.g6.48xlarge", {"CONTEXT_LENGTH": "8000", "MAX_CONCURRENCY": "8"}),
        ("ml.p5.48xlarge", {"CONTEXT_LENGTH": "16000", "MAX_CONCURRENCY": "2"}),
        ("ml.p5.48xlarge", {"CONTEXT_LENGTH": "128000", "MAX_CONCURRENCY": "8"}),
    ],
)
def test_nova_endpoint_config_inside_a_tier_is_created(sagemaker, instance, environment):
    _model(sagemaker, "nova-m", NOVA_INFERENCE, **environment)
    _config(sagemaker, "nova-c", "nova-m", instance)


def test_names_and_instance_types_of_models_and_endpoints(sagemaker):
    _rejected(lambda: _model(sagemaker, "model_1"), "at 'modelName'", "regular expression")
    _model(sagemaker, "m1")
    _rejected(lambda: _config(sagemaker, "c1", "m1", "ml.g9.xlarge"),
              "productionVariants.1.member.instanceType", "enum value set")
    _rejected(lambda: _config(sagemaker, "c" * 64, "m1", "ml.g5.xlarge"), "at 'endpointConfigName'")
    _config(sagemaker, "c1", "m1", "ml.g5.xlarge")
    _config(sagemaker, "c-local", "m1", "local")
    _rejected(lambda: sagemaker.create_endpoint(EndpointName="e" * 64, EndpointConfigName="c1"),
              "at 'endpointName'", "63")
    assert sagemaker.endpoints == {}


def test_the_nova_deploy_requests_the_handlers_build_pass(sagemaker):
    """What deploy.py sends for config/nova.yaml fits the tiers; the old CONTEXT_LENGTH=16000 did not."""
    from forge_handlers import deploy
    from forge_handlers.config import Environment

    from pipeline_core.settings import load_settings

    settings = load_settings(CONFIG_DIR / "nova.yaml")
    env = Environment(data_bucket="d", artifacts_bucket="a", sagemaker_role_arn=ROLE)
    model = deploy.model_request(settings, env, "run-1", "s3://customer-escrow-1/ckpt/")
    sagemaker.create_model(**model)
    sagemaker.create_endpoint_config(**deploy.endpoint_config_request(settings, "run-1"))
    old = {**model, "ModelName": "old-model"}
    old["PrimaryContainer"] = {**model["PrimaryContainer"],
                               "Environment": {"CONTEXT_LENGTH": "16000", "MAX_CONCURRENCY": "2"}}
    sagemaker.create_model(**old)
    old_config = deploy.endpoint_config_request(settings, "run-2")
    old_config["ProductionVariants"][0]["ModelName"] = "old-model"
    _rejected(lambda: sagemaker.create_endpoint_config(**old_config), "CONTEXT_LENGTH=16000")
