"""Service limits in one table: what SageMaker and the Nova recipes accept, checked before anything is spent.

Pure (standard library only): it ships in the Lambda bundle beside pipeline_core/settings.py. The
settings check it at synth and whenever a handler loads settings.json; the request builders check what they
build; the local SageMaker runtime (forge/local/sagemaker.py) checks every request against it again (DESIGN
principle 11).

Sources, checked 2026-12:
- [SDK-INST] Nova Forge SDK (aws/nova-forge-sdk, package amzn-nova-forge),
  docs/user-guides/instance_type_spec.md, "SMTJRuntimeManager (SageMaker Training Jobs)": the Lite 2.0 rows
  of SFT (LoRA, Full-Rank), Evaluation and SageMaker Inference.
- [SDK-RFT] the same SDK's RFT validator for SageMaker training jobs (validation/rft_validator.py, Nova
  Lite 2 RFT_LORA: ml.p5.48xlarge / ml.p5en.48xlarge, 4 instances); the RFT recipe
  nova_lite_v2_smtj_p5_p5en_gpu_lora_rft (sagemaker-hyperpod-recipes) sets `replicas: 4`.
- [SDK-SMI] the same SDK's core/constants.py SUPPORTED_SMI_CONFIGS (its source: Amazon Nova 2 user guide,
  "Supported models and instances" of nova-model-sagemaker-inference), applied as the SDK's
  _validate_sagemaker_instance_type_for_model_deployment does: a CONTEXT_LENGTH / MAX_CONCURRENCY pair is
  valid when some tier has context >= CONTEXT_LENGTH and concurrency >= MAX_CONCURRENCY.
- [API] botocore 1.44.8 sagemaker 2017-07-24 service-2.json (the SageMaker API Reference's constraints):
  HyperParameters map max 100 entries, HyperParameterKey max 256, HyperParameterValue max 2500 characters;
  TrainingJobName / EndpointConfigName / EndpointName max 63, `[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`;
  ModelName max 63, `[a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?`. botocore's own validator checks neither a
  maximum length nor a pattern, so nothing but this module catches them before AWS does.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping

from pipeline_core import stages as stage_table

# The SageMaker Python SDK's local-mode instance type, which local mode also accepts; AWS rejects it.
LOCAL_INSTANCE_TYPE = "local"


class ServiceLimitError(ValueError):
    """A value AWS would reject; the message names the value and what is allowed."""


@dataclasses.dataclass(frozen=True)
class JobRule:
    """Instance types (the default first) and counts a Nova recipe runs on; counts None = not documented."""

    instance_types: tuple[str, ...]
    instance_counts: tuple[int, ...] | None


@dataclasses.dataclass(frozen=True)
class Tier:
    """One supported (CONTEXT_LENGTH, MAX_CONCURRENCY) configuration of the Nova inference container."""

    context_length: int
    max_concurrency: int

    def __str__(self) -> str:
        return f"{self.context_length}/{self.max_concurrency}"


@dataclasses.dataclass(frozen=True)
class NovaModelLimits:
    display_name: str
    jobs: Mapping[str, JobRule]  # recipe method -> rule
    endpoint: Mapping[str, tuple[Tier, ...]]  # instance type (the default first) -> tiers, by context length


_P5, _P5EN, _P4D, _G6_48 = "ml.p5.48xlarge", "ml.p5en.48xlarge", "ml.p4d.24xlarge", "ml.g6.48xlarge"
_SFT = JobRule((_P5, _P5EN), (4, 8, 16))  # [SDK-INST] SFT: Lite 2.0 LoRA, Full-Rank
# Keyed by the recipe's model_type (settings.model.model_type).
NOVA_MODELS: dict[str, NovaModelLimits] = {
    "amazon.nova-2-lite-v1:0:256k": NovaModelLimits(
        display_name="Nova Lite 2",
        jobs={
            "SFT_LORA": _SFT,
            "SFT_FULL": _SFT,
            "RFT_LORA": JobRule((_P5, _P5EN), (4,)),  # [SDK-RFT]
            # [SDK-INST] Evaluation: Lite 2.0, "All allow 1, 2, 4, 8, or 16 instances"; the recipe is p5_48xl.
            "EVAL_GEN_QA": JobRule((_P5, _P4D), (1, 2, 4, 8, 16)),
        },
        endpoint={  # [SDK-INST] SageMaker Inference, Lite 2.0; tiers [SDK-SMI]
            _G6_48: (Tier(8_000, 8),),
            _P5: (Tier(16_000, 128), Tier(64_000, 32), Tier(128_000, 8), Tier(256_000, 2)),
        },
    ),
}

# SageMaker request limits [API].
MAX_HYPERPARAMETERS = 100
MAX_HYPERPARAMETER_KEY_CHARS = 256
MAX_HYPERPARAMETER_VALUE_CHARS = 2_500
MAX_NAME_CHARS = 63
NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
MODEL_NAME_PATTERN = r"^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?"
# Request member -> the pattern its name must match in full.
NAME_PATTERNS = {
    "TrainingJobName": NAME_PATTERN,
    "EndpointConfigName": NAME_PATTERN,
    "EndpointName": NAME_PATTERN,
    "ModelName": MODEL_NAME_PATTERN,
}
# Hyperparameters the request builders add beyond a stage's own (forge_handlers.training_requests); settings
# count them against the 100 at synth, and a test keeps this list in step with the builders.
PIPELINE_HYPERPARAMETER_KEYS = {
    "hf": (
        "labels", "max_query_tokens", "stage", "reward_weights", "base_model", "sagemaker_program",
        "sagemaker_submit_directory", "sagemaker_region", "sagemaker_torch_distributed_enabled",
    ),
    "nova": ("base_model", "base_model_location", "sagemaker_recipe_local_path", "reward_lambda_arn"),
}


def _listed(values: Collection[object]) -> str:
    return ", ".join(str(value) for value in values)


def nova_model(model_type: str | None, field: str = "model.model_type") -> NovaModelLimits:
    if model_type not in NOVA_MODELS:
        raise ServiceLimitError(
            f"{field}: no service limits are known for Nova model_type {model_type!r}; "
            f"known: {_listed(NOVA_MODELS)}"
        )
    return NOVA_MODELS[model_type]


def job_rule(model_type: str | None, method: str, field: str = "method") -> JobRule:
    limits = nova_model(model_type)
    if method not in limits.jobs:
        raise ServiceLimitError(
            f"{field}: {limits.display_name} has no {method!r} recipe on SageMaker training jobs; "
            f"known: {_listed(limits.jobs)}"
        )
    return limits.jobs[method]


def check_job_instance(
    family: str, model_type: str | None, method: str | None, instance_type: str, count: int,
    field: str = "instance_type",
) -> None:
    """Nova: the instance type and count must be ones the model's recipe for ``method`` runs on.

    hf runs our own code, on any SageMaker training instance type (see check_known_instance_type).
    """
    if family != "nova":
        return
    rule = job_rule(model_type, method or "", field)
    name = NOVA_MODELS[model_type or ""].display_name
    if instance_type not in rule.instance_types:
        raise ServiceLimitError(
            f"{field}: {instance_type} is not supported for {name} {method} training jobs; "
            f"supported: {_listed(rule.instance_types)}"
        )
    if rule.instance_counts is not None and count not in rule.instance_counts:
        raise ServiceLimitError(
            f"{field}: instance count {count} is not supported for {name} {method} on {instance_type}; "
            f"supported: {_listed(rule.instance_counts)}"
        )


def endpoint_tier(
    model_type: str | None, instance_type: str, context_length: int | None = None,
    max_concurrency: int | None = None, field: str = "deploy",
) -> Tier:
    """The Nova endpoint configuration to run: the given values, validated; a missing one comes from the
    first tier (by context length) that admits the given one; none given = the first tier."""
    limits = nova_model(model_type)
    if instance_type not in limits.endpoint:
        raise ServiceLimitError(
            f"{field}.instance_type: {instance_type} is not supported for {limits.display_name} on SageMaker "
            f"inference; supported: {_listed(limits.endpoint)}"
        )
    tiers = limits.endpoint[instance_type]
    for tier in tiers:
        if (context_length is None or context_length <= tier.context_length) and (
            max_concurrency is None or max_concurrency <= tier.max_concurrency
        ):
            return Tier(
                tier.context_length if context_length is None else context_length,
                tier.max_concurrency if max_concurrency is None else max_concurrency,
            )
    raise ServiceLimitError(
        f"{field}: CONTEXT_LENGTH={context_length} and MAX_CONCURRENCY={max_concurrency} fit no supported "
        f"configuration of {limits.display_name} on {instance_type}; tiers (max context length/max "
        f"concurrency): {_listed(tiers)}"
    )


def check_known_instance_type(
    instance_type: str, known: Collection[str], field: str = "instanceType"
) -> None:
    """``instance_type`` must be in ``known`` (the caller passes botocore's enum: this module stays pure)."""
    if instance_type not in known:
        raise ServiceLimitError(
            f"Value '{instance_type}' at '{field}' failed to satisfy constraint: Member must satisfy enum "
            f"value set: [{_listed(sorted(known))}]"
        )


def check_name(member: str, name: str, field: str | None = None) -> None:
    """A SageMaker resource name (``member`` is the request member: TrainingJobName, ModelName…)."""
    field = field or member[0].lower() + member[1:]
    if len(name) > MAX_NAME_CHARS:
        raise ServiceLimitError(
            f"Value '{name}' at '{field}' failed to satisfy constraint: Member must have length less than "
            f"or equal to {MAX_NAME_CHARS}"
        )
    pattern = NAME_PATTERNS[member]
    if not re.fullmatch(pattern.lstrip("^"), name):
        raise ServiceLimitError(
            f"Value '{name}' at '{field}' failed to satisfy constraint: Member must satisfy regular "
            f"expression pattern: {pattern}"
        )


def check_hyperparameters(hyperparameters: Mapping[str, object], field: str = "hyperParameters") -> None:
    """At most 100 entries, keys of at most 256 and values of at most 2,500 characters (as strings)."""
    if len(hyperparameters) > MAX_HYPERPARAMETERS:
        raise ServiceLimitError(
            f"Value of {len(hyperparameters)} entries at '{field}' failed to satisfy constraint: Member must "
            f"have length less than or equal to {MAX_HYPERPARAMETERS}"
        )
    for key, value in hyperparameters.items():
        if len(key) > MAX_HYPERPARAMETER_KEY_CHARS:
            raise ServiceLimitError(
                f"Key '{key[:40]}…' ({len(key)} characters) at '{field}' failed to satisfy constraint: "
                f"Map key must have length less than or equal to {MAX_HYPERPARAMETER_KEY_CHARS}"
            )
        text = value if isinstance(value, str) else str(value)
        if len(text) > MAX_HYPERPARAMETER_VALUE_CHARS:
            raise ServiceLimitError(
                f"Value of {len(text)} characters for key '{key}' at '{field}' failed to satisfy constraint: "
                f"Map value must have length less than or equal to {MAX_HYPERPARAMETER_VALUE_CHARS}"
            )


def nova_image_kind(image: str) -> str | None:
    """The kind of Nova container an image is ('sft', 'rft', 'eval', 'inference'), from its repository and
    tag (nova_recipes.NOVA_IMAGE_REPOSITORY_TAGS, deploy.NOVA_INFERENCE_TAG); None if not a Nova image."""
    repository_tag = image.rsplit("/", 1)[-1].lower()
    if "nova" not in repository_tag:
        return None
    # The job types of the stage table name the Nova training images ("...:SM-TJ-SFT-V2-latest").
    for kind in ("inference", *stage_table.job_methods()):
        if kind in repository_tag:
            return kind
    return None


def check_nova_job(kind: str, instance_type: str, count: int, field: str = "resourceConfig") -> None:
    """A job in a Nova image of ``kind`` must fit some Nova model's recipe of that kind (the request does not
    name the model; the table has one Nova model today, so this is exact)."""
    rules = [
        (limits.display_name, limits.jobs[method])
        for limits in NOVA_MODELS.values()
        for method in stage_table.job_methods()[kind]
        if method in limits.jobs
    ]
    fitting = [rule for _, rule in rules if instance_type in rule.instance_types]
    if any(rule.instance_counts is None or count in rule.instance_counts for rule in fitting):
        return
    models = _listed(dict.fromkeys(name for name, _ in rules))
    if not fitting:
        types = dict.fromkeys(t for _, rule in rules for t in rule.instance_types)
        raise ServiceLimitError(
            f"{field}.instanceType: {instance_type} is not supported for {models} {kind} training jobs; "
            f"supported: {_listed(types)}"
        )
    counts = sorted({c for rule in fitting for c in rule.instance_counts or ()})
    raise ServiceLimitError(
        f"{field}.instanceCount: {count} is not supported for {models} {kind} training jobs on "
        f"{instance_type}; supported: {_listed(counts)}"
    )


def check_nova_endpoint(
    instance_type: str, context_length: int | None, max_concurrency: int | None,
    field: str = "productionVariants",
) -> None:
    """An endpoint of the Nova inference image must fit some Nova model's tiers (see check_nova_job)."""
    errors = []
    for model_type in NOVA_MODELS:
        try:
            endpoint_tier(model_type, instance_type, context_length, max_concurrency, field)
            return
        except ServiceLimitError as error:
            errors.append(str(error))
    raise ServiceLimitError("; ".join(errors))
