"""A local stand-in for the boto3 ``sagemaker`` and ``sagemaker-runtime`` clients.

Local mode injects these through ``forge_handlers.aws.clients.override`` so the handlers run unchanged:
requests are checked with botocore's own validator for the real service model, and errors are the
real modeled exceptions (``ValidationException``, ``ResourceInUse``, ``ResourceNotFound``…) so the
handlers' error paths behave as against AWS.
"""

from __future__ import annotations

import io
import os
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.validate import validate_parameters

from forge.local.endpoints import EndpointRunner, LocalEndpoint, ServeCommand, default_serve_command
from forge.local.launcher import Launcher, cold_launch
from forge.local.limits import RequestLimits
from forge.local.training import LocalTrainingJob, TrainingJobRunner

ACCOUNT = "123456789012"


class _ApiModel:
    """The real botocore service model and exception classes of one service (no network used)."""

    def __init__(self, service: str, region: str):
        self.region = region
        self.client = self._client = boto3.session.Session().client(
            service, region_name=region, aws_access_key_id="local", aws_secret_access_key="local"
        )

    def validate(self, operation: str, params: dict[str, Any]) -> None:
        validate_parameters(params, self._client.meta.service_model.operation_model(operation).input_shape)

    def enum(self, shape: str) -> list[str]:
        return list(self._client.meta.service_model.shape_for(shape).enum)

    def error(self, code: str, message: str, operation: str) -> ClientError:
        response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}
        return self._client.exceptions.from_code(code)(response, operation)


