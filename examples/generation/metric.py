"""An example metrics module for a free-text task (metrics.modules; contract in docs/custom-metrics.md).

Standard library only. ``compute`` gets the eval's answers, the reference answers and the rows, and returns
finite numbers under names the built-in metrics do not use.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def compute(predictions: list[str], references: list[str], rows: list[dict]) -> dict[str, float]:
    """answer_recall: the share of a reference's words the answer contains (mean over rows);
    starts_with_reference: the answer begins with the reference, ignoring case and spacing;
    length_ratio: mean answer length over mean reference length, in words (1.0 = as long)."""
    recalls, starts = [], []
    for prediction, reference in zip(predictions, references, strict=True):
        answer, gold = _words(prediction), _words(reference)
        recalls.append(sum(1 for word in set(gold) if word in answer) / len(set(gold)) if gold else 0.0)
        starts.append(1.0 if gold and answer[: len(gold)] == gold else 0.0)
    count = len(predictions) or 1
    reference_words = sum(len(_words(reference)) for reference in references) or 1
    return {
        "answer_recall": sum(recalls) / count,
        "starts_with_reference": sum(starts) / count,
        "length_ratio": sum(len(_words(p)) for p in predictions) / reference_words,
    }
