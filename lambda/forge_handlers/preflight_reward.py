"""Pre-flight check of the deployed Nova RFT reward Lambda, on sample rollouts built from the RFT data.

Per prompt, several completions as the RFT container would send them (the gold label, a wrong label, a
verbose answer, an empty answer). The check fails when the function raises, times out, answers with a
shape the container rejects (job_code.core.reward.output_problems, the contract written beside the reward)
or gives every completion of a prompt the same reward (a zero-variance group: the RFT loss is 0, nothing
is learned). With a custom reward module (reward.module) each problem names the file too; the function's
own error (job_code.core.custom_reward.CustomRewardError) names the file and what ``score`` did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from forge_handlers.preflight_checks import CheckResult
from job_code.core.reward import output_problems

COMPLETION_KINDS = ("gold", "wrong", "verbose", "empty")
DEFAULT_PROMPTS = 3
_ID_SEPARATOR = "#"


@dataclass(frozen=True)
class RewardAnswer:
    """What the invoke returned: the parsed payload, or why there is none."""

    payload: Any = None
    function_error: str | None = None  # Lambda's FunctionError ("Unhandled"): the payload is its error
    error: str | None = None  # the call itself failed (client timeout, access denied, …)


def _reference(record: Mapping[str, Any]) -> str | None:
    reference = record.get("reference_answer")
    if isinstance(reference, Mapping):
        texts = (reference[k] for k in ("label", "answer") if isinstance(reference.get(k), str))
        reference = next(texts, None)
    return reference if isinstance(reference, str) and reference.strip() else None


def _completion(kind: str, gold: str, labels: Sequence[str]) -> str:
    if kind == "gold":
        return gold
    if kind == "wrong":
        return next((label for label in labels if label != gold), f"NOT_{gold}")
    if kind == "verbose":
        return (f"After reading the question carefully, I believe the most fitting category is {gold}, "
                "because of how the question is written and what it asks.")
    return ""


def sample_rollouts(records: Sequence[Mapping[str, Any]], labels: Sequence[str],
                    prompts: int = DEFAULT_PROMPTS) -> list[dict[str, Any]]:
    """The reward Lambda's event: for up to ``prompts`` RFT records (distinct labels first), one sample per
    completion kind, id ``<record id>#<kind>``, the assistant turn appended as the container does."""
    usable = [r for r in records if isinstance(r, Mapping) and _reference(r) and isinstance(r.get("messages"),
                                                                                          list)]
    chosen: list[Mapping[str, Any]] = []
    for record in usable:  # one prompt per label first: rewards must differ across labels too
        if len(chosen) < prompts and _reference(record) not in {_reference(c) for c in chosen}:
            chosen.append(record)
    chosen += [r for r in usable if r not in chosen][: prompts - len(chosen)]
    samples = []
    for index, record in enumerate(chosen):
        prompt_id = str(record.get("id") or f"row-{index}")
        gold = _reference(record) or ""
        for kind in COMPLETION_KINDS:
            samples.append({
                "id": f"{prompt_id}{_ID_SEPARATOR}{kind}",
                "messages": [*record["messages"],
                             {"role": "assistant", "content": _completion(kind, gold, labels)}],
                "reference_answer": record["reference_answer"],
            })
    return samples


def _error_text(payload: Any) -> str:
    if isinstance(payload, Mapping):
        kind, message = payload.get("errorType"), payload.get("errorMessage")
        return f"{kind}: {message}" if kind else str(message)
    return str(payload)[:300]


def check_reward(function: str, samples: Sequence[Mapping[str, Any]], answer: RewardAnswer,
                 module: str | None = None) -> CheckResult:
    """The answer of ``function`` to ``samples``: raised, timed out, rejected shape, or zero variance.
    ``module``: the custom reward file it runs (reward.module), named in every problem."""
    if module:
        function = f"{function} (reward.module {module})"
    if not samples:
        reason = "no RFT record with a reference answer to build rollouts from"
        return CheckResult("reward", "problem", reason, (reason,))
    if answer.error:
        return CheckResult("reward", "problem", f"calling {function} failed: {answer.error}",
                           (f"calling {function} failed: {answer.error}",))
    if answer.function_error:
        text = _error_text(answer.payload)
        what = "timed out" if "timed out" in text.lower() or "Timedout" in text else "raised"
        reason = f"{function} {what} on {len(samples)} sample rollouts: {text}"
        return CheckResult("reward", "problem", reason, (reason,))
    shape = output_problems(samples, answer.payload)
    if shape:
        reasons = [f"{function} answered a shape the RFT container rejects: {p}" for p in shape[:5]]
        return CheckResult.of("reward", reasons, "")
    by_prompt: dict[str, list[float]] = {}
    for output in answer.payload:
        prompt = str(output["id"]).rsplit(_ID_SEPARATOR, 1)[0]
        by_prompt.setdefault(prompt, []).append(float(output["aggregate_reward_score"]))
    problems = [
        f"{function} gives every completion of prompt {prompt!r} the same reward {rewards[0]:g} "
        f"({', '.join(COMPLETION_KINDS)}): a zero-variance group, RFT would learn nothing from it"
        for prompt, rewards in by_prompt.items() if len(rewards) > 1 and len(set(rewards)) == 1
    ]
    spread = ", ".join(f"{p} {min(r):g}..{max(r):g}" for p, r in by_prompt.items())
    return CheckResult.of("reward", problems, f"{len(samples)} rollouts scored, rewards vary per prompt "
                                              f"({spread})")
