"""Acceptance: a local run enforces the synthesized IAM where AWS would (issue 11, IAM fidelity).

The defect it guards: the SageMaker execution role could read only ``runs/*`` in the artifacts bucket while
every open-weights job mounts ``s3://<artifacts>/code/`` as its ``code`` channel, so on AWS the first job
failed at input download and local mode passed. stacks/roles.py now grants the code channel
(``CodeChannel`` + ``code/*`` in ``RunListing``); the first test synthesizes the stack *without* that grant
(roles.py as it was) and the run must fail at the first job, naming the role, the action and ``code/``.
The second runs the stack as it is, and the first job must complete.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from forge.local.runner import LocalPipeline
from pipeline_core.layout import CODE_S3_PREFIX, RUN_OBJECTS
from stacks import roles

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = PROJECT_ROOT / "examples" / "data" / "so_sample.csv"
ENDED = ("Completed", "Failed", "Stopped")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from job_code.models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def write_config(path: Path, base_model: Path) -> Path:
    evaluation = {"instance_type": "ml.m5.xlarge", "hyperparameters": {"max_new_tokens": 2, "batch_size": 12}}
    config = {
        "name": "forge-iam",
        "model": {"family": "hf", "base_model": str(base_model)},
        "data": {"max_query_tokens": 32},
        "split": {"sft": 24, "eval": 12, "rft": 8, "seed": 3},
        "stages": {"baseline_eval": evaluation, "eval": evaluation},
        "deploy": {"instance_type": "ml.g5.xlarge", "smoke_test": False},
        "poll_seconds": 1,
        "endpoint_poll_seconds": 1,
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def without_code_grant(monkeypatch):
    """stacks/roles.py before the fix: the SageMaker role reads and lists runs/ only."""
    original = roles.SageMakerExecutionRole._add

    def _add(self, sid, actions, resources, conditions=None):
        if sid == "CodeChannel":
            return None
        if sid == "RunListing":
            conditions = {"StringLike": {"s3:prefix": [RUN_OBJECTS]}}
        return original(self, sid, actions, resources, conditions)

    monkeypatch.setattr(roles.SageMakerExecutionRole, "_add", _add)


def first_job(pipeline: LocalPipeline):
    return min(pipeline.sagemaker.jobs.values(), key=lambda job: job.created)


def test_without_the_code_grant_the_first_job_fails_naming_role_action_and_code(
    tiny_model, tmp_path, without_code_grant
):
    config = write_config(tmp_path / "iam.yaml", tiny_model)
    pipeline = LocalPipeline(config, SAMPLE, tmp_path / "runs", run_id="iam-denied", warm_start=False)
    with pipeline:
        pipeline.start()
        final = pipeline.watch(interval=0.2)
        job = first_job(pipeline).describe()
        result = pipeline.collect(final)
        denials = list(pipeline.iam.denials)
    assert final.status == "FAILED"
    assert job["TrainingJobStatus"] == "Failed" and "-base-" in job["TrainingJobName"]  # baseline_eval
    reason = job["FailureReason"]
    assert reason.startswith("ClientError: Data download failed:"), reason
    assert (
        "assumed-role/" in reason and "SageMakerRole" in reason and "/SageMaker is not authorized" in reason
    )
    assert "s3:ListBucket" in reason and f"/{CODE_S3_PREFIX}" in reason, reason
    # The one denial of the run is the code channel's listing, by the SageMaker role.
    assert [(d.authorization.action, d.authorization.context.get("s3:prefix")) for d in denials] == [
        ("s3:ListBucket", CODE_S3_PREFIX)
    ]
    # The run's report carries the job's reason: the user sees the role, the action and the resource.
    report = json.loads((result.run_dir / "report.json").read_text())
    assert "s3:ListBucket" in report["failure_reason"] and "SageMakerRole" in report["failure_reason"]


def test_with_the_code_grant_the_first_job_completes(tiny_model, tmp_path):
    config = write_config(tmp_path / "iam.yaml", tiny_model)
    pipeline = LocalPipeline(config, SAMPLE, tmp_path / "runs", run_id="iam-granted", warm_start=False)

    def stop_after_the_first_job(snapshot) -> None:
        if pipeline.sagemaker.jobs and first_job(pipeline).status in ENDED:
            raise KeyboardInterrupt

    with pipeline:
        pipeline.start()
        pipeline.watch(stop_after_the_first_job, interval=0.2)
        job = first_job(pipeline).describe()
        denials, checked = list(pipeline.iam.denials), pipeline.iam.checked
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert denials == []
    # Every seam was checked on the way: handler S3 (boto3 hook), handler SageMaker (guard), the state
    # machine's invokes, the job's channels and output (its role's client) and its image.
    for session, action in [
        ("forge-iam-prepare", "s3:GetObject"),
        ("forge-iam-prepare", "kms:GenerateDataKey"),
        ("forge-iam-launch", "sagemaker:CreateTrainingJob"),
        ("forge-iam-launch", "iam:PassRole"),
        ("forge-iam-poll", "sagemaker:DescribeTrainingJob"),
        ("StepFunctions", "lambda:InvokeFunction"),
        ("SageMaker", "s3:ListBucket"),
        ("SageMaker", "kms:Decrypt"),
        ("SageMaker", "s3:PutObject"),
        ("SageMaker", "ecr:BatchGetImage"),
    ]:
        assert checked[(session, action)] > 0, (session, action, sorted(checked))
