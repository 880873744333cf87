"""The hyperparameters of every open-weights job stage, typed and bounded in one place, and their parse.

Each job script parses its hyperparameters with these classes (job_code.sm_contract.parse_hyperparameters
reads them from the SageMaker contract, then ``parse_mapping``); the settings run the very same parse
(``parse_stage``) on the config at synth and in ``forge validate`` (pipeline_core/hyperparameters.py), so a
value the job would reject fails before any job starts, naming the field.
``check_room`` adds what needs the prompt and the labels: the SFT ``max_length`` must hold the system prompt,
a question cut to ``max_query_tokens`` and the longest answer, and generation lengths must hold a label.

Standard library only: the job scripts import it before their heavy imports; it ships in the Lambda bundle
and in the SageMaker code channel (the whole pipeline_core package).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

T = typing.TypeVar("T")
# Characters per token of the token estimates: the data validator's (job_code.core.validation's rules).
CHARS_PER_TOKEN = 4.0
# The role markers a chat template adds around system + user + assistant turns (SmolLM2's ChatML: about
# five tokens per turn), counted on top of the texts.
CHAT_TEMPLATE_TOKENS = 16


class HyperparameterError(ValueError):
    """A hyperparameter is unknown or has a value that does not parse as its declared type.

    ``field`` is the hyperparameter's name (the first unknown one for unknown names), so the settings can
    name ``stages.<stage>.hyperparameters.<field>`` in their own error.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _unquote(raw: str) -> str:
    # The SageMaker SDK JSON-encodes string values ('"abc"'); plain strings come through as they are.
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def _parse_value(name: str, raw: object, annotation: object) -> object:
    """Parse one hyperparameter value into the field's type; raise HyperparameterError naming it."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "none", "null")):
            return None
        annotation = options[0]
    text = _unquote(str(raw)).strip() if not isinstance(raw, bool | int | float) else raw
    try:
        if annotation is bool:
            if isinstance(text, bool):
                return text
            lowered = str(text).lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
            raise ValueError
        if annotation is int:
            try:
                return int(text)
            except ValueError:
                as_float = float(text)  # accept "1e3" / "8.0", reject "8.5"
                if not as_float.is_integer():
                    raise
                return int(as_float)
        if annotation is float:
            value = float(text)
            if value != value:  # NaN
                raise ValueError
            return value
        return str(text)
    except (TypeError, ValueError):
        type_name = getattr(annotation, "__name__", str(annotation))
        raise HyperparameterError(
            f"hyperparameter {name}={raw!r} is not a valid {type_name}", name
        ) from None


def parse_mapping(cls: type[T], raw: typing.Mapping[str, object]) -> T:
    """Build `cls` from name -> value (strings as SageMaker sends them, or YAML values), then validate it.

    The one typed parse of a job's hyperparameters: the job scripts use it (parse_hyperparameters) and so do
    the settings at synth, before any job starts (pipeline_core/hyperparameters.py)."""
    hints = typing.get_type_hints(cls)
    fields = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown_names = sorted(key for key in raw if key not in fields and not key.startswith("sagemaker_"))
    if unknown_names:
        raise HyperparameterError(
            f"unknown hyperparameter(s) {', '.join(unknown_names)}; known: {', '.join(sorted(fields))}",
            unknown_names[0],
        )
    values = {name: _parse_value(name, raw[name], hints[name]) for name in fields if name in raw}
    instance = cls(**values)
    validate = getattr(instance, "validate", None)
    if callable(validate):
        validate()
    return instance


def positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    """Shared bound check for hyperparameter dataclasses' validate()."""
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise HyperparameterError(f"hyperparameter {name}={value!r} must be {bound}", name)


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


# SFT batch order (transformers' train_sampling_strategy): "group_by_length" pads least, but on small data a
# batch can then hold one label only; "random" mixes them.
SFT_SAMPLINGS = ("group_by_length", "random")
# Which RFT prompts GRPO trains on: "random" (all rows, shuffled) or "uncertain" (the ones the starting model
# is least sure of, by its own label probabilities: job_code.prompt_selection).
PROMPT_SELECTIONS = ("random", "uncertain")
MAX_SELECTION_POOL = 100_000


