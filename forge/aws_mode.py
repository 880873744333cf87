"""``forge run --aws`` / ``status --stack`` / ``report --stack``: the pipeline of a deployed stack (boto3).

The stack is found through CloudFormation: its state machine, and the buckets named in its handlers'
environment (DATA_BUCKET / ARTIFACTS_BUCKET, the contract every handler reads).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from forge import logs, run_summary
from forge.aws_errors import CLIENT_CONFIG
from forge.run_summary import RunSummary
from pipeline_core import endpoint, layout, stack_outputs

# What Prepare accepts as a run id (forge_handlers.naming.RUN_ID_PATTERN): checked before anything is written.
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")


class StackLookupError(RuntimeError):
    """The named stack does not exist or lacks the pipeline's resources."""


class RunIdError(StackLookupError):
    """The run id is invalid or already taken on the stack; nothing was written. The CLI exits 2 on it, as
    on every StackLookupError."""


@dataclass(frozen=True)
class DeployedStack:
    name: str
    state_machine_arn: str
    data_bucket: str
    artifacts_bucket: str


@dataclass(frozen=True)
class StartedRun:
    run_id: str
    execution_arn: str
    dataset: str


def _session(session: Any | None) -> Any:
    return session or boto3.session.Session()


def client(session: Any, name: str) -> Any:
    """A client that reports an unreachable endpoint in seconds (forge.aws_errors.CLIENT_CONFIG)."""
    return session.client(name, config=CLIENT_CONFIG)


def _is_missing_stack(error: Exception) -> bool:
    return _error_code(error) == "ValidationError" and "does not exist" in str(error)


def find_stack(name: str, session: Any | None = None) -> DeployedStack:
    """The stack's outputs (stacks/pipeline_stack.py exports them); for a stack deployed before it did, its
    state machine and the buckets its handlers' environment names."""
    session = _session(session)
    cloudformation = client(session, "cloudformation")
    try:
        [described] = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except cloudformation.exceptions.ClientError as error:
        if _is_missing_stack(error):
            region = getattr(session, "region_name", None) or "the default region"
            raise StackLookupError(
                f"stack {name!r} not found in {region}: check --stack (the name `cdk deploy` printed) "
                "and AWS_REGION"
            ) from None
        raise
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs") or []}
    wanted = (stack_outputs.STATE_MACHINE_ARN, stack_outputs.DATA_BUCKET, stack_outputs.ARTIFACTS_BUCKET)
    if all(outputs.get(key) for key in wanted):
        return DeployedStack(name, *(outputs[key] for key in wanted))
    return _find_by_resources(name, session, cloudformation)


def _find_by_resources(name: str, session: Any, cloudformation: Any) -> DeployedStack:
    resources = cloudformation.describe_stack_resources(StackName=name)["StackResources"]
    machines = [
        r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::StepFunctions::StateMachine"
    ]
    if len(machines) != 1:
        raise StackLookupError(f"stack {name!r} has {len(machines)} state machines; expected one "
                               "(is it a forge pipeline stack?)")
    lambda_client = client(session, "lambda")
    for resource in resources:
        if resource["ResourceType"] != "AWS::Lambda::Function":
            continue
        config = lambda_client.get_function_configuration(FunctionName=resource["PhysicalResourceId"])
        variables = config.get("Environment", {}).get("Variables", {})
        if "DATA_BUCKET" in variables and "ARTIFACTS_BUCKET" in variables:
            return DeployedStack(name, machines[0], variables["DATA_BUCKET"], variables["ARTIFACTS_BUCKET"])
    raise StackLookupError(
        f"stack {name!r} has no handler with DATA_BUCKET / ARTIFACTS_BUCKET in its environment"
    )


def new_run_id() -> str:
    """Unique even for two runs started in the same second (a random suffix)."""
    return f"cli-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def _execution_arn(state_machine_arn: str, name: str) -> str:
    # arn:<p>:states:<r>:<a>:stateMachine:<machine> -> arn:<p>:states:<r>:<a>:execution:<machine>:<name>
    head, machine = state_machine_arn.split(":stateMachine:", 1)
    return f"{head}:execution:{machine}:{name}"


