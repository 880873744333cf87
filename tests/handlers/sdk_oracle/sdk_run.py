"""Run the SageMaker Python SDK v3 offline against a moto server and capture what it sends for a Nova case.

The SDK (sagemaker==3.27.0, the `oracle` extra) works offline as long as (DESIGN.md): the recipe is a
local .yaml file (a recipe *name* clones a GitHub repo), `training_image` is explicit, the role is a full
ARN with SAGEMAKER_VALIDATE_ROLE=false, the Session gets `boto_session` and `default_bucket` (otherwise
it calls a hard-coded STS endpoint) and telemetry is off through SAGEMAKER_USER_CONFIG_OVERRIDE.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import yaml

SDK_DEFAULT_BUCKET = "sdk-default-bucket"
TELEMETRY_OFF = "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n"


def offline_environment(scratch: Path, endpoint: str) -> dict[str, str]:
    """The environment variables that keep the SDK (and every boto3 client it makes) on the moto server."""
    config = scratch / "sagemaker-config.yaml"
    config.write_text(TELEMETRY_OFF, encoding="utf-8")
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        # moto has no iam:SimulatePrincipalPolicy (the SDK's staging-bucket check): fail it at once, not
        # after botocore's retries; the SDK then stages in its default bucket, as when the check passes.
        "AWS_MAX_ATTEMPTS": "1",
        "SAGEMAKER_VALIDATE_ROLE": "false",
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config),
    }


class SdkRecorder:
    """One boto3 session for the SDK, with a hook that keeps every CreateTrainingJob body it sends."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.boto_session = boto3.Session(region_name=region)
        self.boto_session.client("s3").create_bucket(Bucket=SDK_DEFAULT_BUCKET)
        self._sent: dict[str, dict[str, Any]] = {}
        # before-call sees the serialized request (what goes on the wire), not moto's describe output.
        self.boto_session.events.register("before-call.sagemaker.CreateTrainingJob", self._keep)

    def _keep(self, params: dict[str, Any], **_: Any) -> None:
        body = json.loads(params["body"])
        self._sent[body["TrainingJobName"]] = body

    def run(self, case: dict[str, Any], scratch: Path) -> dict[str, Any]:
        """ModelTrainer.from_recipe(...).train(wait=False) for one case's SDK inputs (cases.sdk_inputs).

        Returns {"request": the CreateTrainingJob params sent, "recipe": the recipe YAML it uploaded}.
        """
        from sagemaker.core.helper.session_helper import Session
        from sagemaker.core.training.configs import Compute, InputData, OutputDataConfig, StoppingCondition
        from sagemaker.train import ModelTrainer

        recipe_path = scratch / f"{case['base_job_name']}.yaml"
        recipe_path.write_text(yaml.safe_dump(case["recipe"], sort_keys=False), encoding="utf-8")
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
            sagemaker_session=Session(boto_session=self.boto_session, default_bucket=SDK_DEFAULT_BUCKET),
        )
        before = set(self._sent)
        trainer.train(
            input_data_config=[InputData(channel_name="train", data_source=case["train_uri"])], wait=False
        )
        (job_name,) = set(self._sent) - before
        request = self._sent[job_name]
        return {"request": request, "recipe": self._uploaded_recipe(request)}

    def _uploaded_recipe(self, request: dict[str, Any]) -> dict[str, Any]:
        recipe_channel = next(c for c in request["InputDataConfig"] if c["ChannelName"] == "recipe")
        bucket, prefix = recipe_channel["DataSource"]["S3DataSource"]["S3Uri"][len("s3://") :].split("/", 1)
        s3 = self.boto_session.client("s3")
        (listed,) = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
        return yaml.safe_load(s3.get_object(Bucket=bucket, Key=listed["Key"])["Body"].read())