def one_of(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise HyperparameterError(
            f"hyperparameter {name}={value!r} must be one of {', '.join(repr(c) for c in choices)}", name
        )


def _fraction(name: str, value: float) -> None:
    if not 0 <= value < 1:
        raise HyperparameterError(f"hyperparameter {name}={value!r} must be in [0, 1)", name)


@dataclass
class SftHyperparameters:
    """Hyperparameters of the SFT job (SageMaker sends them as strings)."""

    base_model: str = "smollm2-135m-instruct"
    use_lora: bool = True
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: str = "all-linear"  # or a comma-separated list of module names
    lora_layers: int = 0  # > 0: adapters in the top N decoder layers only (a shorter backward pass)
    epochs: float = 1.0  # fractional epochs are fine (transformers' num_train_epochs)
    max_steps: int = -1  # > 0 overrides epochs
    learning_rate: float = 2e-4
    per_device_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    max_length: int = 704  # case study: system prompt (~155 tokens) + 512-token question + answer + template
    max_query_tokens: int = 512
    max_samples: int = 0  # 0 = every row
    warmup_ratio: float = 0.03
    logging_steps: int = 5
    save_steps: int = 50
    bf16: bool = False
    # Trades ~30% more compute for less activation memory: worth it on a GPU near its limit, not on CPU.
    gradient_checkpointing: bool = False
    # The shared system prompt computed once per batch (exact; job_code.prefix_training).
    share_prefix: bool = True
    sampling: str = "group_by_length"  # or "random" (SFT_SAMPLINGS)
    labels: str = ""
    seed: int = 42

    def validate(self) -> None:
        one_of("sampling", self.sampling, SFT_SAMPLINGS)
        positive("lora_layers", self.lora_layers, allow_zero=True)
        positive("max_samples", self.max_samples, allow_zero=True)
        for name in ("lora_r", "lora_alpha", "learning_rate", "per_device_batch_size", "max_length",
                     "max_query_tokens", "gradient_accumulation_steps", "logging_steps", "save_steps",
                     "epochs"):
            positive(name, getattr(self, name))
        _fraction("warmup_ratio", self.warmup_ratio)
        _fraction("lora_dropout", self.lora_dropout)
        check_room(self, labels=labels_of(self.labels))


@dataclass
class RftHyperparameters:
    """Hyperparameters of the RFT (GRPO) job (SageMaker sends them as strings)."""

    base_model: str = "smollm2-135m-instruct"
    num_generations: int = 4
    prompts_per_step: int = 2
    beta: float = 0.04
    max_completion_length: int = 16
    temperature: float = 1.0
    learning_rate: float = 5e-6
    max_steps: int = 200
    use_lora: bool = True
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: str = "all-linear"
    lora_layers: int = 0  # > 0: adapters in the top N decoder layers only (a shorter backward pass)
    max_query_tokens: int = 512
    max_samples: int = 0
    logging_steps: int = 1
    save_steps: int = 50
    reward_weights: str = ""  # JSON object, e.g. {"verbosity_penalty": 1.0}
    # "uncertain": score selection_pool prompts with the starting model, train on the least certain ones.
    prompt_selection: str = "random"
    selection_pool: int = 256
    labels: str = ""
    bf16: bool = False
    gradient_checkpointing: bool = False
    seed: int = 42

    def prompts_needed(self) -> int:
        """The prompts max_steps GRPO steps draw (per process)."""
        return self.max_steps * self.prompts_per_step

    def validate(self) -> None:
        one_of("prompt_selection", self.prompt_selection, PROMPT_SELECTIONS)
        positive("selection_pool", self.selection_pool)
        if self.selection_pool > MAX_SELECTION_POOL:
            raise HyperparameterError(
                f"hyperparameter selection_pool={self.selection_pool} must be <= {MAX_SELECTION_POOL}",
                "selection_pool",
            )
        if self.prompt_selection == "uncertain" and self.selection_pool < self.prompts_needed():
            raise HyperparameterError(
                f"hyperparameter selection_pool={self.selection_pool} must be >= max_steps x "
                f"prompts_per_step = {self.prompts_needed()} with prompt_selection='uncertain' (the pool "
                f"the prompts are selected from)",
                "selection_pool",
            )
        for name in ("prompts_per_step", "max_completion_length", "learning_rate", "max_steps", "lora_r",
                     "lora_alpha", "max_query_tokens", "logging_steps", "save_steps", "temperature"):
            positive(name, getattr(self, name))
        if self.num_generations < 2:
            raise HyperparameterError(
                f"hyperparameter num_generations={self.num_generations} must be >= 2 (GRPO compares a group)",
                "num_generations",
            )
        positive("beta", self.beta, allow_zero=True)
        positive("lora_layers", self.lora_layers, allow_zero=True)
        positive("max_samples", self.max_samples, allow_zero=True)
        _fraction("lora_dropout", self.lora_dropout)
        if self.reward_weights.strip():
            try:
                weights = json.loads(self.reward_weights)
            except json.JSONDecodeError as error:
                message = f"hyperparameter reward_weights is not valid JSON: {error.msg}"
                raise HyperparameterError(message, "reward_weights") from None
            if not isinstance(weights, dict):
                message = "hyperparameter reward_weights must be a JSON object"
                raise HyperparameterError(message, "reward_weights")
        check_room(self, labels=labels_of(self.labels))


@dataclass
class EvalHyperparameters:
    """Hyperparameters of the evaluation job (SageMaker sends them as strings)."""

    base_model: str = "smollm2-135m-instruct"
    max_new_tokens: int = 16
    batch_size: int = 16
    max_query_tokens: int = 512
    labels: str = ""  # JSON list or comma-separated; empty → the labels seen in the eval data
    max_samples: int = 0  # 0 = every row
    seed: int = 42
    stage: str = "eval"
    # Also score the questions with line endings normalized (results.json "robustness"); only the rows
    # with a \r are generated again.
    robustness: bool = True
    # JSON list of the user's metric files (paths in the code channel, or absolute), run after the built-ins.
    metrics_modules: str = ""

    def validate(self) -> None:
        for name in ("max_new_tokens", "batch_size", "max_query_tokens"):
            positive(name, getattr(self, name))
        metric_modules_of(self.metrics_modules)
        positive("max_samples", self.max_samples, allow_zero=True)
        check_room(self, labels=labels_of(self.labels))


# The job kind each settings stage runs, and the class that parses its hyperparameters.
STAGE_CLASSES: dict[str, type] = {
    "sft": SftHyperparameters,
    "rft": RftHyperparameters,
    "eval": EvalHyperparameters,
}


def labels_of(value: str) -> list[str]:
    """The ``labels`` hyperparameter: a JSON list ('["HQ","LQ_EDIT"]') or comma-separated ('HQ,LQ_EDIT');
    '' -> []. HyperparameterError (field ``labels``) if it starts as a list but is not JSON."""
    value = value.strip()
    if not value:
        return []
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as error:
            raise HyperparameterError(
                f"hyperparameter labels={value!r} is not a JSON list: {error.msg}", "labels"
            ) from None
        return [str(item) for item in parsed]
    return [item.strip() for item in value.split(",") if item.strip()]


def metric_modules_of(value: str) -> list[str]:
    """The ``metrics_modules`` hyperparameter: a JSON list of paths; '' -> []."""
    if not value.strip():
        return []
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise HyperparameterError(f"hyperparameter metrics_modules is not a JSON list: {error.msg}",
                                  "metrics_modules") from None
    if not isinstance(parsed, list) or not all(isinstance(item, str) and item for item in parsed):
        raise HyperparameterError("hyperparameter metrics_modules must be a JSON list of paths",
                                  "metrics_modules")
    return parsed


def parse_stage(kind: str, raw: Mapping[str, object]) -> Any:
    """The typed, bounded hyperparameters of a ``kind`` job (sft / rft / eval); HyperparameterError names
    the field."""
    if kind not in STAGE_CLASSES:
        raise KeyError(f"unknown job kind {kind!r}; expected one of {sorted(STAGE_CLASSES)}")
    return parse_mapping(STAGE_CLASSES[kind], raw)


def check_room(params: Any, *, system_prompt: str = "", labels: Sequence[str] = ()) -> None:
    """Lengths must hold what the job puts in them (token estimates: ``estimate_tokens``).

    SFT: ``max_length`` holds the chat template, the system prompt, a question cut to ``max_query_tokens``
    and the longest label; TRL cuts a longer example from its end, so the answer, the one thing trained
    on, would be lost. RFT ``max_completion_length`` / eval ``max_new_tokens`` hold the longest label.
    """
    answer = max((estimate_tokens(label) for label in labels), default=1)
    if isinstance(params, SftHyperparameters):
        needed = CHAT_TEMPLATE_TOKENS + estimate_tokens(system_prompt) + params.max_query_tokens + answer
        if params.max_length < needed:
            raise HyperparameterError(
                f"hyperparameter max_length={params.max_length} is too small: the system prompt (about "
                f"{estimate_tokens(system_prompt)} tokens) + a question of max_query_tokens="
                f"{params.max_query_tokens} + the longest answer ({answer}) + the chat template "
                f"({CHAT_TEMPLATE_TOKENS}) need {needed}",
                "max_length",
            )
        return
    name = "max_completion_length" if isinstance(params, RftHyperparameters) else "max_new_tokens"
    if getattr(params, name) < answer:
        raise HyperparameterError(
            f"hyperparameter {name}={getattr(params, name)} cannot hold the longest label "
            f"(about {answer} tokens)",
            name,
        )
