"""One line of `forge status`: a run's status, the stage it reached, its elapsed time and headline metric.

Pure: it reads a report.json document (and, for local runs, the run directory's settings and execution
history); aws_mode feeds it the same fields from S3 and Step Functions.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline_core import layout
from pipeline_core import stages as stage_table

DEFAULT_METRIC = "accuracy"  # GateSettings' default, for a run whose settings are not at hand


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    status: str
    stage: str | None  # the last stage the run reached (a job stage, "prepare" or "deploy")
    elapsed_s: float | None
    metric: str
    value: float | None  # the metric of the last evaluated stage
    evaluated_stage: str | None
    location: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def stage_reached(report: dict[str, Any]) -> str | None:
    stopped = report.get("stopped_at")
    if stopped:
        return stage_table.stage_of_state(stopped) or stopped
    if (report.get("endpoint") or {}).get("endpoint_name"):
        return "deploy"
    reached = None
    sections = report.get("stages") or {}
    for name, (train_stage, eval_stage) in stage_table.report_sections().items():
        section = sections.get(name) or {}
        if (section.get("training_job") or {}).get("job_name") and train_stage:
            reached = train_stage
        if (section.get("eval_job") or {}).get("job_name"):
            reached = eval_stage
    return reached or ("prepare" if report else None)


def headline(report: dict[str, Any], metric: str) -> tuple[str | None, float | None]:
    """(section, value) of ``metric`` in the last section, in pipeline order, that has metrics."""
    sections = report.get("stages") or {}
    found: tuple[str | None, float | None] = (None, None)
    for name in stage_table.report_sections():
        value = ((sections.get(name) or {}).get("metrics") or {}).get(metric)
        if isinstance(value, int | float):
            found = (name, float(value))
    return found


def gate_metric(report: dict[str, Any], settings: dict[str, Any] | None = None) -> str:
    gate = report.get("gate") or {}
    from_settings = ((settings or {}).get("gate") or {}).get("metric")
    return gate.get("metric") or from_settings or DEFAULT_METRIC


def summarize(report: dict[str, Any], *, location: str, elapsed_s: float | None,
              settings: dict[str, Any] | None = None, status: str | None = None,
              run_id: str | None = None) -> RunSummary:
    metric = gate_metric(report, settings)
    section, value = headline(report, metric)
    return RunSummary(
        run_id=str(report.get("run_id") or run_id or "?"),
        status=str(status or report.get("status") or "?"),
        stage=stage_reached(report),
        elapsed_s=elapsed_s,
        metric=metric,
        value=value,
        evaluated_stage=section,
        location=location,
    )


def _history_elapsed(run_dir: Path) -> float | None:
    """Seconds from the execution's first event to its last (execution_history.json of a local run)."""
    try:
        events = json.loads((run_dir / "execution_history.json").read_text())
        first, last = (datetime.fromisoformat(str(events[i]["timestamp"])) for i in (0, -1))
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    return (last - first).total_seconds()


def _settings(run_dir: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads((run_dir / "settings.json").read_text())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def local_summary(run_dir: Path, report: dict[str, Any]) -> RunSummary:
    elapsed = _history_elapsed(run_dir)
    if elapsed is None:
        elapsed = (report.get("timings") or {}).get("total_training_seconds")
    return summarize(report, location=str(run_dir), elapsed_s=elapsed, settings=_settings(run_dir),
                     run_id=run_dir.name)


def read_report(path: Path) -> dict[str, Any]:
    """A report.json document; ValueError (or OSError) if it is not a readable JSON object."""
    report = json.loads(path.read_bytes())
    if not isinstance(report, dict):
        raise ValueError(f"a JSON {type(report).__name__}, not an object")
    return report


def local_reports(out: Path) -> list[Path]:
    return sorted(out.glob(f"*/{layout.REPORT_JSON}"))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else (f"{minutes}m{secs:02d}s" if minutes else f"{secs}s")


def line(summary: RunSummary) -> str:
    value = f"{summary.metric} {summary.value:.3f} ({summary.evaluated_stage})" if summary.value is not None \
        else f"{summary.metric} –"
    return (f"{summary.run_id}  {summary.status}  stage {summary.stage or '–'}  "
            f"{duration(summary.elapsed_s)}  {value}  {summary.location}")
