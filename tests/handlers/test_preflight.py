"""Preflight's four checks, each with a pass and a fail case (issue 15).

Service Quotas and IAM's policy simulator are not in moto 5.2.5: their calls run through botocore's
Stubber with the documented response shapes (tests/handlers/preflight_shapes.py). The reward Lambda is the
real reward handler (job_code.core.reward) behind a Lambda-shaped fake, or a broken one.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from forge_handlers import preflight
from forge_handlers.aws import clients
from forge_handlers.errors import PreflightError
from forge_handlers.preflight_checks import EndpointSettings, check_endpoint, quota_needs
from forge_handlers.preflight_iam import Deployment, iam_needs
from forge_handlers.preflight_reward import sample_rollouts

from job_code.core import reward
from job_code.core.formats import Example, rft_record
from pipeline_core.settings import load_settings
from tests.handlers import preflight_shapes as shapes
from tests.handlers.conftest import derive

ROOT = Path(__file__).resolve().parents[2]
ROLE = f"arn:aws:iam::{shapes.ACCOUNT}:role/forge-sagemaker"
ROLES = {name: f"arn:aws:iam::{shapes.ACCOUNT}:role/forge-{name}" for name in
         ("champion", "launch", "poll", "deploy", "smoke", "report")}
DEPLOYMENT = Deployment(shapes.REGION, "forge-artifacts", ROLE,
                        f"arn:aws:lambda:{shapes.REGION}:{shapes.ACCOUNT}:function:forge-nova-reward-SageMaker",
                        "", ROLES)


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch: pytest.MonkeyPatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": shapes.REGION}.items():
        monkeypatch.setenv(key, value)
    clients.reset()
    yield
    clients.reset()


def hf():
    return load_settings(ROOT / "config" / "open-weights.yaml")


def nova():
    return load_settings(ROOT / "config" / "nova.yaml")


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name=shapes.REGION)
    stubber = Stubber(client)
    clients.override(service, client)
    return client, stubber


# -- quotas -------------------------------------------------------------------------------------------
def _quota_stub(applied: list[dict], defaults: list[dict] | None = None) -> Stubber:
    _, stubber = stubbed("service-quotas")
    stubber.add_response("list_service_quotas", {"Quotas": applied}, {"ServiceCode": "sagemaker"})
    if defaults is not None:
        stubber.add_response("list_aws_default_service_quotas", {"Quotas": defaults},
                             {"ServiceCode": "sagemaker"})
    return stubber


def test_quota_needs_take_the_largest_count_and_the_spot_quota() -> None:
    needs = {n.quota_name: n for n in quota_needs(derive(hf(), stages__eval__instance_count=2))}
    assert needs["ml.g5.2xlarge for training job usage"].count == 2  # eval x2, baseline x1: not summed
    assert needs["ml.g5.2xlarge for spot training job usage"].fields == ("stages.sft",)
    assert needs["ml.g5.xlarge for endpoint usage"].count == 1


def test_quotas_pass_within_the_applied_values() -> None:
    with _quota_stub(shapes.APPLIED) as stubber:
        result = preflight.quotas_check(hf())
        stubber.assert_no_pending_responses()
    assert result.status == "ok", result.detail
    assert "ml.g5.12xlarge for training job usage 1/1" in result.detail


def test_quotas_fail_names_the_code_the_value_and_how_to_raise_it() -> None:
    applied = [dict(q, Value=0.0) if q["QuotaName"].startswith("ml.g5.12xlarge") else q
               for q in shapes.APPLIED]
    with _quota_stub(applied):
        result = preflight.quotas_check(hf())
    assert result.status == "problem"
    (problem,) = result.problems
    assert problem.startswith(
        "stages.rft: needs quota L-C3D4E5F6 'ml.g5.12xlarge for training job usage' >= 1")
    assert "applied value is 0" in problem
    raise_it = ("request-service-quota-increase --service-code sagemaker --quota-code L-C3D4E5F6 "
                "--desired-value 1")
    assert raise_it in problem


def test_quotas_fall_back_to_the_default_value_when_no_value_is_applied() -> None:
    applied = [q for q in shapes.APPLIED if not q["QuotaName"].startswith("ml.g5.12xlarge")]
    with _quota_stub(applied, shapes.DEFAULTS):
        result = preflight.quotas_check(hf())
    assert result.status == "problem"
    assert "its default value (no applied value) is 0" in result.problems[0]


def test_local_instance_types_need_no_quota_and_no_call() -> None:
    stubbed("service-quotas")  # no response queued: any call would fail
    result = preflight.quotas_check(load_settings(ROOT / "config" / "local.yaml"))
    assert result.status == "skipped" and "local" in result.detail


# -- reward Lambda ------------------------------------------------------------------------------------
class FakeLambda:
    """Lambda's Invoke response shape: StatusCode, FunctionError (when the function raised), Payload."""

    def __init__(self, answer):
        self.answer, self.calls = answer, []

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:  # noqa: N803
        event = json.loads(Payload)
        self.calls.append(event)
        body, error = self.answer(event)
        response = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}
        if error:
            response["FunctionError"] = error
        return response


