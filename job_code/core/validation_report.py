"""Findings of data validation: an ``Issue`` per problem found, collected by a ``ValidationReport`` that
renders JSON (``to_dict``) and a short human summary (``summary``).

Every text a finding carries is bounded: a hostile row (a 10 MB label, a header of 50,000 columns) must
not make a huge report or a huge error message (the summary is a failed execution's Cause).

Standard library only: this module runs inside the prepare Lambda.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]

EXCERPT_CHARS = 80
MESSAGE_CHARS = 400
FIELD_CHARS = 120


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    if isinstance(value, str):
        text = value[: limit * 4]  # whitespace is collapsed below; never split a whole long cell
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return _bounded(" ".join(text.split()), limit)


@dataclass(frozen=True, slots=True)
class Issue:
    problem: str
    message: str
    row: int | None = None
    field: str | None = None
    excerpt: str = ""
    severity: Severity = "error"

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", _bounded(self.message, MESSAGE_CHARS))
        object.__setattr__(self, "excerpt", _bounded(self.excerpt, EXCERPT_CHARS))
        if self.field is not None:
            object.__setattr__(self, "field", _bounded(self.field, FIELD_CHARS))


@dataclass
class ValidationReport:
    """All findings about one input. ``ok`` is False as soon as there is one error."""

    source: str
    rows_total: int = 0
    issues: list[Issue] = field(default_factory=list)
    max_issues_per_problem: int = 200
    # Surface features that predict the label (job_code.core.shortcuts.Shortcut.to_dict()), also warnings.
    shortcuts: list[dict[str, Any]] = field(default_factory=list)
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

    def merge(self, other: ValidationReport) -> None:
        """Add ``other``'s findings: its counts (beyond the issues it kept) and its rows with errors."""
        self.rows_total += other.rows_total
        for issue in other.issues:
            if self.counts[(issue.severity, issue.problem)] < self.max_issues_per_problem:
                self.issues.append(issue)
        self.counts.update(other.counts)
        self._bad_rows |= other._bad_rows

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
            "shortcuts": self.shortcuts,
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
        # A shortcut is only a warning, but the one a user must read before paying for training.
        lines += [f"  ! {shortcut['message']}" for shortcut in self.shortcuts[:examples]]
        return "\n".join(lines)
