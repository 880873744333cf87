"""The local SageMaker runtime: training contract, statuses, artifacts, errors, endpoints."""

from __future__ import annotations

import io
import json
import sys
import tarfile
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from moto import mock_aws

from forge.local.sagemaker import LocalSageMaker, LocalSageMakerRuntime
from forge.local.training import parse_progress

FIXTURES = Path(__file__).parent / "fixtures"
BUCKET = "artifacts"


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key="runs/r1/data/sft/rows.txt", Body=b"a b c")
        client.upload_file(str(FIXTURES / "entry.py"), BUCKET, "code/job_code/entry.py")
        yield client


@pytest.fixture
def sagemaker(s3, tmp_path):
    echo = [sys.executable, str(FIXTURES / "echo_server.py")]
    runtime = LocalSageMaker(
        s3, tmp_path, serve_command=lambda model_dir, port: [*echo, str(model_dir), str(port)]
    )
    yield runtime
    runtime.shutdown()


def job_request(name: str, **hyperparameters: str) -> dict:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "pytorch-training:2.5-cpu", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/sm",
        "HyperParameters": {
            "sagemaker_program": '"entry.py"',
            "sagemaker_submit_directory": f'"s3://{BUCKET}/code/job_code/"',
            **hyperparameters,
        },
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/runs/r1/data/sft/"}
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/runs/r1/jobs/sft"},
        "CheckpointConfig": {"S3Uri": f"s3://{BUCKET}/runs/r1/jobs/sft/checkpoints"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


def wait_job(sagemaker, name: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sagemaker.describe_training_job(TrainingJobName=name)
        if described["TrainingJobStatus"] not in ("InProgress", "Stopping"):
            return described
        time.sleep(0.1)
    raise AssertionError(f"job {name} still running after {timeout}s")


def read_tar(s3, key: str) -> dict[str, str]:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()}


def test_job_runs_under_the_training_contract_and_uploads_like_sagemaker(sagemaker, s3):
    sagemaker.create_training_job(**job_request("sft-1", epochs="2"))
    described = wait_job(sagemaker, "sft-1")
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert (
        described["ModelArtifacts"]["S3ModelArtifacts"]
        == f"s3://{BUCKET}/runs/r1/jobs/sft/sft-1/output/model.tar.gz"
    )
    assert read_tar(s3, "runs/r1/jobs/sft/sft-1/output/model.tar.gz") == {"weights.txt": "c b a"}
    metrics = json.loads(read_tar(s3, "runs/r1/jobs/sft/sft-1/output/output.tar.gz")["metrics.json"])
    assert metrics == {"argv": ["--epochs", "2"], "hps": {"epochs": "2"}}
    assert (
        s3.get_object(Bucket=BUCKET, Key="runs/r1/jobs/sft/checkpoints/ckpt.txt")["Body"].read() == b"step 3"
    )
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    config = sagemaker.workdir / "jobs/sft-1/input/config"
    assert json.loads((config / "inputdataconfig.json").read_text())["train"]["TrainingInputMode"] == "File"
    progress = parse_progress(sagemaker.job_log_path("sft-1").read_text())
    assert progress == {"step": 3, "total": 3, "loss": 0.3333, "eta_s": 0.0}


def test_failure_reason_comes_from_the_failure_file(sagemaker):
    sagemaker.create_training_job(**job_request("sft-bad", mode="fail"))
    described = wait_job(sagemaker, "sft-bad")
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"] == "AlgorithmError: ValueError: bad learning_rate 'abc', exit code: 1"


def test_crash_without_failure_file_reports_the_log_tail(sagemaker):
    sagemaker.create_training_job(**job_request("sft-crash", mode="crash"))
    described = wait_job(sagemaker, "sft-crash")
    assert described["TrainingJobStatus"] == "Failed"
    assert "RuntimeError: no failure file written" in described["FailureReason"]


def test_stop_terminates_the_process_group(sagemaker):
    sagemaker.create_training_job(**job_request("sft-long", mode="sleep"))
    deadline = time.monotonic() + 30
    while not (
        sagemaker.job_log_path("sft-long").exists()
        and "progress step=3" in sagemaker.job_log_path("sft-long").read_text()
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    sagemaker.stop_training_job(TrainingJobName="sft-long")
    described = wait_job(sagemaker, "sft-long", timeout=20)
    assert described["TrainingJobStatus"] == "Stopped"
    assert sagemaker.jobs["sft-long"].process.returncode != 0
    with pytest.raises(ClientError) as error:
        sagemaker.stop_training_job(TrainingJobName="sft-long")
    assert error.value.response["Error"]["Code"] == "ValidationException"


def test_nova_jobs_fail_with_a_clear_reason(sagemaker):
    request = job_request("nova-sft")
    request["AlgorithmSpecification"]["TrainingImage"] = (
        "708977205387.dkr.ecr.us-east-1.amazonaws.com/nova-fine-tune-repo:SM-TJ-SFT-latest"
    )
    # Where Nova Lite 2 SFT runs (pipeline_core/service_limits.py): anything else is a ValidationException.
    request["ResourceConfig"].update(InstanceType="ml.p5.48xlarge", InstanceCount=4)
    sagemaker.create_training_job(**request)
    described = sagemaker.describe_training_job(TrainingJobName="nova-sft")
    assert described["TrainingJobStatus"] == "Failed"
    assert "local mode runs model family 'hf' only" in described["FailureReason"]


def test_errors_use_the_real_codes_and_requests_are_validated(sagemaker):
    with pytest.raises(ClientError) as missing:
        sagemaker.describe_training_job(TrainingJobName="nope")
    assert missing.value.response["Error"]["Code"] == "ValidationException"
    sagemaker.create_training_job(**job_request("dup"))
    with pytest.raises(sagemaker.api._client.exceptions.ResourceInUse):
        sagemaker.create_training_job(**job_request("dup"))
    with pytest.raises(ParamValidationError):
        sagemaker.create_training_job(TrainingJobName="x")
    with pytest.raises(ClientError, match="Could not find model"):
        sagemaker.describe_model(ModelName="ghost")
    with pytest.raises(ClientError, match="Could not find endpoint"):
        sagemaker.describe_endpoint(EndpointName="ghost")
    assert [
        j["TrainingJobName"] for j in sagemaker.list_training_jobs(NameContains="du")["TrainingJobSummaries"]
    ] == ["dup"]
    wait_job(sagemaker, "dup")


def test_endpoint_serves_the_model_artifact_and_updates(sagemaker, s3):
    sagemaker.create_training_job(**job_request("sft-ep"))
    model_url = wait_job(sagemaker, "sft-ep")["ModelArtifacts"]["S3ModelArtifacts"]
    sagemaker.create_model(
        ModelName="m1",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
        PrimaryContainer={"Image": "img", "ModelDataUrl": model_url},
        Tags=[{"Key": "run", "Value": "r1"}],
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
    assert sagemaker.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Creating"
    wait_endpoint(sagemaker, "ep")
    runtime = LocalSageMakerRuntime(sagemaker)
    answer = runtime.invoke_endpoint(
        EndpointName="ep", Body=json.dumps({"inputs": "q?"}), ContentType="application/json"
    )
    assert json.loads(answer["Body"].read()) == {"answer": "c b a", "echo": "q?"}
    with pytest.raises(ClientError) as model_error:
        runtime.invoke_endpoint(EndpointName="ep", Body=b"{}", ContentType="application/json")
    assert model_error.value.response["Error"]["Code"] == "ModelError"
    assert sagemaker.list_tags(ResourceArn=sagemaker.describe_model(ModelName="m1")["ModelArn"])["Tags"] == [
        {"Key": "run", "Value": "r1"}
    ]

    old_port = sagemaker.endpoints["ep"].server.port
    sagemaker.create_endpoint_config(
        EndpointConfigName="c2",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "m1",
                "InstanceType": "ml.g5.xlarge",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="c2")
    described = wait_endpoint(sagemaker, "ep")
    assert described["EndpointConfigName"] == "c2"
    assert sagemaker.endpoints["ep"].server.port != old_port
    sagemaker.delete_endpoint(EndpointName="ep")
    with pytest.raises(ClientError, match="not found"):
        runtime.invoke_endpoint(EndpointName="ep", Body=b"{}", ContentType="application/json")


def test_endpoint_with_a_broken_model_fails_with_the_server_log(sagemaker, s3):
    s3.put_object(Bucket=BUCKET, Key="empty/model.tar.gz", Body=_empty_tar())
    sagemaker.create_model(
        ModelName="m-bad",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
        PrimaryContainer={"Image": "img", "ModelDataUrl": f"s3://{BUCKET}/empty/model.tar.gz"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="c-bad",
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "m-bad", "InstanceType": "ml.g5.xlarge"}
        ],
    )
    sagemaker.create_endpoint(EndpointName="ep-bad", EndpointConfigName="c-bad")
    described = wait_endpoint(sagemaker, "ep-bad", want="Failed")
    assert "FileNotFoundError" in described["FailureReason"]


def _empty_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz"):
        pass
    return buffer.getvalue()


def wait_endpoint(sagemaker, name: str, want: str = "InService", timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sagemaker.describe_endpoint(EndpointName=name)
        if described["EndpointStatus"] not in ("Creating", "Updating"):
            assert described["EndpointStatus"] == want, described
            return described
        time.sleep(0.1)
    raise AssertionError(f"endpoint {name} not {want} after {timeout}s")


def test_a_relative_work_dir_still_runs_the_job(s3, tmp_path, monkeypatch):
    # `forge run --local --out runs` passes a relative path; jobs run with their own working directory.
    monkeypatch.chdir(tmp_path)
    runtime = LocalSageMaker(s3, Path("relative-work"))
    try:
        runtime.create_training_job(**job_request("rel-1"))
        described = wait_job(runtime, "rel-1")
        assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
        assert runtime.workdir == tmp_path / "relative-work"
    finally:
        runtime.shutdown()
