"""Service limits the local SageMaker runtime enforces on every request, as AWS does (DESIGN principle 11).

botocore's parameter validator checks types, required members and minimum lengths only. AWS also rejects
over-long or malformed names, too many or too long hyperparameters, unknown instance types, and Nova jobs or
endpoints outside what the Nova recipes and inference container support: pipeline_core/service_limits.py
has the table, and this module applies it to the requests, raising the modeled ValidationException.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from pipeline_core import service_limits as limits
from pipeline_core import stages as stage_table

# (code, message, operation) -> the modeled exception (forge.local.sagemaker._ApiModel.error)
ErrorFactory = Callable[[str, str, str], ClientError]


class RequestLimits:
    """The checks of one service model: ``enum`` gives a shape's values, ``error`` the modeled exception."""

    def __init__(self, enum: Callable[[str], list[str]], error: ErrorFactory):
        self._enum, self._error = enum, error

    def _raise(self, operation: str, check: Callable[[], None]) -> None:
        try:
            check()
        except limits.ServiceLimitError as problem:
            raise self._error("ValidationException", str(problem), operation) from None

    def _instance_type(self, instance_type: str, shape: str, field: str) -> None:
        # "local" is the SageMaker Python SDK's local-mode type; AWS would reject it, this runtime runs it.
        if instance_type != limits.LOCAL_INSTANCE_TYPE:
            limits.check_known_instance_type(instance_type, self._enum(shape), field)

    def create_training_job(self, params: Mapping[str, Any]) -> None:
        def check() -> None:
            limits.check_name("TrainingJobName", params["TrainingJobName"])
            limits.check_hyperparameters(params.get("HyperParameters") or {})
            resources = params.get("ResourceConfig") or {}
            instance_type, count = resources.get("InstanceType"), resources.get("InstanceCount", 1)
            if instance_type is None:
                return  # instance groups: not used by the pipeline, not checked here
            self._instance_type(instance_type, "TrainingInstanceType", "resourceConfig.instanceType")
            image = (params.get("AlgorithmSpecification") or {}).get("TrainingImage", "")
            kind = limits.nova_image_kind(image)
            if kind in stage_table.job_methods():
                limits.check_nova_job(kind, instance_type, count)

        self._raise("CreateTrainingJob", check)

    def create_model(self, params: Mapping[str, Any]) -> None:
        self._raise("CreateModel", lambda: limits.check_name("ModelName", params["ModelName"]))

    def create_endpoint_config(
        self, params: Mapping[str, Any], model_of: Callable[[str], Mapping[str, Any]]
    ) -> None:
        """``model_of(name)`` is the CreateModel request of a variant's model (it raises if there is none)."""

        def check() -> None:
            limits.check_name("EndpointConfigName", params["EndpointConfigName"])
            for index, variant in enumerate(params["ProductionVariants"], start=1):
                field = f"productionVariants.{index}.member.instanceType"
                instance_type = variant.get("InstanceType")
                if instance_type is None:
                    continue  # serverless variants carry no instance type
                self._instance_type(instance_type, "ProductionVariantInstanceType", field)
                container = model_of(variant["ModelName"]).get("PrimaryContainer") or {}
                if limits.nova_image_kind(container.get("Image", "")) == "inference":
                    context, concurrency = _nova_tier_environment(container.get("Environment") or {})
                    where = f"productionVariants.{index}"
                    limits.check_nova_endpoint(instance_type, context, concurrency, where)

        self._raise("CreateEndpointConfig", check)

    def create_endpoint(self, params: Mapping[str, Any]) -> None:
        def check() -> None:
            limits.check_name("EndpointName", params["EndpointName"])
            limits.check_name("EndpointConfigName", params["EndpointConfigName"])

        self._raise("CreateEndpoint", check)


def _nova_tier_environment(environment: Mapping[str, str]) -> tuple[int | None, int | None]:
    """CONTEXT_LENGTH / MAX_CONCURRENCY of the Nova inference container's environment (None if unset)."""
    values = []
    for name in ("CONTEXT_LENGTH", "MAX_CONCURRENCY"):
        raw = environment.get(name)
        if raw is not None and not str(raw).isdigit():
            raise limits.ServiceLimitError(f"primaryContainer.environment: {name}={raw!r} is not an integer")
        values.append(None if raw is None else int(raw))
    return values[0], values[1]
