"""Validation beyond the catalogue: clean data passes, warnings, bounds, leaks, our writers' output."""

import json

import pytest

from job_code.core.dataset_checks import (
    ROW_COUNT_BOUNDS,
    check_row_count,
    check_split_counts,
    check_split_leaks,
    validate_records,
)
from job_code.core.formats import Example, format_records
from job_code.core.validation import Issue, ValidationReport, ValidationRules, validate_file

LABELS = ("HQ", "LQ_EDIT", "LQ_CLOSE")


def _csv(tmp_path, rows, header="text,rating"):
    path = tmp_path / "data.csv"
    path.write_text(header + "\n" + "".join(f'"{q}",{label}\n' for q, label in rows), encoding="utf-8")
    return path


def test_clean_file_passes_and_returns_examples(tmp_path):
    path = _csv(tmp_path, [(f"question number {i}?", LABELS[i % 3]) for i in range(30)])
    report, examples = validate_file(path, ValidationRules(labels=LABELS))
    assert report.ok and report.errors == 0 and report.rows_total == 30
    assert len(examples) == 30 and examples[0].id == "row-1"
    assert report.summary().startswith("OK:")


def test_long_question_is_a_truncation_warning(tmp_path):
    path = _csv(tmp_path, [("word " * 600, "HQ"), ("short?", "LQ_EDIT")])
    report, examples = validate_file(path, ValidationRules(labels=LABELS, max_query_tokens=512))
    assert report.ok and report.problems() == {"will_be_truncated": 1}
    assert len(examples) == 2


def test_reserved_keywords_only_matter_for_nova(tmp_path):
    path = _csv(tmp_path, [("Bot: says hi", "HQ"), ("<image> tag in html", "LQ_EDIT")])
    nova, _ = validate_file(path, ValidationRules(labels=LABELS, family="nova"))
    hf, _ = validate_file(path, ValidationRules(labels=LABELS, family="hf"))
    assert nova.problems() == {"reserved_keyword": 2, "too_few_rows": 1}
    assert hf.ok


def test_report_caps_stored_issues_but_counts_all(tmp_path):
    path = _csv(tmp_path, [(f"q{i}", "BAD") for i in range(500)])
    report, examples = validate_file(path, ValidationRules(labels=LABELS))
    assert report.problems() == {"label_not_in_set": 500, "too_few_rows": 1}
    assert len([i for i in report.issues if i.problem == "label_not_in_set"]) == 200
    assert report.to_dict()["truncated"] is True and report.rows_with_errors == 500
    assert examples == []
    assert "label_not_in_set: 500" in report.summary()


@pytest.mark.parametrize(
    ("family", "method", "count", "problem"),
    [
        ("nova", "SFT_LORA", 7, "too_few_rows"),
        ("nova", "SFT_LORA", 8, None),
        ("nova", "SFT_FULL", 20_001, "too_many_rows"),
        ("nova", "RFT_LORA", 99, "too_few_rows"),
        ("nova", "RFT_LORA", 4200, None),
        ("nova", "EVAL_GEN_QA", 0, "too_few_rows"),
        ("hf", "sft", 1, None),
    ],
)
def test_row_count_bounds(family, method, count, problem):
    issues = check_row_count(count, family=family, method=method, split="sft")
    assert [i.problem for i in issues] == ([problem] if problem else [])
    if problem:
        assert str(count) in issues[0].message and method in issues[0].message


def test_bounds_table_covers_every_nova_method():
    from pipeline_core.settings import JobStageSettings

    methods = JobStageSettings.model_fields["method"].annotation.__args__[0].__args__
    assert {m for f, m in ROW_COUNT_BOUNDS if f == "nova"} == set(methods)


def test_split_leak_detected_case_and_whitespace_insensitive():
    train = [Example(id="a", query="How do I sort?", label="HQ", row=1)]
    evaluation = [
        Example(id="b", query="how do  I sort?", label="HQ", row=7),
        Example(id="c", query="Other", label="HQ", row=8),
    ]
    [issue] = check_split_leaks({"sft": train, "eval": evaluation})
    assert (issue.problem, issue.row) == ("split_leak", 7) and "sft" in issue.message
    assert check_split_leaks({"sft": train}) == []


@pytest.mark.parametrize("kind", ["sft", "rft", "eval"])
def test_our_nova_writers_pass_nova_record_checks(kind):
    examples = [Example(id=f"q{i}", query=f"question {i}", label=LABELS[i % 3]) for i in range(5)]
    records = list(format_records(examples, "nova", kind, "Classify the question."))
    report = validate_records(json.loads(json.dumps(records)), kind)
    assert report.ok, report.summary()


def test_report_json_shape():
    report = ValidationReport(source="s3://b/k.csv", rows_total=3)
    report.add(Issue("empty_text", "'text' is empty", row=2, field="text"))
    report.add(Issue("duplicate_row", "dup", row=3, severity="warning"))
    document = json.loads(report.to_json())
    assert document["ok"] is False and document["errors"] == 1 and document["warnings"] == 1
    assert document["problems"] == {"error": {"empty_text": 1}, "warning": {"duplicate_row": 1}}
    assert document["issues"][0] == {
        "problem": "empty_text",
        "message": "'text' is empty",
        "row": 2,
        "field": "text",
        "excerpt": "",
        "severity": "error",
    }


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_garbage_never_raises(tmp_path, suffix):
    """Random bytes and mangled tables always give a report (the prepare Lambda must not crash)."""
    import random

    rng = random.Random(suffix)
    pieces = [
        b"text",
        b"rating",
        b",",
        b'"',
        b"\n",
        b"\r",
        b"{",
        b"}",
        b":",
        b"[",
        b"null",
        b"HQ",
        b"\xff",
        b"\x00",
    ]
    for i in range(150):
        if i % 3 == 0:
            blob = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
        else:
            blob = b"text,rating\n" + b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 80)))
        path = tmp_path / f"f{i}{suffix}"
        path.write_bytes(blob)
        report, examples = validate_file(path, ValidationRules(labels=LABELS))
        assert isinstance(report.summary(), str) and json.loads(report.to_json())["source"]
        assert not {example.row for example in examples} & report.bad_rows


def test_split_counts_of_a_run():
    preset = {"sft": 3500, "rft": 4200, "eval": 500}
    assert check_split_counts(preset, family="nova", sft_method="SFT_LORA", rft_method="RFT_LORA") == []
    issues = check_split_counts({"sft": 5, "rft": 50, "eval": 0}, family="nova")
    assert [(i.problem, i.field) for i in issues] == [
        ("too_few_rows", "sft"),
        ("too_few_rows", "rft"),
        ("too_few_rows", "eval"),
    ]
    assert check_split_counts({"sft": 0, "rft": 0, "eval": 3}, family="hf") == []
