"""Nova 2 Lite recipes for SageMaker training jobs, as data: base recipe per method, image per method and
region, and validated overrides.

The base recipes mirror the fields of the public SageMaker HyperPod recipes for Nova 2.0 Lite
(fine-tuning/nova/nova_2_0/nova_lite/{SFT,RFT}, evaluation/.../bring_your_own_dataset_eval). Nova SFT counts
steps (``training_config.max_steps``), never epochs; its learning rate lives at
``training_config.optim_config.lr`` (``training_config.trainer.optim_config.lr`` for RFT).
"""

from __future__ import annotations

import copy
from typing import Any

from forge_handlers.errors import ConfigError

NOVA_IMAGE_ACCOUNT = "708977205387"
# Image tags of the Nova 2.0 training-job containers per method (AWS docs, Nova 2.0 on training jobs).
NOVA_IMAGE_REPOSITORY_TAGS = {
    "SFT_LORA": "nova-fine-tune-repo:SM-TJ-SFT-V2-latest",
    "SFT_FULL": "nova-fine-tune-repo:SM-TJ-SFT-V2-latest",
    "RFT_LORA": "nova-fine-tune-repo:SM-TJ-RFT-V2-latest",
    "EVAL_GEN_QA": "nova-evaluation-repo:SM-TJ-Eval-V2-latest",
}
# Regions where Nova 2 customization on training jobs is documented; others need settings.images.training.
NOVA_REGIONS = ("us-east-1",)
# Where the Nova containers (and the SageMaker Python SDK) expect the recipe: the `recipe` input channel.
RECIPE_CHANNEL = "recipe"
RECIPE_LOCAL_PATH = "/opt/ml/input/data/recipe/recipe.yaml"

_RUN = {
    "name": "",
    "model_type": "",
    "model_name_or_path": "",
    "replicas": 1,
    "data_s3_path": "",
    "output_s3_path": "",
}
_OPTIM = {"lr": 1.0e-5, "weight_decay": 0.0, "adam_beta1": 0.9, "adam_beta2": 0.95}
_SFT_TRAINING = {
    "max_steps": 100,
    "save_steps": 100,
    "max_length": 32768,
    "global_batch_size": 32,
    "reasoning_enabled": False,
    "lr_scheduler": {"warmup_steps": 15, "min_lr": 1.0e-6},
    "optim_config": _OPTIM,
}
BASE_RECIPES: dict[str, dict[str, Any]] = {
    "SFT_LORA": {
        "run": _RUN,
        "training_config": {
            **_SFT_TRAINING,
            "peft": {"peft_scheme": "lora", "lora_tuning": {"alpha": 64, "lora_plus_lr_ratio": 64.0}},
        },
    },
    "SFT_FULL": {"run": _RUN, "training_config": {**_SFT_TRAINING, "peft": {"peft_scheme": "null"}}},
    "RFT_LORA": {
        "run": {**_RUN, "replicas": 4, "reward_lambda_arn": ""},
        "training_config": {
            "max_length": 8192,
            "global_batch_size": 64,
            "reasoning_effort": "high",
            "rollout": {
                "advantage_strategy": {"number_generation": 2},
                "generator": {"max_new_tokens": 6000, "set_random_seed": True, "temperature": 1, "top_k": 1},
                "rewards": {"api_endpoint": {"lambda_arn": "", "lambda_concurrency_limit": 12}},
            },
            "trainer": {
                "max_steps": 5,
                "save_steps": 5,
                "kl_loss_coef": 0.001,
                "ent_coeff": 0.0,
                "optim_config": {**_OPTIM, "lr": 1.0e-4},
                "peft": {"peft_scheme": "lora", "lora_tuning": {"alpha": 32, "lora_plus_lr_ratio": 64.0}},
            },
        },
    },
    "EVAL_GEN_QA": {
        "run": _RUN,
        "evaluation": {"task": "gen_qa", "strategy": "gen_qa", "metric": "all"},
        "inference": {"max_new_tokens": 256, "top_k": -1, "top_p": 1.0, "temperature": 0},
    },
}
# Keys the pipeline owns: a user override would break the stage hand-off or the reward wiring.
_MANAGED = (
    "run.",
    "training_config.rollout.rewards.api_endpoint.lambda_arn",
    "evaluation.task",
    "evaluation.strategy",
)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def allowed_override_keys(method: str) -> list[str]:
    base = BASE_RECIPES[_check_method(method)]
    return sorted(k for k in flatten(base) if not k.startswith(_MANAGED) and k not in _MANAGED)


def _check_method(method: str | None) -> str:
    if method not in BASE_RECIPES:
        raise ConfigError(f"nova stage method {method!r} is not one of {sorted(BASE_RECIPES)}")
    return method


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        tree = tree[part]
    tree[leaf] = value


def resolve_recipe(
    method: str,
    *,
    job_name: str,
    model_type: str,
    model_name_or_path: str,
    replicas: int,
    overrides: dict[str, Any],
    reward_lambda_arn: str = "",
) -> dict[str, Any]:
    """The recipe a Nova job runs: base recipe + run fields + validated overrides."""
    method = _check_method(method)
    allowed = allowed_override_keys(method)
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise ConfigError(
            f"unknown recipe override key(s) {unknown} for {method}; allowed keys: {', '.join(allowed)}"
        )
    recipe = copy.deepcopy(BASE_RECIPES[method])
    recipe["run"].update(
        name=job_name, model_type=model_type, model_name_or_path=model_name_or_path, replicas=replicas
    )
    for key, value in overrides.items():
        _set(recipe, key, value)
    if method == "RFT_LORA":
        if not reward_lambda_arn:
            raise ConfigError("RFT_LORA needs the reward Lambda ARN (REWARD_LAMBDA_ARN is empty)")
        recipe["run"]["reward_lambda_arn"] = reward_lambda_arn
        recipe["training_config"]["rollout"]["rewards"]["api_endpoint"]["lambda_arn"] = reward_lambda_arn
        trainer = recipe["training_config"]["trainer"]
        if "training_config.trainer.save_steps" not in overrides:
            trainer["save_steps"] = trainer["max_steps"]
    elif method in ("SFT_LORA", "SFT_FULL") and "training_config.save_steps" not in overrides:
        recipe["training_config"]["save_steps"] = recipe["training_config"]["max_steps"]
    return recipe


def image_uri(method: str, region: str, overrides: dict[str, str]) -> str:
    """The image: images.training["<METHOD>:<region>"] or ["<region>"], else the documented one."""
    method = _check_method(method)
    for key in (f"{method}:{region}", region):
        if key in overrides:
            return overrides[key]
    if region not in NOVA_REGIONS:
        raise ConfigError(
            f"no documented Nova training image for region {region!r} (known: {', '.join(NOVA_REGIONS)}); "
            f"set images.training['{method}:{region}'] in the config"
        )
    return f"{NOVA_IMAGE_ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{NOVA_IMAGE_REPOSITORY_TAGS[method]}"
