"""Register / Approval / Deploy's package read against moto's model registry: approved, rejected, pending."""

from __future__ import annotations

import boto3
import pytest
from botocore.validate import validate_parameters
from forge_handlers import approval as approval_logic
from forge_handlers import register as register_logic
from forge_handlers.config import Environment
from forge_handlers.entry import approval, gate, register
from forge_handlers.errors import ConfigError

from forge.approve import ApprovalError, approve_package
from pipeline_core import registry
from pipeline_core.settings import load_settings
from tests.handlers.conftest import ARTIFACTS_BUCKET, REGION, ROLE_ARN, a_run, derive
from tests.handlers.test_gate_rules import BALANCED, CONFIG_DIR, record

PASSING = {"HQ": 12, "LQ_EDIT": 6, "LQ_CLOSE": 6}


@pytest.fixture
def sagemaker(aws):
    client = boto3.client("sagemaker", region_name=REGION)
    return client


def _settings(use_settings, **changes):
    return use_settings(derive(load_settings(CONFIG_DIR / "local-demo.yaml"), **changes))


def _state(sagemaker, aws, settings, lambda_context, passing: bool) -> dict:
    sagemaker.create_model_package_group(ModelPackageGroupName=registry.group_name(settings.resource_prefix))
    values = {"baseline_eval": 0.0, "eval_sft": 0.6, "eval_rft": 0.625 if passing else 0.29}
    for stage, value in values.items():
        record(aws, "run-1", stage, value, PASSING if passing else BALANCED)
    state = {"run": a_run(), "jobs": {}, "dataset": "s3://forge-data/incoming/so.csv"}
    state["gate"] = gate.handler({"run": state["run"]}, lambda_context)
    return state


@pytest.mark.parametrize(("passing", "require", "status"), [
    (True, False, registry.APPROVED),
    (False, False, registry.REJECTED),
    (True, True, registry.PENDING),
    (False, True, registry.REJECTED),
])
def test_every_candidate_is_registered_with_the_gate_decision(use_settings, sagemaker, aws, lambda_context,
                                                              passing, require, status) -> None:
    settings = _settings(use_settings, gate__require_approval=require)
    state = _state(sagemaker, aws, settings, lambda_context, passing)
    out = register.handler(state, lambda_context)
    assert out["approval_status"] == status and out["registered"] is True
    described = sagemaker.describe_model_package(ModelPackageName=out["model_package_arn"])
    assert described["ModelApprovalStatus"] == status
    assert described["ModelPackageGroupName"] == registry.group_name(settings.resource_prefix)
    container = described["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == "s3://b/m.tar.gz"  # the candidate eval's weights
    assert container["Image"] == out["image"]
    stats = described["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert stats == {"ContentType": "application/json",
                     "S3Uri": f"s3://{ARTIFACTS_BUCKET}/runs/run-1/eval/eval_rft/results.json"}
    meta = described["CustomerMetadataProperties"]
    assert meta[registry.RUN_ID] == "run-1" and meta[registry.DATASET] == "s3://forge-data/incoming/so.csv"
    assert meta[registry.GATE_PASSED] == ("true" if passing else "false")
    assert meta[registry.APPROVAL] == ("manual" if require else "auto")
    assert meta[registry.CODE_VERSION]


def test_a_retried_register_finds_its_package(use_settings, sagemaker, aws, lambda_context) -> None:
    settings = _settings(use_settings)
    state = _state(sagemaker, aws, settings, lambda_context, True)
    first = register.handler(state, lambda_context)
    again = register.handler(state, lambda_context)
    assert again == first
    group = registry.group_name(settings.resource_prefix)
    assert len(sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]) == 1


def test_the_request_is_valid_for_the_api_and_its_metadata_pattern(use_settings, lambda_context) -> None:
    settings = _settings(use_settings)
    env = Environment(data_bucket="d", artifacts_bucket="a", sagemaker_role_arn=ROLE_ARN)
    gate_decision = {"passed": False, "metric": "accuracy", "candidate": 0.29, "candidate_stage": "eval_rft",
                     "reason": "accuracy 0.2917 below chance 0.3333 (gain -0.0417; needs > 0.01); " * 9}
    request = register_logic.package_request(settings, env, {"run": a_run(), "gate": gate_decision},
                                             "s3://b/m.tar.gz", "s3://a/r.json", "sha256:0123")
    model = boto3.session.Session().client("sagemaker", region_name=REGION, aws_access_key_id="x",
                                           aws_secret_access_key="x").meta.service_model
    validate_parameters(request, model.operation_model("CreateModelPackage").input_shape)
    allowed = set("_.:/=+-@ ")
    for key, value in request["CustomerMetadataProperties"].items():
        assert len(value) <= 256 and all(c.isalnum() or c in allowed for c in value), (key, value)
    assert request["ModelApprovalStatus"] == registry.REJECTED


