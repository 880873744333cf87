"""Launch and poll one SageMaker training job of a run (the logic behind the launch / poll handlers)."""

from __future__ import annotations

from typing import Any

from forge_handlers import artifacts, job_outputs
from forge_handlers.aws import clients, s3io
from forge_handlers.config import Environment
from forge_handlers.errors import (
    ArtifactMissingError,
    ConfigError,
    JobFailedError,
    JobNotFoundError,
    error_code,
    translate_client_error,
)
from forge_handlers.naming import job_name, s3_uri
from forge_handlers.training_requests import build_training_job
from pipeline_core import polling
from pipeline_core import stages as stage_table
from pipeline_core.layout import eval_results_key
from pipeline_core.settings import Settings
from pipeline_core.settings_task import task_labels

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
CAPACITY_ERROR = "CapacityError"
STATUS_MAP = {
    "InProgress": "InProgress",
    "Stopping": "InProgress",  # still running; the next poll sees Stopped
    "Completed": "Completed",
    "Failed": "Failed",
    "Stopped": "Stopped",
}


def _check_stage(settings: Settings, stage: str) -> None:
    if stage not in stage_table.names():
        raise ConfigError(f"unknown job stage {stage!r}; expected one of {list(stage_table.names())}")
    if stage not in settings.enabled_job_stages():
        raise ConfigError(f"job stage {stage!r} is disabled in settings")


def describe_job(name: str) -> dict[str, Any] | None:
    """DescribeTrainingJob, or None when SageMaker has no such job."""
    try:
        return clients.sagemaker().describe_training_job(TrainingJobName=name)
    except Exception as error:
        message = str(error).lower()
        # SageMaker: "Requested resource not found"; moto and local mode: "Could not find training job".
        if error_code(error) in ("ValidationException", "ResourceNotFound") and any(
            marker in message for marker in ("not found", "could not find", "does not exist")
        ):
            return None
        raise translate_client_error(error) from error


def launch(
    settings: Settings, env: Environment, stage: str, run: dict[str, Any], attempt: int
) -> dict[str, Any]:
    """Create the stage's job, or find the one an earlier (timed-out or repeated) call already created."""
    _check_stage(settings, stage)
    if attempt > settings.retry.max_job_attempts:
        raise ConfigError(
            f"attempt {attempt} exceeds retry.max_job_attempts={settings.retry.max_job_attempts}"
        )
    name = job_name(settings.resource_prefix, run["run_id"], stage, attempt)
    # The first Wait of this job (the state machine's SecondsPath): the configured minimum.
    result = {"stage": stage, "job_name": name, "attempt": attempt, "status": "InProgress",
              "wait_seconds": settings.poll_seconds}
    if describe_job(name) is not None:
        return {**result, "reused": True}
    source = artifacts.resolve_model_source(settings, env.artifacts_bucket, run["run_id"], stage)
    built = build_training_job(settings, env, run, stage, name, source)
    for uri, body in built.uploads.items():
        s3io.put_bytes(uri, body, "application/x-yaml")
    try:
        clients.sagemaker().create_training_job(**built.request)
    except Exception as error:
        if error_code(error) == "ResourceInUse" and describe_job(name) is not None:
            return {**result, "reused": True}
        raise translate_client_error(error) from error
    return {**result, "reused": False, "source_model_uri": source.uri}


def _timings(description: dict[str, Any]) -> dict[str, Any]:
    """Job timestamps (ISO 8601: Lambda results are JSON) and the training / billable seconds."""
    timings: dict[str, Any] = {}
    for key in ("CreationTime", "TrainingStartTime", "TrainingEndTime"):
        value = description.get(key)
        if value is not None:
            timings[key] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    for key in ("TrainingTimeInSeconds", "BillableTimeInSeconds"):
        if description.get(key) is not None:
            timings[key] = description[key]
    return timings