def rft_records(settings) -> list[dict]:
    rows = [("How do I sort a dict?", "HQ"), ("plz fix my code", "LQ_CLOSE"), ("why null??", "LQ_EDIT"),
            ("Another one", "HQ")]
    return [rft_record(Example(id=f"q{i}", query=q, label=label), settings.data.system_prompt)
            for i, (q, label) in enumerate(rows)]


def _reward(answer):
    fake = FakeLambda(answer)
    clients.override("lambda", fake)
    settings = nova()
    return preflight.reward_check(settings, DEPLOYMENT, rft_records(settings)), fake


def test_rollouts_give_each_prompt_four_completions_distinct_labels_first() -> None:
    settings = nova()
    samples = sample_rollouts(rft_records(settings), settings.data.labels)
    assert [s["id"] for s in samples[:4]] == ["q0#gold", "q0#wrong", "q0#verbose", "q0#empty"]
    assert {s["reference_answer"] for s in samples} == {"HQ", "LQ_CLOSE", "LQ_EDIT"}
    assert samples[1]["messages"][-1] == {"role": "assistant", "content": "LQ_EDIT"}


def test_reward_passes_with_the_real_reward_handler() -> None:
    result, fake = _reward(lambda event: (reward.lambda_handler(event, None), None))
    assert result.status == "ok", result.detail
    assert len(fake.calls[0]) == 12


def test_zero_variance_reward_fails_naming_the_prompt_and_the_value() -> None:
    constant = [{"id": None, "aggregate_reward_score": 1.0, "metrics_list": []}]
    result, _ = _reward(lambda event: ([dict(constant[0], id=s["id"]) for s in event], None))
    assert result.status == "problem"
    assert len(result.problems) == 3
    assert "prompt 'q0' the same reward 1" in result.problems[0] and "zero-variance" in result.problems[0]


def test_reward_that_raises_fails_with_its_error() -> None:
    result, _ = _reward(lambda event: ({"errorType": "KeyError", "errorMessage": "'reference_answer'"},
                                       "Unhandled"))
    assert result.status == "problem" and "raised" in result.detail and "KeyError" in result.detail


def test_reward_that_times_out_fails_saying_so() -> None:
    body = {"errorType": "Sandbox.Timedout",
            "errorMessage": "RequestId: x Error: Task timed out after 3.00 seconds"}
    result, _ = _reward(lambda event: (body, "Unhandled"))
    assert result.status == "problem" and "timed out" in result.detail


def test_reward_answer_of_the_wrong_shape_fails() -> None:
    result, _ = _reward(lambda event: ([{"id": s["id"], "reward": 1.0} for s in event], None))
    assert result.status == "problem"
    assert "aggregate_reward_score None is not a finite number" in result.detail


def test_the_real_reward_output_fits_the_shape_it_is_checked_against() -> None:
    samples = sample_rollouts(rft_records(nova()), nova().data.labels)
    assert reward.output_problems(samples, reward.lambda_handler(samples, None)) == []


def test_reward_check_is_skipped_for_open_weights() -> None:
    result = preflight.reward_check(hf(), DEPLOYMENT, [])
    assert result.status == "skipped"


# -- IAM ----------------------------------------------------------------------------------------------
def _iam(settings, deny: set[str] = frozenset()):
    needs = iam_needs(settings, DEPLOYMENT, "run-1", {})
    _, stubber = stubbed("iam")
    groups: dict[tuple, list[str]] = {}
    for need in needs:
        key = (DEPLOYMENT.role_arn(need.role), need.action, need.context)
        groups.setdefault(key, []).append(need.resource)
    for (arn, action, context), resources in groups.items():
        results = [shapes.evaluation(action, r, "implicitDeny" if action in deny else "allowed")
                   for r in resources]
        answer = {"EvaluationResults": results, "IsTruncated": False}
        stubber.add_response("simulate_principal_policy", answer,
                             {"PolicySourceArn": arn, "ActionNames": [action], "ResourceArns": resources,
                              **({"ContextEntries": [{"ContextKeyName": k, "ContextKeyValues": [v],
                                                      "ContextKeyType": "string"} for k, v in context]}
                                 if context else {})})
    with stubber:
        result = preflight.iam_check(settings, DEPLOYMENT, "run-1", {})
        stubber.assert_no_pending_responses()
    return result, needs


