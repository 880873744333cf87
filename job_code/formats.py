"""Dataset formats: read the user's CSV/JSONL, write the family-specific training/eval files.

Readers are tolerant of real-world CSV (BOM, quoted newlines, extra columns, mixed line endings)
and report where a file is broken instead of guessing. Writers produce:

- SFT for Nova: Converse records (``bedrock-conversation-2024``);
- RFT for Nova: ``{"id", "messages": [system, user], "reference_answer"}``;
- eval for Nova: gen_qa ``{"query", "response", "system"}`` in one ``gen_qa.jsonl``;
- everything for open-weights models: ``{"id", "messages": [system, user, assistant], "label"}``.

Standard library only: this module runs inside the prepare Lambda.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

CONVERSE_SCHEMA_VERSION = "bedrock-conversation-2024"
GEN_QA_FILENAME = "gen_qa.jsonl"

Family = Literal["nova", "hf"]
SplitKind = Literal["sft", "rft", "eval"]

# CSV cells can be large (long questions); the stdlib default limit is 128 KiB.
csv.field_size_limit(16 * 1024 * 1024)


class DatasetFormatError(ValueError):
    """A dataset file cannot be read as a table; ``row`` is the 1-based record (or line) at fault."""

    def __init__(self, message: str, *, row: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.row = row
        self.field = field


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


@dataclass(slots=True)
class Table:
    """Raw rows as read from a file. ``rows[i]`` came from record ``row_numbers[i]`` (1-based).

    For CSV the number counts data records (header excluded, a quoted newline does not start a new
    record); for JSONL it is the line number. ``problems`` holds records that could not be parsed
    (e.g. a JSONL line that is not JSON): the rest of the table is still usable.
    """

    path: str
    format: Literal["csv", "jsonl"]
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)
    problems: list[DatasetFormatError] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled question. ``system`` None means: use the configured system prompt."""

    id: str
    query: str
    label: str
    system: str | None = None
    row: int = 0


# ---------------------------------------------------------------- reading


def detect_format(path: str | Path) -> Literal["csv", "jsonl"]:
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise DatasetFormatError(f"{path}: unsupported file type {suffix!r}; expected .csv or .jsonl")


def _decode(data: bytes, path: str) -> str:
    try:
        # utf-8-sig drops a leading byte-order mark (Excel writes one).
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DatasetFormatError(
            f"{path}: not valid UTF-8 at byte {error.start} (line {line}); save the file as UTF-8",
            row=line,
        ) from None


def parse_csv(text: str, path: str = "<csv>") -> Table:
    """Parse CSV text. Mixed \\n / \\r\\n / \\r line endings and quoted newlines are fine."""
    if "\x00" in text:
        raise DatasetFormatError(f"{path}: contains NUL bytes; is it a binary or UTF-16 file?")
    delimiter = "\t" if path.endswith(".tsv") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise DatasetFormatError(f"{path}: the file is empty; expected a header row")
        columns = [name.strip() for name in header]
        table = Table(path=path, format="csv", columns=columns)
        width = len(columns)
        for number, record in enumerate(reader, start=1):
            if not record or (len(record) == 1 and not record[0].strip() and width > 1):
                continue  # blank line
            if len(record) > width:
                table.problems.append(
                    DatasetFormatError(
                        f"record {number} has {len(record)} fields but the header has {width}; "
                        "is a field with a comma not quoted?",
                        row=number,
                    )
                )
                continue
            # Short records: missing trailing cells read as absent (the validator reports them).
            table.rows.append(dict(zip(columns, record, strict=False)))
            table.row_numbers.append(number)
    except csv.Error as error:
        raise DatasetFormatError(
            f"{path}: malformed CSV near record {reader.line_num}: {error}", row=reader.line_num
        ) from None
    return table


def jsonl_lines(text: str) -> list[str]:
    """The lines of a JSON Lines text, split on "\\n" only (a trailing "\\r" is dropped).

    Never ``str.splitlines()``: it also splits on U+2028, U+0085 and other characters that
    ``json.dumps(..., ensure_ascii=False)`` leaves raw inside strings, so a file we wrote could not be
    read back (a case-study question holds a U+2028).
    """
    return [line.removesuffix("\r") for line in text.split("\n")]


def parse_jsonl(text: str, path: str = "<jsonl>") -> Table:
    """Parse JSON Lines. Blank lines are skipped; a bad line is recorded, not fatal."""
    table = Table(path=path, format="jsonl", columns=[])
    seen: dict[str, None] = {}
    for number, line in enumerate(jsonl_lines(text), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            table.problems.append(
                DatasetFormatError(f"line {number} is not valid JSON: {error.msg}", row=number)
            )
            continue
        if not isinstance(value, dict):
            table.problems.append(
                DatasetFormatError(
                    f"line {number} is a JSON {type(value).__name__}, expected an object", row=number
                )
            )
            continue
        for key in value:
            seen.setdefault(key, None)
        table.rows.append(value)
        table.row_numbers.append(number)
    table.columns = list(seen)
    return table


def read_table(path: str | Path) -> Table:
    """Read a CSV or JSONL file into a Table. Raises DatasetFormatError if the file is unusable."""
    path = Path(path)
    kind = detect_format(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DatasetFormatError(f"{path}: cannot read: {error.strerror}") from None
    if not data.strip():
        raise DatasetFormatError(f"{path}: the file is empty")
    text = _decode(data, str(path))
    return parse_csv(text, str(path)) if kind == "csv" else parse_jsonl(text, str(path))


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
        "messages": [
            {"role": "system", "content": _system(example, system_prompt)},
            {"role": "user", "content": example.query},
        ],
        "reference_answer": example.label,
    }


def gen_qa_record(example: Example, system_prompt: str) -> dict[str, Any]:
    """Nova gen_qa evaluation row."""
    return {"query": example.query, "response": example.label, "system": _system(example, system_prompt)}


def chat_record(example: Example, system_prompt: str) -> dict[str, Any]:
    """Open-weights chat format (docs/contracts.md); the last message is the target answer."""
    return {
        "id": example.id,
        "messages": [
            {"role": "system", "content": _system(example, system_prompt)},
            {"role": "user", "content": example.query},
            {"role": "assistant", "content": example.label},
        ],
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
    examples: Iterable[Example], family: Family, kind: SplitKind, system_prompt: str
) -> Iterator[dict]:
    try:
        writer = _WRITERS[(family, kind)]
    except KeyError:
        raise ValueError(f"no writer for family={family!r} kind={kind!r}") from None
    return (writer(example, system_prompt) for example in examples)


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


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL file we (or Nova) wrote. Raises DatasetFormatError naming the bad line."""
    table = parse_jsonl(_decode(Path(path).read_bytes(), str(path)), str(path))
    if table.problems:
        raise table.problems[0]
    return table.rows


def write_split(
    examples: Iterable[Example], *, family: Family, kind: SplitKind, system_prompt: str, out_dir: str | Path
) -> Path:
    """Write one formatted split under ``out_dir`` and return the file's path."""
    path = Path(out_dir) / dataset_filename(family, kind)
    write_jsonl(path, format_records(examples, family, kind, system_prompt))
    return path
