"""Dataset formats: read the user's CSV/JSONL, write the family-specific training/eval files.

Readers (job_code.core.table_reader) are tolerant of real-world CSV (BOM, quoted newlines, extra columns,
mixed line endings), stream the file, and report where a file is broken instead of guessing. Writers produce:

- SFT for Nova: Converse records (``bedrock-conversation-2024``);
- RFT for Nova: ``{"id", "messages": [system, user], "reference_answer"}``;
- eval for Nova: gen_qa ``{"query", "response", "system"}`` in one ``gen_qa.jsonl``;
- everything for open-weights models: ``{"id", "messages": [system, user, assistant], "label"}``.

Standard library only: this module runs inside the prepare Lambda.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

# The readers live in job_code.core.table_reader; these names are imported from here by the rest of the code.
from job_code.core.table_reader import (  # noqa: F401
    MAX_JSON_DEPTH,
    DatasetFormatError,
    Table,
    TableStream,
    detect_format,
    jsonl_lines,
    open_table,
    parse_csv,
    parse_jsonl,
    read_jsonl,
    read_table,
)

CONVERSE_SCHEMA_VERSION = "bedrock-conversation-2024"
GEN_QA_FILENAME = "gen_qa.jsonl"

Family = Literal["nova", "hf"]
SplitKind = Literal["sft", "rft", "eval"]


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """Which input columns hold the question, the answer label and the optional extras."""

    query: str = "text"
    label: str = "rating"
    system: str | None = None
    id: str | None = None

    @property
    def required(self) -> tuple[str, ...]:
        return (self.query, self.label)

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(column for column in (self.system, self.id) if column)


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled question. ``system`` None means: use the configured system prompt."""

    id: str
    query: str
    label: str
    system: str | None = None
    row: int = 0


# ---------------------------------------------------------------- reading


def _cell(row: dict[str, Any], column: str | None) -> str | None:
    if not column:
        return None
    value = row.get(column)
    if value is None:
        return None
    return value.strip() if isinstance(value, str) else None


def table_examples(table: Table, mapping: ColumnMapping) -> list[Example]:
    """Rows as Examples, for a table the validator accepted. Rows it would reject are skipped."""
    examples = []
    for row, number in zip(table.rows, table.row_numbers, strict=True):
        query, label = row.get(mapping.query), row.get(mapping.label)
        if not isinstance(query, str) or not isinstance(label, str) or not query.strip() or not label.strip():
            continue
        example_id = _cell(row, mapping.id) or f"row-{number}"
        examples.append(
            Example(
                id=example_id,
                query=query.strip(),
                label=label.strip(),
                system=_cell(row, mapping.system) or None,
                row=number,
            )
        )
    return examples


def load_examples(path: str | Path, mapping: ColumnMapping | None = None) -> list[Example]:
    """Read a file and return its usable rows (run the validator first to learn about the others)."""
    return table_examples(read_table(path), mapping or ColumnMapping())


# ---------------------------------------------------------------- writing


def _system(example: Example, system_prompt: str) -> str:
    return example.system if example.system else system_prompt


def _question(example: Example, system_prompt: str) -> list[dict[str, str]]:
    """The system + user turns the OpenAI-style chat formats (Nova RFT, open-weights chat) share."""
    return [
        {"role": "system", "content": _system(example, system_prompt)},
        {"role": "user", "content": example.query},
    ]


def sft_converse_record(example: Example, system_prompt: str) -> dict[str, Any]:
    """Nova SFT: one Bedrock Converse record, the label as the assistant's whole answer."""
    return {
        "schemaVersion": CONVERSE_SCHEMA_VERSION,
        "system": [{"text": _system(example, system_prompt)}],
        "messages": [
            {"role": "user", "content": [{"text": example.query}]},
            {"role": "assistant", "content": [{"text": example.label}]},
        ],
    }


def rft_record(example: Example, system_prompt: str) -> dict[str, Any]:
    """Nova RFT (OpenAI reinforcement fine-tuning format); the reward Lambda reads reference_answer."""
    return {
        "id": example.id,
        "messages": _question(example, system_prompt),
        "reference_answer": example.label,
    }


def gen_qa_record(example: Example, system_prompt: str) -> dict[str, Any]:
    """Nova gen_qa evaluation row."""
    return {"query": example.query, "response": example.label, "system": _system(example, system_prompt)}


def chat_record(example: Example, system_prompt: str) -> dict[str, Any]:
    """Open-weights chat format (docs/contracts.md); the last message is the target answer."""
    return {
        "id": example.id,
        "messages": [*_question(example, system_prompt), {"role": "assistant", "content": example.label}],
        "label": example.label,
    }


def prompt_messages(record: dict[str, Any]) -> list[dict[str, str]]:
    """The chat record's messages without the target answer: what a model is asked."""
    messages = list(record["messages"])
    return messages[:-1] if messages and messages[-1].get("role") == "assistant" else messages


_WRITERS = {
    ("nova", "sft"): sft_converse_record,
    ("nova", "rft"): rft_record,
    ("nova", "eval"): gen_qa_record,
    ("hf", "sft"): chat_record,
    ("hf", "rft"): chat_record,
    ("hf", "eval"): chat_record,
}


def dataset_filename(family: Family, kind: SplitKind) -> str:
    """File name of a formatted split; Nova's gen_qa evaluator needs exactly ``gen_qa.jsonl``."""
    if family == "nova" and kind == "eval":
        return GEN_QA_FILENAME
    return f"{kind}.jsonl"


def format_records(
    examples: Iterable[Example], family: Family, kind: SplitKind, system_prompt: str, *, labelled: bool = True
) -> Iterator[dict]:
    """The split's records. ``labelled=False`` (task.kind generation): open-weights chat records carry no
    ``label``, so the jobs see no label set (the answer is the assistant turn)."""
    try:
        writer = _WRITERS[(family, kind)]
    except KeyError:
        raise ValueError(f"no writer for family={family!r} kind={kind!r}") from None
    records = (writer(example, system_prompt) for example in examples)
    if labelled or family != "hf":
        return records
    return ({key: value for key, value in record.items() if key != "label"} for record in records)


def dumps_jsonl(records: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write records as JSON Lines; returns how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def write_split(
    examples: Iterable[Example], *, family: Family, kind: SplitKind, system_prompt: str, out_dir: str | Path
) -> Path:
    """Write one formatted split under ``out_dir`` and return the file's path."""
    path = Path(out_dir) / dataset_filename(family, kind)
    write_jsonl(path, format_records(examples, family, kind, system_prompt))
    return path
