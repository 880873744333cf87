"""A custom reward module (``reward.module``): its contract, its loader and its two adapters.

The contract: the file defines

    def score(completion: str, reference: str, row: dict) -> float | dict[str, float]

- ``completion``: the model's answer (text); ``reference``: the row's reference answer (text);
- ``row``: the sample's other fields: always ``reference_answer``; the Nova Lambda passes the sample
  (``id``, ``messages``, …), the GRPO job the dataset row (``prompt``, …);
- the result: a finite number (the reward), or a dict whose ``total`` is the reward and whose other keys
  are logged as metrics (finite numbers too).

One file serves both families: the Nova RFT reward Lambda (``lambda_handler``: ``{id, messages,
reference_answer}`` samples in, ``{id, aggregate_reward_score, metrics_list}`` out) and TRL's GRPO
(``make_trl_reward``: ``reward(completions, **columns) -> list[float]``). A result outside the contract or
an exception in ``score`` raises CustomRewardError naming the file and the problem: a broken reward must
stop the run, not train on zeros.

The stack copies the file into the reward Lambda's asset and the code channel as ``asset_path(module)``
(under ``ASSET_DIR``, a package, so local mode's Lambda import guard judges the file's imports). The Lambda
finds it through env REWARD_MODULE_FILE (that path under the task root), the GRPO job through the ``module``
of the reward block its hyperparameter reward_weights carries (``bundled_file``). Standard library only:
this module runs in the reward Lambda.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from job_code.core.user_module import UserModuleError, import_file

logger = logging.getLogger(__name__)

ASSET_DIR = "user_reward"  # the package inside the Lambda asset and the code channel holding the file
FUNCTION_NAME = "score"
TOTAL_KEY = "total"
# The root of the asset / code channel: the directory holding the job_code package.
BUNDLE_ROOT = Path(__file__).resolve().parents[2]


class CustomRewardError(RuntimeError):
    """The custom reward module cannot be loaded, raised, or returned something outside the contract."""


def asset_path(module: str) -> str:
    """Where the file ``module`` (as the config names it) lives inside the asset: one name, one place."""
    name = PureWindowsPath(module).name if "\\" in module else PurePosixPath(module).name
    return f"{ASSET_DIR}/{name}"


def bundled_file(module: str, root: Path = BUNDLE_ROOT) -> Path:
    return root / asset_path(module)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def checked_result(value: Any, file: str) -> tuple[float, dict[str, float]]:
    """(reward, metrics) of one ``score`` result; CustomRewardError naming the type and value otherwise."""
    if _is_number(value):
        return float(value), {}
    if isinstance(value, Mapping):
        if TOTAL_KEY not in value:
            raise CustomRewardError(f"{file}: {FUNCTION_NAME} returned a dict without {TOTAL_KEY!r} "
                                    f"(keys {sorted(map(str, value))[:10]}); {TOTAL_KEY!r} is the reward")
        bad = {str(k): v for k, v in value.items() if not _is_number(v)}
        if bad:
            key, item = next(iter(bad.items()))
            raise CustomRewardError(f"{file}: {FUNCTION_NAME} returned {key!r} = {_shown(item)} (a "
                                    f"{type(item).__name__}); every value of the dict must be a finite "
                                    "number")
        metrics = {str(k): float(v) for k, v in value.items() if k != TOTAL_KEY}
        return float(value[TOTAL_KEY]), metrics
    kind = "a non-finite number" if isinstance(value, float) else f"a {type(value).__name__}"
    raise CustomRewardError(f"{file}: {FUNCTION_NAME} returned {kind} {_shown(value)}; expected a finite "
                            f"number or a dict with a numeric {TOTAL_KEY!r}")


@dataclass(frozen=True)
class CustomReward:
    """The loaded ``score`` of one file, called within the contract."""

    path: Path
    function: Callable[..., Any]

    @property
    def file(self) -> str:
        return self.path.name

    def __call__(self, completion: str, reference: str, row: Mapping[str, Any]) -> tuple[float, dict]:
        try:
            value = self.function(completion, reference, dict(row))
        except Exception as error:  # the user's code: report it naming the file
            raise CustomRewardError(f"{self.file}: {FUNCTION_NAME} raised {type(error).__name__}: "
                                    f"{error}") from error
        return checked_result(value, self.file)


def load(path: str | Path) -> CustomReward:
    """Import the file (as ``user_reward.<stem>``) and take its ``score``; CustomRewardError if it cannot."""
    path = Path(path).resolve()
    return _load(str(path), path.stat().st_mtime_ns if path.is_file() else 0)


@lru_cache(maxsize=8)
def _load(path_text: str, _mtime: int) -> CustomReward:
    path = Path(path_text)
    try:
        module = import_file(path, f"{ASSET_DIR}.{path.stem}")
    except UserModuleError as error:
        raise CustomRewardError(f"{path.name}: {error}") from error
    function = getattr(module, FUNCTION_NAME, None)
    if not callable(function):
        raise CustomRewardError(f"{path.name}: defines no function "
                                f"{FUNCTION_NAME}(completion, reference, row)")
    return CustomReward(path, function)


# ---------------------------------------------------------------- TRL GRPO adapter

_TRL_EXTRAS = ("trainer_state", "log_extra", "log_metric", "environments", "completion_ids")


def make_trl_reward(reward: CustomReward) -> Callable[..., list[float]]:
    """``reward(completions, **columns) -> list[float]``; a dict's other keys go to TRL's ``log_metric``
    (the batch mean, as ``reward/<key>``), which logs them with the trainer's metrics."""
    from job_code.core.reward import completion_text

    def custom_reward(completions: Sequence[Any], **columns: Any) -> list[float]:
        references = columns.get("reference_answer")
        if not isinstance(references, Sequence) or len(references) != len(completions):
            raise CustomRewardError(f"{reward.file}: the GRPO batch has no reference_answer per completion")
        log_metric = columns.get("log_metric")
        per_row = {k: v for k, v in columns.items()
                   if k not in _TRL_EXTRAS and isinstance(v, Sequence) and len(v) == len(completions)}
        if "prompts" in per_row:
            per_row["prompt"] = per_row.pop("prompts")
        rewards, sums = [], {}
        for index, completion in enumerate(completions):
            row = {key: values[index] for key, values in per_row.items()}
            total, metrics = reward(completion_text(completion), str(references[index]), row)
            rewards.append(total)
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + value
        if callable(log_metric):
            for key, value in sums.items():
                log_metric(f"reward/{key}", value / len(completions))
        return rewards

    custom_reward.__name__ = f"custom_reward_{reward.path.stem}"
    return custom_reward


