"""Deploy the gated candidate's weights to this pipeline's endpoint (create, or update in place)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from forge_handlers import artifacts, endpoint_expiry, gate, model_copy, register
from forge_handlers.aws import clients
from forge_handlers.config import Environment
from forge_handlers.errors import ConfigError, error_code, translate_client_error
from forge_handlers.naming import endpoint_config_name, endpoint_name, model_name
from pipeline_core import endpoint_guardrails, polling
from pipeline_core import stages as stage_table
from pipeline_core.service_limits import ServiceLimitError, endpoint_tier
from pipeline_core.settings import Settings
from pipeline_core.settings_task import task_labels

VARIANT = endpoint_guardrails.VARIANT
# Nova inference container per region (AWS docs: deploying Nova models on SageMaker endpoints).
NOVA_INFERENCE_ACCOUNTS = {
    "us-east-1": "708977205387",
    "us-west-2": "176779409107",
    "eu-west-2": "470633809225",
}
NOVA_INFERENCE_TAG = "nova-inference-repo:SM-Inference-latest"
HF_INFERENCE_TAG = "pytorch-inference:2.6.0-gpu-py312-cu124-ubuntu22.04-sagemaker"


def inference_image(settings: Settings, region: str) -> str:
    if region in settings.images.inference:
        return settings.images.inference[region]
    if settings.model.family == "nova":
        if region not in NOVA_INFERENCE_ACCOUNTS:
            raise ConfigError(
                f"no documented Nova inference image for {region!r}; set images.inference['{region}']"
            )
        return f"{NOVA_INFERENCE_ACCOUNTS[region]}.dkr.ecr.{region}.amazonaws.com/{NOVA_INFERENCE_TAG}"
    # Default: the PyTorch inference DLC running code/inference.py from model.tar.gz (written by
    # job_code.serving_code) through the SageMaker inference toolkit; set images.inference for an image
    # that runs job_code/serve.py as its own server.
    from forge_handlers.training_requests import DLC_ACCOUNTS, DLC_DEFAULT_ACCOUNT

    return (
        f"{DLC_ACCOUNTS.get(region, DLC_DEFAULT_ACCOUNT)}.dkr.ecr.{region}.amazonaws.com/{HF_INFERENCE_TAG}"
    )


def deployed_weights(settings: Settings, bucket: str, run_id: str) -> str:
    """The weights the gate judged: those the candidate eval recorded (never silently the base model)."""
    stage = gate.candidate_eval_stage(settings)
    if stage_table.stage(stage).evaluates is None:  # the candidate measured the base model
        raise ConfigError(
            "nothing was trained (sft and rft are disabled): this pipeline deploys trained weights only"
        )
    return artifacts.read_record(bucket, run_id, stage).model_uri


def model_request(settings: Settings, env: Environment, run_id: str, weights: str) -> dict[str, Any]:
    container: dict[str, Any] = {"Image": inference_image(settings, env.region)}
    labels = json.dumps(task_labels(settings))  # generation: [] (the server parses no label)
    if settings.model.family == "nova":
        container["ModelDataSource"] = {
            "S3DataSource": {
                "S3Uri": weights.rstrip("/") + "/",
                "S3DataType": "S3Prefix",
                "CompressionType": "None",
            }
        }
        # The inference container's configuration must fit one of the instance type's tiers, or endpoint
        # creation fails: the settings' values, checked (and completed) against pipeline_core.service_limits.
        deploy = settings.deploy
        try:
            tier = endpoint_tier(settings.model.model_type, deploy.instance_type, deploy.context_length,
                                 deploy.max_concurrency)
        except ServiceLimitError as error:
            raise ConfigError(str(error)) from None
        container["Environment"] = {
            "CONTEXT_LENGTH": str(tier.context_length),
            "MAX_CONCURRENCY": str(tier.max_concurrency),
        }
    else:
        container["Environment"] = {
            "FORGE_LABELS": labels,
            "SAGEMAKER_PROGRAM": "inference.py",  # code/ in model.tar.gz (job_code.serving_code)
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        }
        container["ModelDataUrl"] = weights
    request = {
        "ModelName": model_name(settings.resource_prefix, run_id),
        "ExecutionRoleArn": env.sagemaker_role_arn,
        "PrimaryContainer": container,
        "Tags": [{"Key": "forge:run-id", "Value": run_id}],
    }
    if settings.model.family == "nova":
        # As the Nova Forge SDK's CreateModel: the Nova inference container runs without network access.
        request["EnableNetworkIsolation"] = True
    return request


# Tag of an endpoint config that replaces another on the endpoint: what Cleanup rolls back to, readable
# again by a retried Deploy that finds the update already done.
REPLACES_TAG = "forge:replaces"


def endpoint_config_request(settings: Settings, run_id: str, replaces: str | None = None) -> dict[str, Any]:
    tags = [{"Key": "forge:run-id", "Value": run_id}]
    if replaces:
        tags.append({"Key": REPLACES_TAG, "Value": replaces})
    return {
        "EndpointConfigName": endpoint_config_name(settings.resource_prefix, run_id),
        "ProductionVariants": [
            {
                "VariantName": VARIANT,
                "ModelName": model_name(settings.resource_prefix, run_id),
                "InstanceType": settings.deploy.instance_type,
                "InitialInstanceCount": settings.deploy.instance_count,
            }
        ],
        "Tags": tags,
    }


def _create_once(create: Callable[[], Any]) -> None:
    """Run a create call, treating 'already exists' (a retried call of this same run) as done."""
    try:
        create()
    except Exception as error:
        if error_code(error) == "ValidationException" and "already exist" in str(error).lower():
            return
        raise translate_client_error(error) from error


def describe_endpoint(name: str) -> dict[str, Any] | None:
    try:
        return clients.sagemaker().describe_endpoint(EndpointName=name)
    except Exception as error:
        if error_code(error) == "ValidationException" and "could not find" in str(error).lower():
            return None
        raise translate_client_error(error) from error


def replaced_config(config_name: str) -> str | None:
    """The config that ``config_name`` replaced on the endpoint (its REPLACES_TAG), if any."""
    try:
        described = clients.sagemaker().describe_endpoint_config(EndpointConfigName=config_name)
        arn = described["EndpointConfigArn"]
        tags = clients.sagemaker().list_tags(ResourceArn=arn).get("Tags") or []
    except Exception as error:
        raise translate_client_error(error) from error
    return next((tag["Value"] for tag in tags if tag.get("Key") == REPLACES_TAG), None)


def deploy(settings: Settings, env: Environment, run: dict[str, Any],
           registry: dict[str, Any] | None = None) -> dict[str, Any]:
    run_id = run["run_id"]
    package = (registry or {}).get("model_package_arn")
    # The registered package is the source of truth: Deploy serves what the Approved package points at.
    weights = (register.served_weights(settings, package) if package
               else deployed_weights(settings, env.artifacts_bucket, run_id))
    served = model_copy.protected_copy(env.artifacts_bucket, run_id, weights)  # out of the jobs' reach
    model = model_request(settings, env, run_id, served)
    _create_once(lambda: clients.sagemaker().create_model(**model))
    name = endpoint_name(settings.resource_prefix)
    existing = describe_endpoint(name)
    ours = endpoint_config_name(settings.resource_prefix, run_id)
    current = (existing or {}).get("EndpointConfigName")
    previous = current if current and current != ours else None
    config = endpoint_config_request(settings, run_id, replaces=previous)
    if current != ours:  # else a retried call found its update done: the config exists, with its tags
        _create_once(lambda: clients.sagemaker().create_endpoint_config(**config))
    try:
        if existing is None:
            clients.sagemaker().create_endpoint(
                EndpointName=name,
                EndpointConfigName=config["EndpointConfigName"],
                Tags=[{"Key": "forge:pipeline", "Value": settings.resource_prefix}],
            )
            action = "create"
        elif current == ours:
            action = "update"  # a retried call: the update to this run's config is already done
            previous = replaced_config(ours)
        else:
            update = {"EndpointName": name, "EndpointConfigName": config["EndpointConfigName"]}
            guardrails = endpoint_guardrails.deployment_config(settings)
            if guardrails:
                update["DeploymentConfig"] = guardrails
            clients.sagemaker().update_endpoint(**update)
            action = "update"
    except Exception as error:
        raise translate_client_error(error) from error
    started = datetime.now(UTC)
    expires = endpoint_expiry.set_expiry(settings, env.scheduler_role_arn, started)
    return {
        "endpoint_name": name,
        "endpoint_config_name": config["EndpointConfigName"],
        "action": action,
        "status": "Creating" if action == "create" else "Updating",
        "model_uri": weights,
        "served_model_uri": served,
        # What the endpoint served before this update (None on create): Cleanup returns to it on failure.
        "previous_endpoint_config_name": previous if action == "update" else None,
        # When this deploy began, for the waits between status polls (pipeline_core/polling.py).
        "started_at": started.isoformat(),
        # When the TTL schedule deletes the endpoint (deploy.ttl_hours), else None.
        "expires_at": expires,
        "wait_seconds": settings.endpoint_poll_seconds,
    }


def endpoint_status(settings: Settings, endpoint: dict[str, Any]) -> dict[str, Any]:
    """The endpoint's current status, keeping what Deploy recorded (action, config) for Cleanup."""
    name = endpoint["endpoint_name"]
    wait = polling.next_wait(settings, settings.endpoint_poll_seconds, endpoint.get("started_at"))
    description = describe_endpoint(name)
    if description is None:
        return {**endpoint, "status": "Missing", "failure_reason": f"endpoint {name} does not exist",
                "wait_seconds": wait}
    return {
        **endpoint,
        "status": description["EndpointStatus"],
        "failure_reason": description.get("FailureReason"),
        "wait_seconds": wait,
    }
