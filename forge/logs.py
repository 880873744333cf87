"""``forge logs RUN [--stage S]``: the job logs of a local run (runs/<run>/logs/) or of a stack's run
(CloudWatch, /aws/sagemaker/TrainingJobs, one stream per job instance named <job name>/<host>-<n>)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_core import stages as stage_table

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
ENDPOINT = "endpoint"  # --stage endpoint: the local run's model server log


class LogsError(RuntimeError):
    """No such run, stage or log; the message says which and what exists."""


@dataclass(frozen=True)
class LogText:
    source: str  # a file path or log-group/stream
    text: str


def stage_choices() -> tuple[str, ...]:
    return (*stage_table.names(), ENDPOINT)


def stage_of_job(job_name: str) -> str | None:
    """The job stage a SageMaker job name belongs to (forge_handlers.naming: ...-<token>-a<attempt>)."""
    for stage in stage_table.job_stages():
        if re.search(rf"-{re.escape(stage.token)}-a\d+$", job_name):
            return stage.name
    return None


def _check_stage(stage: str | None) -> None:
    if stage is not None and stage not in stage_choices():
        raise LogsError(f"--stage {stage!r} is not a stage; use one of {', '.join(stage_choices())}")


def _order(stage: str | None) -> int:
    names = stage_choices()
    return names.index(stage) if stage in names else len(names)


def local_logs(run_dir: Path, stage: str | None = None) -> list[LogText]:
    """The run's job (and endpoint) logs in pipeline order, those of ``stage`` only if given."""
    _check_stage(stage)
    if not run_dir.is_dir():
        raise LogsError(f"no run at {run_dir} (see `forge status --out {run_dir.parent}`)")
    logs_dir = run_dir / "logs"
    files = sorted(logs_dir.glob("*.log")) if logs_dir.is_dir() else []
    tagged = [(ENDPOINT if f.stem.startswith("endpoint-") else stage_of_job(f.stem), f) for f in files]
    chosen = [(s, f) for s, f in tagged if stage is None or s == stage]
    if not chosen:
        which = f" of stage {stage}" if stage else ""
        present = ", ".join(sorted({s or f.stem for s, f in tagged})) or "none"
        raise LogsError(f"run {run_dir.name} has no job logs{which} in {logs_dir} "
                        f"(stages with logs: {present})")
    chosen.sort(key=lambda item: (_order(item[0]), item[1].name))
    return [LogText(str(f), f.read_text(encoding="utf-8", errors="replace")) for _, f in chosen]


def job_names_of_report(report: dict[str, Any]) -> list[str]:
    names = []
    for section in (report.get("stages") or {}).values():
        for key in ("training_job", "eval_job"):
            name = ((section or {}).get(key) or {}).get("job_name")
            if name:
                names.append(name)
    return names


def job_names_of_history(events: list[dict[str, Any]]) -> list[str]:
    """The job names in the newest state document of an execution history (a run still in progress)."""
    for event in reversed(events):
        details = event.get("stateExitedEventDetails") or {}
        try:
            document = json.loads(details.get("output") or "")
        except ValueError:
            continue
        jobs = document.get("jobs") if isinstance(document, dict) else None
        if isinstance(jobs, dict):
            return [j["job_name"] for j in jobs.values() if isinstance(j, dict) and j.get("job_name")]
    return []


def _events(logs: Any, stream: str) -> Iterator[str]:
    token = None
    while True:
        page = logs.get_log_events(logGroupName=TRAINING_LOG_GROUP, logStreamName=stream, startFromHead=True,
                                   **({"nextToken": token} if token else {}))
        yield from (event["message"] for event in page["events"])
        if not page["events"] or page.get("nextForwardToken") in (None, token):
            return
        token = page["nextForwardToken"]


def cloudwatch_logs(logs: Any, job_names: list[str], run_id: str, stage: str | None = None) -> list[LogText]:
    """Every stream of each job (of ``stage`` only, if given), in pipeline order."""
    _check_stage(stage)
    jobs = [j for j in job_names if stage is None or stage_of_job(j) == stage]
    if not jobs:
        which = f" of stage {stage}" if stage else ""
        raise LogsError(f"run {run_id} has started no training job{which} yet")
    jobs.sort(key=lambda j: (_order(stage_of_job(j)), j))
    found = []
    for job in jobs:
        try:
            streams = logs.describe_log_streams(logGroupName=TRAINING_LOG_GROUP,
                                                logStreamNamePrefix=f"{job}/")
        except logs.exceptions.ResourceNotFoundException:
            raise LogsError(f"no log group {TRAINING_LOG_GROUP} in this region: no training job has "
                            "logged here yet (check AWS_REGION)") from None
        for stream in streams.get("logStreams", []):
            name = stream["logStreamName"]
            found.append(LogText(f"{TRAINING_LOG_GROUP}/{name}", "\n".join(_events(logs, name))))
    if not found:
        raise LogsError(f"no CloudWatch logs yet for {', '.join(jobs)} in {TRAINING_LOG_GROUP} "
                        "(a job's logs appear once its instance starts)")
    return found