class LocalSageMaker:
    """The ``sagemaker`` client methods the handlers use, backed by local processes."""

    def __init__(
        self,
        s3: Any,
        workdir: Path,
        *,
        region: str = "us-east-1",
        python: str | None = None,
        extra_env: dict[str, str] | None = None,
        serve_command: ServeCommand = default_serve_command,
        launcher: Launcher = cold_launch,
        base_env: dict[str, str] | None = None,
    ):
        import sys

        self.api = _ApiModel("sagemaker", region)
        self.limits = RequestLimits(self.api.enum, self.api.error)  # service limits botocore does not check
        self.workdir = Path(workdir).resolve()  # jobs run in their own dirs: a relative path would move
        self.jobs: dict[str, LocalTrainingJob] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.endpoint_configs: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, LocalEndpoint] = {}
        self.tags: dict[str, list[dict[str, str]]] = {}
        self._lock = threading.Lock()
        # Jobs and servers start from this environment (default: os.environ now), launched by ``launcher``.
        base_env = dict(os.environ if base_env is None else base_env)
        self._trainer = TrainingJobRunner(s3, python or sys.executable, extra_env, launcher, base_env)
        self.endpoint_runner = EndpointRunner(s3, self.workdir / "endpoints", serve_command, launcher,
                                              base_env)

    def _arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.api.region}:{ACCOUNT}:{kind}/{name.lower()}"

    def _check(self, operation: str, params: dict[str, Any]) -> None:
        self.api.validate(operation, params)

    def _tag(self, arn: str, tags: list[dict[str, str]] | None) -> None:
        if tags:
            merged = {t["Key"]: t["Value"] for t in self.tags.get(arn, [])}
            merged.update({t["Key"]: t["Value"] for t in tags})
            self.tags[arn] = [{"Key": k, "Value": v} for k, v in merged.items()]

    # -- training jobs ----------------------------------------------------------------------------
    def create_training_job(self, **params: Any) -> dict[str, Any]:
        self._check("CreateTrainingJob", params)
        self.limits.create_training_job(params)
        name = params["TrainingJobName"]
        arn = self._arn("training-job", name)
        with self._lock:
            if name in self.jobs:
                raise self.api.error(
                    "ResourceInUse",
                    "Training job names must be unique within an AWS account "
                    f"and region, and a training job with this name already exists ({arn})",
                    "CreateTrainingJob",
                )
            job = LocalTrainingJob(request=params, arn=arn, root=self.workdir / "jobs" / name)
            job.root.mkdir(parents=True, exist_ok=True)
            job.set_secondary("Starting", "Preparing the instances for training")
            self.jobs[name] = job
        self._tag(arn, params.get("Tags"))
        self._trainer.start(job)
        return {"TrainingJobArn": arn}

    def _job(self, name: str, operation: str) -> LocalTrainingJob:
        job = self.jobs.get(name)
        if job is None:
            raise self.api.error("ValidationException", "Requested resource not found.", operation)
        return job

    def describe_training_job(self, **params: Any) -> dict[str, Any]:
        self._check("DescribeTrainingJob", params)
        return self._job(params["TrainingJobName"], "DescribeTrainingJob").describe()

    def stop_training_job(self, **params: Any) -> dict[str, Any]:
        self._check("StopTrainingJob", params)
        job = self._job(params["TrainingJobName"], "StopTrainingJob")
        if job.status != "InProgress":
            raise self.api.error(
                "ValidationException",
                f"The request was rejected because the training job is in status {job.status}.",
                "StopTrainingJob",
            )
        job.status = "Stopping"
        self._trainer.stop(job)
        return {}

    def list_training_jobs(self, **params: Any) -> dict[str, Any]:
        self._check("ListTrainingJobs", params)
        jobs = [
            j
            for j in self.jobs.values()
            if params.get("NameContains", "") in j.name and params.get("StatusEquals", j.status) == j.status
        ]
        jobs.sort(key=lambda j: j.created, reverse=params.get("SortOrder", "Descending") == "Descending")
        summaries = [
            {
                "TrainingJobName": j.name,
                "TrainingJobArn": j.arn,
                "CreationTime": j.created,
                "TrainingJobStatus": j.status,
                "SecondaryStatus": j.secondary_status,
                **({"TrainingEndTime": j.ended} if j.ended else {}),
            }
            for j in jobs[: params.get("MaxResults", 100)]
        ]
        return {"TrainingJobSummaries": summaries}

    def job_log_path(self, name: str) -> Path:
        """Where a job's stdout/stderr goes (the CloudWatch log stream stand-in)."""
        return self.workdir / "jobs" / name / "log.txt"

    # -- models -----------------------------------------------------------------------------------
    def create_model(self, **params: Any) -> dict[str, Any]:
        self._check("CreateModel", params)
        self.limits.create_model(params)
        name = params["ModelName"]
        arn = self._arn("model", name)
        if name in self.models:
            raise self.api.error(
                "ValidationException", f'Cannot create already existing model "{arn}".', "CreateModel"
            )
        self.models[name] = {**params, "ModelArn": arn}
        self._tag(arn, params.get("Tags"))
        return {"ModelArn": arn}

    def _model(self, name: str, operation: str) -> dict[str, Any]:
        if name not in self.models:
            raise self.api.error(
                "ValidationException", f'Could not find model "{self._arn("model", name)}".', operation
            )
        return self.models[name]

    def describe_model(self, **params: Any) -> dict[str, Any]:
        self._check("DescribeModel", params)
        model = self._model(params["ModelName"], "DescribeModel")
        return {k: v for k, v in model.items() if k != "Tags"}

    def delete_model(self, **params: Any) -> dict[str, Any]:
        self._check("DeleteModel", params)
        self._model(params["ModelName"], "DeleteModel")
        del self.models[params["ModelName"]]
        return {}

    # -- endpoint configs -------------------------------------------------------------------------
    def create_endpoint_config(self, **params: Any) -> dict[str, Any]:
        self._check("CreateEndpointConfig", params)
        self.limits.create_endpoint_config(params, lambda model: self._model(model, "CreateEndpointConfig"))
        name = params["EndpointConfigName"]
        arn = self._arn("endpoint-config", name)
        if name in self.endpoint_configs:
            raise self.api.error(
                "ValidationException",
                f'Cannot create already existing endpoint configuration "{arn}".',
                "CreateEndpointConfig",
            )
        for variant in params["ProductionVariants"]:
            self._model(variant["ModelName"], "CreateEndpointConfig")
        self.endpoint_configs[name] = {**params, "EndpointConfigArn": arn}
        self._tag(arn, params.get("Tags"))
        return {"EndpointConfigArn": arn}

    def _endpoint_config(self, name: str, operation: str) -> dict[str, Any]:
        if name not in self.endpoint_configs:
            arn = self._arn("endpoint-config", name)
            raise self.api.error(
                "ValidationException", f'Could not find endpoint configuration "{arn}".', operation
            )
        return self.endpoint_configs[name]

    def describe_endpoint_config(self, **params: Any) -> dict[str, Any]:
        self._check("DescribeEndpointConfig", params)
        config = self._endpoint_config(params["EndpointConfigName"], "DescribeEndpointConfig")
        return {k: v for k, v in config.items() if k != "Tags"}

    def delete_endpoint_config(self, **params: Any) -> dict[str, Any]:
        self._check("DeleteEndpointConfig", params)
        self._endpoint_config(params["EndpointConfigName"], "DeleteEndpointConfig")
        del self.endpoint_configs[params["EndpointConfigName"]]
        return {}

    # -- endpoints --------------------------------------------------------------------------------
    def _config_model(self, config_name: str, operation: str) -> dict[str, Any]:
        config = self._endpoint_config(config_name, operation)
        return self._model(config["ProductionVariants"][0]["ModelName"], operation)

    def create_endpoint(self, **params: Any) -> dict[str, Any]:
        self._check("CreateEndpoint", params)
        self.limits.create_endpoint(params)
        name, config_name = params["EndpointName"], params["EndpointConfigName"]
        arn = self._arn("endpoint", name)
        if name in self.endpoints:
            raise self.api.error(
                "ValidationException", f'Cannot create already existing endpoint "{arn}".', "CreateEndpoint"
            )
        model = self._config_model(config_name, "CreateEndpoint")
        endpoint = LocalEndpoint(name=name, arn=arn, config_name=config_name)
        self.endpoints[name] = endpoint
        self._tag(arn, params.get("Tags"))
        self.endpoint_runner.deploy(endpoint, model, config_name)
        return {"EndpointArn": arn}

    def _endpoint(self, name: str, operation: str) -> LocalEndpoint:
        if name not in self.endpoints:
            raise self.api.error(
                "ValidationException", f'Could not find endpoint "{self._arn("endpoint", name)}".', operation
            )
        return self.endpoints[name]

    def describe_endpoint(self, **params: Any) -> dict[str, Any]:
        self._check("DescribeEndpoint", params)
        endpoint = self._endpoint(params["EndpointName"], "DescribeEndpoint")
        return endpoint.describe(self.endpoint_configs.get(endpoint.config_name, {}))

    def update_endpoint(self, **params: Any) -> dict[str, Any]:
        self._check("UpdateEndpoint", params)
        endpoint = self._endpoint(params["EndpointName"], "UpdateEndpoint")
        if endpoint.status not in ("InService", "Failed"):
            raise self.api.error(
                "ValidationException",
                f'Cannot update in-progress endpoint "{endpoint.arn}".',
                "UpdateEndpoint",
            )
        model = self._config_model(params["EndpointConfigName"], "UpdateEndpoint")
        rollback = ((params.get("DeploymentConfig") or {}).get("AutoRollbackConfiguration") or {})
        endpoint.status = "Updating"
        self.endpoint_runner.deploy(endpoint, model, params["EndpointConfigName"],
                               rollback_alarms=[alarm["AlarmName"] for alarm in rollback.get("Alarms") or []])
        return {"EndpointArn": endpoint.arn}

    def delete_endpoint(self, **params: Any) -> dict[str, Any]:
        self._check("DeleteEndpoint", params)
        endpoint = self._endpoint(params["EndpointName"], "DeleteEndpoint")
        endpoint.generation += 1  # abandons a deployment in flight
        if endpoint.server:
            endpoint.server.stop()
        del self.endpoints[params["EndpointName"]]
        return {}

    def list_endpoints(self, **params: Any) -> dict[str, Any]:
        self._check("ListEndpoints", params)
        return {
            "Endpoints": [
                {
                    "EndpointName": e.name,
                    "EndpointArn": e.arn,
                    "EndpointStatus": e.status,
                    "CreationTime": e.created,
                    "LastModifiedTime": e.modified,
                }
                for e in self.endpoints.values()
                if params.get("NameContains", "") in e.name
            ]
        }

    # -- model registry: moto's, behind the same request validation --------------------------------
    def _registry(self, operation: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._check(operation, params)
        return getattr(self.api.client, method)(**params)  # in local mode this client talks to moto

    def create_model_package(self, **params: Any) -> dict[str, Any]:
        return self._registry("CreateModelPackage", "create_model_package", params)

    def describe_model_package(self, **params: Any) -> dict[str, Any]:
        return self._registry("DescribeModelPackage", "describe_model_package", params)

    def update_model_package(self, **params: Any) -> dict[str, Any]:
        return self._registry("UpdateModelPackage", "update_model_package", params)

    def list_model_packages(self, **params: Any) -> dict[str, Any]:
        return self._registry("ListModelPackages", "list_model_packages", params)

    # -- tags -------------------------------------------------------------------------------------
    def add_tags(self, **params: Any) -> dict[str, Any]:
        self._check("AddTags", params)
        self._tag(params["ResourceArn"], params["Tags"])
        return {"Tags": self.tags[params["ResourceArn"]]}

    def list_tags(self, **params: Any) -> dict[str, Any]:
        self._check("ListTags", params)
        return {"Tags": list(self.tags.get(params["ResourceArn"], []))}

    # -- lifecycle --------------------------------------------------------------------------------
    def shutdown(self, wait_seconds: float = 30) -> None:
        """Stop every running job and endpoint server (Ctrl-C, end of a run, test teardown)."""
        for job in self.jobs.values():
            if job.status in ("InProgress", "Stopping"):
                job.status = "Stopping"
                self._trainer.stop(job)
        for endpoint in self.endpoints.values():
            endpoint.generation += 1
            if endpoint.server:
                endpoint.server.stop()
        # Wait (bounded) until every stopped job has terminated and uploaded what it had.
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline and any(
            j.status in ("InProgress", "Stopping") for j in self.jobs.values()
        ):
            time.sleep(0.1)


class LocalSageMakerRuntime:
    """The ``sagemaker-runtime`` client: invoke_endpoint forwards to the endpoint's local server."""

    def __init__(self, sagemaker: LocalSageMaker, timeout_seconds: float = 120):
        self.sagemaker = sagemaker
        self.api = _ApiModel("sagemaker-runtime", sagemaker.api.region)
        self.timeout_seconds = timeout_seconds

    def invoke_endpoint(self, **params: Any) -> dict[str, Any]:
        self.api.validate("InvokeEndpoint", params)
        name = params["EndpointName"]
        endpoint = self.sagemaker.endpoints.get(name)
        if endpoint is None or endpoint.server is None or not endpoint.server.alive():
            raise self.api.error(
                "ValidationException", f"Endpoint {name} of account {ACCOUNT} not found.", "InvokeEndpoint"
            )
        body = params["Body"]
        data = body.read() if hasattr(body, "read") else body.encode() if isinstance(body, str) else body
        request = urllib.request.Request(
            endpoint.server.url + "/invocations",
            data=data,
            method="POST",
            headers={
                "Content-Type": params.get("ContentType", "application/json"),
                "Accept": params.get("Accept", "application/json"),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                payload, content_type = response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", errors="replace")
            raise self.api.error(
                "ModelError",
                f'Received client error ({error.code}) from primary with message "{detail}".',
                "InvokeEndpoint",
            ) from None
        return {
            "Body": StreamingBody(io.BytesIO(payload), len(payload)),
            "ContentType": content_type,
            "InvokedProductionVariant": "AllTraffic",
        }
