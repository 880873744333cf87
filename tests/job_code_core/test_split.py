"""Deterministic, stratified, leak-free split with the seed's preset."""

from collections import Counter

import pytest

from job_code.core.formats import Example
from job_code.core.split import SplitError, split_examples

LABELS = ["HQ", "LQ_EDIT", "LQ_CLOSE"]


def _data(n, weights=(1, 1, 1)):
    pattern = [label for label, w in zip(LABELS, weights, strict=True) for _ in range(w)]
    return [
        Example(id=f"r{i}", query=f"question {i}", label=pattern[i % len(pattern)], row=i + 1)
        for i in range(n)
    ]


def test_preset_sizes_and_rft_reuses_sft():
    splits = split_examples(_data(6750), sft=3500, eval=500, rft=700, seed=42)
    assert splits.counts() == {"sft": 3500, "eval": 500, "rft_new": 700, "rft": 4200, "dropped_duplicates": 0}
    ids = {name: {e.id for e in getattr(splits, name)} for name in ("sft", "eval", "rft_new")}
    assert (
        not ids["sft"] & ids["eval"] and not ids["eval"] & ids["rft_new"] and not ids["sft"] & ids["rft_new"]
    )
    assert {e.id for e in splits.rft} == ids["sft"] | ids["rft_new"]


def test_split_is_stratified():
    data = _data(5000, weights=(3, 1, 1))  # 60% HQ
    splits = split_examples(data, sft=3000, eval=500, rft=700)
    assert Counter(e.label for e in splits.eval) == {"HQ": 300, "LQ_EDIT": 100, "LQ_CLOSE": 100}
    assert Counter(e.label for e in splits.sft) == {"HQ": 1800, "LQ_EDIT": 600, "LQ_CLOSE": 600}


def test_same_seed_same_split_other_seed_other_split():
    first = split_examples(_data(900), sft=500, eval=100, rft=100, seed=7)
    again = split_examples(_data(900), sft=500, eval=100, rft=100, seed=7)
    other = split_examples(_data(900), sft=500, eval=100, rft=100, seed=8)
    assert [e.id for e in first.eval] == [e.id for e in again.eval]
    assert [e.id for e in first.eval] != [e.id for e in other.eval]


def test_no_reuse_and_zero_sizes():
    splits = split_examples(_data(300), sft=0, eval=50, rft=100, reuse_sft_for_rft=False)
    assert splits.counts()["sft"] == 0 and len(splits.rft) == 100


def test_duplicate_questions_are_dropped_so_eval_cannot_leak():
    data = _data(300) + [Example(id="dup", query="  QUESTION 5 ", label="HQ", row=999)]
    splits = split_examples(data, sft=200, eval=50, rft=50)
    assert splits.dropped_duplicates == 1
    queries = [e.query.lower().strip() for e in splits.sft + splits.eval + splits.rft_new]
    assert len(queries) == len(set(queries))


def test_too_little_data_says_what_each_split_needs():
    with pytest.raises(SplitError) as error:
        split_examples(_data(1000), sft=3500, eval=500, rft=700)
    message = str(error.value)
    assert "sft needs 3500" in message and "eval needs 500" in message and "rft needs 700" in message
    assert "4700 in total" in message and "1000 distinct rows" in message and "add 3700 rows" in message


def test_negative_size_is_rejected():
    with pytest.raises(SplitError, match=">= 0"):
        split_examples(_data(10), sft=-1, eval=1, rft=1)
