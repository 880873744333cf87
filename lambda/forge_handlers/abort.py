"""After an execution ended without its own clean-up: stopped, timed out, or failed outside a Catch.

Step Functions runs no Catch on StopExecution or on the execution's own timeout, so an EventBridge rule on
this state machine's "Step Functions Execution Status Change" events (stacks/triggers.py) invokes this.
It stops the run's jobs and a half-made endpoint (cleanup.py), then writes the report of how far the run
got, from the last state document in the execution history. It is idempotent: a report already written
(by the Catch path's Report Failure, or by an earlier delivery of the same event) is kept as it is.
"""

from __future__ import annotations

import json
from typing import Any

from forge_handlers import cleanup, report
from forge_handlers.aws import clients, s3io
from forge_handlers.config import Environment
from forge_handlers.errors import ArtifactMissingError, ConfigError, translate_client_error
from forge_handlers.naming import check_run_id, s3_uri
from pipeline_core.layout import report_key
from pipeline_core.settings import Settings

# The rule's pattern (stacks/triggers.py holds the same values; tests/handlers/test_abort.py pins them).
EVENT_SOURCE = "aws.states"
EVENT_DETAIL_TYPE = "Step Functions Execution Status Change"
# Final statuses the rule forwards; SUCCEEDED always went through the Report state.
ENDED = ("ABORTED", "TIMED_OUT", "FAILED")
_HISTORY_PAGE = 1000  # the API's maximum page


def _detail(event: dict[str, Any]) -> dict[str, Any]:
    detail = event.get("detail")
    if event.get("source") != EVENT_SOURCE or event.get("detail-type") != EVENT_DETAIL_TYPE:
        raise ConfigError(
            f"abort: expected a {EVENT_SOURCE!r} {EVENT_DETAIL_TYPE!r} event, got source="
            f"{event.get('source')!r} detail-type={event.get('detail-type')!r}"
        )
    if not isinstance(detail, dict):
        raise ConfigError("abort: the event has no 'detail' object")
    for field in ("executionArn", "name", "status"):
        if not detail.get(field):
            raise ConfigError(f"abort: the event's detail has no {field!r}")
    return detail


def _history(execution_arn: str) -> list[dict[str, Any]]:
    states = clients.get("stepfunctions")
    events: list[dict[str, Any]] = []
    token = None
    while True:
        params: dict[str, Any] = {"executionArn": execution_arn, "maxResults": _HISTORY_PAGE}
        if token:
            params["nextToken"] = token
        try:
            page = states.get_execution_history(**params)
        except Exception as error:
            raise translate_client_error(error) from error
        events += page.get("events", [])
        token = page.get("nextToken")
        if not token:
            return events


def last_state(execution_arn: str) -> tuple[str | None, dict[str, Any], str | None]:
    """The newest state document in the history, the state that produced it (None: the input), and the
    state the execution was in when it ended (the last one entered).

    The whole history is read (at most 25,000 events) and ordered by event id here: moto ignores
    reverseOrder, and a state's exit event names the state, its output the document."""
    events = sorted(_history(execution_arn), key=lambda e: int(e.get("id", 0)), reverse=True)
    current = next(
        (e["stateEnteredEventDetails"].get("name") for e in events if "stateEnteredEventDetails" in e), None
    )
    for event in events:
        details = event.get("stateExitedEventDetails") or event.get("executionStartedEventDetails") or {}
        document = details.get("output", details.get("input"))
        try:
            parsed = json.loads(document) if document is not None else None
        except (TypeError, json.JSONDecodeError):
            continue
        if isinstance(parsed, dict):
            return details.get("name"), parsed, current
    return None, {}, current


def _existing_report(bucket: str, run_id: str) -> dict[str, Any] | None:
    try:
        existing = s3io.get_json(s3_uri(bucket, report_key(run_id)), "run report")
    except ArtifactMissingError:
        return None
    return existing if isinstance(existing, dict) else None


def _mark_stopped(jobs: Any, stopped: list[str], status: str) -> dict[str, Any]:
    """The recorded jobs, with those the clean-up just stopped shown as Stopped (and why)."""
    marked = {}
    for stage, job in (jobs or {}).items():
        if isinstance(job, dict) and job.get("job_name") in stopped:
            job = {**job, "status": "Stopped", "failure_reason": f"stopped because the execution {status}"}
        marked[stage] = job
    return marked


def on_execution_ended(settings: Settings, env: Environment, event: dict[str, Any]) -> dict[str, Any]:
    detail = _detail(event)
    status = detail["status"]
    if status not in ENDED:
        return {"status": status, "action": "none"}
    # On AWS the run id is the execution name (Prepare enforces it), so it is known even before Prepare ran.
    run_id = check_run_id(detail["name"])
    reached, state, stopped_at = last_state(detail["executionArn"])
    run = {**(state.get("run") if isinstance(state.get("run"), dict) else {}), "run_id": run_id}
    cleaned = cleanup.cleanup(
        settings, {"run": run, "jobs": state.get("jobs"), "endpoint": state.get("endpoint")}
    )
    existing = _existing_report(env.artifacts_bucket, run_id)
    if existing is not None:  # the Catch path (or an earlier delivery) reported: never clobber it
        return {"status": status, "action": "kept", "report_status": existing.get("status"),
                "cleanup": cleaned}
    where = f"after state {reached!r}" if reached else "before its first state finished"
    error = state.get("error") or {
        "Error": detail.get("error") or status,
        "Cause": detail.get("cause") or f"the execution {status} {where}",
    }
    jobs = _mark_stopped(state.get("jobs"), cleaned["stopped_jobs"], status)
    report_state = {**state, "run": run, "jobs": jobs, "cleanup": cleaned, "error": error,
                    "stopped_at": stopped_at}
    written = report.write_report(settings, env.artifacts_bucket, report_state, status)
    return {"status": status, "action": "reported", "reached": reached, "report": written, "cleanup": cleaned}
