"""CreateTrainingJob requests as plain dicts, for every job stage x model family.

Pure functions: no AWS calls. The launch logic resolves the input model and uploads what ``BuiltJob.uploads``
lists (the resolved Nova recipe), then sends ``BuiltJob.request``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from forge_handlers import nova_recipes
from forge_handlers.config import Environment
from forge_handlers.errors import ConfigError
from forge_handlers.naming import s3_uri
from pipeline_core import service_limits, tracking
from pipeline_core import stages as stage_table
from pipeline_core.hyperparameters import stage_hyperparameters
from pipeline_core.layout import CODE_S3_PREFIX, checkpoint_prefix, job_output_prefix, recipe_key
from pipeline_core.settings import JobStageSettings, Settings

# AWS Deep Learning Containers account per region (the DLC "available images" list); most use 763104351884.
DLC_ACCOUNTS = {
    "af-south-1": "626614931356",
    "ap-east-1": "871362719292",
    "eu-south-1": "692866216735",
    "il-central-1": "780543022126",
    "me-south-1": "217643126080",
    "ca-west-1": "204538143572",
}
DLC_DEFAULT_ACCOUNT = "763104351884"
PYTORCH_TRAINING_TAG = "pytorch-training:2.8.0-gpu-py312-cu129-ubuntu22.04-sagemaker"
# Training-toolkit convention: the job code arrives as the `code` channel; the toolkit runs
# `python <sagemaker_program>` in it. The prefix holds the entry shims at its top level beside the
# job_code package (stacks.bundle.CODE_CHANNEL_LAYOUT), so `from job_code.sft import main` resolves.
CODE_CHANNEL = "code"
CODE_DIR = "/opt/ml/input/data/code"
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
# SageMaker runs these over every log line. transformers 5 logs `{'loss': '4.565', 'grad_norm': ...}` with
# quoted values (transformers 4 left them bare), so the quote is optional; the group is the number.
METRIC_DEFINITIONS = [
    {"Name": "train:loss", "Regex": r"'loss': '?([0-9.eE+-]+)'?"},
    {"Name": "train:reward", "Regex": r"'reward': '?([0-9.eE+-]+)'?"},
]


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """The weights a stage starts from: the base model, or the artifact of an earlier stage."""

    uri: str  # nova: recipe model name or s3:// checkpoint; hf: hub id / dir, or s3:// model.tar.gz
    from_stage: str | None = None  # None = the base model

    @property
    def is_base(self) -> bool:
        return self.from_stage is None


@dataclasses.dataclass(frozen=True)
class BuiltJob:
    request: dict[str, Any]
    uploads: dict[str, bytes]  # s3:// URI -> body the launch logic writes before creating the job


def hf_training_image(region: str, overrides: dict[str, str]) -> str:
    if region in overrides:
        return overrides[region]
    account = DLC_ACCOUNTS.get(region, DLC_DEFAULT_ACCOUNT)
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{suffix}/{PYTORCH_TRAINING_TAG}"


def _channel(name: str, uri: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "InputMode": "File",
    }


def _dataset_uri(run: dict[str, Any], dataset: str) -> str:
    uri = (run.get("datasets") or {}).get(dataset)
    if not uri:
        raise ConfigError(f"run has no '{dataset}' dataset (run.datasets = {run.get('datasets')})")
    # Channels are prefixes: the directory holding the dataset file.
    return uri.rsplit("/", 1)[0] + "/"


def _common(
    settings: Settings, env: Environment, run: dict[str, Any], stage: str, job: str, cfg: JobStageSettings
) -> dict[str, Any]:
    output = s3_uri(env.artifacts_bucket, job_output_prefix(run["run_id"], stage))
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": cfg.max_runtime_seconds}
    request: dict[str, Any] = {
        "TrainingJobName": job,
        "RoleArn": env.sagemaker_role_arn,
        "OutputDataConfig": {"S3OutputPath": output},
        "ResourceConfig": {
            "InstanceType": cfg.instance_type,
            "InstanceCount": cfg.instance_count,
            "VolumeSizeInGB": cfg.volume_size_gb,
        },
        "StoppingCondition": stopping,
        "Tags": [
            {"Key": "forge:pipeline", "Value": settings.resource_prefix},
            {"Key": "forge:run-id", "Value": run["run_id"]},
            {"Key": "forge:stage", "Value": stage},
            *({"Key": k, "Value": v} for k, v in sorted(settings.tags.items())),
        ],
    }
    if env.kms_key_arn:
        request["OutputDataConfig"]["KmsKeyId"] = env.kms_key_arn
    if cfg.use_spot:
        request["EnableManagedSpotTraining"] = True
        stopping["MaxWaitTimeInSeconds"] = cfg.max_wait_seconds or cfg.max_runtime_seconds
    if cfg.instance_count > 1:
        # Multi-node jobs exchange gradients between instances; keep that traffic encrypted.
        request["EnableInterContainerTrafficEncryption"] = True
    return request


def build_hf(
    settings: Settings, env: Environment, run: dict[str, Any], stage: str, job: str, source: ModelSource
) -> BuiltJob:
    cfg = settings.stages.for_stage(stage)
    request = _common(settings, env, run, stage, job, cfg)
    # The pipeline's hyperparameters and the config's own (they win), as the settings checked them at synth.
    hyper = stage_hyperparameters(settings, stage)
    spec = stage_table.stage(stage)
    hyper.update(sagemaker_program=spec.entry_point, sagemaker_submit_directory=CODE_DIR)
    hyper["sagemaker_region"] = env.region
    if cfg.instance_count > 1:
        # PyTorch training toolkit: launch the entry point with torchrun across every instance and GPU.
        hyper["sagemaker_torch_distributed_enabled"] = "true"
    channels = [
        _channel(CODE_CHANNEL, s3_uri(env.artifacts_bucket, CODE_S3_PREFIX)),
        _channel(spec.channel, _dataset_uri(run, spec.dataset)),
    ]
    if source.is_base:
        hyper["base_model"] = source.uri
    else:
        channels.append(_channel("model", source.uri))
    request.update(
        AlgorithmSpecification={
            "TrainingImage": hf_training_image(env.region, settings.images.training),
            "TrainingInputMode": "File",
            "MetricDefinitions": METRIC_DEFINITIONS,
        },
        HyperParameters=hyper,
        InputDataConfig=channels,
    )
    # MLflow: the job finds the run's parent run and logs its stage under it (job_code/tracking.py).
    environment = tracking.job_environment(
        settings.tracking, experiment=settings.experiment_name, run_id=run["run_id"], stage=stage
    )
    if environment:
        request["Environment"] = environment
    if not spec.is_eval:
        request["CheckpointConfig"] = {
            "S3Uri": s3_uri(env.artifacts_bucket, checkpoint_prefix(run["run_id"], stage)),
            "LocalPath": CHECKPOINT_LOCAL_PATH,
        }
    return BuiltJob(request=request, uploads={})


def nova_recipe_uri(env: Environment, run: dict[str, Any], stage: str, job: str) -> str:
    key = recipe_key(run["run_id"], stage, job)
    return s3_uri(env.artifacts_bucket, key)


REWARD_METHOD = "RFT_LORA"  # the Nova recipe method whose jobs call the reward Lambda


def calls_reward_lambda(settings: Settings, stage: str) -> bool:
    """Whether ``stage``'s job calls the reward Lambda (Preflight checks that function for these)."""
    return settings.model.family == "nova" and settings.stages.for_stage(stage).method == REWARD_METHOD


