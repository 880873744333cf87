"""Record what the SageMaker Python SDK v3 sends for each Nova case. Runs in a venv with sagemaker==3.27.0.

The SDK needs boto3>=1.43.90, which conflicts with the project's pinned boto3 1.43.11, so it lives in its
own venv (see tests/handlers/sdk_oracle/README.md). Offline against a moto server:

    PYTHONPATH=.:lambda .venv/bin/python -m tests.handlers.sdk_oracle.cases > /tmp/cases.json
    .venv/bin/python -m moto.server -p 5123 &
    SDK_VENV/bin/python tests/handlers/sdk_oracle/record_sdk_requests.py /tmp/cases.json \
        http://127.0.0.1:5123 > tests/handlers/sdk_oracle/sdk_requests.json
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import yaml


def _offline_environment(scratch: Path, endpoint: str) -> None:
    config = scratch / "sagemaker-config.yaml"
    config.write_text(
        "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n"
    )
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
            "SAGEMAKER_VALIDATE_ROLE": "false",
            "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config),
        }
    )


def record(case: dict, scratch: Path) -> dict:
    import boto3
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import Compute, InputData, OutputDataConfig, StoppingCondition

    boto_session = boto3.Session(region_name="us-east-1")
    boto_session.client("s3").create_bucket(Bucket="sdk-default-bucket")
    captured: dict = {}
    # sagemaker-core makes its own clients: hook every botocore client, not just this session's.
    import botocore.client

    original = botocore.client.BaseClient._make_api_call

    def spy(self, operation, params):
        if operation == "CreateTrainingJob":
            captured.update(params)
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = spy
    recipe_path = scratch / f"{case['base_job_name']}.yaml"
    recipe_path.write_text(yaml.safe_dump(case["recipe"], sort_keys=False))
    trainer = ModelTrainer.from_recipe(
        training_recipe=str(recipe_path),
        compute=Compute(
            instance_type=case["instance_type"],
            instance_count=case["instance_count"],
            volume_size_in_gb=case["volume_size_in_gb"],
        ),
        training_image=case["training_image"],
        role=case["role"],
        base_job_name=case["base_job_name"],
        output_data_config=OutputDataConfig(s3_output_path=case["output_path"]),
        stopping_condition=StoppingCondition(max_runtime_in_seconds=case["max_runtime"]),
        sagemaker_session=Session(boto_session=boto_session, default_bucket="sdk-default-bucket"),
    )
    try:
        trainer.train(
            input_data_config=[InputData(channel_name="train", data_source=case["train_uri"])], wait=False
        )
    finally:
        botocore.client.BaseClient._make_api_call = original
    recipe_channel = next(c for c in captured["InputDataConfig"] if c["ChannelName"] == "recipe")
    uri = recipe_channel["DataSource"]["S3DataSource"]["S3Uri"]
    bucket, key = uri[5:].split("/", 1)
    s3 = boto_session.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]
    body = s3.get_object(Bucket=bucket, Key=listed[0]["Key"])["Body"].read()
    return {"request": captured, "recipe": yaml.safe_load(body)}


def main() -> None:
    cases = json.loads(Path(sys.argv[1]).read_text())
    with tempfile.TemporaryDirectory() as scratch:
        _offline_environment(Path(scratch), sys.argv[2])
        import sagemaker

        out = {
            "sdk_version": sagemaker.__version__ if hasattr(sagemaker, "__version__") else "3.27.0",
            "cases": {
                case_id: {"inputs": case, **record(case, Path(scratch))} for case_id, case in cases.items()
            },
        }
    print(json.dumps(out, indent=1, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
