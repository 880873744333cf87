"""The registry end to end in moto: a passing run registers Approved and deploys; with require_approval the
run ends PENDING_APPROVAL with no endpoint, and the approval's execution deploys the package."""

from __future__ import annotations

import pytest

from forge.approve import approve_package
from pipeline_core import registry
from tests.e2e_moto.conftest import FAST, _pipeline
from tests.e2e_moto.test_pipeline_e2e import GOOD_METRICS, _input
from tests.synth_helpers import synth

GROUP = registry.group_name("forge-hf")
SERVE_IMAGE = {"us-east-1": "123456789012.dkr.ecr.us-east-1.amazonaws.com/forge-serve:1"}


@pytest.fixture(scope="module")
def approval_stack(tmp_path_factory):
    gate = {**FAST["gate"], "require_approval": True}
    return synth("open-weights", tmp_path_factory.mktemp("e2e-approval"),
                 {**FAST, "gate": gate, "images": {"inference": SERVE_IMAGE}})


@pytest.fixture
def approval_pipeline(approval_stack):
    yield from _pipeline(approval_stack, "hf")


def _packages(pipeline) -> list[dict]:
    listed = pipeline.sagemaker._real.list_model_packages(ModelPackageGroupName=GROUP)
    return listed["ModelPackageSummaryList"]


def test_a_passing_run_registers_its_candidate_approved_and_deploys_it(pipeline) -> None:
    pipeline.sagemaker.metrics = GOOD_METRICS
    (result,) = pipeline.run(_input(pipeline))
    assert result.status == "SUCCEEDED", result.cause
    assert result.states.index("Register") == result.states.index("Gate") + 1
    assert result.output["registry"]["approval_status"] == registry.APPROVED
    (package,) = _packages(pipeline)
    assert package["ModelApprovalStatus"] == registry.APPROVED
    described = pipeline.sagemaker._real.describe_model_package(ModelPackageName=package["ModelPackageArn"])
    rft_model = result.output["jobs"]["rft"]["artifact"]["model_uri"]
    assert described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == rft_model
    assert described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"].endswith(
        "runs/run-1/eval/eval_rft/results.json")
    assert result.output["endpoint"]["model_uri"] == rft_model
    report = pipeline.read_json("runs/run-1/report.json")
    assert report["registry"]["model_package_arn"] == package["ModelPackageArn"]


def test_a_rejected_candidate_is_registered_rejected(pipeline) -> None:
    pipeline.sagemaker.metrics = {stage: {"accuracy": 0.3, "em": 0.1} for stage in GOOD_METRICS}
    (result,) = pipeline.run(_input(pipeline))
    assert result.output["status"] == "GATE_REJECTED"
    (package,) = _packages(pipeline)
    assert package["ModelApprovalStatus"] == registry.REJECTED
    assert "Deploy" not in result.states


def test_require_approval_ends_pending_and_the_approval_deploys(approval_pipeline) -> None:
    pipeline = approval_pipeline
    pipeline.sagemaker.metrics = GOOD_METRICS
    (result,) = pipeline.run(_input(pipeline))
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["status"] == registry.PENDING_APPROVAL
    assert "Deploy" not in result.states
    assert pipeline.sagemaker._real.list_endpoints()["Endpoints"] == []
    report = pipeline.read_json("runs/run-1/report.json")
    assert report["status"] == registry.PENDING_APPROVAL and report["failure_reason"] is None
    (package,) = _packages(pipeline)
    assert package["ModelApprovalStatus"] == registry.PENDING
    assert any(registry.PENDING_APPROVAL in text for text in pipeline.notifications())
    # forge approve's update, then the execution the approval rule starts with the package ARN.
    approve_package(pipeline.sagemaker._real, package["ModelPackageArn"], "run-1", approver="tester")
    (deployed,) = pipeline.run({registry.APPROVED_PACKAGE_KEY: package["ModelPackageArn"],
                                "run_id": "approval-1"})
    assert deployed.status == "SUCCEEDED", deployed.cause
    assert "Prepare" not in deployed.states and "Deploy" in deployed.states
    assert deployed.output["status"] == "SUCCEEDED"
    assert deployed.output["endpoint"]["status"] == "InService"
    assert deployed.output["endpoint"]["model_uri"] == result.output["jobs"]["rft"]["artifact"]["model_uri"]
    assert pipeline.read_json("runs/run-1/report.json")["status"] == "SUCCEEDED"
