"""The catalogue of bad inputs (tests/data/bad_inputs/, one problem per file): each yields exactly
its expected report entry, and nothing raises."""

import json
from pathlib import Path

import pytest

from job_code.core.dataset_checks import validate_records
from job_code.core.formats import ColumnMapping
from job_code.core.validation import ValidationRules, validate_file

CATALOGUE = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"
RULES = ValidationRules(
    labels=("HQ", "LQ_EDIT", "LQ_CLOSE"),
    mapping=ColumnMapping(query="text", label="rating", system="system", id="id"),
    family="nova",
    system_prompt="Classify the question.",
    max_query_chars=4000,
    max_row_tokens=2000,
)

# file -> (problem, row, field, severity); row None = a file-level finding.
INPUT_TABLES = {
    "missing_query_column.csv": ("missing_column", None, "text", "error"),
    "missing_label_column.csv": ("missing_column", None, "rating", "error"),
    "empty_file.csv": ("unreadable_file", None, None, "error"),
    "header_only.csv": ("too_few_rows", None, None, "error"),
    # Rows are record numbers (header excluded), not physical lines; the field is named when known.
    "not_utf8.csv": ("unreadable_file", 2, "text", "error"),
    "utf16.csv": ("unreadable_file", None, None, "error"),
    "unsupported_type.parquet": ("unreadable_file", None, None, "error"),
    "unclosed_quote.csv": ("unreadable_file", 2, None, "error"),
    "quoted_newlines_then_bad_quote.csv": ("unreadable_file", 2, None, "error"),
    "nul_bytes.csv": ("unreadable_file", 2, "text", "error"),
    "too_many_fields.csv": ("unparseable_record", 2, None, "error"),
    "duplicate_header.csv": ("duplicate_column", None, "text", "error"),
    "empty_query.csv": ("empty_text", 2, "text", "error"),
    "whitespace_query.csv": ("empty_text", 2, "text", "error"),
    "missing_label_value.csv": ("missing_value", 2, "rating", "error"),
    "empty_label.csv": ("empty_text", 2, "rating", "error"),
    "label_not_in_set.csv": ("label_not_in_set", 2, "rating", "error"),
    "label_wrong_case.csv": ("label_not_in_set", 2, "rating", "error"),
    "label_with_space.csv": ("label_not_in_set", 2, "rating", "error"),
    "too_long_query.csv": ("too_long", 2, "text", "error"),
    "too_many_tokens.jsonl": ("too_many_tokens", 2, "text", "error"),
    "reserved_keyword_user.csv": ("reserved_keyword", 2, "text", "error"),
    "reserved_keyword_eos.jsonl": ("reserved_keyword", 2, "text", "error"),
    "reserved_keyword_in_system.jsonl": ("reserved_keyword", 2, "system", "error"),
    "duplicate_row.csv": ("duplicate_row", 3, "text", "warning"),
    "conflicting_duplicate.csv": ("conflicting_duplicate", 3, "rating", "error"),
    "duplicate_id.csv": ("duplicate_id", 3, "id", "error"),
    "optional_system_inconsistent.jsonl": ("optional_field_inconsistent", 2, "system", "error"),
    "invalid_json_line.jsonl": ("unparseable_record", 2, None, "error"),
    "json_array_line.jsonl": ("unparseable_record", 2, None, "error"),
    "deeply_nested.jsonl": ("unparseable_record", 2, "text", "error"),
    "huge_integer.jsonl": ("unparseable_record", 2, None, "error"),
    "non_string_query.jsonl": ("non_string_text", 2, "text", "error"),
    "null_label.jsonl": ("missing_value", 2, "rating", "error"),
    "list_label.jsonl": ("non_string_text", 2, "rating", "error"),
}
FORMATTED_RECORDS = {
    "nova_sft_role_order.jsonl": ("sft", "role_order", 2, "messages"),
    "nova_sft_bad_schema_version.jsonl": ("sft", "bad_schema_version", 2, "schemaVersion"),
    "nova_sft_empty_message.jsonl": ("sft", "empty_message", 2, "messages[1]"),
    "nova_rft_empty_reference.jsonl": ("rft", "empty_reference_answer", 2, "reference_answer"),
    "nova_rft_system_not_first.jsonl": ("rft", "role_order", 2, "messages"),
    "nova_eval_empty_response.jsonl": ("eval", "empty_text", 2, "response"),
}


def test_catalogue_is_complete():
    files = {path.name for path in CATALOGUE.iterdir()}
    assert files == set(INPUT_TABLES) | set(FORMATTED_RECORDS)
    assert len(files) >= 25


@pytest.mark.parametrize("name", sorted(INPUT_TABLES))
def test_bad_input_table_yields_its_report_entry(name):
    problem, row, field, severity = INPUT_TABLES[name]
    report, examples = validate_file(CATALOGUE / name, RULES)  # must not raise
    assert set(report.problems()) == {problem}, report.summary()
    [issue] = [i for i in report.issues if i.problem == problem]
    assert (issue.row, issue.field, issue.severity) == (row, field, severity), issue
    assert issue.message
    assert report.ok is (severity == "warning")
    document = json.loads(report.to_json())
    assert document["issues"][0]["problem"] == problem
    assert name in report.summary() or str(CATALOGUE) in report.summary()
    if row is not None and severity == "error":
        assert row not in {example.row for example in examples}


@pytest.mark.parametrize("name", sorted(FORMATTED_RECORDS))
def test_bad_formatted_records_yield_their_report_entry(name):
    kind, problem, row, field = FORMATTED_RECORDS[name]
    records = [json.loads(line) for line in (CATALOGUE / name).read_text().splitlines()]
    report = validate_records(records, kind, source=name)
    assert set(report.problems()) == {problem}, report.summary()
    [issue] = report.issues
    assert (issue.row, issue.field) == (row, field)
    assert not report.ok
