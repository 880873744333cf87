"""The run report: every stage's metrics, timings and decisions in runs/<run-id>/report.json + report.md."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from forge_handlers import job_outputs
from forge_handlers.aws import s3io
from forge_handlers.errors import ArtifactMissingError, ConfigError
from forge_handlers.naming import check_run_id, s3_uri
from forge_handlers.report_markdown import render_markdown
from pipeline_core import cost_estimate, report_table
from pipeline_core import stages as stage_table
from pipeline_core.hyperparameters import stage_hyperparameters
from pipeline_core.job_hyperparameters import STAGE_CLASSES, HyperparameterError, parse_stage
from pipeline_core.layout import (
    TRAINING_LOG_FILE,
    eval_results_key,
    job_output_archive_key,
    report_key,
    report_markdown_key,
    run_prefix,
)
from pipeline_core.settings import Settings

__all__ = ["build_report", "render_markdown", "report_json", "write_report"]

STATUSES = ("SUCCEEDED", "FAILED", "GATE_REJECTED", "PENDING_APPROVAL", "ABORTED", "TIMED_OUT")


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


def _eval_results(bucket: str, run_id: str, eval_stage: str) -> dict[str, Any] | None:
    try:
        results = s3io.get_json(s3_uri(bucket, eval_results_key(run_id, eval_stage)), "eval results")
    except ArtifactMissingError:
        return None
    return results if isinstance(results, dict) else None


def _stage_metrics(results: dict[str, Any] | None, job: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return dict(results["results"]["all"])  # type: ignore[index]
    except (KeyError, TypeError):
        return job.get("metrics") or None


# What the report copies from an evaluation's results.json besides its metrics (job_code.core.metrics).
RESULT_EXTRAS = ("per_class", "confusion_matrix", "no_label_rate", "num_samples", "response_lengths",
                 "answer_tokens", "generation", "samples", "robustness")
# Hyperparameters the pipeline itself sets on every job: shown elsewhere in the report, not as changes.
PLUMBING = ("labels", "stage", "metrics_modules")


def changed_hyperparameters(settings: Settings, stage: str) -> dict[str, dict[str, Any]]:
    """The stage's job hyperparameters that differ from the job code's defaults (hf), or its recipe
    overrides (nova: each differs from the recipe's own value)."""
    slot = settings.stages.for_stage(stage)
    if settings.model.family != "hf":
        return report_table.changed_hyperparameters(dict(slot.recipe_overrides), {})
    kind = stage_table.stage(stage).job
    try:
        params = parse_stage(kind, stage_hyperparameters(settings, stage))
    except (HyperparameterError, KeyError) as error:  # the settings checked them: say so rather than fail
        return {"error": {"value": str(error), "default": None}}
    values = {k: v for k, v in dataclasses.asdict(params).items() if k not in PLUMBING}
    defaults = dataclasses.asdict(STAGE_CLASSES[kind]())
    return report_table.changed_hyperparameters(values, defaults)


def _training_log(bucket: str, run_id: str, stage: str, job: dict[str, Any]) -> dict[str, Any] | None:
    """The training job's training_log.json (job_code.training) from its output.tar.gz; None for a job that
    wrote none (Nova, an older job code, a job that did not finish)."""
    if not job.get("job_name") or stage_table.stage(stage).is_eval:
        return None
    archive = job_output_archive_key(run_id, stage, job["job_name"])
    try:
        members = job_outputs.read_tar_members(s3_uri(bucket, archive), (TRAINING_LOG_FILE,))
        log = json.loads(members[TRAINING_LOG_FILE])
        log["log_history"] = list(log["log_history"])
    except (ArtifactMissingError, KeyError, TypeError, ValueError):
        return None
    return log


def _job_facts(settings: Settings, stage: str, job: dict[str, Any], log: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    slot = settings.stages.for_stage(stage)
    facts = {k: job.get(k) for k in ("job_name", "status", "failure_reason", "timings")}
    facts.update(instance_type=slot.instance_type, instance_count=slot.instance_count, use_spot=slot.use_spot,
                 hyperparameters=changed_hyperparameters(settings, stage))
    curve = report_table.training_curve(log["log_history"]) if log else None
    if curve:
        facts["curve"] = curve
    signal = report_table.training_signal(log, stage_table.stage(stage).job) if log else None
    if signal:  # an RFT job's prompts seen and zero-variance groups
        facts["signal"] = signal
    return facts


def build_report(settings: Settings, bucket: str, state: dict[str, Any], status: str) -> dict[str, Any]:
    if status not in STATUSES:
        raise ConfigError(f"report status {status!r} is not one of {STATUSES}")
    run_id = run_id_of(state)
    jobs = state.get("jobs") or {}
    enabled = settings.enabled_job_stages()
    stages: dict[str, Any] = {}
    # Report section -> (its training job stage or None, its eval job stage), in pipeline order.
    for name, (train_stage, eval_stage) in stage_table.report_sections().items():
        if eval_stage not in enabled:
            continue
        if stage_table.stage(eval_stage).measures_champion and eval_stage not in jobs:
            continue  # no model was deployed as the run began (or the run never got that far)
        eval_job = jobs.get(eval_stage) or {}
        train_job = jobs.get(train_stage) or {} if train_stage else {}
        results = _eval_results(bucket, run_id, eval_stage)
        stages[name] = {
            "metrics": _stage_metrics(results, eval_job),
            **{key: (results or {}).get(key) for key in RESULT_EXTRAS},
            "evaluated_model": (eval_job.get("artifact") or {}).get("model_uri"),
            "eval_job": _job_facts(settings, eval_stage, eval_job),
            "training_job": _job_facts(settings, train_stage, train_job,
                                       _training_log(bucket, run_id, train_stage, train_job))
            if train_stage else None,
            "trained_model": (train_job.get("artifact") or {}).get("model_uri") if train_stage else None,
        }
        if (results or {}).get("custom_metrics"):  # metrics.modules: which file gave which metric
            stages[name]["custom_metrics"] = results["custom_metrics"]
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    run = state.get("run") or {}
    timings = {
        stage: (job.get("timings") or {}).get("TrainingTimeInSeconds")
        for stage, job in jobs.items()
        if isinstance(job, dict) and stage in stage_table.names()
    }
    report = {
        "run_id": run_id,
        "pipeline": settings.resource_prefix,
        "model": {"family": settings.model.family, "base_model": settings.model.base_model},
        # What `forge ask --stack` sends with a question: the prompt the run trained and evaluated with.
        "system_prompt": settings.data.system_prompt,
        "status": status,
        "dataset": state.get("dataset"),
        "region": region,
        "run_prefix": s3_uri(bucket, run_prefix(run_id)),
        "counts": run.get("counts"),
        "validation_report": run.get("report_uri"),
        "shortcuts": run.get("shortcuts"),  # Prepare's shortcut warnings (job_code/core/shortcuts.py)
        "stages": stages,
        "timings": {
            "training_seconds": timings,
            "total_training_seconds": sum(v for v in timings.values() if v),
        },
        # What the endpoint served as the run began: the model the candidate had to beat (the gate scores it).
        "champion": state.get("champion"),
        "gate": state.get("gate"),
        "registry": state.get("registry"),
        "endpoint": state.get("endpoint"),
        "smoke": state.get("smoke"),
        "cleanup": state.get("cleanup"),
        "failure_reason": failure_reason(state) if status not in ("SUCCEEDED", "PENDING_APPROVAL") else None,
        "error": state.get("error"),
        "stopped_at": state.get("stopped_at"),  # the state an ABORTED / TIMED_OUT execution was in
    }
    # Before (the bound the settings allow) and after (what the jobs were billed), per stage.
    estimate = cost_estimate.estimate(settings, region).to_record()
    report["cost"] = {"estimate": estimate, "actual": report_table.actual_costs(report)}
    return report


def report_json(report: dict[str, Any]) -> bytes:
    """report.json's body: keys in the order built (stages in pipeline order), not sorted."""
    return json.dumps(report, indent=2, default=str).encode()


def write_report(settings: Settings, bucket: str, state: dict[str, Any], status: str) -> dict[str, Any]:
    report = build_report(settings, bucket, state, status)
    report_uri = s3io.put_bytes(s3_uri(bucket, report_key(report["run_id"])), report_json(report),
                                "application/json")
    markdown_uri = s3io.put_text(
        s3_uri(bucket, report_markdown_key(report["run_id"])), render_markdown(report), "text/markdown"
    )
    return {
        "report_uri": report_uri,
        "markdown_uri": markdown_uri,
        "status": status,
        "failure_reason": report["failure_reason"],
    }
