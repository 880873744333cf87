"""The base recipes of Nova 2 Lite on SageMaker training jobs, as data, and the typed check of a config's
recipe overrides.

The base recipes mirror the fields of the public SageMaker HyperPod recipes for Nova 2.0 Lite
(fine-tuning/nova/nova_2_0/nova_lite/{SFT,RFT}, evaluation/.../bring_your_own_dataset_eval). Nova SFT counts
steps (``training_config.max_steps``), never epochs; its learning rate lives at
``training_config.optim_config.lr`` (``training_config.trainer.optim_config.lr`` for RFT).

Pure (standard library only): the settings check the overrides at synth and in ``forge validate``
(pipeline_core/hyperparameters.py), and the launch handler (lambda/forge_handlers/nova_recipes.py) builds the
recipe from the same data, so a bad override fails before any job, not when its stage starts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

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
MANAGED_KEYS = (
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


class OverrideError(ValueError):
    """A recipe override is unknown or its value has the wrong type or range; ``field`` is its key."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def override_keys(method: str) -> list[str]:
    """The dotted keys a config may override for ``method`` (one of BASE_RECIPES)."""
    flat = flatten(BASE_RECIPES[method])
    return sorted(k for k in flat if not k.startswith(MANAGED_KEYS) and k not in MANAGED_KEYS)


# Bounds by the key's last part: (lowest, lowest allowed?, highest, highest allowed?); None = unbounded.
_BOUNDS: dict[str, tuple[float | None, bool, float | None, bool]] = {
    "max_steps": (1, True, None, False),
    "save_steps": (1, True, None, False),
    "global_batch_size": (1, True, None, False),
    "warmup_steps": (0, True, None, False),
    "max_length": (1, True, None, False),
    "max_new_tokens": (1, True, None, False),
    "number_generation": (2, True, None, False),  # RFT compares a group of generations
    "lambda_concurrency_limit": (1, True, None, False),
    "alpha": (1, True, None, False),
    "top_k": (-1, True, None, False),  # -1 = off
    "lr": (0, False, None, False),
    "min_lr": (0, True, None, False),
    "weight_decay": (0, True, None, False),
    "adam_beta1": (0, True, 1, False),
    "adam_beta2": (0, True, 1, False),
    "kl_loss_coef": (0, True, None, False),
    "ent_coeff": (0, True, None, False),
    "lora_plus_lr_ratio": (0, True, None, False),
    "temperature": (0, True, None, False),
    "top_p": (0, False, 1, True),
}
_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "text"}


def _check_type(key: str, value: Any, base: Any) -> None:
    kind = type(base)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    ok = {
        bool: isinstance(value, bool),
        int: number and float(value).is_integer(),
        float: number and math.isfinite(value),
        str: isinstance(value, str),
    }[kind]
    if not ok:
        hint = ""
        if isinstance(value, str) and kind in (int, float):
            hint = " (YAML reads 1e-5 as text: write 1.0e-5)"
        raise OverrideError(f"{value!r} is not {_TYPE_NAMES[kind]}{hint}", key)


def _check_bounds(key: str, value: float) -> None:
    bounds = _BOUNDS.get(key.rsplit(".", 1)[-1])
    if bounds is None:
        return
    low, low_ok, high, high_ok = bounds
    too_low = low is not None and (value < low or (value == low and not low_ok))
    too_high = high is not None and (value > high or (value == high and not high_ok))
    if too_low or too_high:
        parts = []
        if low is not None:
            parts.append(f"{'>=' if low_ok else '>'} {low:g}")
        if high is not None:
            parts.append(f"{'<=' if high_ok else '<'} {high:g}")
        raise OverrideError(f"{value!r} must be {' and '.join(parts)}", key)


def estimate_tokens(text: str, chars_per_token: float = 4.0) -> int:
    """Tokens of ``text`` as the data validator estimates them (Nova's tokenizer is not public)."""
    return math.ceil(len(text) / chars_per_token)


def check_overrides(
    method: str,
    overrides: Mapping[str, Any],
    *,
    system_prompt: str = "",
    max_query_tokens: int = 0,
    labels: Sequence[str] = (),
) -> None:
    """Every override must be a known key of ``method``'s recipe, of its base value's type, in range; and
    lengths must hold what the job puts in them: ``max_length`` the system prompt + a question cut to
    ``max_query_tokens`` + the longest label, ``max_new_tokens`` the longest label."""
    if method not in BASE_RECIPES:
        raise OverrideError(f"method {method!r} is not one of {sorted(BASE_RECIPES)}", "method")
    allowed = override_keys(method)
    base = flatten(BASE_RECIPES[method])
    answer = max((estimate_tokens(label) for label in labels), default=1)
    for key, value in overrides.items():
        if key not in allowed:
            message = f"unknown recipe override key for {method}; allowed keys: {', '.join(allowed)}"
            raise OverrideError(message, key)
        _check_type(key, value, base[key])
        if isinstance(value, int | float) and not isinstance(value, bool):
            _check_bounds(key, value)
        leaf = key.rsplit(".", 1)[-1]
        if leaf == "max_length":
            needed = estimate_tokens(system_prompt) + max_query_tokens + answer
            if value < needed:
                raise OverrideError(
                    f"{value} tokens cannot hold the system prompt (about {estimate_tokens(system_prompt)} "
                    f"tokens) + a question of data.max_query_tokens={max_query_tokens} + the longest answer "
                    f"({answer}): at least {needed}",
                    key,
                )
        elif leaf == "max_new_tokens" and value < answer:
            raise OverrideError(f"{value} tokens cannot hold the longest label (about {answer} tokens)", key)