def poll(
    settings: Settings, env: Environment, stage: str, run: dict[str, Any], job: dict[str, Any]
) -> dict[str, Any]:
    """Map the job's SageMaker status; on Completed write the stage's artifact record (and eval results)."""
    _check_stage(settings, stage)
    name, attempt = job["job_name"], int(job.get("attempt", 1))
    description = describe_job(name)
    if description is None:
        raise JobNotFoundError(f"training job {name} of stage {stage} does not exist")
    raw_status = description["TrainingJobStatus"]
    if raw_status not in STATUS_MAP:
        raise JobFailedError(f"training job {name} has unknown status {raw_status!r}")
    status = STATUS_MAP[raw_status]
    reason = description.get("FailureReason")
    if status == "Stopped" and not reason:
        reason = f"training job {name} was stopped ({description.get('SecondaryStatus') or 'no detail'})"
    if (
        status == "Failed"
        and reason
        and CAPACITY_ERROR in reason
        and attempt < settings.retry.max_job_attempts
    ):
        status = "Retry"
    output: dict[str, Any] = {
        "stage": stage,
        "job_name": name,
        "attempt": attempt,
        "status": status,
        "raw_status": raw_status,
        "secondary_status": description.get("SecondaryStatus"),
        "failure_reason": reason,
        "log_group": LOG_GROUP,
        "log_stream": f"{name}/algo-1-*",
        "artifact": None,
        "metrics": {m["MetricName"]: m["Value"] for m in description.get("FinalMetricDataList") or []},
        "timings": _timings(description),
        "wait_seconds": polling.next_wait(settings, settings.poll_seconds, description.get("CreationTime")),
    }
    if status == "Completed":
        record, metrics = _finish(settings, env, stage, run, description)
        output["artifact"] = record.to_dict()
        output["metrics"].update(metrics)
    return output


def _finish(
    settings: Settings, env: Environment, stage: str, run: dict[str, Any], description: dict[str, Any]
) -> tuple[artifacts.ArtifactRecord, dict[str, Any]]:
    run_id = run["run_id"]
    source = artifacts.resolve_model_source(settings, env.artifacts_bucket, run_id, stage)
    common = {
        "stage": stage,
        "job_name": description["TrainingJobName"],
        "base_model": settings.model.base_model,
    }
    if not stage_table.stage(stage).is_eval:
        record = artifacts.ArtifactRecord(
            **common,
            model_uri=_trained_model_uri(settings, description),
            source_model_uri=source.uri,
            kind="checkpoint" if settings.model.family == "nova" else "merged",
        )
        artifacts.write_record(env.artifacts_bucket, run_id, record)
        return record, {}
    tarball_uri = job_outputs.output_tarball_uri(description)
    results = job_outputs.read_eval_results(tarball_uri, task_labels(settings))
    if metric_paths := job_outputs.bundled_metric_paths(settings):  # Nova with metrics.modules
        job_outputs.add_custom_metrics(results, tarball_uri, metric_paths)
    metrics_uri = s3io.put_json(s3_uri(env.artifacts_bucket, eval_results_key(run_id, stage)), results)
    record = artifacts.ArtifactRecord(
        **common, model_uri=source.uri, source_model_uri=source.uri, kind="eval", metrics_uri=metrics_uri
    )
    artifacts.write_record(env.artifacts_bucket, run_id, record)
    return record, _numbers(results["results"]["all"])


def _numbers(flat: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in flat.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _trained_model_uri(settings: Settings, description: dict[str, Any]) -> str:
    name = description["TrainingJobName"]
    if settings.model.family == "nova":
        checkpoint = job_outputs.read_nova_checkpoint(job_outputs.output_tarball_uri(description))
        checkpoint = checkpoint or (description.get("CheckpointConfig") or {}).get("S3Uri")
        if not checkpoint:
            raise ArtifactMissingError(
                f"Nova job {name} completed but neither output manifest.json (checkpoint_s3_bucket) "
                "nor CheckpointConfig names its checkpoint"
            )
        return checkpoint
    model = (description.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if not model:
        raise ArtifactMissingError(f"job {name} completed without ModelArtifacts.S3ModelArtifacts")
    return model
