"""The champion: the model the pipeline's endpoint serves as a run begins, which the candidate must beat.

Champion (after Preflight) describes the endpoint; if it is InService, its config's production variant
names the model, whose model data (``ModelDataUrl``, or Nova's ``ModelDataSource`` checkpoint) the
EvalChampion stage evaluates on this run's eval set, and whose ``forge:run-id`` tag names the run that
deployed it. The record goes to ``$.champion`` and to ``runs/<run>/champion.json``, which the champion's
Launch / Poll (artifacts.resolve_model_source) and the Gate read. No endpoint, or one not InService
(creating, updating, failed): ``{"present": false, "reason"}``, and the gate compares with nothing more.
"""

from __future__ import annotations

from typing import Any

from forge_handlers import deploy
from forge_handlers.aws import clients, s3io
from forge_handlers.errors import ArtifactMissingError, translate_client_error
from forge_handlers.naming import endpoint_name, s3_uri
from pipeline_core.layout import champion_key
from pipeline_core.settings import Settings

RUN_ID_TAG = "forge:run-id"  # Deploy tags the model with the run that created it (deploy.model_request)


def absent(name: str, reason: str) -> dict[str, Any]:
    return {"present": False, "endpoint_name": name, "reason": reason}


def model_data_uri(model: dict[str, Any]) -> str:
    """The weights a described model serves: ModelDataUrl (open weights) or ModelDataSource's S3 URI
    (Nova's checkpoint). A model with neither cannot be evaluated: that is an error, not 'no champion'."""
    container = model.get("PrimaryContainer") or next(iter(model.get("Containers") or []), {})
    uri = container.get("ModelDataUrl") or (
        (container.get("ModelDataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
    if not uri:
        raise ArtifactMissingError(
            f"model {model.get('ModelName')} on the pipeline's endpoint names no model data "
            "(ModelDataUrl or ModelDataSource): the champion cannot be evaluated"
        )
    return uri


def served_variant(config: dict[str, Any]) -> dict[str, Any]:
    """The production variant Deploy creates (deploy.VARIANT), else the config's first one."""
    variants = config.get("ProductionVariants") or []
    if not variants:
        raise ArtifactMissingError(f"endpoint config {config.get('EndpointConfigName')} has no variant")
    return next((v for v in variants if v.get("VariantName") == deploy.VARIANT), variants[0])


def record(endpoint: dict[str, Any], config: dict[str, Any], model: dict[str, Any],
           model_tags: list[dict[str, str]]) -> dict[str, Any]:
    """The champion record from the three descriptions and the model's tags (pure)."""
    run_id = next((tag.get("Value") for tag in model_tags if tag.get("Key") == RUN_ID_TAG), None)
    return {
        "present": True,
        "endpoint_name": endpoint["EndpointName"],
        "endpoint_config_name": endpoint["EndpointConfigName"],
        "model_name": model["ModelName"],
        "model_data_uri": model_data_uri(model),
        "run_id": run_id,  # None: a model this pipeline's Deploy did not tag
    }


def find(settings: Settings) -> dict[str, Any]:
    """Describe the pipeline's endpoint, its config and model: the champion record."""
    name = endpoint_name(settings.resource_prefix)
    endpoint = deploy.describe_endpoint(name)
    if endpoint is None:
        return absent(name, f"no endpoint {name}: nothing deployed yet")
    if endpoint.get("EndpointStatus") != "InService":
        return absent(name, f"endpoint {name} is {endpoint.get('EndpointStatus')}, not InService")
    sagemaker = clients.sagemaker()
    try:
        config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        model = sagemaker.describe_model(ModelName=served_variant(config)["ModelName"])
        tags = sagemaker.list_tags(ResourceArn=model["ModelArn"]).get("Tags") or []
    except ArtifactMissingError:
        raise
    except Exception as error:
        raise translate_client_error(error) from error
    return record(endpoint, config, model, tags)


def read(bucket: str, run_id: str) -> dict[str, Any] | None:
    """The run's champion record; None when the run has none (deploy off, or Champion not reached)."""
    try:
        found = s3io.get_json(s3_uri(bucket, champion_key(run_id)), what="champion record")
    except ArtifactMissingError:
        return None
    return found if isinstance(found, dict) else None


def champion(settings: Settings, bucket: str, run_id: str) -> dict[str, Any]:
    """Find the champion and write it to runs/<run>/champion.json (a retried call rewrites the same)."""
    found = find(settings)
    return {**found, "record_uri": s3io.put_json(s3_uri(bucket, champion_key(run_id)), found)}
