"""Data validation that runs before any GPU job: a row-level report, never an unhandled exception.

``validate_file`` / ``validate_table`` check the user's input table. Checks of the split and of
formatted Nova records live in ``job_code.dataset_checks``.
Each finding is an ``Issue`` (row, field, problem code, message, excerpt); a ``ValidationReport``
collects them and renders JSON (``to_dict``) and a short human summary (``summary``).

Standard library only: this module runs inside the prepare Lambda.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from job_code.formats import (
    ColumnMapping,
    DatasetFormatError,
    Example,
    Table,
    read_table,
)

Severity = Literal["error", "warning"]

# Nova's reserved keywords: a message containing one fails the training job. The list and its
# case-sensitive match are the Nova Forge SDK's dataset validator's (amzn-nova-forge, checked 2026-12):
# "user:" in a question is fine, "User:" is not.
NOVA_RESERVED_KEYWORDS = (
    "System:", "SYSTEM:", "User:", "USER:", "Bot:", "BOT:", "Assistant:", "ASSISTANT:", "Thought:",
    "[EOS]", "<image>", "<video>", "<unk>",
)

EXCERPT_CHARS = 80


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Issue:
    problem: str
    message: str
    row: int | None = None
    field: str | None = None
    excerpt: str = ""
    severity: Severity = "error"


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

    def estimate_tokens(self, text: str) -> int:
        return int(len(text) / self.chars_per_token + 0.999)


@dataclass
class ValidationReport:
    """All findings about one input. ``ok`` is False as soon as there is one error."""

    source: str
    rows_total: int = 0
    issues: list[Issue] = field(default_factory=list)
    max_issues_per_problem: int = 200
    counts: Counter = field(default_factory=Counter)
    _bad_rows: set = field(default_factory=set)

    def add(self, issue: Issue) -> None:
        self.counts[(issue.severity, issue.problem)] += 1
        if issue.severity == "error" and issue.row is not None:
            self._bad_rows.add(issue.row)
        if self.counts[(issue.severity, issue.problem)] <= self.max_issues_per_problem:
            self.issues.append(issue)

    def extend(self, issues: Iterable[Issue]) -> None:
        for issue in issues:
            self.add(issue)

    @property
    def errors(self) -> int:
        return sum(n for (severity, _), n in self.counts.items() if severity == "error")

    @property
    def warnings(self) -> int:
        return sum(n for (severity, _), n in self.counts.items() if severity == "warning")

    @property
    def ok(self) -> bool:
        return self.errors == 0

    @property
    def rows_with_errors(self) -> int:
        return len(self._bad_rows)

    @property
    def bad_rows(self) -> frozenset[int]:
        return frozenset(self._bad_rows)

    def problems(self, severity: Severity | None = None) -> dict[str, int]:
        return {p: n for (s, p), n in sorted(self.counts.items()) if severity in (None, s)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ok": self.ok,
            "rows_total": self.rows_total,
            "rows_with_errors": self.rows_with_errors,
            "errors": self.errors,
            "warnings": self.warnings,
            "problems": {"error": self.problems("error"), "warning": self.problems("warning")},
            "issues": [asdict(issue) for issue in self.issues],
            "truncated": any(n > self.max_issues_per_problem for n in self.counts.values()),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    def summary(self, examples: int = 5) -> str:
        """A few lines a human reads in a notification or a failed execution's Cause."""
        verdict = "OK" if self.ok else "INVALID"
        head = (
            f"{verdict}: {self.source}: {self.rows_total} rows, {self.errors} errors "
            f"({self.rows_with_errors} rows), {self.warnings} warnings"
        )
        lines = [head]
        for (severity, problem), count in sorted(self.counts.items()):
            lines.append(f"  {severity} {problem}: {count}")
        for issue in [i for i in self.issues if i.severity == "error"][:examples]:
            where = f"row {issue.row}" if issue.row is not None else "file"
            column = f" [{issue.field}]" if issue.field else ""
            lines.append(
                f"  - {where}{column}: {issue.message}" + (f" ({issue.excerpt!r})" if issue.excerpt else "")
            )
        return "\n".join(lines)


