"""``forge preflight --stack NAME``: a deployed stack in moto (CloudFormation, Lambda, S3), Service Quotas
and IAM's simulator through botocore's Stubber with the documented shapes (tests/handlers/preflight_shapes.py:
moto 5.2.5 has neither), the reward function the real reward handler run in-process (forge/moto_lambda.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from forge_handlers.aws import clients
from forge_handlers.preflight_checks import quota_needs
from forge_handlers.preflight_iam import iam_needs
from moto import mock_aws
from typer.testing import CliRunner

from forge import preflight
from forge.cli import app
from forge.moto_lambda import run_lambdas_in_process
from job_code.core import reward
from pipeline_core.settings import load_settings
from tests.handlers import preflight_shapes as shapes

ROOT = Path(__file__).resolve().parents[2]
NOVA = ROOT / "config" / "nova.yaml"
STACK = "ForgePreflight"
ACCOUNT, REGION = "123456789012", "us-east-1"
HANDLERS = ("champion", "launch", "poll", "deploy", "smoke", "report")


def _role(name: str) -> dict:
    return {"Type": "AWS::IAM::Role",
            "Properties": {"RoleName": f"fp-{name}", "AssumeRolePolicyDocument": {"Statement": []}}}


def _function(name: str, env: dict) -> dict:
    return {"Type": "AWS::Lambda::Function", "Properties": {
        "FunctionName": name, "Runtime": "python3.12", "Handler": "index.handler",
        "Role": {"Fn::GetAtt": ["RoleSagemaker", "Arn"]},
        "Code": {"ZipFile": "def handler(e, c):\n    return e\n"}, "Environment": {"Variables": env}}}


TEMPLATE = {"Resources": {
    "Data": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "fp-data"}},
    "Artifacts": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "fp-artifacts"}},
    **{f"Role{name.capitalize()}": _role(name) for name in ("sagemaker", *HANDLERS)},
    "Reward": _function("fp-reward", {}),
    "Preflight": _function("fp-preflight", {
        "DATA_BUCKET": {"Ref": "Data"}, "ARTIFACTS_BUCKET": {"Ref": "Artifacts"},
        "SAGEMAKER_ROLE_ARN": {"Fn::GetAtt": ["RoleSagemaker", "Arn"]},
        "REWARD_LAMBDA_ARN": {"Fn::GetAtt": ["Reward", "Arn"]}, "KMS_KEY_ARN": "",
        "FORGE_ROLE_ARNS": json.dumps({h: f"arn:aws:iam::{ACCOUNT}:role/fp-{h}" for h in HANDLERS}),
    }),
    "Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
        "StateMachineName": "fp-pipeline", "RoleArn": {"Fn::GetAtt": ["RoleSagemaker", "Arn"]},
        "DefinitionString": json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})}},
}}


class StubbedSession:
    """A boto3 session on moto whose Service Quotas and IAM clients are stubbed."""

    def __init__(self) -> None:
        self._session = boto3.session.Session(region_name=REGION)
        self.region_name = REGION
        self.stubbed = {service: self._session.client(service) for service in ("service-quotas", "iam")}
        self.stubbers = {service: Stubber(client) for service, client in self.stubbed.items()}

    def client(self, service: str, **kwargs):
        return self.stubbed.get(service) or self._session.client(service, **kwargs)


@pytest.fixture
def deployed(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    with mock_aws(config={"lambda": {"use_docker": False}}):
        session = StubbedSession()
        session.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(TEMPLATE))
        monkeypatch.setattr(preflight, "default_session", lambda: session)
        handlers = {"fp-reward": reward.lambda_handler}
        with run_lambdas_in_process(handlers.__getitem__):
            yield session
    clients.reset()


def _script(session: StubbedSession, quota_value) -> None:
    settings = load_settings(NOVA)
    applied = [shapes.quota(n.quota_name, f"L-{i:08X}", quota_value(n)) for i, n in
               enumerate(quota_needs(settings))]
    session.stubbers["service-quotas"].add_response("list_service_quotas", {"Quotas": applied},
                                                    {"ServiceCode": "sagemaker"})
    deployment = preflight.deployment_of(STACK, session)
    groups: dict[tuple, list[str]] = {}
    for need in iam_needs(settings, deployment, preflight.RUN_ID,
                          preflight.datasets_of(deployment, settings, preflight.RUN_ID)):
        groups.setdefault((deployment.role_arn(need.role), need.action), []).append(need.resource)
    for (_, action), resources in groups.items():
        results = [shapes.evaluation(action, r, "allowed") for r in resources]
        session.stubbers["iam"].add_response("simulate_principal_policy",
                                             {"EvaluationResults": results, "IsTruncated": False})


def _data(tmp_path: Path) -> Path:
    path = tmp_path / "questions.csv"
    path.write_text("text,rating\nHow do I sort a dict?,HQ\nplz fix my code,LQ_CLOSE\nwhy null??,LQ_EDIT\n")
    return path


def _invoke(session, *args: str):
    with session.stubbers["service-quotas"], session.stubbers["iam"]:
        result = CliRunner().invoke(app, ["preflight", "--stack", STACK, "--config", str(NOVA), *args])
    return result


def test_preflight_passes_against_a_stack_with_room(deployed, tmp_path) -> None:
    _script(deployed, lambda need: float(need.count))
    result = _invoke(deployed, "--data", str(_data(tmp_path)))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[:2] for line in lines[:4]] == [
        ["quotas", "OK"], ["reward", "OK"], ["iam", "OK"], ["endpoint", "OK"]]
    assert "12 rollouts scored" in lines[1]
    assert lines[4].startswith("cost estimate (")  # what the run may cost, after the checks
    deployed.stubbers["iam"].assert_no_pending_responses()


def test_preflight_fails_with_the_quota_reason(deployed, tmp_path) -> None:
    _script(deployed, lambda need: 0.0 if "training job" in need.quota_name else float(need.count))
    result = _invoke(deployed, "--data", str(_data(tmp_path)))
    assert result.exit_code == 1, result.output
    quotas = result.output.splitlines()[0]
    assert quotas.startswith("quotas    PROBLEM") and "its applied value is 0" in quotas
    assert "request-service-quota-increase --service-code sagemaker" in quotas


def test_without_data_the_reward_check_is_skipped(deployed) -> None:
    _script(deployed, lambda need: float(need.count))
    result = _invoke(deployed)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].startswith("reward    SKIPPED  no data given")


def test_an_unknown_stack_is_one_line_and_a_failed_operation(deployed) -> None:
    result = CliRunner().invoke(app, ["preflight", "--stack", "Nope", "--config", str(NOVA)])
    assert result.exit_code == 1 and "stack 'Nope'" in result.output
    assert "Traceback" not in result.output
