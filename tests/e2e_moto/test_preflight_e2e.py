"""Issue 15: Preflight in the synthesized state machine, against the harness's account (account.py).

Each failing check stops the execution at Preflight, before any training job is created, with the check's
reason in the execution's cause and the report written on the Catch path.
"""

from __future__ import annotations

import dataclasses
import math

from forge_handlers import config
from forge_handlers.preflight_checks import training_quota_name

from tests.e2e_moto.account import PAGE_SIZE
from tests.e2e_moto.test_pipeline_e2e import GOOD_METRICS, _input


def _stopped_at_preflight(pipeline, result) -> None:
    assert result.status == "FAILED" and result.error == "PreflightError", result.cause
    assert "Preflight" in result.states
    assert not any(state.startswith("Launch") for state in result.states), result.states
    assert pipeline.training_jobs() == []
    assert pipeline.read_json("runs/run-1/report.json")["status"] == "FAILED"


def test_a_zero_quota_fails_at_preflight_before_any_job(pipeline) -> None:
    sft = config.load().stages.for_stage("sft")
    name = training_quota_name(sft.instance_type, sft.use_spot)
    pipeline.quotas.set(name, 0)
    (result,) = pipeline.run(_input(pipeline))
    _stopped_at_preflight(pipeline, result)
    assert f"'{name}' >= {sft.instance_count}, its applied value is 0" in result.cause
    assert "request-service-quota-increase --service-code sagemaker --quota-code L-" in result.cause
    pages = math.ceil(len(pipeline.quotas.applied) / PAGE_SIZE)  # every page read, no default lookup
    assert [operation for operation, _ in pipeline.quotas.calls] == ["ListServiceQuotas"] * pages


def test_no_applied_value_falls_back_to_the_default_quota(pipeline) -> None:
    sft = config.load().stages.for_stage("sft")
    pipeline.quotas.set(training_quota_name(sft.instance_type, sft.use_spot), None)  # default is 0
    (result,) = pipeline.run(_input(pipeline))
    _stopped_at_preflight(pipeline, result)
    assert "its default value (no applied value) is 0" in result.cause


def test_a_role_the_template_leaves_short_fails_naming_action_resource_and_role(pipeline) -> None:
    principals = pipeline.account.principals
    launch_arn = next(arn for arn in principals.roles if "Launch" in arn)
    launch = principals.roles[launch_arn]
    kept = []
    for policy in launch.policies:
        statements = [s for s in policy["Statement"] if "sagemaker:CreateTrainingJob" not in str(s["Action"])]
        kept.append({**policy, "Statement": statements})
    principals.roles[launch_arn] = dataclasses.replace(launch, policies=tuple(kept))
    (result,) = pipeline.run(_input(pipeline))
    _stopped_at_preflight(pipeline, result)
    job = "arn:aws:sagemaker:us-east-1:123456789012:training-job/forge-hf--run-1-base-a1"
    role = launch_arn.rsplit("/", 1)[1]
    assert f"sagemaker:CreateTrainingJob on {job} is not allowed for role {role} (launch)" in result.cause


def test_nova_preflight_scores_rollouts_with_the_deployed_reward(nova_pipeline) -> None:
    nova_pipeline.sagemaker.metrics = GOOD_METRICS
    (result,) = nova_pipeline.run(_input(nova_pipeline, rows=120))
    assert result.status == "SUCCEEDED", result.cause
    checks = {c["check"]: c for c in result.output["preflight"]["checks"]}
    assert {name: c["status"] for name, c in checks.items()} == {
        "quotas": "ok", "reward": "ok", "iam": "ok", "endpoint": "ok"}
    assert "12 rollouts scored" in checks["reward"]["detail"]


def test_a_constant_reward_fails_at_preflight_naming_the_prompt(nova_pipeline) -> None:
    reward = next(f for f, h in nova_pipeline._handlers.items() if h == "job_code.core.reward.lambda_handler")

    def resolve(name: str):
        if name != reward:
            return nova_pipeline.resolve(name)
        return lambda event, context: [{"id": s["id"], "aggregate_reward_score": 0.5, "metrics_list": []}
                                       for s in event]

    (result,) = nova_pipeline.run(_input(nova_pipeline, rows=120), resolve=resolve)
    _stopped_at_preflight(nova_pipeline, result)
    assert "gives every completion of prompt '" in result.cause
    assert "the same reward 0.5" in result.cause and "zero-variance" in result.cause
