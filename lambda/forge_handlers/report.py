"""The run report: every stage's metrics, timings and decisions in runs/<run-id>/report.json + report.md."""

from __future__ import annotations

import json
from typing import Any

from forge_handlers.aws import s3io
from forge_handlers.errors import ArtifactMissingError, ConfigError
from forge_handlers.naming import check_run_id, s3_uri
from pipeline_core import report_table
from pipeline_core import stages as stage_table
from pipeline_core.layout import eval_results_key, report_key, report_markdown_key, run_prefix
from pipeline_core.settings import Settings

STATUSES = ("SUCCEEDED", "FAILED", "GATE_REJECTED", "ABORTED", "TIMED_OUT")


def run_id_of(state: dict[str, Any]) -> str:
    # The execution name before the input's run_id: a run that Prepare rejected for a run_id naming another
    # run must not write its failure report into that run's prefix.
    run_id = (state.get("run") or {}).get("run_id") or state.get("execution_name")
    if not run_id:
        raise ConfigError("report: the state has neither run.run_id nor execution_name")
    return check_run_id(str(run_id))


def failure_reason(state: dict[str, Any]) -> str | None:
    """The most specific cause: a failed/stopped job's FailureReason, else the caught error's message."""
    for stage in stage_table.names():
        job = (state.get("jobs") or {}).get(stage) or {}
        if job.get("status") in ("Failed", "Stopped"):
            reason = job.get("failure_reason") or "no reason given"
            return f"{stage} job {job.get('job_name')} {job['status']}: {reason}"
    error = state.get("error") or {}
    if not error:
        return None
    cause = error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
        cause = parsed.get("errorMessage", cause) if isinstance(parsed, dict) else cause
    except (json.JSONDecodeError, TypeError):
        pass
    return f"{error.get('Error', 'Error')}: {cause}".strip()


def _stage_metrics(bucket: str, run_id: str, eval_stage: str, job: dict[str, Any]) -> dict[str, Any] | None:
    try:
        results = s3io.get_json(s3_uri(bucket, eval_results_key(run_id, eval_stage)), "eval results")
        return dict(results["results"]["all"])
    except (ArtifactMissingError, KeyError, TypeError):
        return job.get("metrics") or None


def build_report(settings: Settings, bucket: str, state: dict[str, Any], status: str) -> dict[str, Any]:
    if status not in STATUSES:
        raise ConfigError(f"report status {status!r} is not one of {STATUSES}")
    run_id = run_id_of(state)
    jobs = state.get("jobs") or {}
    enabled = settings.stages.enabled_job_stages()
    stages: dict[str, Any] = {}
    # Report section -> (its training job stage or None, its eval job stage), in pipeline order.
    for name, (train_stage, eval_stage) in stage_table.report_sections().items():
        if eval_stage not in enabled:
            continue
        eval_job = jobs.get(eval_stage) or {}
        train_job = jobs.get(train_stage) or {} if train_stage else {}
        stages[name] = {
            "metrics": _stage_metrics(bucket, run_id, eval_stage, eval_job),
            "evaluated_model": (eval_job.get("artifact") or {}).get("model_uri"),
            "eval_job": {k: eval_job.get(k) for k in ("job_name", "status", "failure_reason", "timings")},
            "training_job": {k: train_job.get(k) for k in ("job_name", "status", "failure_reason", "timings")}
            if train_stage
            else None,
            "trained_model": (train_job.get("artifact") or {}).get("model_uri") if train_stage else None,
        }
    run = state.get("run") or {}
    timings = {
        stage: (job.get("timings") or {}).get("TrainingTimeInSeconds")
        for stage, job in jobs.items()
        if isinstance(job, dict) and stage in stage_table.names()
    }
    return {
        "run_id": run_id,
        "pipeline": settings.resource_prefix,
        "model": {"family": settings.model.family, "base_model": settings.model.base_model},
        # What `forge ask --stack` sends with a question: the prompt the run trained and evaluated with.
        "system_prompt": settings.data.system_prompt,
        "status": status,
        "dataset": state.get("dataset"),
        "run_prefix": s3_uri(bucket, run_prefix(run_id)),
        "counts": run.get("counts"),
        "validation_report": run.get("report_uri"),
        "stages": stages,
        "timings": {
            "training_seconds": timings,
            "total_training_seconds": sum(v for v in timings.values() if v),
        },
        "gate": state.get("gate"),
        "endpoint": state.get("endpoint"),
        "smoke": state.get("smoke"),
        "cleanup": state.get("cleanup"),
        "failure_reason": failure_reason(state) if status != "SUCCEEDED" else None,
        "error": state.get("error"),
        "stopped_at": state.get("stopped_at"),  # the state an ABORTED / TIMED_OUT execution was in
    }


