"""``forge preflight --stack NAME``: the Preflight state's four checks, from the user's machine.

The same ``run_checks`` the Preflight handler runs (lambda/forge_handlers/preflight.py), against the
deployed stack: the roles, reward function and key are read from the stack's preflight function's
environment (FORGE_ROLE_ARNS, SAGEMAKER_ROLE_ARN, REWARD_LAMBDA_ARN, KMS_KEY_ARN), the settings from the
config the stack was deployed from, the reward rollouts from ``--data`` (the CSV a run would use, or a
prepared RFT JSONL). AWS is asked with the caller's credentials, so an IAM answer is about the stack's
roles, as in the state machine, but the caller needs servicequotas:List*, iam:SimulatePrincipalPolicy
and lambda:InvokeFunction on the reward function.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from forge import aws_mode

RUN_ID = "preflight"  # the run the IAM check names resources for (the roles are scoped per pattern)
SERVICES = ("service-quotas", "iam", "s3")


class PreflightUsageError(aws_mode.StackLookupError):
    """The stack or the inputs cannot be used (exit 2): the message names which and why."""


def preflight_environment(stack_name: str, session: Any) -> dict[str, str]:
    """The environment of the stack's preflight function (the one with FORGE_ROLE_ARNS)."""
    cloudformation, functions = session.client("cloudformation"), session.client("lambda")
    resources = cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
    for resource in resources:
        if resource["ResourceType"] == "AWS::Lambda::Function":
            config = functions.get_function_configuration(FunctionName=resource["PhysicalResourceId"])
            variables = config.get("Environment", {}).get("Variables", {})
            if "FORGE_ROLE_ARNS" in variables:
                return variables
    raise PreflightUsageError(f"stack {stack_name!r} has no function with FORGE_ROLE_ARNS in its environment "
                              "(deployed before preflight existed? redeploy it)")


def deployment_of(stack_name: str, session: Any) -> Any:
    from forge_handlers.preflight import role_arns_from
    from forge_handlers.preflight_iam import Deployment

    stack = aws_mode.find_stack(stack_name, session)
    env = preflight_environment(stack_name, session)
    if not env.get("SAGEMAKER_ROLE_ARN"):
        raise PreflightUsageError(f"stack {stack_name!r}: the preflight function has no SAGEMAKER_ROLE_ARN")
    return Deployment(session.region_name, stack.artifacts_bucket, env["SAGEMAKER_ROLE_ARN"],
                      env.get("REWARD_LAMBDA_ARN", ""), env.get("KMS_KEY_ARN", ""), role_arns_from(env))


def rft_records(path: Path, settings: Any) -> list[dict[str, Any]]:
    """The records the reward-calling stage would read, built from ``path``: a prepared RFT JSONL as is,
    else the user's CSV/JSONL through Prepare's own column mapping and writer."""
    from forge_handlers import preflight
    from forge_handlers.prepare import validation_rules

    from job_code.core.formats import format_records, load_examples

    if not path.is_file():
        raise PreflightUsageError(f"--data {path}: no such file")
    kind = preflight.reward_dataset(settings)
    if kind is None:  # no stage calls the reward Lambda: the reward check is skipped
        return []
    if path.suffix == ".jsonl":
        records = preflight.parse_records(path.read_bytes())
        if records and all("reference_answer" in r for r in records):
            return records
    try:
        examples = load_examples(path, validation_rules(settings).mapping)
    except (OSError, ValueError) as error:
        raise PreflightUsageError(f"--data {path}: {error}") from None
    return list(format_records(examples, settings.model.family, kind, settings.data.system_prompt))


def datasets_of(deployment: Any, settings: Any, run_id: str) -> dict[str, str]:
    """Where Prepare would write this run's splits (the IAM check asks for the execution role's reads)."""
    from job_code.core.formats import dataset_filename
    from pipeline_core import layout
    from pipeline_core import stages as stage_table

    return {kind: f"s3://{deployment.artifacts_bucket}/"
                  f"{layout.dataset_key(run_id, kind, dataset_filename(settings.model.family, kind))}"
            for kind in {stage.dataset for stage in stage_table.job_stages()}}


@contextlib.contextmanager
def _session_clients(session: Any) -> Iterator[None]:
    """The handlers' client seam pointed at the caller's session for the duration of the checks."""
    from botocore.config import Config
    from forge_handlers import preflight
    from forge_handlers.aws import clients

    saved = {service: clients._overrides.get(service) for service in (*SERVICES, "lambda")}
    for service in SERVICES:
        clients.override(service, session.client(service))
    # The reward call: one attempt, bounded, as in the handler (aws/clients.short_call).
    clients.override("lambda", session.client("lambda", config=Config(
        read_timeout=preflight.REWARD_READ_TIMEOUT, retries={"max_attempts": 1})))
    try:
        yield
    finally:
        for service, client in saved.items():
            clients.override(service, client)


def default_session() -> Any:
    import boto3

    return boto3.session.Session()


def run(stack_name: str, config: Path, data: Path | None, session: Any | None = None) -> Sequence[Any]:
    """The four CheckResults for ``stack_name``; PreflightUsageError / StackLookupError when it cannot."""
    from botocore.exceptions import BotoCoreError, ClientError
    from forge_handlers import preflight

    from pipeline_core.settings import ConfigError, load_settings

    session = session or default_session()
    try:
        settings = load_settings(config)
    except (ConfigError, OSError) as error:
        raise PreflightUsageError(f"--config {config}: {error}") from None
    try:
        deployment = deployment_of(stack_name, session)
    except (BotoCoreError, ClientError) as error:
        raise PreflightUsageError(f"stack {stack_name!r}: {error}") from None
    records = rft_records(data, settings) if data is not None else None
    with _session_clients(session):
        return preflight.run_checks(settings, deployment, RUN_ID, datasets_of(deployment, settings, RUN_ID),
                                    records)