def _error_code(error: Exception) -> str:
    return getattr(error, "response", {}).get("Error", {}).get("Code", "")


def _check_new(sfn: Any, stack: DeployedStack, run_id: str) -> None:
    try:
        sfn.describe_execution(executionArn=_execution_arn(stack.state_machine_arn, run_id))
    except sfn.exceptions.ExecutionDoesNotExist:
        return
    raise RunIdError(f"run {run_id!r} already exists on stack {stack.name!r} (an execution has that "
                     "name); choose another --run-id or leave it out")


def _upload_new(s3: Any, stack: DeployedStack, path: Path, key: str, run_id: str) -> str | None:
    """Put the file only if nothing is at the key yet (If-None-Match: *); returns its version id."""
    try:
        with open(path, "rb") as body:
            response = s3.put_object(Bucket=stack.data_bucket, Key=key, Body=body, IfNoneMatch="*")
    except s3.exceptions.ClientError as error:
        if _error_code(error) in ("PreconditionFailed", "ConditionalRequestConflict"):
            raise RunIdError(f"s3://{stack.data_bucket}/{key} already exists: run {run_id!r} was "
                             "started before; choose another --run-id or leave it out") from None
        raise
    return response.get("VersionId")


def start_run(
    stack_name: str,
    data: Path,
    eval_data: Path | None = None,
    run_id: str | None = None,
    session: Any | None = None,
) -> StartedRun:
    """Upload the data under cli/<run id>/ and start the execution named <run id> (the run id on AWS).

    Never over an earlier run: an execution of that name, or an object at the upload key, is a
    RunIdError before anything is written (the upload is conditional, so a concurrent start
    cannot overwrite either); if the start itself finds the name taken, the just-made uploads are deleted.
    The upload comes first: an execution started before it could reach Prepare with its dataset missing.
    """
    # Local checks first: a missing file or a bad run id needs no AWS call (nor a region or credentials).
    run_id = run_id or new_run_id()
    if not RUN_ID_PATTERN.match(run_id):
        raise RunIdError(f"run id {run_id!r} is invalid: use 1-80 letters, digits, '-' or '_', "
                         "starting with a letter or digit")
    paths = {key: Path(path) for key, path in (("dataset", data), ("eval_dataset", eval_data)) if path}
    for path in paths.values():
        if not path.is_file():
            raise FileNotFoundError(f"data file {path} does not exist")
    session = _session(session)
    stack = find_stack(stack_name, session)
    s3, sfn = client(session, "s3"), client(session, "stepfunctions")
    _check_new(sfn, stack, run_id)
    execution_input: dict[str, str] = {"run_id": run_id}
    uploaded: list[tuple[str, str | None]] = []
    try:
        for key, path in paths.items():
            object_key = layout.upload_key(layout.CLI_UPLOAD_PREFIX, run_id, key, path.name)
            uploaded.append((object_key, _upload_new(s3, stack, path, object_key, run_id)))
            execution_input[key] = f"s3://{stack.data_bucket}/{object_key}"
        arn = sfn.start_execution(
            stateMachineArn=stack.state_machine_arn, name=run_id, input=json.dumps(execution_input)
        )["executionArn"]
    except Exception as error:
        for object_key, version in uploaded:  # ours alone: the conditional puts created these keys
            versioned = {"VersionId": version} if version else {}
            s3.delete_object(Bucket=stack.data_bucket, Key=object_key, **versioned)
        if _error_code(error) == "ExecutionAlreadyExists":
            raise RunIdError(f"run {run_id!r} already exists on stack {stack.name!r}; choose another "
                             "--run-id or leave it out") from None
        raise
    return StartedRun(run_id, arn, execution_input["dataset"])


