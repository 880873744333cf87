"""The user's own metrics (``metrics.modules``): load each file, call its ``compute``, check what it returns.

Contract (docs/custom-metrics.md): a Python file defining
``compute(predictions: list[str], references: list[str], rows: list[dict]) -> dict[str, float]``, where
``rows[i]`` is ``{"id", "system", "question", "answer"}`` of the i-th eval row. The eval job runs every
module after the built-in set; the values join ``results.all`` (so the gate, the report and MLflow see
them) and ``custom_metrics`` records which file gave which name. A module that fails to import, raises or
returns anything but finite numbers under fresh names fails the eval with a message naming the file.

Standard library only (and pipeline_core): ``forge validate`` runs the same checks on sample rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from job_code.core.user_module import UserModuleError, import_file
from pipeline_core.settings_task import BUILTIN_METRICS, METRIC_NAME

Compute = Callable[[list[str], list[str], list[dict]], Any]
ROW_FIELDS = ("id", "system", "question", "answer")


class CustomMetricError(ValueError):
    """A metrics module cannot be loaded or returned something unusable; the message names the file."""


def resolve(path: str, root: Path) -> Path:
    """A module path of the ``metrics_modules`` hyperparameter: absolute, or relative to the code channel."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else root / candidate


def load_compute(path: Path) -> Compute:
    """Import ``path`` as its own module and return its ``compute``."""
    try:
        module = import_file(path, f"forge_custom_metric_{path.stem}")
    except UserModuleError as error:
        raise CustomMetricError(f"metrics module {path.name}: {error}") from error
    compute = getattr(module, "compute", None)
    if not callable(compute):
        raise CustomMetricError(f"metrics module {path.name}: defines no function compute(predictions, "
                                "references, rows)")
    return compute


def check_values(values: Any, source: str) -> dict[str, float]:
    """``compute``'s answer as {name: float}; CustomMetricError naming ``source`` and the bad entry."""
    if not isinstance(values, Mapping):
        raise CustomMetricError(f"metrics module {source}: compute returned {type(values).__name__}, "
                                "expected a dict of metric name -> number")
    if not values:
        raise CustomMetricError(f"metrics module {source}: compute returned an empty dict")
    checked = {}
    for key, value in values.items():
        if not isinstance(key, str) or not METRIC_NAME.match(key):
            raise CustomMetricError(f"metrics module {source}: metric name {key!r} is not a name "
                                    "(letters, digits, _ . -; at most 64 characters)")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise CustomMetricError(f"metrics module {source}: metric {key!r} is {value!r:.60} "
                                    f"({type(value).__name__}), expected a finite number")
        checked[key] = float(value)
    return checked


def run_module(path: Path, predictions: Sequence[str], references: Sequence[str],
               rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    compute = load_compute(path)
    try:
        values = compute(list(predictions), list(references), [dict(row) for row in rows])
    except Exception as error:
        raise CustomMetricError(f"metrics module {path.name}: compute raised {type(error).__name__}: "
                                f"{str(error)[:300]}") from error
    return check_values(values, path.name)


def run_custom_metrics(paths: Sequence[Path], predictions: Sequence[str], references: Sequence[str],
                       rows: Sequence[Mapping[str, Any]], taken: Sequence[str] = ()) -> dict[str, dict]:
    """{file name: {metric: value}} for each module in order; a name that is a built-in's, already in
    ``taken`` (the results so far) or another module's is an error naming both."""
    owners = dict.fromkeys(BUILTIN_METRICS, "the built-in metrics")
    owners.update(dict.fromkeys(taken, "the built-in metrics"))
    results: dict[str, dict] = {}
    for path in paths:
        values = run_module(path, predictions, references, rows)
        for key in values:
            if key in owners:
                raise CustomMetricError(f"metrics module {path.name}: metric {key!r} clashes with "
                                        f"{owners[key]}; rename it")
            owners[key] = f"metrics module {path.name}"
        results[path.name] = values
    return results


def merge_into(results: dict, custom: Mapping[str, Mapping[str, float]]) -> dict:
    """Add the custom values to ``results.all`` and record their files under ``custom_metrics``."""
    flat = results.setdefault("results", {}).setdefault("all", {})
    for values in custom.values():
        flat.update(values)
    results["custom_metrics"] = {name: dict(values) for name, values in custom.items()}
    return results


def row_dicts(rows: Sequence[Any]) -> list[dict]:
    """What ``compute`` gets per eval row, from objects with the ROW_FIELDS attributes (job_code.chat)."""
    return [{field: getattr(row, field, None) for field in ROW_FIELDS} for row in rows]


SAMPLE_ROWS = 3


def check_modules_on_samples(paths: Sequence[Path], examples: Sequence[Any]) -> list[Any]:
    """What ``forge validate`` runs before any job: each module imported and called on a few rows of the
    eval set, answered once perfectly (the references) and once with an empty last answer, so a module that
    raises (a division by zero on empty text, say) or returns non-numbers fails here, naming the file.
    ``examples`` are job_code.core.formats.Example; returns validation Issues (problem metric_module)."""
    from job_code.core.validation_report import Issue

    sample = list(examples)[:SAMPLE_ROWS]
    if not sample:
        return []
    references = [example.label for example in sample]
    rows = [{"id": e.id, "system": e.system, "question": e.query, "answer": e.label} for e in sample]
    issues = []
    for answers in (references, [*references[:-1], ""]):
        try:
            run_custom_metrics(paths, answers, references, rows)
        except CustomMetricError as error:
            issues.append(Issue("metric_module", str(error), field="metrics.modules"))
            break
    return issues
