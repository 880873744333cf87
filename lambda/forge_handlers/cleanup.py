"""After a failure: stop this run's running jobs, delete an endpoint it left half-made, keep artifacts."""

from __future__ import annotations

from typing import Any

from forge_handlers import deploy, jobs
from forge_handlers.aws import clients
from forge_handlers.errors import translate_client_error
from forge_handlers.naming import endpoint_config_name, endpoint_name, job_name
from pipeline_core.settings import Settings

RUNNING = ("InProgress",)


def run_job_names(settings: Settings, run_id: str, recorded: dict[str, Any] | None) -> list[str]:
    """Every job name this run can have used: each enabled stage x attempt, plus names in the state."""
    names = [
        job_name(settings.resource_prefix, run_id, stage, attempt)
        for stage in settings.enabled_job_stages()
        for attempt in range(1, settings.retry.max_job_attempts + 1)
    ]
    for job in (recorded or {}).values():
        if isinstance(job, dict) and job.get("job_name") and job["job_name"] not in names:
            names.append(job["job_name"])
    return names


def stop_running_jobs(names: list[str]) -> list[str]:
    stopped = []
    for name in names:
        description = jobs.describe_job(name)
        if description is None or description["TrainingJobStatus"] not in RUNNING:
            continue
        try:
            clients.sagemaker().stop_training_job(TrainingJobName=name)
        except Exception as error:
            raise translate_client_error(error) from error
        stopped.append(name)
    return stopped


def delete_half_made_endpoint(settings: Settings, run_id: str, endpoint: dict[str, Any] | None) -> str | None:
    """Delete the pipeline endpoint only if this run created it and it never came into service.

    An endpoint this run was *updating* is not deleted: it served a working model before
    (roll_back_update returns it to that one).
    """
    if endpoint and endpoint.get("action") == "update":
        return None
    name = endpoint_name(settings.resource_prefix)
    description = deploy.describe_endpoint(name)
    if description is None:
        return None
    ours = description.get("EndpointConfigName") == endpoint_config_name(settings.resource_prefix, run_id)
    if not ours or description["EndpointStatus"] == "InService":
        return None
    try:
        clients.sagemaker().delete_endpoint(EndpointName=name)
    except Exception as error:
        raise translate_client_error(error) from error
    return name


def roll_back_update(settings: Settings, run_id: str, endpoint: dict[str, Any] | None) -> str | None:
    """Return the endpoint to the config it served before this run's update, when the run failed after
    the update took effect (a smoke test that fails on the new model). Returns the config rolled back to.

    Nothing to do while the update is still in progress (SageMaker rolls a failed update back itself) or
    when the endpoint no longer serves this run's config.
    """
    previous = (endpoint or {}).get("previous_endpoint_config_name")
    if not endpoint or endpoint.get("action") != "update" or not previous:
        return None
    name = endpoint_name(settings.resource_prefix)
    description = deploy.describe_endpoint(name)
    if description is None or description.get("EndpointStatus") != "InService":
        return None
    if description.get("EndpointConfigName") != endpoint_config_name(settings.resource_prefix, run_id):
        return None
    try:
        clients.sagemaker().update_endpoint(EndpointName=name, EndpointConfigName=previous)
    except Exception as error:
        raise translate_client_error(error) from error
    return previous


def cleanup(settings: Settings, event: dict[str, Any]) -> dict[str, Any]:
    run = event.get("run") or {}
    run_id = run.get("run_id")
    if not run_id:  # failed before Prepare produced a run: no job or endpoint can exist
        return {"stopped_jobs": [], "deleted_endpoint": None, "rolled_back_to": None}
    stopped = stop_running_jobs(run_job_names(settings, run_id, event.get("jobs")))
    deleted = delete_half_made_endpoint(settings, run_id, event.get("endpoint"))
    rolled_back = roll_back_update(settings, run_id, event.get("endpoint"))
    return {"stopped_jobs": stopped, "deleted_endpoint": deleted, "rolled_back_to": rolled_back}
