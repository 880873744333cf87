"""Chat-form JSONL and Parquet inputs, and generation's row checks: good rows become Examples, bad ones get
row-level issues naming the file's record, the field and the value."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from job_code.core.dataset_checks import DatasetPlan, check_dataset
from job_code.core.formats import ColumnMapping, format_records
from job_code.core.validation import ValidationRules, validate_file

LABELS = ("HQ", "LQ_EDIT", "LQ_CLOSE")
CLASSIFY = ValidationRules(labels=LABELS, family="hf", system_prompt="S")
GENERATE = ValidationRules(labels=(), family="hf", system_prompt="S", task="generation", max_query_chars=200)


def chat(user: str, answer: str | None, system: str | None = None, **extra) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user})
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    return {"messages": messages, **extra}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def issues_of(report) -> list[tuple[str, int | None, str | None]]:
    return [(i.problem, i.row, i.field) for i in report.issues if i.severity == "error"]


def test_chat_jsonl_rows_become_examples(tmp_path):
    records = [chat("q one?", "HQ", system="own prompt"), chat("q two?", "LQ_EDIT")]
    path = write_jsonl(tmp_path / "chat.jsonl", records)
    report, examples = validate_file(path, CLASSIFY)
    assert report.ok, report.summary()
    assert [(e.query, e.label, e.system, e.row) for e in examples] == [
        ("q one?", "HQ", "own prompt", 1), ("q two?", "LQ_EDIT", None, 2)]


@pytest.mark.parametrize(("record", "problem", "field", "text"), [
    (chat("q?", None), "missing_assistant_turn", "messages", "has no assistant turn"),
    ({"messages": [{"role": "bot", "content": "x"}, {"role": "user", "content": "q?"},
                   {"role": "assistant", "content": "HQ"}]}, "unknown_role", "messages[0].role", "'bot'"),
    ({"messages": [{"role": "user", "content": ["q"]}, {"role": "assistant", "content": "HQ"}]},
     "non_string_content", "messages[0].content", "must be text, got list"),
    ({"messages": [{"role": "user", "content": "q?"}, {"role": "assistant", "content": "HQ"},
                   {"role": "assistant", "content": "HQ"}]},
     "repeated_turn", "messages[2].role", "multi-turn"),
    ({"messages": [{"role": "assistant", "content": "HQ"}, {"role": "user", "content": "q?"}]},
     "turn_order", "messages", "system (optional), user, assistant"),
    ({"messages": "q?"}, "bad_messages", "messages", "non-empty list"),
    (chat("q?", "   "), "empty_text", "messages[1].content", "empty or whitespace"),
    (chat("q?", "hq"), "label_not_in_set", "messages[1].content", "'hq' is not one of"),
])
def test_bad_chat_rows_name_row_field_and_value(tmp_path, record, problem, field, text):
    path = write_jsonl(tmp_path / "chat.jsonl", [chat("fine?", "HQ"), record])
    report, examples = validate_file(path, CLASSIFY)
    assert (problem, 2, field) in issues_of(report), report.summary()
    assert any(text in i.message for i in report.issues if i.problem == problem)
    assert [e.row for e in examples] == [1]


def test_a_file_mixing_chat_and_column_records_is_rejected(tmp_path):
    path = write_jsonl(tmp_path / "mixed.jsonl", [chat("a?", "HQ"), {"text": "b?", "rating": "HQ"}])
    report, _ = validate_file(path, CLASSIFY)
    assert ("mixed_record_forms", 2, "messages") in issues_of(report)


def test_generation_checks_answers_as_text_not_against_labels(tmp_path):
    records = [{"text": "Capital of France?", "rating": "Paris"}, {"text": "Empty?", "rating": " "},
               {"text": "Long?", "rating": "x" * 201}, {"text": "Capital of France?", "rating": "paris"}]
    path = write_jsonl(tmp_path / "gen.jsonl", records)
    report, examples = validate_file(path, GENERATE)
    assert issues_of(report) == [("empty_text", 2, "rating"), ("too_long", 3, "rating")]
    assert "(the answer) has 201 characters, over the limit 200" in report.issues[1].message
    warnings = [(i.problem, i.row) for i in report.issues if i.severity == "warning"]
    assert ("conflicting_duplicate", 4) in warnings  # two references to one question: a warning
    assert [e.label for e in examples] == ["Paris", "paris"]


def test_generation_dataset_splits_unstratified_and_writes_no_label(tmp_path):
    rows = [{"text": f"What is {i} plus {i}?", "rating": f"It is {2 * i}."} for i in range(30)]
    path = write_jsonl(tmp_path / "gen.jsonl", rows)
    plan = DatasetPlan(labels=(), sft=20, eval=5, rft=0, family="hf", task="generation", label_field="rating")
    checked = check_dataset(str(path), plan, lambda source: validate_file(source, GENERATE))
    assert checked.report.ok, checked.report.summary()
    assert checked.report.shortcuts == []
    sets = checked.sets()
    assert len(sets["sft"]) == 20 and len(sets["eval"]) == 5
    again = check_dataset(str(path), plan, lambda source: validate_file(source, GENERATE)).sets()
    assert [e.id for e in again["eval"]] == [e.id for e in sets["eval"]]  # deterministic
    # Not the alphabetically first answers (what one-row strata would pick).
    every = sorted(e.label for e in checked.splits.sft + sets["eval"])
    assert sorted(e.label for e in sets["eval"]) != every[:5]
    (record,) = list(format_records(sets["eval"][:1], "hf", "eval", "S", labelled=False))
    assert "label" not in record and record["messages"][-1]["role"] == "assistant"
    (nova,) = list(format_records(sets["eval"][:1], "nova", "eval", "S", labelled=False))
    assert nova["response"] == sets["eval"][0].label


# ---------------------------------------------------------------- Parquet


def write_parquet(path: Path, columns: dict[str, list]) -> Path:
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet as parquet

    parquet.write_table(pyarrow.table(columns), path)
    return path


def test_parquet_rows_are_validated_like_jsonl(tmp_path):
    path = write_parquet(tmp_path / "data.parquet", {
        "text": ["good question?", None, "third?", "fourth?"],
        "rating": ["HQ", "HQ", "LQ_SOMETHING", None],
    })
    report, examples = validate_file(path, CLASSIFY)
    assert issues_of(report) == [("missing_value", 2, "text"), ("label_not_in_set", 3, "rating"),
                                 ("missing_value", 4, "rating")]
    assert [(e.query, e.row) for e in examples] == [("good question?", 1)]


def test_parquet_non_string_cells_and_missing_columns(tmp_path):
    path = write_parquet(tmp_path / "ints.parquet", {"text": [1, 2], "rating": ["HQ", "HQ"]})
    report, _ = validate_file(path, CLASSIFY)
    assert ("non_string_text", 1, "text") in issues_of(report)
    assert "'text' must be text, got int" in report.issues[0].message
    path = write_parquet(tmp_path / "cols.parquet", {"question": ["a?"], "rating": ["HQ"]})
    report, _ = validate_file(path, CLASSIFY)
    assert ("missing_column", None, "text") in issues_of(report)


def test_parquet_in_chat_form(tmp_path):
    path = write_parquet(tmp_path / "chat.parquet", {"messages": [
        [{"role": "user", "content": "q?"}, {"role": "assistant", "content": "HQ"}],
        [{"role": "user", "content": "r?"}],
    ]})
    report, examples = validate_file(path, CLASSIFY)
    assert issues_of(report) == [("missing_assistant_turn", 2, "messages")]
    assert [e.query for e in examples] == ["q?"]


def test_a_file_that_is_not_parquet_is_named(tmp_path):
    path = tmp_path / "x.parquet"
    path.write_bytes(b"text,rating\nq,HQ\n")
    report, _ = validate_file(path, CLASSIFY, source="s3://bucket/x.parquet")
    (issue,) = report.issues
    assert issue.problem == "unreadable_file"
    assert "s3://bucket/x.parquet: not a readable Parquet file" in issue.message


def test_without_pyarrow_parquet_gets_a_clear_error(tmp_path, monkeypatch):
    """What the Prepare Lambda (no pyarrow) says about a Parquet file."""
    path = write_parquet(tmp_path / "data.parquet", {"text": ["q?"], "rating": ["HQ"]})
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    report, _ = validate_file(path, CLASSIFY)
    (issue,) = report.issues
    assert issue.problem == "unreadable_file"
    assert "reading Parquet needs pyarrow, which this runtime lacks" in issue.message
    assert "convert it to JSONL" in issue.message


def test_chat_mapping_keeps_the_configured_id(tmp_path):
    rules = ValidationRules(labels=LABELS, family="hf", mapping=ColumnMapping(id="qid"))
    path = write_jsonl(tmp_path / "chat.jsonl", [chat("a?", "HQ", qid="A-1"), chat("b?", "HQ", qid="A-1")])
    report, examples = validate_file(path, rules)
    assert ("duplicate_id", 2, "qid") in issues_of(report)
    assert examples[0].id == "A-1"