def _cell(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("–" if value is None else str(value))


def render_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Run {report['run_id']}: {report['status']}", ""]
    lines += [
        f"- pipeline: `{report['pipeline']}`, "
        f"model: {report['model']['family']} `{report['model']['base_model']}`"
    ]
    lines += [f"- artifacts: `{report['run_prefix']}`", ""]
    if report.get("failure_reason"):
        lines += ["## Failure", "", f"> {report['failure_reason']}", ""]
    if report.get("stopped_at"):
        lines += [f"Stopped at state `{report['stopped_at']}` ({report['status']}).", ""]
    columns = report_table.metric_columns(report["stages"])
    lines += [
        "## Stages",
        "",
        "| stage | " + " | ".join(columns) + " | eval job |",
        "|---" * (len(columns) + 2) + "|",
    ]
    for row in report_table.stage_rows(report["stages"], columns):
        cells = [_cell(value) for value in row.values]
        lines.append(f"| {row.section} | " + " | ".join(cells) + f" | {_cell(row.eval_job_name)} |")
    gate = report.get("gate")
    lines += ["", "## Gate", ""]
    if gate:
        verdict = "passed" if gate.get("passed") else "rejected"
        lines.append(
            f"{verdict}: {gate.get('reason')} (metric `{gate.get('metric')}`, baseline "
            f"{_cell(gate.get('baseline'))}, candidate {_cell(gate.get('candidate'))})"
        )
    else:
        lines.append("not reached")
    endpoint = report.get("endpoint")
    lines += [
        "",
        "## Endpoint",
        "",
        f"`{endpoint.get('endpoint_name')}` ({endpoint.get('action')})" if endpoint else "none",
    ]
    if report.get("smoke"):
        lines += [
            "",
            f"Smoke test answer: `{report['smoke'].get('answer')}` → label `{report['smoke'].get('label')}`",
        ]
    cleanup = report.get("cleanup") or {}
    if cleanup.get("stopped_jobs") or cleanup.get("deleted_endpoint"):
        lines += ["", "## Clean-up", ""]
        lines += [f"- stopped job `{name}`" for name in cleanup.get("stopped_jobs") or []]
        if cleanup.get("deleted_endpoint"):
            lines.append(f"- deleted the half-made endpoint `{cleanup['deleted_endpoint']}`")
    lines += ["", "## Timings (seconds of training)", ""]
    for job in report_table.job_rows(report["stages"]):
        lines.append(f"- {job.section} {job.kind} `{job.job_name}`: {_cell(job.seconds)}")
    return "\n".join(lines) + "\n"


def write_report(settings: Settings, bucket: str, state: dict[str, Any], status: str) -> dict[str, Any]:
    report = build_report(settings, bucket, state, status)
    report_uri = s3io.put_json(s3_uri(bucket, report_key(report["run_id"])), report)
    markdown_uri = s3io.put_text(
        s3_uri(bucket, report_markdown_key(report["run_id"])), render_markdown(report), "text/markdown"
    )
    return {
        "report_uri": report_uri,
        "markdown_uri": markdown_uri,
        "status": status,
        "failure_reason": report["failure_reason"],
    }
