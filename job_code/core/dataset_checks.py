"""Checks beyond the input table: the whole dataset (``check_dataset``), split sizes, split leaks and
formatted Nova records.

``check_dataset`` is the one place the Prepare step and ``forge validate`` both run, so a file one accepts
the other accepts too. The checks return ``Issue`` lists / a ``ValidationReport`` (job_code.core.validation),
never raise on bad data. Standard library only: this module runs inside the prepare Lambda.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any, Literal

from job_code.core.formats import CONVERSE_SCHEMA_VERSION, Example
from job_code.core.shortcuts import find_shortcuts, normalize_line_endings
from job_code.core.split import SplitError, Splits, split_examples
from job_code.core.validation import Issue, ValidationReport, excerpt
from pipeline_core.nova_keywords import reserved_keywords_in

# What Prepare reads. The table reader knows more (.tsv, .ndjson, ...), but the pipeline's contract
# (docs/contracts.md) is CSV, JSONL (column or chat form) or Parquet.
DATASET_SUFFIXES = (".csv", ".jsonl", ".parquet")  # Parquet: where pyarrow is (parquet_reader.py)

# Documented dataset size bounds (rows), by family and method. None = no documented bound.
# Nova SFT: Bedrock's Nova customization quotas (8 to 20,000 training records; from memory, not
# re-checked against the current quota page: verify before relying on the upper bound).
# Nova RFT: "a minimum of 100 records in training dataset" (Bedrock, Prepare data for Nova RFT).
ROW_COUNT_BOUNDS: dict[tuple[str, str], tuple[int, int | None]] = {
    ("nova", "SFT_LORA"): (8, 20_000),
    ("nova", "SFT_FULL"): (8, 20_000),
    ("nova", "RFT_LORA"): (100, None),
    ("nova", "EVAL_GEN_QA"): (1, None),
    ("hf", "sft"): (1, None),
    ("hf", "rft"): (1, None),
    ("hf", "eval"): (1, None),
}


def check_row_count(count: int, *, family: str, method: str, split: str) -> list[Issue]:
    """Documented size bounds for one split (see ROW_COUNT_BOUNDS)."""
    low, high = ROW_COUNT_BOUNDS.get((family, method), (1, None))
    if count < low:
        return [
            Issue(
                "too_few_rows",
                f"{split} has {count} rows; {family} {method} needs at least {low}",
                field=split,
            )
        ]
    if high is not None and count > high:
        return [
            Issue(
                "too_many_rows",
                f"{split} has {count} rows; {family} {method} allows at most {high}",
                field=split,
            )
        ]
    return []


def check_split_counts(
    counts: Mapping[str, int], *, family: str, sft_method: str | None = None, rft_method: str | None = None
) -> list[Issue]:
    """Bounds for every non-empty split of a run: ``counts`` maps sft / rft / eval to row counts.

    Nova methods come from the stage settings (e.g. SFT_LORA, RFT_LORA); eval is EVAL_GEN_QA.
    """
    methods = {"sft": sft_method or "SFT_LORA", "rft": rft_method or "RFT_LORA", "eval": "EVAL_GEN_QA"}
    issues = []
    for split in ("sft", "rft", "eval"):
        count = counts.get(split, 0)
        if count or split == "eval":
            method = methods[split] if family == "nova" else split
            issues += check_row_count(count, family=family, method=method, split=split)
    return issues


def question_key(query: str) -> str:
    """Questions that differ only in case or whitespace are the same question (as core.split dedups)."""
    return " ".join(query.lower().split())


def check_split_leaks(splits: Mapping[str, Sequence[Example]], *, held_out: str = "eval") -> list[Issue]:
    """A question of the held-out split that also appears in a training split is a leak."""
    if held_out not in splits:
        return []
    seen: dict[str, tuple[str, int]] = {}
    for name, examples in splits.items():
        if name != held_out:
            for example in examples:
                seen.setdefault(question_key(example.query), (name, example.row))
    issues = []
    for example in splits[held_out]:
        hit = seen.get(question_key(example.query))
        if hit:
            issues.append(
                Issue(
                    "split_leak",
                    f"{held_out} question also in {hit[0]} (source row {hit[1]})",
                    row=example.row,
                    field="query",
                    excerpt=excerpt(example.query),
                )
            )
    return issues


# ---------------------------------------------------------------- the whole dataset


@dataclass(frozen=True, slots=True)
class DatasetPlan:
    """What the config asks of the data: its labels, the split and the methods that bound each split's size.

    Split sizes are those of the enabled stages (0 for a disabled one); ``eval`` is ignored when a separate
    eval dataset is given. ``label_field`` names the label column in issues.
    """

    labels: tuple[str, ...]
    sft: int
    eval: int
    rft: int
    reuse_sft_for_rft: bool = True
    seed: int = 42
    family: str = "nova"
    sft_method: str | None = None
    rft_method: str | None = None
    label_field: str = "label"
    normalize_line_endings: bool = False  # data.normalize_line_endings: \r\n and \r become \n
    # generation: no label set (labels empty), no label shortcuts, no stratified split.
    task: str = "classification"


@dataclass
class CheckedDataset:
    """``check_dataset``'s answer: the report and, when it has no error, the split."""

    report: ValidationReport
    splits: Splits | None = None
    held_out: list[Example] | None = None  # the separate eval dataset's rows, if one was given

    def sets(self) -> dict[str, list[Example]]:
        """The rows of each dataset Prepare writes (only for a dataset without errors)."""
        if self.splits is None:
            raise ValueError(f"{self.report.source}: the dataset has errors; there is no split")
        held_out = self.held_out if self.held_out is not None else self.splits.eval
        return {"sft": self.splits.sft, "rft": self.splits.rft, "eval": held_out}


