"""Nova 2 Lite recipes for SageMaker training jobs: the recipe a job runs (base recipe + run fields +
validated overrides) and the image per method and region.

The base recipes and the override check live in pipeline_core/nova_recipe_base.py, which the settings also
run at synth, so a bad override fails before any job.
"""

from __future__ import annotations

import copy
from typing import Any

from forge_handlers.errors import ConfigError
from pipeline_core.nova_recipe_base import (
    BASE_RECIPES,
    OverrideError,
    check_overrides,
    flatten,
    override_keys,
)

__all__ = ["BASE_RECIPES", "allowed_override_keys", "flatten", "image_uri", "resolve_recipe"]

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

def allowed_override_keys(method: str) -> list[str]:
    return override_keys(_check_method(method))


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
    mlflow: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The recipe a Nova job runs: base recipe + run fields + validated overrides. ``mlflow``: the recipe's
    own ``run.mlflow_tracking_uri`` / ``mlflow_experiment_name`` / ``mlflow_run_name`` (a managed server)."""
    method = _check_method(method)
    try:
        check_overrides(method, overrides)
    except OverrideError as error:
        raise ConfigError(f"recipe override {error.field}: {error}") from None
    recipe = copy.deepcopy(BASE_RECIPES[method])
    recipe["run"].update(
        name=job_name, model_type=model_type, model_name_or_path=model_name_or_path, replicas=replicas
    )
    recipe["run"].update(mlflow or {})
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
