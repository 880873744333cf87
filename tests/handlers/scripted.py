"""A scripted SageMaker for tests: moto underneath, with job status transitions driven by a script.

moto completes every training job at once and lacks StopTrainingJob and UpdateEndpoint; this wrapper
plays each job through scripted statuses, writes what a finished job leaves on S3 (eval results in
output.tar.gz, Nova's manifest.json), and can throttle or refuse (ResourceLimitExceeded) create calls.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections import defaultdict
from typing import Any

from botocore.exceptions import ClientError
from forge_handlers.naming import split_s3_uri

from pipeline_core import stages as stage_table

# moto's CreateEndpointConfig accepts only instance types older than g5/g6/p5 (the real ones are checked
# against pipeline_core/service_limits.py by the settings and the local runtime); it is given this one
# instead.
MOTO_ENDPOINT_INSTANCE_TYPE = "ml.g4dn.xlarge"
IN_PROGRESS = {"TrainingJobStatus": "InProgress", "SecondaryStatus": "Training"}
COMPLETED = {"TrainingJobStatus": "Completed", "SecondaryStatus": "Completed"}


def failed(reason: str) -> dict[str, str]:
    return {"TrainingJobStatus": "Failed", "SecondaryStatus": "Failed", "FailureReason": reason}


def client_error(code: str, operation: str, message: str = "scripted") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


class ScriptedSageMaker:
    def __init__(
        self, real: Any, s3: Any, *, family: str = "hf", metrics: dict[str, dict[str, float]] | None = None
    ):
        self._real, self._s3, self._family = real, s3, family
        self.scripts: dict[tuple[str, int] | str, list[dict[str, Any]]] = {}
        self.metrics = metrics or {}
        # Nova eval stage -> inference_output.jsonl rows written beside results_*.json (as Nova's gen_qa does)
        self.inference: dict[str, list[dict[str, Any]]] = {}
        self.create_errors: list[str] = []  # error codes raised by the next create calls, in order
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._progress: dict[str, int] = defaultdict(int)
        self._stopped: set[str] = set()
        self._jobs: dict[str, tuple[str, int]] = {}
        self._endpoint_configs: dict[str, str] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def _script(self, job: str) -> list[dict[str, Any]]:
        stage, attempt = self._jobs[job]
        return self.scripts.get((stage, attempt)) or self.scripts.get(stage) or [IN_PROGRESS, COMPLETED]

    def create_training_job(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("create_training_job", request))
        if self.create_errors:
            raise client_error(self.create_errors.pop(0), "CreateTrainingJob")
        tags = {t["Key"]: t["Value"] for t in request.get("Tags", [])}
        attempt = int(request["TrainingJobName"].rsplit("-a", 1)[1])
        self._jobs[request["TrainingJobName"]] = (tags["forge:stage"], attempt)
        return self._real.create_training_job(**request)

    def describe_training_job(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("describe_training_job", params))
        description = self._real.describe_training_job(**params)
        name = params["TrainingJobName"]
        if name not in self._jobs:
            return description
        if name in self._stopped:
            return {**description, "TrainingJobStatus": "Stopped", "SecondaryStatus": "Stopped"}
        script = self._script(name)
        step = script[min(self._progress[name], len(script) - 1)]
        self._progress[name] += 1
        description = {k: v for k, v in description.items() if k != "FailureReason"}
        description.update(step)
        if step["TrainingJobStatus"] == "Completed":
            self._write_outputs(description)
        return description

    def stop_training_job(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("stop_training_job", params))
        self._stopped.add(params["TrainingJobName"])
        return {}

    def _write_outputs(self, description: dict[str, Any]) -> None:
        stage, _ = self._jobs[description["TrainingJobName"]]
        base = (
            description["OutputDataConfig"]["S3OutputPath"].rstrip("/") + f"/{description['TrainingJobName']}"
        )
        files: dict[str, bytes] = {}
        if stage_table.stage(stage).is_eval:
            flat = self.metrics.get(stage, {"accuracy": 0.5, "em": 0.5})
            files["results.json" if self._family == "hf" else "eval_results/results_2026.json"] = json.dumps(
                {"results": {"all": flat}}
            ).encode()
            if self._family == "nova" and stage in self.inference:
                rows = "".join(json.dumps(row) + "\n" for row in self.inference[stage])
                files["eval_results/inference_output.jsonl"] = rows.encode()
        elif self._family == "nova":
            checkpoint = f"s3://customer-escrow-111/{description['TrainingJobName']}/step-final/"
            files["manifest.json"] = json.dumps({"checkpoint_s3_bucket": checkpoint}).encode()
        else:  # the trained weights SageMaker uploads from /opt/ml/model (Deploy copies them)
            bucket, key = split_s3_uri(f"{base}/output/model.tar.gz")
            self._s3.put_object(Bucket=bucket, Key=key, Body=tarball({"model.safetensors": b"weights"}))
        if files:
            bucket, key = split_s3_uri(f"{base}/output/output.tar.gz")
            self._s3.put_object(Bucket=bucket, Key=key, Body=tarball(files))

    def create_endpoint_config(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("create_endpoint_config", params))
        variants = [{**v, "InstanceType": MOTO_ENDPOINT_INSTANCE_TYPE} for v in params["ProductionVariants"]]
        return self._real.create_endpoint_config(**{**params, "ProductionVariants": variants})

    def update_endpoint(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("update_endpoint", params))
        self._real.describe_endpoint(EndpointName=params["EndpointName"])  # must exist
        self._endpoint_configs[params["EndpointName"]] = params["EndpointConfigName"]
        return {"EndpointArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{params['EndpointName']}"}

    def describe_endpoint(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("describe_endpoint", params))
        description = self._real.describe_endpoint(**params)
        if params["EndpointName"] in self._endpoint_configs:
            description["EndpointConfigName"] = self._endpoint_configs[params["EndpointName"]]
        return description

    def created_jobs(self) -> list[str]:
        return [request["TrainingJobName"] for op, request in self.calls if op == "create_training_job"]
