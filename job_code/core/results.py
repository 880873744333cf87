"""Nova's eval output shape, read and written.

Nova's gen_qa evaluator writes ``results_<timestamp>.json`` (lighteval's layout: the metrics under
``results.all``, sometimes also under a task key such as ``custom|gen_qa|0``) and
``inference_output.jsonl`` (one line per sample: ``prompt``, ``inference`` (a string or a list of
strings), ``gold``, optional ``metadata``). Our own eval writes the same ``{"results": {"all": …}}``
with extras (per-class scores, confusion matrix, answer lengths) alongside, so the gate and the report
read every stage the same way.

Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from job_code.core.formats import jsonl_lines

RESULTS_GLOB = "results_*.json"
INFERENCE_FILE = "inference_output.jsonl"


class ResultsFormatError(ValueError):
    """An eval output file is missing or not in the expected shape; the message names the file."""


@dataclass(frozen=True, slots=True)
class InferenceRecord:
    prompt: str
    prediction: str
    gold: str
    metadata: Any = None


def nova_results(metrics: Mapping[str, float], **extras: Any) -> dict[str, Any]:
    """``{"results": {"all": metrics}, **extras}``; an extra may not be called ``results``."""
    if "results" in extras:
        raise ValueError("'results' is reserved for the metrics")
    return {"results": {"all": dict(metrics)}, **extras}


def write_results(path: str | Path, metrics: Mapping[str, float], **extras: Any) -> dict[str, Any]:
    document = nova_results(metrics, **extras)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False), encoding="utf-8")
    return document


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ResultsFormatError(f"cannot read {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ResultsFormatError(f"{path} is not valid JSON: {error.msg} at line {error.lineno}") from None


def metrics_of(document: Mapping[str, Any], source: str = "<results>") -> dict[str, float]:
    """The flat metrics of a results document: ``results.all``, else the only task entry."""
    results = document.get("results") if isinstance(document, Mapping) else None
    if not isinstance(results, Mapping) or not results:
        raise ResultsFormatError(f"{source} has no 'results' object")
    block = results.get("all")
    if block is None and len(results) == 1:
        block = next(iter(results.values()))
    if not isinstance(block, Mapping):
        raise ResultsFormatError(f"{source}: 'results' has no 'all' entry (keys: {sorted(results)})")
    return {k: float(v) for k, v in block.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def find_results_file(directory: str | Path) -> Path:
    """The newest ``results_*.json`` under ``directory`` (Nova nests it in sub-folders)."""
    candidates = sorted(Path(directory).rglob(RESULTS_GLOB), key=lambda p: (p.name, str(p)))
    if not candidates:
        raise ResultsFormatError(f"no {RESULTS_GLOB} under {directory}")
    return candidates[-1]


def read_results(path: str | Path) -> dict[str, float]:
    """Flat metrics from a results file, or from the newest ``results_*.json`` in a directory."""
    path = Path(path)
    if path.is_dir():
        path = find_results_file(path)
    return metrics_of(_load_json(path), str(path))


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value)


def read_inference_output(path: str | Path) -> list[InferenceRecord]:
    """Nova's ``inference_output.jsonl`` (or ours) as records; a bad line raises naming its number."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.rglob(INFERENCE_FILE))
        if not found:
            raise ResultsFormatError(f"no {INFERENCE_FILE} under {path}")
        path = found[-1]
    try:
        lines = jsonl_lines(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ResultsFormatError(f"cannot read {path}: {error.strerror}") from None
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ResultsFormatError(f"{path} line {number} is not valid JSON: {error.msg}") from None
        if not isinstance(row, Mapping) or "inference" not in row:
            raise ResultsFormatError(f"{path} line {number} has no 'inference' field")
        records.append(
            InferenceRecord(
                prompt=_text(row.get("prompt")),
                prediction=_text(row.get("inference")),
                gold=_text(row.get("gold")),
                metadata=row.get("metadata"),
            )
        )
    return records


def rescore_inference_output(
    path: str | Path, labels: Sequence[str] | None = None, *, text_metrics: bool = True
) -> dict[str, Any]:
    """Recompute our metric set from an ``inference_output.jsonl``, in Nova's results shape.

    ``text_metrics=False``: only what the Lambda runtime can compute (label metrics, answer lengths).
    """
    from job_code.core.metrics import compute_report

    records = read_inference_output(path)
    if not records:
        raise ResultsFormatError(f"{path} has no inference records")
    report = compute_report([r.prediction for r in records], [r.gold for r in records], labels,
                            text_metrics=text_metrics)
    metrics = report.pop("metrics")
    report.pop("parsed_labels", None)
    return nova_results(metrics, **report)
