"""forge/local/account.py: what a local run leaves deployed is there for the pipeline's next run.

Each run starts a fresh moto and local SageMaker; without the saved account run 2 would find no endpoint and
so no champion. A small echo server stands in for serve.py (tests/local/fixtures/echo_server.py)."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from forge import teardown
from forge.local import account
from forge.local.sagemaker import LocalSageMaker, LocalSageMakerRuntime

FIXTURES = Path(__file__).parent / "fixtures"
BUCKET = "forge-artifacts"
PREFIX = "forge"
ENDPOINT = f"{PREFIX}--endpoint"
WEIGHTS = f"s3://{BUCKET}/runs/r1/deployed/model.tar.gz"
ROLE = "arn:aws:iam::123456789012:role/sm"


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def _local_sagemaker(s3, workdir: Path) -> LocalSageMaker:
    echo = [sys.executable, str(FIXTURES / "echo_server.py")]
    return LocalSageMaker(s3, workdir,
                          serve_command=lambda model_dir, port: [*echo, str(model_dir), str(port)])


def _deploy(sagemaker: LocalSageMaker, run_id: str, model_data: str) -> None:
    """What Deploy creates for a run: model and config tagged with the run, then the endpoint's create or
    update."""
    tags = [{"Key": "forge:run-id", "Value": run_id}]
    sagemaker.create_model(ModelName=f"{PREFIX}--{run_id}-model", ExecutionRoleArn=ROLE, Tags=tags,
                           PrimaryContainer={"Image": "img", "ModelDataUrl": model_data})
    config = f"{PREFIX}--{run_id}-epc"
    sagemaker.create_endpoint_config(EndpointConfigName=config, Tags=tags, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": f"{PREFIX}--{run_id}-model",
         "InstanceType": "ml.g5.xlarge", "InitialInstanceCount": 1}])
    if ENDPOINT in sagemaker.endpoints:
        sagemaker.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName=config)
    else:
        sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=config)
    assert account.settle(sagemaker, ENDPOINT, timeout=30) == "InService"


def _answer(sagemaker: LocalSageMaker) -> str:
    body = LocalSageMakerRuntime(sagemaker).invoke_endpoint(
        EndpointName=ENDPOINT, Body=json.dumps({"inputs": "q?"}), ContentType="application/json")["Body"]
    return json.loads(body.read())["answer"]


def _fresh_account():
    """A new moto (as each local run starts one) with the stack's bucket."""
    mock = mock_aws()
    mock.start()
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    return mock, s3


@pytest.fixture
def saved(tmp_path):
    """Run 1's account: r1's model serving on the endpoint, saved as a run's collect() does."""
    mock, s3 = _fresh_account()
    s3.put_object(Bucket=BUCKET, Key=WEIGHTS.split("/", 3)[3], Body=_tarball({"weights.txt": b"run one"}))
    sagemaker = _local_sagemaker(s3, tmp_path / "run1")
    try:
        _deploy(sagemaker, "r1", WEIGHTS)
        document = account.save(sagemaker, s3, tmp_path / "account", PREFIX)
    finally:
        sagemaker.shutdown()
        mock.stop()
    return tmp_path / "account", document


def test_a_saved_endpoint_comes_back_serving_the_same_model_in_a_new_account(saved, tmp_path) -> None:
    directory, document = saved
    assert document["endpoint"]["config_name"] == f"{PREFIX}--r1-epc"
    assert [item["uri"] for item in document["objects"]] == [WEIGHTS]
    mock, s3 = _fresh_account()  # run 2: nothing of run 1 in moto
    sagemaker = _local_sagemaker(s3, tmp_path / "run2")
    try:
        assert ENDPOINT not in sagemaker.endpoints
        restored = account.restore(sagemaker, s3, directory)
        assert restored == document
        assert account.settle(sagemaker, ENDPOINT, timeout=30) == "InService"
        described = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
        assert described["EndpointConfigName"] == f"{PREFIX}--r1-epc"
        config = sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
        model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
        assert model["PrimaryContainer"]["ModelDataUrl"] == WEIGHTS
        assert sagemaker.list_tags(ResourceArn=model["ModelArn"])["Tags"] == [
            {"Key": "forge:run-id", "Value": "r1"}]
        assert _answer(sagemaker) == "run one"  # the restored weights, served again
        assert s3.get_object(Bucket=BUCKET, Key=WEIGHTS.split("/", 3)[3])["Body"].read()  # back in S3
    finally:
        sagemaker.shutdown()
        mock.stop()


def test_a_later_update_is_what_the_next_run_finds(saved, tmp_path) -> None:
    directory, _ = saved
    mock, s3 = _fresh_account()
    sagemaker = _local_sagemaker(s3, tmp_path / "run2")
    try:
        account.restore(sagemaker, s3, directory)
        account.settle(sagemaker, ENDPOINT, timeout=30)
        weights = f"s3://{BUCKET}/runs/r2/deployed/model.tar.gz"
        s3.put_object(Bucket=BUCKET, Key=weights.split("/", 3)[3], Body=_tarball({"weights.txt": b"run two"}))
        _deploy(sagemaker, "r2", weights)
        document = account.save(sagemaker, s3, directory, PREFIX)
    finally:
        sagemaker.shutdown()
        mock.stop()
    assert document["endpoint"]["config_name"] == f"{PREFIX}--r2-epc"
    assert [item["uri"] for item in document["objects"]] == [weights]  # only what is served now


def test_no_endpoint_left_removes_the_save_and_a_failed_one_keeps_it(saved, tmp_path) -> None:
    directory, _ = saved
    mock, s3 = _fresh_account()
    sagemaker = _local_sagemaker(s3, tmp_path / "run2")
    try:
        account.restore(sagemaker, s3, directory)
        account.settle(sagemaker, ENDPOINT, timeout=30)
        sagemaker.endpoints[ENDPOINT].status = "Failed"  # as a restored server that never came back
        assert account.save(sagemaker, s3, directory, PREFIX) is None
        assert (directory / account.ACCOUNT_FILE).is_file()  # the last good save stays
        sagemaker.delete_endpoint(EndpointName=ENDPOINT)
        assert account.save(sagemaker, s3, directory, PREFIX) is None
        assert not directory.exists()
        assert account.restore(sagemaker, s3, directory) is None
    finally:
        sagemaker.shutdown()
        mock.stop()


def test_teardown_of_a_local_run_deletes_its_pipelines_saved_account(saved, tmp_path) -> None:
    directory, _ = saved
    out = tmp_path / "runs"
    run = out / "r1"
    run.mkdir(parents=True)
    (run / "settings.json").write_text(json.dumps({"name": PREFIX}))
    target = account.account_dir(out, PREFIX)
    target.parent.mkdir(parents=True)
    directory.rename(target)
    assert teardown.teardown_local(run) == [f"deleted the saved local account of pipeline {PREFIX} "
                                            f"(endpoint {ENDPOINT})"]
    assert not target.exists()
    assert teardown.teardown_local(run) == [teardown.NOTHING]