def test_iam_needs_name_this_runs_resources() -> None:
    needs = iam_needs(nova(), DEPLOYMENT, "run-1", {"rft": "s3://forge-artifacts/runs/run-1/data/rft/rft.jsonl"})
    triples = {(n.role, n.action, n.resource) for n in needs}
    job = "arn:aws:sagemaker:us-east-1:123456789012:training-job/forge-nova--run-1-rft-a1"
    assert ("launch", "sagemaker:CreateTrainingJob", job) in triples
    assert ("sagemaker", "lambda:InvokeFunction", DEPLOYMENT.reward_lambda_arn) in triples
    dataset = "arn:aws:s3:::forge-artifacts/runs/run-1/data/rft/rft.jsonl"
    assert ("sagemaker", "s3:GetObject", dataset) in triples
    assert ("report", "s3:PutObject", "arn:aws:s3:::forge-artifacts/runs/run-1/report.json") in triples
    # Champion describes the pipeline's endpoint before any job (its config and model are an earlier run's).
    endpoint = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/forge-nova--endpoint"
    assert ("champion", "sagemaker:DescribeEndpoint", endpoint) in triples
    assert ("champion", "s3:PutObject", "arn:aws:s3:::forge-artifacts/runs/run-1/champion.json") in triples
    champion_job = "arn:aws:sagemaker:us-east-1:123456789012:training-job/forge-nova--run-1-champ-a1"
    assert ("launch", "sagemaker:CreateTrainingJob", champion_job) in triples


def test_iam_passes_when_every_action_is_allowed() -> None:
    result, needs = _iam(hf())
    assert result.status == "ok", result.detail


def test_iam_fails_naming_action_resource_and_role() -> None:
    result, _ = _iam(hf(), deny={"sagemaker:CreateEndpoint"})
    assert result.status == "problem"
    assert ("sagemaker:CreateEndpoint on "
            "arn:aws:sagemaker:us-east-1:123456789012:endpoint/forge-hf--endpoint "
            "is not allowed for role forge-deploy (deploy): implicitDeny") in result.problems


# -- endpoint settings --------------------------------------------------------------------------------
def test_endpoint_within_a_nova_tier_passes() -> None:
    result = check_endpoint(EndpointSettings.of(nova()))
    assert result.status == "ok" and "ml.g6.48xlarge" in result.detail


def test_endpoint_outside_the_nova_tiers_fails() -> None:
    settings = nova()
    endpoint = EndpointSettings("nova", settings.model.model_type, "ml.p5.48xlarge", 300_000, 2)
    result = check_endpoint(endpoint)
    assert result.status == "problem" and "CONTEXT_LENGTH=300000" in result.detail


def test_open_weights_endpoint_type_must_be_a_hosting_type() -> None:
    known = {"ml.g5.xlarge"}
    assert check_endpoint(EndpointSettings.of(hf(), known)).status == "ok"
    bad = check_endpoint(EndpointSettings("hf", None, "ml.g5.huge", known_instance_types=frozenset(known)))
    assert bad.status == "problem" and "ml.g5.huge" in bad.detail


# -- the handler ----------------------------------------------------------------------------------------
def test_any_problem_fails_with_every_reason() -> None:
    ok = preflight.CheckResult("iam", "ok", "fine")
    bad = preflight.CheckResult("quotas", "problem", "x", ("stages.sft: needs quota L-1",))
    assert preflight.raise_on_problems([ok])["passed"] is True
    with pytest.raises(PreflightError, match="quotas: stages.sft: needs quota L-1"):
        preflight.raise_on_problems([ok, bad])


def test_a_check_that_cannot_ask_aws_is_a_problem_not_a_crash() -> None:
    _, stubber = stubbed("service-quotas")
    stubber.add_client_error("list_service_quotas", "AccessDeniedException", "not authorized")
    _, iam_stubber = stubbed("iam")
    for _ in range(40):  # every simulate call is refused too: no call leaves the machine
        iam_stubber.add_client_error("simulate_principal_policy", "AccessDenied", "not authorized")
    with stubber, iam_stubber:
        results = preflight.run_checks(hf(), DEPLOYMENT, "run-1", {}, [])
    quotas, _, iam, _ = results
    assert quotas.status == "problem" and "AccessDeniedException" in quotas.detail
    assert iam.status == "problem" and "could not run the iam check" in iam.detail


def test_parse_records_drops_a_cut_last_line() -> None:
    head = b'{"id": "a"}\n{"id": "b"}\n{"id": "c'
    assert [r["id"] for r in preflight.parse_records(head)] == ["a", "b"]
