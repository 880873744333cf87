"""The local SageMaker runtime acts as the execution role: what a denial does to a job and an endpoint."""

from __future__ import annotations

import io
import sys
import tarfile
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from forge.local.iam.enforce import Enforcer
from forge.local.iam.principals import Principal, Principals
from forge.local.iam.requests import StackFacts
from forge.local.sagemaker import LocalSageMaker

FIXTURES = Path(__file__).parent / "fixtures"
BUCKET, REGION, ACCOUNT = "artifacts", "us-east-1", "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sm"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.5-cpu"
GRANTS = {
    "objects": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"},
    "write": {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{BUCKET}/runs/*"},
    "list": {
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": f"arn:aws:s3:::{BUCKET}",
        "Condition": {"StringLike": {"s3:prefix": ["runs/*", "code/*"]}},
    },
    "auth": {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
    "pull": {
        "Effect": "Allow",
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        "Resource": "arn:aws:ecr:us-east-1:*:repository/pytorch-*",
    },
    "alarms": {
        "Effect": "Allow",
        "Action": "cloudwatch:DescribeAlarms",
        "Resource": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:ep-*",
    },
}


def runtime(s3, tmp_path, without: str | None) -> LocalSageMaker:
    statements = [s for name, s in GRANTS.items() if name != without]
    role = Principal("sm", ROLE, ({"Statement": statements},))
    enforcer = Enforcer(Principals({ROLE: role}, {}, None, StackFacts(REGION, ACCOUNT)))
    echo = [sys.executable, str(FIXTURES / "echo_server.py")]
    sagemaker = LocalSageMaker(
        s3, tmp_path, serve_command=lambda model_dir, port: [*echo, str(model_dir), str(port)]
    )
    enforcer.attach_runtime(sagemaker, boto3.session.Session(region_name=REGION))
    return sagemaker


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key="runs/r1/data/sft/rows.txt", Body=b"a b c")
        client.upload_file(str(FIXTURES / "entry.py"), BUCKET, "code/entry.py")
        yield client


def job_request(name: str) -> dict:
    def channel(channel_name: str, uri: str) -> dict:
        return {
            "ChannelName": channel_name,
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}},
        }

    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "HyperParameters": {
            "sagemaker_program": "entry.py",
            "sagemaker_submit_directory": "/opt/ml/input/data/code",
        },
        "InputDataConfig": [
            channel("code", f"s3://{BUCKET}/code/"),
            channel("train", f"s3://{BUCKET}/runs/r1/data/sft/"),
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/runs/r1/jobs/sft"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


def wait(describe, status_key: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = describe()
        if described[status_key] not in ("InProgress", "Stopping", "Creating", "Updating"):
            return described
        time.sleep(0.1)
    raise AssertionError(f"still running after {timeout}s")


@pytest.mark.parametrize(
    ("without", "status", "reason"),
    [
        (None, "Completed", None),
        (
            "list",
            "Failed",
            [
                "ClientError: Data download failed:",
                "ListObjectsV2 failed for s3://artifacts/code/",
                "assumed-role/sm/SageMaker",
                "s3:ListBucket",
            ],
        ),
        (
            "pull",
            "Failed",
            [
                "ClientError: Cannot pull algorithm container.",
                "ecr:BatchGetImage",
                "repository/pytorch-training",
            ],
        ),
        (
            "write",
            "Failed",
            [
                "ClientError: Failed to upload the job's output:",
                "s3:PutObject",
                "runs/r1/jobs/sft/sft-1/output/model.tar.gz",
            ],
        ),
    ],
)
def test_a_job_fails_as_sagemaker_fails_it_when_its_role_is_denied(s3, tmp_path, without, status, reason):
    sagemaker = runtime(s3, tmp_path, without)
    try:
        sagemaker.create_training_job(**job_request("sft-1"))
        described = wait(
            lambda: sagemaker.describe_training_job(TrainingJobName="sft-1"), "TrainingJobStatus"
        )
    finally:
        sagemaker.shutdown()
    assert described["TrainingJobStatus"] == status, described.get("FailureReason")
    for part in reason or []:
        assert part in described["FailureReason"], described["FailureReason"]


@pytest.mark.parametrize(
    ("without", "reason"),
    [
        ("objects", "Could not access model data at s3://artifacts/runs/r1/model.tar.gz"),
        ("pull", "Failed to pull the inference image"),
    ],
)
def test_an_endpoint_fails_when_its_models_role_is_denied(s3, tmp_path, without, reason):
    s3.put_object(Bucket=BUCKET, Key="runs/r1/model.tar.gz", Body=b"")
    sagemaker = runtime(s3, tmp_path, without)
    try:
        sagemaker.create_model(
            ModelName="m1",
            ExecutionRoleArn=ROLE,
            PrimaryContainer={
                "Image": IMAGE.replace("training", "inference"),
                "ModelDataUrl": f"s3://{BUCKET}/runs/r1/model.tar.gz",
            },
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName="c1",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "m1",
                    "InstanceType": "ml.g5.xlarge",
                    "InitialInstanceCount": 1,
                }
            ],
        )
        sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
        described = wait(lambda: sagemaker.describe_endpoint(EndpointName="ep"), "EndpointStatus")
    finally:
        sagemaker.shutdown()
    assert described["EndpointStatus"] == "Failed"
    assert reason in described["FailureReason"] and "assumed-role/sm/SageMaker" in described["FailureReason"]


def _model_and_config(sagemaker, name: str) -> None:
    sagemaker.create_model(
        ModelName=f"m-{name}", ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE.replace("training", "inference"),
                          "ModelDataUrl": f"s3://{BUCKET}/runs/r1/model.tar.gz"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"c-{name}",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": f"m-{name}",
                             "InstanceType": "ml.g5.xlarge", "InitialInstanceCount": 1}],
    )


@pytest.mark.parametrize("without", [None, "alarms"])
def test_an_update_with_rollback_alarms_needs_the_role_to_read_them(s3, tmp_path, without):
    """Deployment guardrails: SageMaker reads the rollback alarms as the execution role; without
    cloudwatch:DescribeAlarms the update fails and the old model keeps serving."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("weights.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"w"))
    s3.put_object(Bucket=BUCKET, Key="runs/r1/model.tar.gz", Body=archive.getvalue())
    sagemaker = runtime(s3, tmp_path, without)
    guardrails = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "ep-errors"}, {"AlarmName": "ep-latency"}]},
    }
    try:
        _model_and_config(sagemaker, "old")
        _model_and_config(sagemaker, "new")
        sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName="c-old")
        wait(lambda: sagemaker.describe_endpoint(EndpointName="ep"), "EndpointStatus")
        sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="c-new", DeploymentConfig=guardrails)
        described = wait(lambda: sagemaker.describe_endpoint(EndpointName="ep"), "EndpointStatus")
    finally:
        sagemaker.shutdown()
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    if without is None:
        assert described["EndpointConfigName"] == "c-new" and not described.get("FailureReason")
    else:
        assert described["EndpointConfigName"] == "c-old"  # the update failed; the old model still serves
        assert "cloudwatch:DescribeAlarms" in described["FailureReason"]
        assert "alarm:ep-errors" in described["FailureReason"]
