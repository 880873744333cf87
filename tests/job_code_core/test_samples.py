"""job_code.core.samples: five right and five wrong answers, the same ones every time."""

from __future__ import annotations

import pytest

from job_code.core.samples import select_samples


def columns(n: int):
    ids = [f"q{i}" for i in range(n)]
    golds = ["HQ" if i % 2 else "LQ" for i in range(n)]
    parsed = [g if i % 3 else None for i, g in enumerate(golds)]  # every third answer names no label
    answers = [p or "a long verbose answer" for p in parsed]
    questions = ["x" * 400 if i == 1 else f"question {i}" for i in range(n)]
    return ids, questions, answers, golds, parsed


def test_five_right_five_wrong_each_right_or_wrong_and_deterministic() -> None:
    chosen = select_samples(*columns(30))
    assert len(chosen["right"]) == 5 and len(chosen["wrong"]) == 5
    assert all(s["parsed"] == s["gold"] for s in chosen["right"])
    assert all(s["parsed"] != s["gold"] for s in chosen["wrong"])
    assert {s["gold"] for s in chosen["right"]} == {"HQ", "LQ"}  # classes in turn, not the first five rows
    assert chosen == select_samples(*columns(30))
    long = next(s for s in chosen["right"] if s["id"] == "q1")
    assert len(long["question"]) == 300 and long["question"].endswith("…")


def test_fewer_rows_than_asked_and_mismatched_columns() -> None:
    chosen = select_samples(*columns(4))
    assert len(chosen["right"]) + len(chosen["wrong"]) == 4
    ids, questions, answers, golds, parsed = columns(4)
    with pytest.raises(ValueError, match="different lengths"):
        select_samples(ids, questions, answers[:2], golds, parsed)
