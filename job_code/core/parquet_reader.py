"""Parquet input tables, read with pyarrow where it is installed (``forge validate``, local job code).

The Prepare Lambda's runtime has no pyarrow (nor pandas, nor any pure-Python Parquet decoder that handles
the compressions real files use), so there a Parquet file gets one clear error: convert it to JSONL (the
message says how). Record numbers are 1-based row indexes; cells arrive as Python values (str, int, None,
lists, bytes), which the validator checks as it checks JSONL cells.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from job_code.core.table_reader import DatasetFormatError, Record, TableStream

PARQUET_SUFFIXES = (".parquet", ".pq")
BATCH_ROWS = 1024  # rows decoded at a time: memory follows the batch, not the file
CONVERT_HINT = ("convert it to JSONL, e.g. pandas.read_parquet(path).to_json(out, orient='records', "
                "lines=True, force_ascii=False)")


def _pyarrow_parquet(name: str) -> Any:
    try:
        import pyarrow.parquet as parquet  # optional: not in the Lambda runtime
    except ImportError:
        raise DatasetFormatError(
            f"{name}: reading Parquet needs pyarrow, which this runtime lacks (the Prepare Lambda has none); "
            f"{CONVERT_HINT}"
        ) from None
    return parquet


def open_parquet(path: Path, name: str) -> TableStream:
    parquet = _pyarrow_parquet(name)
    try:
        handle = parquet.ParquetFile(path)
    except Exception as error:  # pyarrow raises ArrowInvalid / OSError for what is not Parquet
        raise DatasetFormatError(f"{name}: not a readable Parquet file: {str(error)[:200]}") from None
    columns = [str(column) for column in handle.schema_arrow.names]

    def records() -> Iterator[Record]:
        number = 0
        try:
            for batch in handle.iter_batches(batch_size=BATCH_ROWS):
                for row in batch.to_pylist():
                    number += 1
                    yield number, {str(key): value for key, value in row.items()}
        except Exception as error:
            raise DatasetFormatError(f"{name}: row group after row {number} cannot be decoded: "
                                     f"{str(error)[:200]}", row=number + 1) from None

    return TableStream(path=name, format="parquet", columns=columns, records=records())
