"""Hostile input tables: each is a clear, bounded error naming the file, the record and the field, and
reading streams (memory follows what is kept, not the file's size)."""

from __future__ import annotations

import csv
import json
import time
import tracemalloc

import pytest

from job_code.core.formats import DatasetFormatError, read_jsonl, read_table
from job_code.core.validation import Issue, ValidationRules, validate_file

RULES = ValidationRules(labels=("HQ", "LQ_EDIT", "LQ_CLOSE"))
GOOD = '{"text": "How do I sort a dict?", "rating": "HQ"}\n'


def _only(report, problem):
    found = [issue for issue in report.issues if issue.problem == problem]
    assert len(found) == 1, report.summary()
    return found[0]


@pytest.mark.parametrize("opener", ["[", '{"a": '])
def test_deeply_nested_jsonl_record_is_reported_with_its_record_and_field(tmp_path, opener):
    depth = 200_000  # far past the interpreter's recursion limit
    closer = "]" if opener == "[" else "}"
    deep = '{"rating": "HQ", "text": ' + opener * depth + "1" + closer * depth + "}\n"
    path = tmp_path / "deep.jsonl"
    path.write_text(GOOD + deep + GOOD.replace("sort", "copy"))
    started = time.perf_counter()
    report, examples = validate_file(path, RULES)  # must not raise RecursionError
    assert time.perf_counter() - started < 2
    issue = _only(report, "unparseable_record")
    assert (issue.row, issue.field) == (2, "text")
    assert "nested deeper than" in issue.message and len(issue.message) < 300
    assert [example.row for example in examples] == [1, 3]
    assert str(path) in report.summary()


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path):
    path = tmp_path / "brackets.jsonl"
    path.write_text(json.dumps({"text": "[" * 500 + "{" * 500 + ' \\" [', "rating": "HQ"}) + "\n")
    report, examples = validate_file(path, RULES)
    assert report.ok, report.summary()
    assert examples[0].query.startswith("[[[")


def test_our_own_formatted_records_are_well_within_the_depth_limit(tmp_path):
    record = {"messages": [{"role": "user", "content": [{"text": "q"}]}], "system": [{"text": "s"}]}
    path = tmp_path / "sft.jsonl"
    path.write_text(json.dumps(record) + "\n")
    assert read_jsonl(path) == [record]


def test_a_number_too_long_to_convert_is_an_unparseable_record(tmp_path):
    path = tmp_path / "digits.jsonl"
    path.write_text(GOOD + '{"text": "q", "rating": ' + "7" * 10_000 + "}\n")
    report, _ = validate_file(path, RULES)  # json.loads raises a plain ValueError here
    issue = _only(report, "unparseable_record")
    assert issue.row == 2 and len(issue.message) < 300


def test_csv_error_names_the_record_after_a_multi_line_quoted_record(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text(
        'text,rating\n"first line\nsecond line\nthird line",HQ\n"a bad "quote" here",HQ\nfine,HQ\n'
    )
    with pytest.raises(DatasetFormatError) as caught:
        read_table(path)
    assert caught.value.row == 2  # record 2 starts on physical line 5
    assert str(path) in str(caught.value) and "record 2" in str(caught.value)
    assert "line 5" in str(caught.value)
    report, _ = validate_file(path, RULES)
    assert _only(report, "unreadable_file").row == 2


def test_invalid_utf8_names_the_record_and_the_field(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b'text,rating\n"multi\nline\nquestion",HQ\n"Caf\xe9 menu",LQ_EDIT\n')
    report, _ = validate_file(path, RULES)
    issue = _only(report, "unreadable_file")
    assert (issue.row, issue.field) == (2, "text")
    assert "UTF-8" in issue.message and "0xe9" in issue.message and str(path) in issue.message


def test_a_nul_byte_names_the_record(tmp_path):
    path = tmp_path / "nul.csv"
    path.write_bytes(b"text,rating\nfine question,HQ\nbad\x00question,HQ\n")
    issue = _only(validate_file(path, RULES)[0], "unreadable_file")
    assert (issue.row, issue.field) == (2, "text") and "NUL" in issue.message


def test_utf16_data_file_is_named_as_utf16(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_bytes("text,rating\nq,HQ\n".encode("utf-16"))
    issue = _only(validate_file(path, RULES)[0], "unreadable_file")
    assert "UTF-16" in issue.message and str(path) in issue.message


def test_issue_messages_and_fields_are_bounded(tmp_path):
    huge = "x" * 1_000_000
    issue = Issue("label_not_in_set", f"label {huge!r} is not one of [...]", row=1, field=huge)
    assert len(issue.message) <= 500 and len(issue.field) <= 200
    path = tmp_path / "wide_header.csv"
    path.write_text(",".join(f"column_{i}" for i in range(50_000)) + "\n" + ",".join("v" * 50_000) + "\n")
    report, _ = validate_file(path, RULES)
    assert report.summary() and len(report.summary()) < 4096
    assert all(len(i.message) <= 500 for i in report.issues)


def _big_csv(path, rows: int, *, body_chars: int, text_chars: int) -> int:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "rating", "body"])
        for i in range(rows):
            text = f"question {i} " + "w" * text_chars
            writer.writerow([text, ("HQ", "LQ_EDIT", "LQ_CLOSE")[i % 3], "b" * body_chars])
    return path.stat().st_size


def _peak_bytes(function, *args):
    tracemalloc.start()
    try:
        result = function(*args)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_validate_file_keeps_only_what_it_needs(tmp_path):
    """A column the rules do not use costs nothing to keep: the old reader held the file's bytes, its text
    and every row (about 3x the file) at once."""
    path = tmp_path / "wide.csv"
    size = _big_csv(path, 3_000, body_chars=2_000, text_chars=40)  # about 6 MB
    (report, examples), peak = _peak_bytes(validate_file, path, RULES)
    assert report.ok and len(examples) == 3_000, report.summary()
    assert peak < size / 4, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB file"


def test_validate_file_peak_is_about_the_kept_text(tmp_path):
    path = tmp_path / "tall.csv"
    size = _big_csv(path, 3_000, body_chars=0, text_chars=2_000)  # about 6 MB, all of it questions
    (report, examples), peak = _peak_bytes(validate_file, path, RULES)
    assert report.ok and len(examples) == 3_000
    assert peak < 1.5 * size, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB file"


def test_deduplication_keeps_no_copy_of_the_questions():
    from job_code.core.formats import Example
    from job_code.core.split import deduplicate

    examples = [Example(id=str(i), query=f"Question {i} " + "w" * 2_000, label="HQ") for i in range(3_000)]
    examples.append(Example(id="dup", query=examples[0].query.upper() + "  ", label="HQ"))
    text = sum(len(example.query) for example in examples)
    (kept, dropped), peak = _peak_bytes(deduplicate, examples)
    assert dropped == 1 and len(kept) == 3_000
    assert peak < text / 4, f"peak {peak / 1e6:.1f} MB for {text / 1e6:.1f} MB of questions"


def test_invalid_utf8_in_a_jsonl_line_names_the_line_and_key(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(GOOD.encode() + b'{"text": "Caf\xe9 menu", "rating": "HQ"}\n' + GOOD.encode())
    report, examples = validate_file(path, RULES)
    issue = _only(report, "unparseable_record")
    assert (issue.row, issue.field) == (2, "text") and "0xe9" in issue.message
    assert [example.row for example in examples] == [1, 3]