# Reads one dataset (a local path or an s3:// URI) into a row-level report and the rows that passed.
Reader = Callable[[str], tuple[ValidationReport, list[Example]]]


def check_suffix(source: str) -> list[Issue]:
    suffix = PurePosixPath(source).suffix.lower()
    if suffix in DATASET_SUFFIXES:
        return []
    return [
        Issue(
            "unsupported_file_type",
            f"{source}: expected a {' or '.join(DATASET_SUFFIXES)} file, got {suffix or 'no extension'!r}",
        )
    ]


def check_labels_present(examples: Sequence[Example], labels: Sequence[str], field: str) -> list[Issue]:
    """Every configured label needs rows: a class without any cannot be learnt, nor its accuracy measured."""
    seen = {example.label for example in examples}
    return [
        Issue(
            "label_missing",
            f"label {label!r} has no rows; every configured label {list(labels)} needs examples",
            field=field,
            excerpt=label,
        )
        for label in labels
        if label not in seen
    ]


def check_case_conflicts(examples: Sequence[Example], *, label_field: str) -> list[Issue]:
    """Questions equal up to case or whitespace but labelled differently. The split keeps only the first
    of them (job_code.core.split.deduplicate), so the other label would vanish without a word."""
    first: dict[str, Example] = {}
    issues = []
    for example in examples:
        earlier = first.setdefault(question_key(example.query), example)
        if earlier is not example and earlier.label != example.label:
            issues.append(
                Issue(
                    "conflicting_duplicate",
                    f"same question as row {earlier.row} up to case or whitespace, but label "
                    f"{example.label!r} vs {earlier.label!r}",
                    row=example.row,
                    field=label_field,
                    excerpt=excerpt(example.query),
                )
            )
    return issues


def _read_checked(
    source: str, read: Reader, plan: DatasetPlan, *, labels_needed: bool
) -> tuple[ValidationReport, list[Example]]:
    suffix_issues = check_suffix(source)
    if suffix_issues:  # not read at all: the pipeline would not read it either
        report = ValidationReport(source=source)
        report.extend(suffix_issues)
        return report, []
    report, examples = read(source)
    conflicts = check_case_conflicts(examples, label_field=plan.label_field)
    if plan.task == "generation":  # two references to one question may both be right: the split keeps one
        conflicts = [replace(issue, severity="warning") for issue in conflicts]
    report.extend(conflicts)
    if labels_needed and examples:
        report.extend(check_labels_present(examples, plan.labels, plan.label_field))
    bad_rows = report.bad_rows
    kept = [example for example in examples if example.row not in bad_rows]
    if plan.normalize_line_endings:
        kept = [replace(e, query=normalize_line_endings(e.query)) if "\r" in e.query else e for e in kept]
    return report, kept


def check_shortcuts(examples: Sequence[Example], report: ValidationReport, *, label_field: str) -> None:
    """Warn (never fail: the case study keeps its raw text) when a surface feature gives the label away."""
    shortcuts, _ = find_shortcuts([e.query for e in examples], [e.label for e in examples])
    report.shortcuts = [shortcut.to_dict() for shortcut in shortcuts]
    report.extend(Issue("label_shortcut", s.message, field=label_field, excerpt=s.feature, severity="warning")
                  for s in shortcuts)


