"""What the run report shows, read once from report.json's ``stages`` for both renderers: report.md (the
report handler) and report.html (the CLI). Each renderer only formats these rows."""

from __future__ import annotations

from typing import Any, NamedTuple

# The stage table's metric columns, in this order; a column no stage has a value for is left out.
REPORT_METRICS = ("accuracy", "em", "qem", "f1", "f1_score_quasi", "rouge1", "rougeL", "bleu", "macro_f1")
JOB_KINDS = ("training_job", "eval_job")


class StageRow(NamedTuple):
    section: str
    values: list[Any]  # one per column, None where the stage lacks the metric
    eval_job_name: str | None


class JobRow(NamedTuple):
    section: str
    kind: str  # "training job" / "eval job"
    job_name: str
    status: str | None
    seconds: Any


def metric_columns(stages: dict[str, Any]) -> list[str]:
    return [name for name in REPORT_METRICS if any(name in (s.get("metrics") or {}) for s in stages.values())]


def stage_rows(stages: dict[str, Any], columns: list[str]) -> list[StageRow]:
    rows = []
    for section, stage in stages.items():
        metrics = stage.get("metrics") or {}
        job_name = (stage.get("eval_job") or {}).get("job_name")
        rows.append(StageRow(section, [metrics.get(name) for name in columns], job_name))
    return rows


def job_rows(stages: dict[str, Any]) -> list[JobRow]:
    """Every job that ran, per report section: training job first, then its eval job."""
    rows = []
    for section, stage in stages.items():
        for kind in JOB_KINDS:
            job = stage.get(kind) or {}
            if job.get("job_name"):
                seconds = (job.get("timings") or {}).get("TrainingTimeInSeconds")
                label = kind.replace("_", " ")
                rows.append(JobRow(section, label, job["job_name"], job.get("status"), seconds))
    return rows
