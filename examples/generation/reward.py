"""Example custom reward for a free-text task (reward.module: examples/generation/reward.py).

Contract (job_code/core/custom_reward.py, docs/custom-reward.md):
``score(completion: str, reference: str, row: dict) -> float | dict[str, float]``; a dict's ``total`` is the
reward, its other keys are logged as metrics. Deterministic, standard library only (it runs in the Nova
reward Lambda as well as in the GRPO job).

The reward: token F1 between the answer and the reference (lower-cased words and numbers), plus a bonus
when the answer states the reference's number exactly, minus a small penalty for answers much longer than
the reference.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def token_f1(completion: str, reference: str) -> float:
    """Word-bag F1 (each token counted as often as it occurs in both)."""
    predicted, expected = _tokens(completion), _tokens(reference)
    if not predicted or not expected:
        return float(predicted == expected)
    remaining = list(expected)
    common = 0
    for token in predicted:
        if token in remaining:
            remaining.remove(token)
            common += 1
    if not common:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def number_match(completion: str, reference: str) -> float:
    """1.0 when the reference has a number and the answer's first number equals it."""
    expected, found = _NUMBER.findall(reference), _NUMBER.findall(completion)
    if not expected or not found:
        return 0.0
    return 1.0 if float(found[0]) == float(expected[0]) else 0.0


def score(completion: str, reference: str, row: dict) -> dict[str, float]:
    f1 = token_f1(completion, reference)
    number = number_match(completion, reference)
    excess = max(0, len(completion.strip()) - 2 * max(len(reference.strip()), 1))
    length_penalty = min(1.0, excess / 200)
    total = f1 + 0.5 * number - 0.25 * length_penalty
    return {"total": total, "token_f1": f1, "number_match": number, "length_penalty": length_penalty}
