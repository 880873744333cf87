"""Fixtures of the handler tests: settings files, the handler environment, moto, a Lambda context."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from forge_handlers import config
from forge_handlers.aws import clients

from pipeline_core.settings import Settings, load_settings, parse_settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_FILES = sorted((PROJECT_ROOT / "config").glob("*.yaml"))
REGION = "us-east-1"
ACCOUNT = "123456789012"
DATA_BUCKET = "forge-data"
ARTIFACTS_BUCKET = "forge-artifacts"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/forge-sagemaker"
REWARD_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:forge-reward"
KMS_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@dataclasses.dataclass
class FakeLambdaContext:
    function_name: str = "forge-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:forge-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


def settings_dict(path: Path) -> dict[str, Any]:
    return load_settings(path).model_dump(mode="json")


def derive(base: Settings, **changes: Any) -> Settings:
    """A copy of ``base`` with dotted-path changes, validated again."""
    raw = base.model_dump(mode="json")
    for dotted, value in changes.items():
        node = raw
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return parse_settings(raw, "test")


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def handler_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_BUCKET", DATA_BUCKET)
    monkeypatch.setenv("ARTIFACTS_BUCKET", ARTIFACTS_BUCKET)
    monkeypatch.setenv("SAGEMAKER_ROLE_ARN", ROLE_ARN)
    monkeypatch.setenv("REWARD_LAMBDA_ARN", REWARD_ARN)
    monkeypatch.setenv("KMS_KEY_ARN", KMS_ARN)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def use_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write settings.json for the handlers and point FORGE_SETTINGS_FILE at it; returns a setter."""

    def _use(settings: Settings) -> Settings:
        path = tmp_path / f"settings-{len(list(tmp_path.glob('settings-*.json')))}.json"
        path.write_text(settings.to_json(), encoding="utf-8")
        monkeypatch.setenv("FORGE_SETTINGS_FILE", str(path))
        config.clear_cache()
        return settings

    yield _use
    config.clear_cache()


@pytest.fixture
def aws(handler_env: None):
    """moto S3 / SNS / SageMaker with the two buckets; clients reset around the test."""
    import boto3
    from moto import mock_aws

    clients.reset()
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (DATA_BUCKET, ARTIFACTS_BUCKET):
            s3.create_bucket(Bucket=bucket)
        yield s3
    clients.reset()


def put_json(s3: Any, bucket: str, key: str, document: Any) -> str:
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode())
    return f"s3://{bucket}/{key}"


def a_run(run_id: str = "run-1", family: str = "hf") -> dict[str, Any]:
    eval_name = "gen_qa.jsonl" if family == "nova" else "eval.jsonl"
    base = f"s3://{ARTIFACTS_BUCKET}/runs/{run_id}/data"
    return {
        "run_id": run_id,
        "run_prefix": f"runs/{run_id}/",
        "datasets": {
            "sft": f"{base}/sft/sft.jsonl",
            "rft": f"{base}/rft/rft.jsonl",
            "eval": f"{base}/eval/{eval_name}",
        },
        "counts": {"sft": 10, "eval": 5, "rft": 12},
        "report_uri": f"{base}/validation.json",
    }
