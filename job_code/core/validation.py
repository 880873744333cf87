"""Data validation that runs before any GPU job: a row-level report, never an unhandled exception.

``validate_file`` / ``validate_table`` check the user's input table; ``validate_file`` streams the file (a
row is checked as it is read and only its Example is kept). Checks of the split and of
formatted Nova records live in ``job_code.core.dataset_checks``.
Each finding is an ``Issue`` (row, field, problem code, message, excerpt); a ``ValidationReport``
collects them (both in ``job_code.core.validation_report``).

Standard library only: this module runs inside the prepare Lambda.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from job_code.core.formats import ColumnMapping, DatasetFormatError, Example, Table, TableStream, open_table

# The findings' types live in job_code.core.validation_report; the rest of the code imports them from here.
from job_code.core.validation_report import (  # noqa: F401
    EXCERPT_CHARS,
    Issue,
    Severity,
    ValidationReport,
    excerpt,
)
from pipeline_core.nova_keywords import reserved_keywords_in


@dataclass(frozen=True, slots=True)
class ValidationRules:
    """What a valid input table is. Build it from the settings (DataSettings + model family)."""

    labels: tuple[str, ...]
    mapping: ColumnMapping = ColumnMapping()
    family: Literal["nova", "hf"] = "nova"
    system_prompt: str = ""
    max_query_chars: int = 20_000
    # Truncation policy: longer questions are cut by the job code (a warning, not an error).
    max_query_tokens: int | None = None
    # Hard limit on a whole training row (system + question + answer), estimated in tokens.
    max_row_tokens: int | None = None
    chars_per_token: float = 4.0
    min_rows: int = 1
    max_rows: int | None = None
    # generation: free-text answers, checked as text (empty, over-long) but against no label set.
    task: Literal["classification", "generation"] = "classification"

    def estimate_tokens(self, text: str) -> int:
        return int(len(text) / self.chars_per_token + 0.999)


# ---------------------------------------------------------------- input tables


def _check_header(columns: list[str], kind: str, rules: ValidationRules) -> list[Issue]:
    issues = []
    duplicated = [name for name, n in Counter(columns).items() if n > 1][:20]
    for name in duplicated:
        issues.append(
            Issue("duplicate_column", f"column {name!r} appears more than once in the header", field=name)
        )
    if kind == "csv" and any(not name for name in columns):
        issues.append(Issue("empty_column_name", "the header has an empty column name", severity="warning"))
    present = set(columns)
    for column in rules.mapping.required:
        if column not in present:
            found = sorted(present)
            shown = f"{found[:20]}" + (f" and {len(found) - 20} more" if len(found) > 20 else "")
            issues.append(
                Issue(
                    "missing_column",
                    f"required column {column!r} is missing; found columns {shown}",
                    field=column,
                    excerpt=excerpt(", ".join(columns[:40])),
                )
            )
    return issues


def _check_text(value: Any, column: str, row: int, rules: ValidationRules) -> tuple[str | None, list[Issue]]:
    """The stripped text of a required cell, or None with the reason."""
    if value is None:
        return None, [Issue("missing_value", f"no value for {column!r}", row=row, field=column)]
    if not isinstance(value, str):
        kind = type(value).__name__
        return None, [
            Issue(
                "non_string_text",
                f"{column!r} must be text, got {kind}",
                row=row,
                field=column,
                excerpt=excerpt(value),
            )
        ]
    text = value.strip()
    if not text:
        return None, [
            Issue(
                "empty_text", f"{column!r} is empty or whitespace", row=row, field=column, excerpt=value[:20]
            )
        ]
    return text, []


def _check_row(
    row: Mapping[str, Any], number: int, rules: ValidationRules
) -> tuple[Example | None, list[Issue]]:
    mapping = rules.mapping
    query, issues = _check_text(row.get(mapping.query), mapping.query, number, rules)
    label, label_issues = _check_text(row.get(mapping.label), mapping.label, number, rules)
    issues += label_issues
    if label is not None and rules.task == "generation":
        if len(label) > rules.max_query_chars:
            issues.append(Issue("too_long", f"{mapping.label!r} (the answer) has {len(label)} characters, "
                                f"over the limit {rules.max_query_chars}", row=number, field=mapping.label,
                                excerpt=excerpt(label)))
    elif label is not None and label not in rules.labels:
        near = [
            known
            for known in rules.labels
            if known.lower() == label.lower().replace(" ", "_").replace("-", "_")
        ]
        hint = f"; did you mean {near[0]!r}?" if near else ""
        issues.append(
            Issue(
                "label_not_in_set",
                f"label {label!r} is not one of {list(rules.labels)}{hint}",
                row=number,
                field=mapping.label,
                excerpt=excerpt(label),
            )
        )
    system = row.get(mapping.system) if mapping.system else None
    if system is not None and not isinstance(system, str):
        issues.append(
            Issue("non_string_text", f"{mapping.system!r} must be text", row=number, field=mapping.system)
        )
        system = None
    if mapping.id and row.get(mapping.id) is not None and not isinstance(row.get(mapping.id), (str, int)):
        issues.append(
            Issue(
                "non_string_text", f"{mapping.id!r} must be text or an integer", row=number, field=mapping.id
            )
        )
    if query is not None:
        if len(query) > rules.max_query_chars:
            issues.append(
                Issue(
                    "too_long",
                    f"{mapping.query!r} has {len(query)} characters, over the limit {rules.max_query_chars}",
                    row=number,
                    field=mapping.query,
                    excerpt=excerpt(query),
                )
            )
        tokens = rules.estimate_tokens(query)
        if rules.max_query_tokens and tokens > rules.max_query_tokens:
            issues.append(
                Issue(
                    "will_be_truncated",
                    f"{mapping.query!r} is about {tokens} tokens; it will be cut to {rules.max_query_tokens}",
                    row=number,
                    field=mapping.query,
                    severity="warning",
                )
            )
        full = (system or rules.system_prompt) + query + (label or "")
        row_tokens = rules.estimate_tokens(full)
        if rules.max_row_tokens and row_tokens > rules.max_row_tokens:
            issues.append(
                Issue(
                    "too_many_tokens",
                    f"the row is about {row_tokens} tokens (system + question + answer), "
                    f"more than the limit {rules.max_row_tokens}",
                    row=number,
                    field=mapping.query,
                    excerpt=excerpt(query),
                )
            )
    if rules.family == "nova":
        for column, text in ((mapping.query, query), (mapping.system, system)):
            found = reserved_keywords_in(text) if isinstance(text, str) else []
            if found:
                issues.append(
                    Issue(
                        "reserved_keyword",
                        f"{column!r} contains Nova reserved keyword(s) {found}; the training job would fail",
                        row=number,
                        field=column,
                        excerpt=excerpt(text[max(0, text.find(found[0]) - 20) :]),
                    )
                )
    if any(issue.severity == "error" for issue in issues):
        return None, issues
    raw_id = row.get(mapping.id) if mapping.id else None
    example_id = str(raw_id).strip() if raw_id is not None and str(raw_id).strip() else f"row-{number}"
    clean_system = system.strip() if isinstance(system, str) and system.strip() else None
    return Example(id=example_id, query=query, label=label, system=clean_system, row=number), issues


class _Forms:
    """How many records came in chat form and in column form (a file must use one)."""

    def __init__(self) -> None:
        self.chat = self.columns = 0
        self.first: dict[str, int] = {}

    def issues(self) -> list[Issue]:
        if not (self.chat and self.columns):
            return []
        later = max(self.first, key=self.first.__getitem__)
        return [Issue("mixed_record_forms", f"{self.chat} records are in chat form ('messages') and "
                      f"{self.columns} have columns; use one form per file", row=self.first[later],
                      field="messages")]


def _check_record(row: Mapping[str, Any], number: int, rules: ValidationRules,
                  forms: _Forms) -> tuple[Example | None, list[Issue]]:
    """A column-style row, or a chat record flattened onto cells named after its turns (chat_input)."""
    from job_code.core.chat_input import flatten, is_chat_record

    if not is_chat_record(row, rules.mapping):
        forms.columns += 1
        forms.first.setdefault("columns", number)
        return _check_row(row, number, rules)
    forms.chat += 1
    forms.first.setdefault("chat", number)
    cells, mapping, issues = flatten(row, number, rules.mapping)
    if cells is None or mapping is None:
        return None, issues
    return _check_row(cells, number, replace(rules, mapping=mapping))


class _OptionalFields:
    """Nova: an optional field (system, id) must be present in every row or in none (counted as rows pass)."""

    def __init__(self, columns: tuple[str, ...]) -> None:
        self.rows = 0
        self.present = dict.fromkeys(columns, 0)
        self.first_missing: dict[str, int] = {}

    def add(self, row: Mapping[str, Any], number: int) -> None:
        self.rows += 1
        for column in self.present:
            value = row.get(column)
            if isinstance(value, int) or (isinstance(value, str) and value and not value.isspace()):
                self.present[column] += 1
            else:
                self.first_missing.setdefault(column, number)

    def issues(self) -> list[Issue]:
        return [
            Issue(
                "optional_field_inconsistent",
                f"optional field {column!r} is set in {count} of {self.rows} rows; "
                "set it in every row or in none",
                row=self.first_missing[column],
                field=column,
            )
            for column, count in self.present.items()
            if 0 < count < self.rows
        ]


def _check_duplicates(examples: Sequence[Example], rules: ValidationRules) -> list[Issue]:
    issues = []
    first_by_query: dict[str, Example] = {}
    first_by_id: dict[str, int] = {}
    for example in examples:
        earlier = first_by_query.get(example.query)
        if earlier is None:
            first_by_query[example.query] = example
        elif earlier.label == example.label:
            issues.append(
                Issue(
                    "duplicate_row",
                    f"same question and label as row {earlier.row}",
                    row=example.row,
                    field=rules.mapping.query,
                    excerpt=excerpt(example.query),
                    severity="warning",
                )
            )
        else:
            # generation: two reference answers to one question can both be right; the split keeps the first.
            issues.append(
                Issue(
                    "conflicting_duplicate",
                    f"same question as row {earlier.row} but label {example.label!r} vs {earlier.label!r}",
                    row=example.row,
                    field=rules.mapping.label,
                    excerpt=excerpt(example.query),
                    severity="warning" if rules.task == "generation" else "error",
                )
            )
        if rules.mapping.id:
            if example.id in first_by_id:
                issues.append(
                    Issue(
                        "duplicate_id",
                        f"id {example.id!r} already used by row {first_by_id[example.id]}",
                        row=example.row,
                        field=rules.mapping.id,
                        excerpt=example.id,
                    )
                )
            else:
                first_by_id[example.id] = example.row
    return issues


def validate_stream(stream: TableStream, rules: ValidationRules) -> tuple[ValidationReport, list[Example]]:
    """Check every record as it is read; return the report and the rows that passed. Raises the stream's
    DatasetFormatError if the file turns out unreadable part-way."""
    report = ValidationReport(source=stream.path)
    if stream.format == "csv":  # the header comes first: a missing column fails before any row is read
        header_issues = _check_header(stream.columns, stream.format, rules)
        if any(issue.problem == "missing_column" for issue in header_issues):
            report.extend(header_issues)
            return report, []
    rows = ValidationReport(source=stream.path)  # row findings, kept apart until the columns are known
    examples, optional, parsed = [], _OptionalFields(rules.mapping.optional), 0
    forms = _Forms()
    for number, item in stream.records:
        report.rows_total += 1
        if isinstance(item, DatasetFormatError):
            report.add(Issue("unparseable_record", str(item), row=item.row, field=item.field))
            continue
        parsed += 1
        example, issues = _check_record(item, number, rules, forms)
        rows.extend(issues)
        optional.add(item, number)
        if example is not None:
            examples.append(example)
    header_issues = _check_header(stream.columns, stream.format, rules)  # JSONL: every key seen by now
    if forms.chat and not forms.columns:  # all in chat form: the question column is not expected
        header_issues = [issue for issue in header_issues if issue.problem != "missing_column"]
    report.extend(header_issues + forms.issues())
    if any(issue.problem == "missing_column" for issue in header_issues):
        return report, []
    report.merge(rows)
    report.extend(optional.issues())
    report.extend(_check_duplicates(examples, rules))
    if len(examples) < rules.min_rows:
        report.add(
            Issue("too_few_rows", f"{len(examples)} usable rows; at least {rules.min_rows} are needed")
        )
    if rules.max_rows is not None and parsed > rules.max_rows:
        report.add(Issue("too_many_rows", f"{parsed} rows; at most {rules.max_rows} are allowed"))
    # A row that a later check (duplicates) found bad is not usable either.
    bad_rows = report.bad_rows
    return report, [example for example in examples if example.row not in bad_rows]


def validate_table(table: Table, rules: ValidationRules) -> tuple[ValidationReport, list[Example]]:
    """``validate_stream`` over a table already in memory."""
    records = sorted(
        [*zip(table.row_numbers, table.rows, strict=True), *((p.row or 0, p) for p in table.problems)],
        key=lambda record: record[0],
    )
    stream = TableStream(path=table.path, format=table.format, columns=table.columns, records=iter(records))
    return validate_stream(stream, rules)


def _unreadable(source: str, error: DatasetFormatError) -> tuple[ValidationReport, list[Example]]:
    report = ValidationReport(source=source)
    report.add(Issue("unreadable_file", str(error), row=error.row, field=error.field))
    return report, []


def validate_file(
    path: str | Path, rules: ValidationRules, source: str | None = None
) -> tuple[ValidationReport, list[Example]]:
    """Read and check a CSV/JSONL file, streaming. A file that cannot be read yields a report, not an
    exception; its first unreadable spot (record and field) is the report's one issue. The report and its
    messages name ``source`` (e.g. the S3 URI of a downloaded file), by default ``path``."""
    try:
        with open_table(path, source) as stream:
            return validate_stream(stream, rules)
    except DatasetFormatError as error:
        return _unreadable(source or str(path), error)
