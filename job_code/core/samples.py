"""Which answers the report shows: a few right and a few wrong ones, chosen the same way every time.

Standard library only (the report may rescore in Lambda too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

QUESTION_CHARS = 300  # a question is cut to this many characters in the report
PER_KIND = 5


def _truncate(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _round_robin(indices: list[int], golds: Sequence[str | None], count: int) -> list[int]:
    """Up to ``count`` indices taking each gold class in turn (input order within a class): the sample
    shows every class before it repeats one."""
    by_gold: dict[Any, list[int]] = {}
    for index in indices:
        by_gold.setdefault(golds[index], []).append(index)
    queues = [by_gold[gold] for gold in sorted(by_gold, key=lambda g: (g is None, str(g)))]
    chosen: list[int] = []
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return sorted(chosen)


def select_samples(
    ids: Sequence[str],
    questions: Sequence[str],
    answers: Sequence[str],
    golds: Sequence[str | None],
    parsed: Sequence[str | None],
    *,
    per_kind: int = PER_KIND,
    question_chars: int = QUESTION_CHARS,
) -> dict[str, list[dict[str, Any]]]:
    """``{"right": [...], "wrong": [...]}``: up to ``per_kind`` each, a row being right when the label parsed
    from its answer equals its gold label. Each: id, question (cut to ``question_chars``), answer, gold,
    parsed label."""
    lengths = {len(ids), len(questions), len(answers), len(golds), len(parsed)}
    if len(lengths) != 1:
        raise ValueError(f"select_samples: columns of different lengths {sorted(lengths)}")
    right = [i for i in range(len(ids)) if parsed[i] is not None and parsed[i] == golds[i]]
    wrong = [i for i in range(len(ids)) if not (parsed[i] is not None and parsed[i] == golds[i])]

    def record(index: int) -> dict[str, Any]:
        return {
            "id": str(ids[index]),
            "question": _truncate(questions[index], question_chars),
            "answer": answers[index],
            "gold": golds[index],
            "parsed": parsed[index],
        }

    return {
        "right": [record(i) for i in _round_robin(right, golds, per_kind)],
        "wrong": [record(i) for i in _round_robin(wrong, golds, per_kind)],
    }