def list_runs(stack_name: str, session: Any | None = None, limit: int = 20) -> list[RunSummary]:
    """The stack's latest executions, each with what its report.json says (once the run has written it)."""
    session = _session(session)
    stack = find_stack(stack_name, session)
    executions = client(session, "stepfunctions").list_executions(
        stateMachineArn=stack.state_machine_arn, maxResults=limit
    )["executions"]
    summaries = []
    for e in executions:
        try:
            report = json.loads(_read(session, stack.artifacts_bucket, layout.report_key(e["name"])))
        except (StackLookupError, ValueError):
            report = {}
        stop = e.get("stopDate") or datetime.now(UTC)
        start = e.get("startDate")
        elapsed = (stop - start).total_seconds() if isinstance(start, datetime) else None
        summaries.append(run_summary.summarize(
            report if isinstance(report, dict) else {}, location=e["executionArn"], elapsed_s=elapsed,
            status=e["status"], run_id=e["name"],
        ))
    return summaries


def job_logs(stack_name: str, run_id: str, stage: str | None = None, session: Any | None = None) -> list:
    """The CloudWatch logs of a run's training jobs: their names from report.json, or for a run still going
    (no report yet) from its execution's history."""
    session = _session(session)
    stack = find_stack(stack_name, session)
    try:
        names = logs.job_names_of_report(json.loads(_read(session, stack.artifacts_bucket,
                                                          layout.report_key(run_id))))
    except StackLookupError:
        sfn = client(session, "stepfunctions")
        try:
            events = sfn.get_execution_history(
                executionArn=_execution_arn(stack.state_machine_arn, run_id), reverseOrder=True,
                maxResults=200,
            )["events"]
        except sfn.exceptions.ExecutionDoesNotExist:
            raise StackLookupError(f"stack {stack.name!r} has no run {run_id!r} (see `forge status --stack "
                                   f"{stack.name}`)") from None
        names = logs.job_names_of_history(list(reversed(events)))
    return logs.cloudwatch_logs(client(session, "logs"), names, run_id, stage)


def _read(session: Any, bucket: str, key: str) -> bytes:
    s3 = client(session, "s3")
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise StackLookupError(
            f"s3://{bucket}/{key} does not exist (the run has not written its report yet)"
        ) from None


def read_report(
    stack_name: str, run_id: str, session: Any | None = None, name: str = layout.REPORT_MD
) -> str:
    """The run's report.md (or ``name``: report.json) from the artifacts bucket."""
    session = _session(session)
    stack = find_stack(stack_name, session)
    key = layout.report_markdown_key(run_id) if name == layout.REPORT_MD else layout.report_key(run_id)
    return _read(session, stack.artifacts_bucket, key).decode("utf-8")


def ask(stack_name: str, run_id: str, question: str, session: Any | None = None) -> tuple[str, list | None]:
    """One question to the endpoint a run deployed, with the run's own system prompt and model family
    (both, and the endpoint's name, are in the run's report.json); (answer text, the report's labels if
    it records them)."""
    session = _session(session)
    stack = find_stack(stack_name, session)
    key = layout.report_key(run_id)
    report = json.loads(_read(session, stack.artifacts_bucket, key))
    endpoint_name = (report.get("endpoint") or {}).get("endpoint_name")
    if not endpoint_name:
        raise StackLookupError(f"run {run_id} deployed no endpoint")
    system_prompt = report.get("system_prompt")
    family = (report.get("model") or {}).get("family")
    if not isinstance(system_prompt, str) or not family:
        # Never a default prompt: the model was trained on the run's own, and another one skews its answers.
        raise StackLookupError(
            f"s3://{stack.artifacts_bucket}/{key} lacks 'system_prompt' or 'model.family' "
            "(a report written before forge recorded them): cannot ask the way the run was trained"
        )
    messages = endpoint.question_messages(question, system_prompt)
    text = endpoint.invoke(client(session, "sagemaker-runtime"), endpoint_name, messages, family)
    labels = report.get("labels")
    return text, labels if isinstance(labels, list) and labels else None
