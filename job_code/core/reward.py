"""The RFT reward: one pure scoring function behind two adapters.

``score`` rewards the behaviours the case study wants and penalizes the ones it saw at baseline:

    reward = correct_label * [the answer names the reference label, and only it]
           + exact_format  * [the stripped answer is exactly one of the labels]
           - verbosity_penalty * min(1, chars beyond the reference's length / verbose_chars)

With the default weights an exact right answer earns 1.5, a verbose right one 1.0 minus up to 0.5,
an exact wrong label 0.5, and a verbose wrong answer down to -0.5.

Adapters:
- ``lambda_handler``: the Nova RFT reward Lambda (a list of ``{id, messages, reference_answer}`` in,
  a list of ``{id, aggregate_reward_score, metrics_list}`` out). Weights come from the optional env
  ``REWARD_WEIGHTS`` (JSON with RewardSettings' field names), labels from ``REWARD_LABELS`` (JSON list).
  With ``REWARD_MODULE_FILE`` (reward.module's file in the asset) the user's ``score`` answers instead
  (job_code.core.custom_reward); the built-in stays the default.
- ``grpo_reward``: a TRL GRPO reward function (``completions, reference_answer, **kwargs``).

Standard library only, and cheap to import: this module is the reward Lambda.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

from job_code.core.labels import parse_label

logger = logging.getLogger(__name__)

# The case study's labels; the reference label is always added, so other tasks work without config.
DEFAULT_LABELS = ("HQ", "LQ_EDIT", "LQ_CLOSE")
WEIGHTS_ENV = "REWARD_WEIGHTS"
# RewardSettings' fields that are not weights: a custom reward module and its requirements.
MODULE_KEY = "module"
# The reward Lambda's custom module: the file's path in the deployed asset (stacks/handlers.py sets it).
MODULE_FILE_ENV = "REWARD_MODULE_FILE"
NON_WEIGHT_KEYS = (MODULE_KEY, "requirements")
LABELS_ENV = "REWARD_LABELS"


class RewardConfigError(ValueError):
    """REWARD_WEIGHTS / REWARD_LABELS is not valid; the message names the bad key or value."""


class RewardInputError(ValueError):
    """The reward Lambda's event is not a list of samples."""


@dataclass(frozen=True, slots=True)
class RewardWeights:
    """Same field names and defaults as pipeline_core.settings.RewardSettings."""

    correct_label: float = 1.0
    exact_format: float = 0.5
    verbosity_penalty: float = 0.5
    verbose_chars: int = 64

    def __post_init__(self) -> None:
        if self.verbose_chars <= 0:
            raise RewardConfigError(f"verbose_chars must be > 0, got {self.verbose_chars}")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> RewardWeights:
        known = {f.name for f in fields(cls)}
        raw = {key: value for key, value in raw.items() if key not in NON_WEIGHT_KEYS}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise RewardConfigError(f"unknown reward weight(s) {unknown}; expected some of {sorted(known)}")
        values: dict[str, Any] = {}
        for name, value in raw.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise RewardConfigError(f"reward weight {name!r} must be a number, got {value!r}")
            values[name] = int(value) if name == "verbose_chars" else float(value)
        return cls(**values)

    @property
    def max_reward(self) -> float:
        return self.correct_label + self.exact_format


DEFAULT_WEIGHTS = RewardWeights()


@dataclass(frozen=True, slots=True)
class RewardBreakdown:
    correct_label: float
    exact_format: float
    verbosity: float
    total: float
    response_chars: int