# ---------------------------------------------------------------- Nova RFT reward Lambda adapter


def score_sample(sample: Mapping[str, Any], reward: CustomReward) -> dict[str, Any]:
    """One Nova reward output, the shape job_code.core.reward.score_sample answers."""
    from job_code.core.reward import _content_text, _reference_of, _reference_text, _sample_problem

    sample_id = str(sample.get("id", "")) if isinstance(sample, Mapping) else ""
    problem = _sample_problem(sample)
    if problem:  # the built-in's rule: a malformed sample scores 0 and is flagged
        logger.error("reward: sample %r cannot be scored: %s", sample_id, problem)
        return {"id": sample_id, "aggregate_reward_score": 0.0,
                "metrics_list": [{"name": "invalid_sample", "value": 1.0, "type": "Metric"}]}
    completion = next(_content_text(m.get("content")) for m in reversed(sample["messages"])
                      if isinstance(m, Mapping) and m.get("role") == "assistant")
    reference = _reference_text(_reference_of(sample)) or ""
    try:
        total, metrics = reward(completion, reference, sample)
    except CustomRewardError as error:
        raise CustomRewardError(f"{error} (sample {sample_id!r})") from error.__cause__
    return {
        "id": sample_id,
        "aggregate_reward_score": total,
        "metrics_list": [{"name": name, "value": value, "type": "Metric"} for name, value in metrics.items()],
    }


def lambda_handler(samples: Sequence[Any], module_file: str | Path) -> list[dict[str, Any]]:
    """Score a Nova batch with the file at ``module_file`` (called by job_code.core.reward)."""
    reward = load(module_file)
    return [score_sample(sample, reward) for sample in samples]


# ---------------------------------------------------------------- the check before spending


def check_on_samples(reward: CustomReward, samples: Sequence[Mapping[str, Any]]) -> list[str]:
    """Why ``reward`` is unfit for RFT on these Nova-shaped samples (empty: fit): the first exception or
    result outside the contract, else the same reward for every sample (RFT learns nothing)."""
    if not samples:
        return [f"{reward.file}: no RFT sample to call {FUNCTION_NAME} on"]
    try:
        totals = [score_sample(sample, reward)["aggregate_reward_score"] for sample in samples]
    except CustomRewardError as error:
        return [str(error)]
    if len(totals) > 1 and len(set(totals)) == 1:
        return [f"{reward.file}: {FUNCTION_NAME} returns the same reward {totals[0]:g} for every one of "
                f"{len(totals)} sample completions (constant): RFT would learn nothing from it"]
    return []
