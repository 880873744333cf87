"""The task a pipeline learns (``task.kind``) and the user's own metric files (``metrics.modules``).

``classification`` (the default, the case study): the answers are a closed label set (``data.labels``).
``generation``: free-text answers (the ``data.label_column`` holds each row's reference answer); no label
set, no label-only metrics, no chance/majority gate rules.

A metrics module is a Python file (path relative to the config file) defining
``compute(predictions: list[str], references: list[str], rows: list[dict]) -> dict[str, float]``. It ships in
the code channel under ``CUSTOM_METRICS_DIR`` (``channel_path``) and the eval job runs it after the built-ins
(job_code/core/custom_metrics.py).

pydantic + stdlib only: this module ships in the Lambda bundle with the settings.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from pipeline_core.settings import Settings

CLASSIFICATION, GENERATION = "classification", "generation"
# Where the metric files sit inside the code channel (and the eval job's `metrics_modules` hyperparameter).
CUSTOM_METRICS_DIR = "custom_metrics"
# Every metric name the built-in set can put in results.all (job_code.core.metrics; a test keeps them equal).
TEXT_METRICS = ("em", "qem", "f1", "f1_score_quasi", "rouge1", "rouge2", "rougeL", "bleu")
LABEL_ONLY_METRICS = ("accuracy", "macro_f1", "exact_format")
BUILTIN_METRICS = frozenset(
    [*TEXT_METRICS, *(f"{name}_stderr" for name in TEXT_METRICS), *LABEL_ONLY_METRICS, "accuracy_stderr"]
)
# The built-in metrics a gate may compare (their stderr and the format rate are not scores to promote on).
GATE_BUILTIN_METRICS = ("accuracy", "em", "qem", "f1", "macro_f1", "rouge1", "rougeL", "bleu")
METRIC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
_MODULE_STEM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskSettings(_Strict):
    kind: Literal["classification", "generation"] = CLASSIFICATION


class MetricsSettings(_Strict):
    # Paths of metric files relative to the config file, e.g. ["metrics/json_fields.py"].
    modules: list[str] = Field(default_factory=list, max_length=10)

    @field_validator("modules")
    @classmethod
    def _paths(cls, modules: list[str]) -> list[str]:
        stems: dict[str, str] = {}
        for module in modules:
            path = PurePosixPath(module.replace("\\", "/"))
            if path.is_absolute() or ".." in path.parts or path.suffix != ".py":
                raise ValueError(f"{module!r} must be a relative path to a .py file inside the config's "
                                 "directory tree (no '..', no absolute path)")
            if not _MODULE_STEM.match(path.stem):
                raise ValueError(f"{module!r}: the file name must be a Python identifier")
            if path.stem in stems:
                raise ValueError(f"{module!r} and {stems[path.stem]!r} have the same file name "
                                 f"{path.name!r}; they would overwrite each other in the code channel")
            stems[path.stem] = module
        return modules


def channel_path(module: str) -> str:
    """Where a declared metrics module lands inside the code channel (relative to its root)."""
    return f"{CUSTOM_METRICS_DIR}/{PurePosixPath(module.replace(chr(92), '/')).name}"


def channel_paths(settings: Settings) -> list[str]:
    return [channel_path(module) for module in settings.metrics.modules]


def module_sources(settings: Settings, config_dir: str | Path | None) -> dict[str, Path]:
    """channel path -> the file on disk, for each declared module; ValueError naming a missing one."""
    if settings.metrics.modules and config_dir is None:
        raise ValueError("metrics.modules are paths relative to the config file, but these settings were "
                         "not loaded from a file (use load_settings)")
    sources = {}
    for module in settings.metrics.modules:
        path = Path(config_dir or ".") / module
        if not path.is_file():
            raise ValueError(f"metrics.modules: {module!r} is not a file (looked for {path.name} under the "
                             "config's directory)")
        sources[channel_path(module)] = path
    return sources


def is_generation(settings: Settings) -> bool:
    return settings.task.kind == GENERATION


def task_labels(settings: Settings) -> list[str]:
    """The label set answers are parsed against: data.labels, or none for generation (which ignores it)."""
    return [] if is_generation(settings) else list(settings.data.labels)


def check_task(settings: Settings) -> None:
    """The rules that tie task.kind, the labels, the reward and the gate metric together (ValueError
    naming the field)."""
    gate_metric = settings.gate.metric
    if is_generation(settings):
        # Compared with the default, not "was it set": settings.json and other round trips carry the default.
        if list(settings.data.labels) != list(type(settings.data)().labels):
            raise ValueError("data.labels: task.kind generation has no label set (each row's answer in "
                             f"data.label_column {settings.data.label_column!r} is its reference); remove "
                             "data.labels")
        if settings.stages.rft.enabled and not getattr(settings.reward, "module", None):
            raise ValueError("reward.module: task.kind generation with RFT enabled needs reward.module (the "
                             "built-in reward scores labels), or disable stages.rft")
        if gate_metric in LABEL_ONLY_METRICS:
            raise ValueError(f"gate.metric: {gate_metric!r} is a label metric; task.kind generation reports "
                             f"{', '.join(TEXT_METRICS)} and the metrics.modules' metrics")
    if gate_metric in GATE_BUILTIN_METRICS:
        return
    if not METRIC_NAME.match(gate_metric):
        raise ValueError(f"gate.metric: {gate_metric!r} is not a metric name")
    if not settings.metrics.modules:
        raise ValueError(f"gate.metric: {gate_metric!r} is not a built-in metric "
                         f"({', '.join(GATE_BUILTIN_METRICS)}) and no metrics.modules are declared that "
                         "could compute it")
    if gate_metric in BUILTIN_METRICS:
        raise ValueError(f"gate.metric: {gate_metric!r} is not a score to gate on; use one of "
                         f"{', '.join(GATE_BUILTIN_METRICS)} or a metrics.modules metric")
