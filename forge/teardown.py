"""``forge teardown``: delete what a run created that costs money, keep everything the user keeps.

AWS (``--stack NAME [--run RUN]``): the pipeline endpoint, its TTL schedule (deploy.ttl_hours) and, with a
run, that run's endpoint config and model. The run's S3 artifacts, the registry and the stack stay. Every
step is idempotent: a second call finds nothing and says so.
Local (``RUN``): the model server a ``forge serve`` of the run left running (its serve.json), and the
pipeline's saved local account (``<out>/.account/<name>/``: the endpoint the next local run would find
deployed, forge/local/account.py), as ``--stack`` deletes the pipeline's endpoint; the run directory stays.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from forge import aws_mode
from pipeline_core import endpoint_guardrails, stack_outputs

NOTHING = "nothing to delete"
STOP_TIMEOUT_SECONDS = 20


class TeardownError(RuntimeError):
    """The run or stack cannot be torn down as asked; the message says why."""


def pipeline_prefix(stack_name: str, session: Any) -> str:
    """The prefix of the stack's SageMaker names, from its PipelineName output."""
    cloudformation = aws_mode.client(session, "cloudformation")
    [described] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs") or []}
    prefix = outputs.get(stack_outputs.PIPELINE_NAME)
    if not prefix:
        raise TeardownError(f"stack {stack_name!r} has no {stack_outputs.PIPELINE_NAME} output (deployed "
                            "before forge teardown existed): redeploy it with `cdk deploy`")
    return prefix


def _code(error: Exception) -> str:
    return getattr(error, "response", {}).get("Error", {}).get("Code", "")


def _missing(error: Exception) -> bool:
    """SageMaker says 'Could not find' (ValidationException); Scheduler ResourceNotFoundException."""
    code = _code(error)
    return code == "ResourceNotFoundException" or (
        code == "ValidationException" and "could not find" in str(error).lower())


def _delete(call: Any, **params: Any) -> bool:
    """True if deleted, False if it was not there; any other error propagates."""
    try:
        call(**params)
    except Exception as error:
        if _missing(error):
            return False
        raise
    return True


def teardown_stack(stack_name: str, run_id: str | None = None, session: Any | None = None) -> list[str]:
    """Delete the pipeline's endpoint and TTL schedule (and the run's config and model); one line each."""
    from forge_handlers.naming import check_run_id, endpoint_config_name, model_name

    session = session or aws_mode.boto3.session.Session()
    aws_mode.find_stack(stack_name, session)  # a clear error for a wrong --stack
    prefix = pipeline_prefix(stack_name, session)
    sagemaker, scheduler = aws_mode.client(session, "sagemaker"), aws_mode.client(session, "scheduler")
    schedule = endpoint_guardrails.expiry_schedule_name(prefix)
    endpoint = endpoint_guardrails.endpoint_name(prefix)
    # The schedule first: it must not outlive the endpoint it deletes, nor delete a later run's endpoint.
    steps = [(f"schedule {schedule}", scheduler.delete_schedule,
              {"Name": schedule, "GroupName": endpoint_guardrails.SCHEDULE_GROUP}),
             (f"endpoint {endpoint}", sagemaker.delete_endpoint, {"EndpointName": endpoint})]
    if run_id:
        config, model = endpoint_config_name(prefix, check_run_id(run_id)), model_name(prefix, run_id)
        steps += [
            (f"endpoint config {config}", sagemaker.delete_endpoint_config, {"EndpointConfigName": config}),
            (f"model {model}", sagemaker.delete_model, {"ModelName": model}),
        ]
    deleted = [f"deleted {what}" for what, call, params in steps if _delete(call, **params)]
    return deleted or [NOTHING]


def _ours(pid: int) -> bool:
    """Alive, ours, and (where /proc tells) a Python process: a reused pid is never signalled."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or someone else's
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            return b"python" in cmdline.read_bytes() or b"forge" in cmdline.read_bytes()
        except OSError:
            return False
    return True


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/ping", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def teardown_local(run_dir: Path) -> list[str]:
    """Stop the run's ``forge serve`` and delete the pipeline's saved local account; one line each."""
    from forge.local import account

    if not (run_dir / "settings.json").is_file():
        raise TeardownError(f"{run_dir} is not a local run directory (no settings.json)")
    lines = [line for line in _stop_serve(run_dir) if line != NOTHING]
    try:
        pipeline = json.loads((run_dir / "settings.json").read_text()).get("name")
    except (ValueError, AttributeError):
        pipeline = None  # not the settings a run writes: no pipeline, no saved account to name
    endpoint = account.forget(account.account_dir(run_dir.parent, pipeline)) if pipeline else None
    if endpoint:
        lines.append(f"deleted the saved local account of pipeline {pipeline} (endpoint {endpoint})")
    return lines or [NOTHING]


def _stop_serve(run_dir: Path) -> list[str]:
    """Stop the run's ``forge serve`` (which stops its model server), or the server alone if that is gone."""
    from forge.serving import SERVE_STATE

    state = run_dir / "serve" / SERVE_STATE
    if not state.is_file():
        return [NOTHING]
    try:
        record = json.loads(state.read_text())
        url, pids = record["url"], [int(record["pid"]), int(record["server_pid"])]
    except (ValueError, KeyError, TypeError) as error:
        raise TeardownError(f"{state} is not a serve record ({error}); remove it by hand") from None
    if not _answers(url):  # stale: the server is gone already (killed, machine restarted)
        state.unlink(missing_ok=True)
        return [NOTHING]
    # SIGTERM to `forge serve` makes it stop its server and remove serve.json (forge/serving.py).
    target = next((pid for pid in pids if _ours(pid)), None)
    if target is None:
        raise TeardownError(f"a server answers at {url} but neither process of {state} is ours to stop")
    os.kill(target, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while _answers(url) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _answers(url):
        raise TeardownError(f"the server at {url} still answers {STOP_TIMEOUT_SECONDS}s after a SIGTERM to "
                            f"process {target}")
    state.unlink(missing_ok=True)
    return [f"stopped the local server of run {run_dir.name} at {url}"]
