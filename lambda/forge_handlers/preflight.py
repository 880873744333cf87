"""Preflight: after Prepare, before any job, ask AWS what it would refuse hours (and dollars) later.

Four checks (docs/contracts.md, "Preflight"): Service Quotas for the stages' and the endpoint's instances,
the Nova RFT reward Lambda on sample rollouts, IAM for the exact actions the run needs, and the endpoint
settings against the supported tiers. Any problem fails the execution with every check's reason
(PreflightError); otherwise ``$.preflight`` records the checks. ``forge preflight`` runs the same
``run_checks`` from the user's machine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from forge_handlers.aws import preflight_calls as calls
from forge_handlers.errors import PreflightError
from forge_handlers.preflight_checks import (
    CheckResult,
    EndpointSettings,
    Quota,
    check_endpoint,
    check_quotas,
    quota_needs,
)
from forge_handlers.preflight_iam import Deployment, check_iam, iam_needs
from forge_handlers.preflight_reward import RewardAnswer, check_reward, sample_rollouts
from forge_handlers.training_requests import calls_reward_lambda
from pipeline_core import stages as stage_table
from pipeline_core.settings import Settings

ROLE_ARNS_ENV = "FORGE_ROLE_ARNS"  # JSON: handler name -> its role ARN (stacks/handlers.py)
RFT_HEAD_BYTES = 256 * 1024  # enough for the few records the rollouts use
REWARD_READ_TIMEOUT = 60  # seconds; below the handler's own Timeout


def quotas_check(settings: Settings) -> CheckResult:
    needs = quota_needs(settings)
    try:
        records = calls.sagemaker_quotas({need.quota_name for need in needs}) if needs else {}
    except calls.QuotasUnavailable as unavailable:
        return CheckResult("quotas", "skipped", str(unavailable))
    quotas = {name: Quota.from_api(record, applied) for name, (record, applied) in records.items()}
    return check_quotas(needs, quotas)


def reward_dataset(settings: Settings) -> str | None:
    """The prepared dataset the reward-calling stage reads (Nova RFT), None when no stage calls the reward
    Lambda (open-weights RFT scores in the job itself, GRPO)."""
    return next((stage_table.stage(stage).dataset for stage in settings.enabled_job_stages()
                 if calls_reward_lambda(settings, stage)), None)


def reward_applies(settings: Settings) -> bool:
    return reward_dataset(settings) is not None


def reward_check(settings: Settings, deployment: Deployment,
                 rft_records: Sequence[Mapping[str, Any]] | None) -> CheckResult:
    """``rft_records`` None: no data was given to build rollouts from (``forge preflight`` without --data)."""
    if not reward_applies(settings):
        return CheckResult("reward", "skipped", "no Nova RFT stage: no reward Lambda is called")
    if rft_records is None:
        return CheckResult("reward", "skipped", "no data given to build sample rollouts from (--data FILE)")
    samples = sample_rollouts(rft_records, settings.data.labels)
    if not samples:
        return check_reward(deployment.reward_lambda_arn, samples, RewardAnswer(), settings.reward.module)
    payload, function_error, error = calls.invoke_json(deployment.reward_lambda_arn, samples,
                                                       REWARD_READ_TIMEOUT)
    return check_reward(deployment.reward_lambda_arn, samples, RewardAnswer(payload, function_error, error),
                        settings.reward.module)


def iam_check(settings: Settings, deployment: Deployment, run_id: str, datasets: Mapping[str, str]
              ) -> CheckResult:
    needs = iam_needs(settings, deployment, run_id, datasets)
    groups: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[str]] = {}
    for need in needs:
        arn = deployment.role_arn(need.role)
        if arn:
            groups.setdefault((arn, need.action, need.context), []).append(need.resource)
    decisions = {}
    for (arn, action, context), resources in groups.items():
        for resource, decision in calls.simulate(arn, action, resources, context).items():
            decisions[(arn, action, resource)] = decision
    return check_iam(needs, deployment, decisions)


def endpoint_check(settings: Settings) -> CheckResult:
    hf_remote = settings.model.family == "hf" and settings.deploy.instance_type != "local"
    known = calls.hosting_instance_types() if hf_remote else frozenset()
    return check_endpoint(EndpointSettings.of(settings, known))


def run_checks(settings: Settings, deployment: Deployment, run_id: str, datasets: Mapping[str, str],
               rft_records: Sequence[Mapping[str, Any]] | None) -> list[CheckResult]:
    """All four checks, in order; each one's own failure to ask AWS is reported as its problem."""
    checks = [
        ("quotas", lambda: quotas_check(settings)),
        ("reward", lambda: reward_check(settings, deployment, rft_records)),
        ("iam", lambda: iam_check(settings, deployment, run_id, datasets)),
        ("endpoint", lambda: endpoint_check(settings)),
    ]
    results = []
    for name, check in checks:
        try:
            results.append(check())
        except Exception as error:  # e.g. the role may not call the API: say which check could not ask
            reason = f"could not run the {name} check: {type(error).__name__}: {error}"
            results.append(CheckResult(name, "problem", reason, (reason,)))
    return results


def parse_records(head: bytes) -> list[dict[str, Any]]:
    """The complete JSON lines of a JSONL head (the last line may be cut)."""
    lines = head.decode("utf-8", errors="replace").splitlines()
    if head and not head.endswith(b"\n"):
        lines = lines[:-1]
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def raise_on_problems(results: Sequence[CheckResult]) -> dict[str, Any]:
    problems = [f"{r.check}: {p}" for r in results for p in r.problems]
    if problems:
        raise PreflightError("preflight failed: " + " | ".join(problems))
    return {"passed": True, "checks": [r.to_dict() for r in results]}


def preflight(settings: Settings, deployment: Deployment, run_id: str, datasets: Mapping[str, str]
              ) -> dict[str, Any]:
    """The Preflight state: the prepared RFT data is the rollouts' source."""
    kind = reward_dataset(settings)
    rft = datasets.get(kind) if kind else None
    records = parse_records(calls.read_head(rft, RFT_HEAD_BYTES)) if rft else []
    return raise_on_problems(run_checks(settings, deployment, run_id, datasets, records))


def deployment_of(env: Any, environ: Mapping[str, str]) -> Deployment:
    """What the stack deployed, from the handler environment (config.Environment) and FORGE_ROLE_ARNS."""
    return Deployment(env.region, env.artifacts_bucket, env.sagemaker_role_arn, env.reward_lambda_arn,
                      env.kms_key_arn, role_arns_from(environ))


def role_arns_from(environ: Mapping[str, str]) -> dict[str, str]:
    raw = environ.get(ROLE_ARNS_ENV, "")
    try:
        value = json.loads(raw) if raw else {}
    except json.JSONDecodeError as error:
        raise PreflightError(f"{ROLE_ARNS_ENV} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise PreflightError(f"{ROLE_ARNS_ENV} must be a JSON object, got {type(value).__name__}")
    return {str(k): str(v) for k, v in value.items()}