def _block_from_json(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise RewardConfigError(f"{WEIGHTS_ENV} is not valid JSON: {error.msg}") from None
    if not isinstance(value, dict):
        raise RewardConfigError(f"{WEIGHTS_ENV} must be a JSON object, got {type(value).__name__}")
    return value


@lru_cache(maxsize=8)
def _weights_from_json(raw: str) -> RewardWeights:
    return RewardWeights.from_mapping(_block_from_json(raw))


def module_of(block: Mapping[str, Any]) -> str | None:
    """The reward block's custom module (reward.module as the config names it), or None: the built-in."""
    module = block.get(MODULE_KEY)
    if module is not None and (not isinstance(module, str) or not module.strip()):
        raise RewardConfigError(f"reward block: {MODULE_KEY} must be a file name, got {module!r}")
    return module


def module_from_env(environ: Mapping[str, str] = os.environ) -> str | None:
    raw = environ.get(WEIGHTS_ENV, "").strip()
    return module_of(_block_from_json(raw)) if raw else None


@lru_cache(maxsize=8)
def _labels_from_json(raw: str) -> tuple[str, ...]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise RewardConfigError(f"{LABELS_ENV} is not valid JSON: {error.msg}") from None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise RewardConfigError(f"{LABELS_ENV} must be a non-empty JSON list of strings, got {raw!r}")
    return tuple(value)


def weights_from_env(environ: Mapping[str, str] = os.environ) -> RewardWeights:
    raw = environ.get(WEIGHTS_ENV, "").strip()
    return _weights_from_json(raw) if raw else DEFAULT_WEIGHTS


def labels_from_env(environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    raw = environ.get(LABELS_ENV, "").strip()
    return _labels_from_json(raw) if raw else DEFAULT_LABELS


def score_breakdown(
    completion: str,
    reference: str,
    weights: RewardWeights = DEFAULT_WEIGHTS,
    labels: Sequence[str] = DEFAULT_LABELS,
) -> RewardBreakdown:
    """Each component of the reward for one completion (weights applied)."""
    text = completion.strip() if isinstance(completion, str) else ""
    reference = reference.strip()
    label_set = tuple(labels) if reference in labels else (*labels, reference)
    correct = 1.0 if text and parse_label(text, label_set) == reference else 0.0
    exact = 1.0 if text in label_set else 0.0
    # An answer that is exactly a label is as short as the format allows: no verbosity penalty.
    excess = 0 if exact else max(0, len(text) - len(reference))
    verbosity = min(1.0, excess / weights.verbose_chars)
    contributions = (
        weights.correct_label * correct,
        weights.exact_format * exact,
        0.0 - weights.verbosity_penalty * verbosity + 0.0,  # + 0.0: never report -0.0
    )
    return RewardBreakdown(*contributions, total=sum(contributions), response_chars=len(text))


def score(
    completion: str,
    reference: str,
    weights: RewardWeights = DEFAULT_WEIGHTS,
    labels: Sequence[str] = DEFAULT_LABELS,
) -> float:
    """The reward of one completion against its reference label."""
    return score_breakdown(completion, reference, weights, labels).total


# ---------------------------------------------------------------- TRL GRPO adapter


def completion_text(completion: Any) -> str:
    """A TRL completion as text: a string, or a conversational list of messages (last assistant turn)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        for message in reversed(completion):
            if isinstance(message, Mapping) and message.get("role", "assistant") == "assistant":
                return _content_text(message.get("content"))
    if isinstance(completion, Mapping):
        return _content_text(completion.get("content"))
    return ""


def make_grpo_reward(weights: RewardWeights = DEFAULT_WEIGHTS, labels: Sequence[str] = DEFAULT_LABELS):
    """A TRL reward function with fixed weights and labels."""
    label_tuple = tuple(labels)

    def label_reward(
        completions: Sequence[Any], reference_answer: Sequence[Any], **kwargs: Any
    ) -> list[float]:
        if len(completions) != len(reference_answer):
            raise ValueError(f"{len(completions)} completions but {len(reference_answer)} reference answers")
        return [
            score(completion_text(c), _reference_text(r) or "", weights, label_tuple)
            for c, r in zip(completions, reference_answer, strict=True)
        ]

    label_reward.__name__ = "label_reward"
    return label_reward


def grpo_reward(completions: Sequence[Any], reference_answer: Sequence[Any], **kwargs: Any) -> list[float]:
    """TRL GRPO reward: weights from REWARD_WEIGHTS, labels from REWARD_LABELS (or the defaults)."""
    return make_grpo_reward(weights_from_env(), labels_from_env())(completions, reference_answer, **kwargs)


# ---------------------------------------------------------------- Nova RFT reward Lambda


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}] or Converse [{"text": ...}]
        return "".join(part.get("text", "") for part in content if isinstance(part, Mapping))
    return ""


def _reference_text(reference: Any) -> str | None:
    if isinstance(reference, str):
        return reference if reference.strip() else None
    if isinstance(reference, Mapping):
        for key in ("label", "answer", "reference_answer"):
            if isinstance(reference.get(key), str) and reference[key].strip():
                return reference[key]
    return None


def _reference_of(sample: Mapping[str, Any]) -> Any:
    """Top-level reference_answer, or under metadata (both shapes appear in AWS's docs)."""
    if "reference_answer" in sample:
        return sample["reference_answer"]
    metadata = sample.get("metadata")
    return metadata.get("reference_answer") if isinstance(metadata, Mapping) else None


def _sample_problem(sample: Any) -> str | None:
    """Why a sample cannot be scored, or None."""
    if not isinstance(sample, Mapping):
        return f"sample is a {type(sample).__name__}, expected an object"
    messages = sample.get("messages")
    if not isinstance(messages, list) or not any(
        isinstance(m, Mapping) and m.get("role") == "assistant" for m in messages
    ):
        return "messages has no assistant message (the completion to score)"
    reference = _reference_of(sample)
    if _reference_text(reference) is None:
        return f"reference_answer is missing or not a label: {reference!r}"[:200]
    return None


def score_sample(sample: Mapping[str, Any], weights: RewardWeights, labels: Sequence[str]) -> dict[str, Any]:
    """One Nova reward output. A malformed sample scores 0 and is flagged, never raises."""
    sample_id = str(sample.get("id", "")) if isinstance(sample, Mapping) else ""
    problem = _sample_problem(sample)
    if problem:
        logger.error("reward: sample %r cannot be scored: %s", sample_id, problem)
        return {
            "id": sample_id,
            "aggregate_reward_score": 0.0,
            "metrics_list": [{"name": "invalid_sample", "value": 1.0, "type": "Metric"}],
        }
    messages = sample["messages"]
    completion = next(
        _content_text(m.get("content"))
        for m in reversed(messages)
        if isinstance(m, Mapping) and m.get("role") == "assistant"
    )
    reference = _reference_text(_reference_of(sample))
    parts = score_breakdown(completion, reference, weights, labels)
    return {
        "id": sample_id,
        "aggregate_reward_score": parts.total,
        "metrics_list": [
            {"name": "correct_label", "value": parts.correct_label, "type": "Reward"},
            {"name": "exact_format", "value": parts.exact_format, "type": "Reward"},
            {"name": "verbosity_penalty", "value": parts.verbosity, "type": "Reward"},
            {"name": "response_chars", "value": float(parts.response_chars), "type": "Metric"},
        ],
    }


def lambda_handler(event: Any, context: Any) -> list[dict[str, Any]]:
    """Nova RFT reward Lambda: score every sample of the batch."""
    if isinstance(event, Mapping) and "messages" in event:
        event = [event]  # a single sample, as some tools send it
    if not isinstance(event, list):
        raise RewardInputError(f"the reward event must be a list of samples, got {type(event).__name__}")
    module_file = os.environ.get(MODULE_FILE_ENV, "").strip()
    if module_file:  # reward.module: the user's score answers (job_code.core.custom_reward)
        from job_code.core import custom_reward

        return custom_reward.lambda_handler(event, module_file)
    weights, labels = weights_from_env(), labels_from_env()
    return [score_sample(sample, weights, labels) for sample in event]


# ---------------------------------------------------------------- the RFT container's view of an answer

METRIC_TYPES = ("Reward", "Metric")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def output_problems(samples: Sequence[Mapping[str, Any]], outputs: Any) -> list[str]:
    """Why the RFT container would reject a reward Lambda's answer to ``samples`` (empty: it accepts it).

    The shape ``score_sample`` builds: one object per sample, same ids, a finite ``aggregate_reward_score``
    and a ``metrics_list`` of ``{name, value, type: Reward|Metric}``. Preflight checks the deployed function
    with this, so the contract is written once, beside the code that answers it.
    """
    if not isinstance(outputs, list):
        return [f"the answer is a {type(outputs).__name__}, expected a list of results"]
    problems = []
    expected_ids = [str(sample.get("id", "")) for sample in samples]
    if len(outputs) != len(samples):
        problems.append(f"{len(outputs)} results for {len(samples)} samples")
    for index, output in enumerate(outputs):
        where = f"result {index}"
        if not isinstance(output, Mapping):
            problems.append(f"{where} is a {type(output).__name__}, expected an object")
            continue
        if output.get("id") not in expected_ids:
            problems.append(f"{where}: id {output.get('id')!r} matches no sample id")
        if not _is_number(output.get("aggregate_reward_score")):
            score = output.get("aggregate_reward_score")
            problems.append(f"{where}: aggregate_reward_score {score!r} is not a finite number")
        metrics = output.get("metrics_list", [])
        if not isinstance(metrics, list):
            problems.append(f"{where}: metrics_list is a {type(metrics).__name__}, expected a list")
            continue
        for metric in metrics:
            ok = (isinstance(metric, Mapping) and isinstance(metric.get("name"), str)
                  and _is_number(metric.get("value")) and metric.get("type") in METRIC_TYPES)
            if not ok:
                shown = repr(metric)[:120]
                problems.append(f"{where}: metric {shown} is not {{name, value, type: Reward|Metric}}")
    return problems