def build_nova(
    settings: Settings, env: Environment, run: dict[str, Any], stage: str, job: str, source: ModelSource
) -> BuiltJob:
    cfg = settings.stages.for_stage(stage)
    spec = stage_table.stage(stage)
    method = cfg.method or (spec.default_method if spec.is_eval else None)
    if (not spec.is_eval and method == "EVAL_GEN_QA") or (spec.is_eval and method != "EVAL_GEN_QA"):
        raise ConfigError(f"stages.{stage}: method {method!r} does not fit a {stage} stage")
    reward_arn = env.reward_lambda_arn if method == REWARD_METHOD else ""
    recipe = nova_recipes.resolve_recipe(
        method,
        job_name=job,
        model_type=settings.model.model_type or "",
        model_name_or_path=source.uri,
        replicas=cfg.instance_count,
        overrides=dict(cfg.recipe_overrides),
        reward_lambda_arn=reward_arn,
        mlflow=tracking.nova_recipe_fields(
            settings.tracking, experiment=settings.experiment_name, run_id=run["run_id"], stage=stage
        ),
    )
    request = _common(settings, env, run, stage, job, cfg)
    # What the SageMaker Python SDK sends for a Nova recipe (checked by the SDK oracle test).
    model_key = "base_model_location" if source.uri.startswith("s3://") else "base_model"
    hyper = {model_key: source.uri, "sagemaker_recipe_local_path": nova_recipes.RECIPE_LOCAL_PATH}
    if reward_arn:
        hyper["reward_lambda_arn"] = reward_arn
    recipe_uri = nova_recipe_uri(env, run, stage, job)
    request.update(
        AlgorithmSpecification={
            "TrainingImage": nova_recipes.image_uri(method, env.region, settings.images.training),
            "TrainingInputMode": "File",
        },
        HyperParameters=hyper,
        InputDataConfig=[
            _channel(nova_recipes.RECIPE_CHANNEL, recipe_uri.rsplit("/", 1)[0] + "/"),
            _channel("train", _dataset_uri(run, spec.dataset)),
        ],
    )
    # JSON is valid YAML, and the Lambda runtime has no PyYAML: the recipe file is written as JSON.
    body = json.dumps(recipe, indent=2).encode()
    return BuiltJob(request=request, uploads={recipe_uri: body})


def build_training_job(
    settings: Settings, env: Environment, run: dict[str, Any], stage: str, job: str, source: ModelSource
) -> BuiltJob:
    """The CreateTrainingJob request for ``stage`` of this run, by model family."""
    builder = build_nova if settings.model.family == "nova" else build_hf
    built = builder(settings, env, run, stage, job, source)
    # What botocore's validator does not check and CreateTrainingJob would reject
    # (pipeline_core.service_limits).
    try:
        service_limits.check_name("TrainingJobName", built.request["TrainingJobName"])
        service_limits.check_hyperparameters(built.request["HyperParameters"])
    except service_limits.ServiceLimitError as error:
        raise ConfigError(f"stages.{stage}: {error}") from None
    return built


def describe_request(built: BuiltJob) -> str:
    """A short, loggable summary (no full recipe)."""
    request = built.request
    return json.dumps(
        {
            "job": request["TrainingJobName"],
            "image": request["AlgorithmSpecification"]["TrainingImage"],
            "instances": request["ResourceConfig"],
            "channels": [c["ChannelName"] for c in request["InputDataConfig"]],
        }
    )