def check_dataset(
    dataset: str, plan: DatasetPlan, read: Reader, eval_dataset: str | None = None
) -> CheckedDataset:
    """Every check the Prepare step runs before it writes a dataset, in one place (``forge validate`` runs
    the same): file type, the row-level validation (``read``), conflicting duplicates up to case, every label
    present, the split, split leaks and the documented row-count bounds of each split; and, as warnings, the
    surface features that predict the label (job_code.core.shortcuts), on the rows as the model will see them
    (after ``plan.normalize_line_endings``).
    """
    generation = plan.task == "generation"
    report, examples = _read_checked(dataset, read, plan, labels_needed=not generation)
    if not generation:  # a free-text answer is no label a surface feature could give away
        check_shortcuts(examples, report, label_field=plan.label_field)
    held_out = None
    if eval_dataset is not None:
        eval_report, held_out = _read_checked(eval_dataset, read, plan, labels_needed=False)
        report.extend(eval_report.issues)
        report.rows_total += eval_report.rows_total
    if not report.ok:
        return CheckedDataset(report)
    try:
        splits = split_examples(
            examples,
            sft=plan.sft,
            eval=0 if held_out is not None else plan.eval,
            rft=plan.rft,
            reuse_sft_for_rft=plan.reuse_sft_for_rft,
            seed=plan.seed,
            stratify=not generation,
        )
    except SplitError as error:
        report.add(Issue("too_few_rows_for_split", str(error)))
        return CheckedDataset(report)
    checked = CheckedDataset(report, splits, held_out)
    sets = checked.sets()
    report.extend(check_split_leaks(sets))
    counts = {name: len(rows) for name, rows in sets.items()}
    report.extend(
        check_split_counts(counts, family=plan.family, sft_method=plan.sft_method, rft_method=plan.rft_method)
    )
    return checked if report.ok else CheckedDataset(report)


def _text_of(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [item.get("text") for item in content if isinstance(item, dict)]
        if texts and all(isinstance(t, str) for t in texts):
            return "".join(texts)
    return None


def _check_messages(messages: Any, number: int, kind: str) -> list[Issue]:
    if not isinstance(messages, list) or not messages:
        return [Issue("bad_messages", "messages must be a non-empty list", row=number, field="messages")]
    issues = []
    roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
    if kind == "sft":
        expected = ["user" if i % 2 == 0 else "assistant" for i in range(len(roles))]
        if roles != expected or roles[-1] != "assistant":
            issues.append(
                Issue(
                    "role_order",
                    f"roles must alternate user/assistant and end with assistant, got {roles}",
                    row=number,
                    field="messages",
                )
            )
    else:
        if "system" in roles and roles[0] != "system":
            issues.append(
                Issue(
                    "role_order",
                    f"the system message must come first, got {roles}",
                    row=number,
                    field="messages",
                )
            )
        if "user" not in roles:
            issues.append(
                Issue(
                    "role_order",
                    f"at least one user message is needed, got {roles}",
                    row=number,
                    field="messages",
                )
            )
    for index, message in enumerate(messages):
        text = _text_of(message.get("content")) if isinstance(message, dict) else None
        if text is None or not text.strip():
            issues.append(
                Issue("empty_message", f"message {index} has no text", row=number, field=f"messages[{index}]")
            )
        elif found := reserved_keywords_in(text):
            issues.append(
                Issue(
                    "reserved_keyword",
                    f"message {index} contains Nova reserved keyword(s) {found}",
                    row=number,
                    field=f"messages[{index}]",
                    excerpt=excerpt(text),
                )
            )
    return issues


def validate_records(
    records: Sequence[Mapping[str, Any]], kind: Literal["sft", "rft", "eval"], source: str = "<records>"
) -> ValidationReport:
    """Check formatted Nova records (Converse SFT, RFT, gen_qa) against Nova's documented rules."""
    report = ValidationReport(source=source, rows_total=len(records))
    has_system = []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            report.add(Issue("not_an_object", "record is not a JSON object", row=number))
            continue
        if kind == "sft":
            if record.get("schemaVersion") != CONVERSE_SCHEMA_VERSION:
                report.add(
                    Issue(
                        "bad_schema_version",
                        f"schemaVersion must be {CONVERSE_SCHEMA_VERSION!r}",
                        row=number,
                        field="schemaVersion",
                        excerpt=excerpt(record.get("schemaVersion")),
                    )
                )
            has_system.append("system" in record)
            report.extend(_check_messages(record.get("messages"), number, kind))
        elif kind == "rft":
            report.extend(_check_messages(record.get("messages"), number, kind))
            reference = record.get("reference_answer")
            if not (isinstance(reference, str) and reference.strip()) and not (
                isinstance(reference, dict) and reference
            ):
                report.add(
                    Issue(
                        "empty_reference_answer",
                        "reference_answer must be a non-empty string or object",
                        row=number,
                        field="reference_answer",
                    )
                )
        else:
            for name in ("query", "response"):
                value = record.get(name)
                if not isinstance(value, str) or not value.strip():
                    report.add(
                        Issue("empty_text", f"{name!r} must be non-empty text", row=number, field=name)
                    )
    if any(has_system) and not all(has_system):
        report.add(
            Issue(
                "optional_field_inconsistent",
                "'system' must be present in every record or in none",
                row=has_system.index(False) + 1,
                field="system",
            )
        )
    return report
