"""The eval's robustness block (issue 17): the same questions with line endings normalized, only the
changed rows generated again."""

from __future__ import annotations

import json

import pytest

from job_code import evaluate
from job_code.core.shortcuts import normalize_line_endings
from job_code.evaluate import line_ending_robustness

LABELS = ["HQ", "LQ_EDIT", "LQ_CLOSE"]


def shortcut_model(prompts: list[str]) -> list[str]:
    """A fake model that learnt the shortcut: \\r\\n means LQ_EDIT, else it reads the word in the text."""
    return ["LQ_EDIT" if "\r" in p else ("HQ" if "good" in p else "LQ_CLOSE") for p in prompts]


def test_only_changed_rows_are_generated_again_and_the_score_is_right() -> None:
    prompts = ["good\r\nq", "bad\r\nq", "x\r\ny", "good q", "bad q", "plain"]
    golds = ["HQ", "LQ_EDIT", "LQ_EDIT", "HQ", "LQ_CLOSE", "LQ_CLOSE"]
    answers = shortcut_model(prompts)  # raw: 5 of 6 right (row 0 says LQ_EDIT for HQ)
    calls: list[list[str]] = []

    def generate(texts: list[str]) -> list[str]:
        calls.append(texts)
        return shortcut_model(texts)

    normalized = [normalize_line_endings(p) for p in prompts]
    block = line_ending_robustness(prompts, normalized, answers, golds, LABELS, generate)
    assert calls == [["good\nq", "bad\nq", "x\ny"]]  # the three rows with \r, once
    # Normalized: HQ, LQ_CLOSE, LQ_CLOSE for the first three: 1 of those right, plus the 3 unchanged rows.
    assert block["accuracy"] == pytest.approx(4 / 6)
    assert block["n"] == 6 and block["rows_changed"] == 3 and block["answers_changed"] == 3
    assert block["recall"]["LQ_EDIT"] == 0.0 and block["recall"]["HQ"] == 1.0
    assert block["accuracy_stderr"] > 0 and block["generate_seconds"] >= 0


def test_no_carriage_return_no_generation_and_the_same_score() -> None:
    prompts = ["good q", "bad q", "plain"]
    golds = ["HQ", "LQ_CLOSE", "HQ"]

    def generate(texts: list[str]) -> list[str]:
        raise AssertionError(f"nothing should be generated again, got {texts}")

    block = line_ending_robustness(prompts, list(prompts), shortcut_model(prompts), golds, LABELS, generate)
    assert block["rows_changed"] == 0 and block["accuracy"] == pytest.approx(2 / 3)


@pytest.mark.slow
def test_the_eval_job_writes_the_robustness_block(
    tmp_path, tiny_model_dir, make_rows, rows_writer, job_runner
) -> None:
    rows = make_rows(12)
    for row in rows[:4]:
        row["messages"][1]["content"] = row["messages"][1]["content"].replace(" ", "\r\n", 2)
    channel = rows_writer(tmp_path / "eval" / "rows.jsonl", rows).parent
    args = ["--base_model", str(tiny_model_dir), "--max_new_tokens", "4", "--batch_size", "8",
            "--max_query_tokens", "32"]
    assert job_runner(evaluate.main, tmp_path / "job", {"eval": channel}, args) == 0
    results = json.loads((tmp_path / "job" / "output" / "data" / "results.json").read_text())
    block = results["robustness"]["normalized_line_endings"]
    assert block["n"] == 12 and block["rows_changed"] == 4
    assert 0.0 <= block["accuracy"] <= 1.0 and set(block["recall"]) <= set(LABELS)
    off = job_runner(evaluate.main, tmp_path / "off", {"eval": channel}, [*args, "--robustness", "false"])
    assert off == 0
    assert "robustness" not in json.loads((tmp_path / "off" / "output" / "data" / "results.json").read_text())
