"""Register the gate's candidate as a model package version in this pipeline's group (every evaluated
candidate, passed or not), and read back what an approved package serves.

A step of its own after Gate (not inside the gate handler): the gate stays a pure decision over S3 reads,
the registry calls get their own role, and a registry failure retries without re-deciding the gate.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from forge_handlers import artifacts
from forge_handlers.aws import clients, s3io
from forge_handlers.config import Environment
from forge_handlers.errors import ArtifactMissingError, ConfigError, translate_client_error
from forge_handlers.naming import s3_uri
from pipeline_core import registry
from pipeline_core import stages as stage_table
from pipeline_core.settings import Settings

# Set by the stack on the register function: a digest of the Lambda bundle (handlers, job code, settings).
CODE_VERSION_ENV = "FORGE_CODE_VERSION"
_METADATA_PUNCTUATION = set("_.:/=+-@ ")


def metadata_value(value: Any) -> str:
    """A CustomerMetadataProperties value the API accepts: letters, digits, spaces and ``_.:/=+-@`` only
    (its pattern; botocore checks only the length), at most 256 characters."""
    text = "".join(c if c.isalnum() or c in _METADATA_PUNCTUATION else " " for c in str(value))
    text = " ".join(text.split()) or "none"
    limit = registry.METADATA_VALUE_MAX
    return text if len(text) <= limit else text[: limit - 3] + "..."


def client_token(prefix: str, run_id: str) -> str:
    """CreateModelPackage's idempotency token (<= 36 of [a-zA-Z0-9-]): a retried call finds its package."""
    return hashlib.sha256(f"{prefix}/{run_id}".encode()).hexdigest()[:36]


def candidate_weights(settings: Settings, bucket: str, run_id: str, stage: str) -> str | None:
    """The weights the candidate eval measured; None when it measured the base model (nothing trained)."""
    if stage_table.stage(stage).evaluates is None:
        return None
    return artifacts.read_record(bucket, run_id, stage).model_uri


def package_request(settings: Settings, env: Environment, state: dict[str, Any], weights: str,
                    metrics_uri: str, code_version: str) -> dict[str, Any]:
    from forge_handlers import deploy

    run_id = state["run"]["run_id"]
    decision = state["gate"]
    # The container Deploy would create a model with for these weights (image, data, environment).
    container = dict(deploy.model_request(settings, env, run_id, weights)["PrimaryContainer"])
    status = registry.approval_status(bool(decision["passed"]), settings.gate.require_approval)
    datasets = sorted(state["run"]["datasets"].items())
    dataset = state.get("dataset") or ", ".join(f"{kind}={uri}" for kind, uri in datasets)
    metadata = {
        registry.RUN_ID: run_id,
        registry.DATASET: dataset,
        registry.CODE_VERSION: code_version,
        registry.GATE_PASSED: "true" if decision["passed"] else "false",
        registry.GATE_REASON: decision.get("reason") or "none",
        registry.APPROVAL: "manual" if settings.gate.require_approval else "auto",
    }
    return {
        "ModelPackageGroupName": registry.group_name(settings.resource_prefix),
        "ModelPackageDescription": metadata_value(
            f"run {run_id}: {decision['metric']} {decision['candidate']:.4f} {decision['candidate_stage']}"),
        "InferenceSpecification": {
            "Containers": [container],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
            "SupportedRealtimeInferenceInstanceTypes": [settings.deploy.instance_type],
        },
        # The candidate's results.json: every metric, per class, with the label counts the gate used.
        "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                         "S3Uri": metrics_uri}}},
        "CustomerMetadataProperties": {key: metadata_value(value) for key, value in metadata.items()},
        "ModelApprovalStatus": status,
        "ClientToken": client_token(settings.resource_prefix, run_id),
    }


def _existing(uri: str, run_id: str) -> dict[str, Any] | None:
    try:
        saved = s3io.get_json(uri, what="registry record")
    except ArtifactMissingError:
        return None
    record = saved.get("registry") if isinstance(saved, dict) else None
    if isinstance(record, dict) and record.get("model_package_arn") and saved["run"].get("run_id") == run_id:
        return record
    return None


def register(settings: Settings, env: Environment, state: dict[str, Any]) -> dict[str, Any]:
    run_id = state["run"]["run_id"]
    decision = state["gate"]
    stage = decision["candidate_stage"]
    uri = s3_uri(env.artifacts_bucket, registry.registry_key(run_id))
    found = _existing(uri, run_id)
    if found is not None:  # a retried Register: the package of this run exists
        return found
    weights = candidate_weights(settings, env.artifacts_bucket, run_id, stage)
    if weights is None:
        return {"registered": False, "approval_status": None,
                "reason": f"{stage} evaluated the base model: nothing trained, nothing to register"}
    metrics_uri = artifacts.read_record(env.artifacts_bucket, run_id, stage).metrics_uri
    if not metrics_uri:
        raise ArtifactMissingError(f"artifact record of {stage} has no metrics_uri: no ModelMetrics to "
                                   "register")
    code_version = os.environ.get(CODE_VERSION_ENV) or "unknown"
    request = package_request(settings, env, state, weights, metrics_uri, code_version)
    try:
        arn = clients.sagemaker().create_model_package(**request)["ModelPackageArn"]
    except Exception as error:
        raise translate_client_error(error) from error
    record = {
        "registered": True,
        "model_package_arn": arn,
        "model_package_group": request["ModelPackageGroupName"],
        "version": int(arn.rsplit("/", 1)[1]) if arn.rsplit("/", 1)[1].isdigit() else None,
        "approval_status": request["ModelApprovalStatus"],
        "model_data_uri": weights,
        "image": request["InferenceSpecification"]["Containers"][0]["Image"],
        "metrics_uri": metrics_uri,
        "code_version": code_version,
        "registry_uri": uri,
    }
    # What an approval resumes from (forge_handlers/approval.py): the run as far as the gate.
    saved = {key: state.get(key) for key in ("run", "jobs", "gate", "dataset")}
    s3io.put_json(uri, {**saved, "registry": record})
    return record


def describe(arn: str) -> dict[str, Any]:
    try:
        return clients.sagemaker().describe_model_package(ModelPackageName=arn)
    except Exception as error:
        raise translate_client_error(error) from error


def approved_package(settings: Settings, arn: str) -> dict[str, Any]:
    """The description of ``arn``, which must be an Approved package of this pipeline's group."""
    described = describe(arn)
    group = registry.group_name(settings.resource_prefix)
    if described.get("ModelPackageGroupName") != group:
        raise ConfigError(f"model package {arn} is not in this pipeline's group {group}")
    status = described.get("ModelApprovalStatus")
    if status != registry.APPROVED:
        raise ConfigError(f"model package {arn} is {status}, not {registry.APPROVED}: Deploy serves "
                          "Approved packages only")
    return described


def served_weights(settings: Settings, arn: str) -> str:
    """What Deploy serves: the model data of an Approved package of this pipeline's group."""
    described = approved_package(settings, arn)
    containers = (described.get("InferenceSpecification") or {}).get("Containers") or [{}]
    source = containers[0].get("ModelDataUrl") or (
        (containers[0].get("ModelDataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
    if not source:
        raise ConfigError(f"model package {arn} has no model data (InferenceSpecification.Containers[0])")
    return source