# ---------------------------------------------------------------- input tables


def reserved_keywords_in(text: str) -> list[str]:
    """Nova's reserved keywords found in ``text``, matched case-sensitively as Nova does."""
    return [keyword for keyword in NOVA_RESERVED_KEYWORDS if keyword in text]


def _check_header(table: Table, rules: ValidationRules) -> list[Issue]:
    issues = []
    duplicated = [name for name, n in Counter(table.columns).items() if n > 1]
    for name in duplicated:
        issues.append(
            Issue("duplicate_column", f"column {name!r} appears more than once in the header", field=name)
        )
    if table.format == "csv" and any(not name for name in table.columns):
        issues.append(Issue("empty_column_name", "the header has an empty column name", severity="warning"))
    present = set(table.columns)
    for column in rules.mapping.required:
        if column not in present:
            issues.append(
                Issue(
                    "missing_column",
                    f"required column {column!r} is missing; found columns {sorted(present)}",
                    field=column,
                    excerpt=excerpt(", ".join(table.columns)),
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
    if label is not None and label not in rules.labels:
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


def _check_optional_fields(table: Table, rules: ValidationRules) -> list[Issue]:
    """Nova: an optional field (system, id) must be present in every row or in none."""
    issues = []
    for column in rules.mapping.optional:
        present = [
            isinstance(row.get(column), (str, int)) and str(row.get(column)).strip() != ""
            for row in table.rows
        ]
        if any(present) and not all(present):
            first_missing = table.row_numbers[present.index(False)]
            issues.append(
                Issue(
                    "optional_field_inconsistent",
                    f"optional field {column!r} is set in {sum(present)} of {len(present)} rows; "
                    "set it in every row or in none",
                    row=first_missing,
                    field=column,
                )
            )
    return issues


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
            issues.append(
                Issue(
                    "conflicting_duplicate",
                    f"same question as row {earlier.row} but label {example.label!r} vs {earlier.label!r}",
                    row=example.row,
                    field=rules.mapping.label,
                    excerpt=excerpt(example.query),
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


def validate_table(table: Table, rules: ValidationRules) -> tuple[ValidationReport, list[Example]]:
    """Check every row; return the report and the rows that passed."""
    report = ValidationReport(source=table.path, rows_total=len(table.rows) + len(table.problems))
    for problem in table.problems:
        report.add(Issue("unparseable_record", str(problem), row=problem.row))
    header_issues = _check_header(table, rules)
    report.extend(header_issues)
    if any(issue.problem == "missing_column" for issue in header_issues):
        return report, []
    examples = []
    for row, number in zip(table.rows, table.row_numbers, strict=True):
        example, issues = _check_row(row, number, rules)
        report.extend(issues)
        if example is not None:
            examples.append(example)
    report.extend(_check_optional_fields(table, rules))
    report.extend(_check_duplicates(examples, rules))
    if len(examples) < rules.min_rows:
        report.add(
            Issue("too_few_rows", f"{len(examples)} usable rows; at least {rules.min_rows} are needed")
        )
    if rules.max_rows is not None and len(table.rows) > rules.max_rows:
        report.add(Issue("too_many_rows", f"{len(table.rows)} rows; at most {rules.max_rows} are allowed"))
    # A row that a later check (duplicates) found bad is not usable either.
    bad_rows = report.bad_rows
    return report, [example for example in examples if example.row not in bad_rows]


def validate_file(path: str | Path, rules: ValidationRules) -> tuple[ValidationReport, list[Example]]:
    """Read and check a CSV/JSONL file. A file that cannot be read yields a report, not an exception."""
    try:
        table = read_table(path)
    except DatasetFormatError as error:
        report = ValidationReport(source=str(path))
        report.add(Issue("unreadable_file", str(error), row=error.row, field=error.field))
        return report, []
    return validate_table(table, rules)
