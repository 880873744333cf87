"""Read the user's CSV/JSONL (and Parquet: job_code/core/parquet_reader.py) as a stream of records, with clear
errors for hostile files.

A file is decoded incrementally (``open_table``), so memory follows the record being read, not the file:
Prepare runs in a 512 MB Lambda and a 60 MB CSV must fit with room to spare. Every error names the file and
the *record* (a quoted CSV field with newlines spans several physical lines), and the field when known:

- a UTF-16/UTF-32 file (by its byte-order mark) is named as such; other bytes that are not UTF-8, and NUL
  bytes, are found in the record and field that hold them (bytes are decoded with ``surrogateescape``);
- a JSONL record nested deeper than ``MAX_JSON_DEPTH`` is rejected before ``json.loads`` (whose recursion
  would overflow), and so is a record longer than ``MAX_RECORD_CHARS``.

Standard library only: this module runs inside the prepare Lambda.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

# CSV cells can be large (long questions); the stdlib default limit is 128 KiB.
MAX_FIELD_CHARS = 16 * 1024 * 1024
csv.field_size_limit(MAX_FIELD_CHARS)
MAX_RECORD_CHARS = MAX_FIELD_CHARS
# Input rows are flat objects and our own records nest 5 deep; json.loads recurses once per level.
MAX_JSON_DEPTH = 20
_NAME_CHARS = 60  # a column or key quoted in a message

# UTF-32 first: its little-endian mark starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
# A NUL, or a byte that was not UTF-8 (surrogateescape maps byte 0xNN to U+DCNN).
_SUSPECT = re.compile("[\x00\udc80-\udcff]")
# JSON strings (with an optional ": " that makes them a key) and brackets; strings are skipped whole.
_JSON_TOKENS = re.compile(r'(?P<string>"[^"\\]*(?:\\.[^"\\]*)*")(?P<colon>\s*:)?|[\[{\]}]')


class DatasetFormatError(ValueError):
    """A dataset file or record cannot be read; ``row`` is the 1-based record at fault, ``field`` its column
    (or top-level key) when known."""

    def __init__(self, message: str, *, row: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.row = row
        self.field = field


@dataclass(slots=True)
class Table:
    """Raw rows as read from a file. ``rows[i]`` came from record ``row_numbers[i]`` (1-based).

    For CSV the number counts data records (header excluded, a quoted newline does not start a new
    record); for JSONL it is the line number. ``problems`` holds records that could not be parsed
    (e.g. a JSONL line that is not JSON): the rest of the table is still usable.
    """

    path: str
    format: Literal["csv", "jsonl", "parquet"]
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)
    problems: list[DatasetFormatError] = field(default_factory=list)


Record = tuple[int, "dict[str, Any] | DatasetFormatError"]


@dataclass(slots=True)
class TableStream:
    """A table read record by record. ``records`` yields (number, row) or (number, problem) in file order;
    CSV ``columns`` are known at once, JSONL ``columns`` grow as records are read (complete at the end).
    A fatal error (malformed CSV, bad bytes) raises DatasetFormatError from the iteration."""

    path: str
    format: Literal["csv", "jsonl", "parquet"]
    columns: list[str]
    records: Iterator[Record] = field(default_factory=lambda: iter(()))


def _name(value: str) -> str:
    return value if len(value) <= _NAME_CHARS else value[: _NAME_CHARS - 1] + "…"


def detect_format(path: str | Path) -> Literal["csv", "jsonl", "parquet"]:
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise DatasetFormatError(
        f"{path}: unsupported file type {_name(suffix)!r}; expected .csv, .jsonl or .parquet"
    )


def _suspect_cell(values: Iterable[tuple[str, Any]]) -> tuple[str, str] | None:
    """(column, what is wrong) for the first cell holding a NUL or a byte that is not UTF-8."""
    for column, value in values:
        found = _SUSPECT.search(value) if isinstance(value, str) else None
        if found:
            char = found.group()
            if char == "\x00":
                return column, "contains a NUL byte; is the file binary, or UTF-16 without a byte-order mark?"
            return column, f"is not valid UTF-8 (byte 0x{ord(char) - 0xDC00:02x}); save the file as UTF-8"
    return None


def parse_csv_stream(handle: Iterable[str], path: str = "<csv>") -> TableStream:
    """Read the header now and the records lazily. Mixed \\n / \\r\\n / \\r line endings and quoted newlines
    are fine when ``handle`` splits lines as ``newline=""`` does."""
    delimiter = "\t" if path.endswith(".tsv") else ","
    reader = csv.reader(handle, delimiter=delimiter, strict=True)

    def malformed(error: csv.Error, number: int, first_line: int) -> DatasetFormatError:
        where = "the header" if number == 0 else f"record {number}"
        return DatasetFormatError(
            f"{path}: malformed CSV in {where} (starting on line {first_line}): {error}", row=number or None
        )

    try:
        header = next(reader, None)
    except csv.Error as error:
        raise malformed(error, 0, 1) from None
    if header is None:
        raise DatasetFormatError(f"{path}: the file is empty; expected a header row")
    columns = [name.strip() for name in header]
    if suspect := _suspect_cell((f"column {i + 1}", name) for i, name in enumerate(header)):
        raise DatasetFormatError(f"{path}: the header's {suspect[0]} {suspect[1]}")

    def records() -> Iterator[Record]:
        width, number = len(columns), 0
        while True:
            first_line = reader.line_num + 1
            try:
                record = next(reader, None)
            except csv.Error as error:
                raise malformed(error, number + 1, first_line) from None
            if record is None:
                return
            number += 1  # a blank line counts, so numbers match what a spreadsheet shows minus the header
            if not record or (len(record) == 1 and not record[0].strip() and width > 1):
                continue
            if len(record) > width:
                yield number, DatasetFormatError(
                    f"record {number} has {len(record)} fields but the header has {width}; "
                    "is a field with a comma not quoted?",
                    row=number,
                )
                continue
            # Short records: missing trailing cells read as absent (the validator reports them).
            row = dict(zip(columns, record, strict=False))
            if suspect := _suspect_cell(row.items()):
                column, what = suspect
                raise DatasetFormatError(
                    f"{path}: record {number} (starting on line {first_line}), "
                    f"field {_name(column)!r}, {what}",
                    row=number,
                    field=column,
                )
            yield number, row

    return TableStream(path=path, format="csv", columns=columns, records=records())


def jsonl_lines(text: str) -> list[str]:
    """The lines of a JSON Lines text, split on "\\n" only (a trailing "\\r" is dropped).

    Never ``str.splitlines()``: it also splits on U+2028, U+0085 and other characters that
    ``json.dumps(..., ensure_ascii=False)`` leaves raw inside strings, so a file we wrote could not be
    read back (a case-study question holds a U+2028).
    """
    return [line.removesuffix("\r") for line in text.split("\n")]


def _too_deep(line: str) -> tuple[str | None] | None:
    """(top-level key,) where ``line`` nests deeper than MAX_JSON_DEPTH, ignoring brackets in strings."""
    if line.count("[") + line.count("{") <= MAX_JSON_DEPTH:
        return None  # the usual case, decided without a scan
    depth, key = 0, None
    for token in _JSON_TOKENS.finditer(line):
        if token.group("string"):
            if token.group("colon") and depth == 1:
                key = token.group("string")[1:-1]
        elif token.group() in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return (key,)
        else:
            depth -= 1
    return None


def parse_jsonl_record(line: str, number: int) -> dict[str, Any] | DatasetFormatError:
    """One JSON Lines record, or the reason it is not a usable one."""
    if deep := _too_deep(line):
        where = f" (in field {_name(deep[0])!r})" if deep[0] else ""
        return DatasetFormatError(
            f"line {number} is nested deeper than {MAX_JSON_DEPTH} levels{where}", row=number, field=deep[0]
        )
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        return DatasetFormatError(f"line {number} is not valid JSON: {error.msg}", row=number)
    except (ValueError, RecursionError) as error:  # e.g. an integer over the interpreter's digit limit
        return DatasetFormatError(f"line {number} is not valid JSON: {str(error)[:120]}", row=number)
    if not isinstance(value, dict):
        return DatasetFormatError(
            f"line {number} is a JSON {type(value).__name__}, expected an object", row=number
        )
    if suspect := _suspect_cell(cell for key, v in value.items() for cell in ((key, key), (key, v))):
        return DatasetFormatError(f"line {number}, field {_name(suspect[0])!r}, {suspect[1]}", row=number,
                                  field=suspect[0])
    return value


def _bounded_lines(handle: TextIO) -> Iterator[str | None]:
    """Lines split on "\\n" (without it and a trailing "\\r"); None for a line over MAX_RECORD_CHARS, which
    is skipped without being held."""
    while True:
        line = handle.readline(MAX_RECORD_CHARS + 1)
        if not line:
            return
        if len(line) > MAX_RECORD_CHARS and not line.endswith("\n"):
            while (rest := handle.readline(MAX_RECORD_CHARS)) and not rest.endswith("\n"):
                pass
            yield None
            continue
        yield line.removesuffix("\n").removesuffix("\r")


def parse_jsonl_stream(lines: Iterable[str | None], path: str = "<jsonl>") -> TableStream:
    """JSON Lines records, lazily. Blank lines are skipped; a bad line is a problem record, not fatal."""
    stream = TableStream(path=path, format="jsonl", columns=[])

    def records() -> Iterator[Record]:
        seen: dict[str, None] = {}
        for number, line in enumerate(lines, start=1):
            if line is None:
                yield number, DatasetFormatError(
                    f"line {number} is longer than {MAX_RECORD_CHARS} characters", row=number
                )
                continue
            if not line.strip():
                continue
            value = parse_jsonl_record(line, number)
            if isinstance(value, dict):
                for key in value:
                    if key not in seen:
                        seen[key] = None
                        stream.columns.append(key)
            yield number, value

    stream.records = records()
    return stream


def _check_unicode(handle: Any, path: str | Path) -> None:
    head = handle.read(4)
    for bom, name in _BOMS:
        if head.startswith(bom):
            raise DatasetFormatError(
                f"{path}: the file is {name} (it starts with the byte-order mark {bom.hex(' ')}); "
                "save it as UTF-8"
            )
    handle.seek(0)


def _is_blank(handle: Any) -> bool:
    """True if the file holds only ASCII whitespace; reads no further than the first other byte."""
    while chunk := handle.read(1 << 16):
        if chunk.strip():
            handle.seek(0)
            return False
    return True


@contextlib.contextmanager
def open_table(path: str | Path, source: str | None = None) -> Iterator[TableStream]:
    """Open a CSV, JSONL or Parquet file as a TableStream. Raises DatasetFormatError if the file is unusable.
    Messages name ``source`` (e.g. the S3 URI the file was downloaded from), by default ``path``."""
    path = Path(path)
    name = source or str(path)
    kind = detect_format(name if source else path)
    if kind == "parquet":  # binary and columnar: its own reader (pyarrow, where installed)
        from job_code.core.parquet_reader import open_parquet

        if not path.is_file():
            raise DatasetFormatError(f"{name}: cannot read: no such file")
        yield open_parquet(path, name)
        return
    try:
        raw = path.open("rb")
    except OSError as error:
        raise DatasetFormatError(f"{name}: cannot read: {error.strerror}") from None
    # utf-8-sig drops a leading byte-order mark (Excel writes one).
    newline = "" if kind == "csv" else "\n"
    with raw, io.TextIOWrapper(raw, "utf-8-sig", errors="surrogateescape", newline=newline) as text:
        _check_unicode(raw, name)
        if _is_blank(raw):
            raise DatasetFormatError(f"{name}: the file is empty")
        if kind == "csv":
            yield parse_csv_stream(text, name)
        else:
            yield parse_jsonl_stream(_bounded_lines(text), name)


def collect(stream: TableStream) -> Table:
    """The whole table in memory (small files, tests); the validator iterates the stream instead."""
    table = Table(path=stream.path, format=stream.format, columns=stream.columns)
    for number, item in stream.records:
        if isinstance(item, DatasetFormatError):
            table.problems.append(item)
        else:
            table.rows.append(item)
            table.row_numbers.append(number)
    table.columns = list(stream.columns)
    return table


def parse_csv(text: str, path: str = "<csv>") -> Table:
    return collect(parse_csv_stream(io.StringIO(text, newline=""), path))


def parse_jsonl(text: str, path: str = "<jsonl>") -> Table:
    return collect(parse_jsonl_stream(jsonl_lines(text), path))


def read_table(path: str | Path) -> Table:
    """Read a CSV or JSONL file into a Table. Raises DatasetFormatError if the file is unusable."""
    with open_table(path) as stream:
        return collect(stream)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL file we (or Nova) wrote. Raises DatasetFormatError naming the bad line."""
    path = Path(path)
    with path.open("rb") as raw, io.TextIOWrapper(raw, "utf-8-sig", errors="surrogateescape",
                                                  newline="\n") as text:
        _check_unicode(raw, path)
        rows = []
        for _, item in parse_jsonl_stream(_bounded_lines(text), str(path)).records:
            if isinstance(item, DatasetFormatError):
                raise DatasetFormatError(f"{path}: {item}", row=item.row, field=item.field)
            rows.append(item)
    return rows