def test_approval_restores_a_pending_run_and_deploy_serves_the_package(use_settings, sagemaker, aws,
                                                                       lambda_context) -> None:
    settings = _settings(use_settings, gate__require_approval=True)
    state = _state(sagemaker, aws, settings, lambda_context, True)
    arn = register.handler(state, lambda_context)["model_package_arn"]
    with pytest.raises(ConfigError, match="PendingManualApproval"):
        approval.handler({registry.APPROVED_PACKAGE_KEY: arn}, lambda_context)
    with pytest.raises(ConfigError, match="Approved packages only"):
        register_logic.served_weights(settings, arn)
    approve_package(sagemaker, arn, "run-1", approver="tester")
    assert sagemaker.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Approved"
    with pytest.raises(ApprovalError, match="is Approved"):  # approved once only
        approve_package(sagemaker, arn, "run-1", approver="tester")
    resumed = approval.handler({registry.APPROVED_PACKAGE_KEY: arn}, lambda_context)
    assert resumed["deploy"] is True and resumed["run"]["run_id"] == "run-1"
    assert resumed["gate"]["passed"] is True and resumed["registry"]["approval_status"] == registry.APPROVED
    assert set(approval_logic.RESTORED) <= set(resumed)
    assert register_logic.served_weights(settings, arn) == "s3://b/m.tar.gz"


def test_approval_skips_what_the_gate_approved_and_refuses_what_it_rejected(use_settings, sagemaker, aws,
                                                                           lambda_context) -> None:
    settings = _settings(use_settings)
    state = _state(sagemaker, aws, settings, lambda_context, True)
    arn = register.handler(state, lambda_context)["model_package_arn"]
    assert approval.handler({registry.APPROVED_PACKAGE_KEY: arn}, lambda_context)["deploy"] is False
    rejected = _settings(use_settings, gate__require_approval=True)
    for stage in ("eval_rft",):
        record(aws, "run-2", "baseline_eval", 0.0, BALANCED)
        record(aws, "run-2", stage, 0.29, BALANCED)
        record(aws, "run-2", "eval_sft", 0.29, BALANCED)
    run2 = {"run": a_run("run-2"), "jobs": {}}
    run2["gate"] = gate.handler({"run": run2["run"]}, lambda_context)
    arn2 = register.handler(run2, lambda_context)["model_package_arn"]
    with pytest.raises(ApprovalError, match="rejected by the gate"):
        approve_package(sagemaker, arn2, "run-2", approver="tester")
    metadata = sagemaker.describe_model_package(ModelPackageName=arn2)["CustomerMetadataProperties"]
    sagemaker.update_model_package(ModelPackageArn=arn2, ModelApprovalStatus="Approved",
                                   CustomerMetadataProperties=metadata)  # approved by hand in the console
    with pytest.raises(ConfigError, match="rejected by the gate"):
        approval.handler({registry.APPROVED_PACKAGE_KEY: arn2}, lambda_context)
    assert rejected.gate.require_approval


def test_a_package_of_another_group_is_refused(use_settings, sagemaker, aws, lambda_context) -> None:
    settings = _settings(use_settings)
    sagemaker.create_model_package_group(ModelPackageGroupName="other--models")
    arn = sagemaker.create_model_package(
        ModelPackageGroupName="other--models", ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{"Image": "i", "ModelDataUrl": "s3://x/m.tar.gz"}],
                                "SupportedContentTypes": ["application/json"],
                                "SupportedResponseMIMETypes": ["application/json"]})["ModelPackageArn"]
    with pytest.raises(ConfigError, match="not in this pipeline's group"):
        register_logic.served_weights(settings, arn)
    with pytest.raises(ConfigError, match="not in this pipeline's group"):
        approval.handler({registry.APPROVED_PACKAGE_KEY: arn}, lambda_context)
