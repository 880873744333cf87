"""The Preflight function's role: least privilege over exactly what its checks call (issue 15)."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Template


@pytest.fixture(scope="module")
def template(nova):
    return Template.from_json(nova["template"])


def _statements(template, function_name: str) -> tuple[str, list[dict]]:
    (function,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": function_name}}).values()
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role}]}})
    return role, [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _by_action(statements: list[dict]) -> dict[str, list]:
    granted: dict[str, list] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        resources = statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            granted.setdefault(action, []).extend(resources if isinstance(resources, list) else [resources])
    return granted


def test_the_preflight_role_grants_only_its_checks_calls(template) -> None:
    own_role, statements = _statements(template, "forge-nova-preflight")
    granted = _by_action(statements)
    runtime = {a for a in granted if a.split(":")[0] in ("logs", "xray")}  # every function's logs and traces
    assert runtime == set(_by_action(_statements(template, "forge-nova-prepare")[1])) & runtime
    assert set(granted) - runtime == {
        "servicequotas:ListServiceQuotas", "servicequotas:ListAWSDefaultServiceQuotas",
        "iam:SimulatePrincipalPolicy", "lambda:InvokeFunction", "s3:GetObject", "s3:ListBucket",
        "kms:Decrypt"}
    # The List actions have no resource type: "*" is the only resource IAM accepts (cdk-nag reason recorded).
    assert granted["servicequotas:ListServiceQuotas"] == ["*"]
    assert granted["servicequotas:ListAWSDefaultServiceQuotas"] == ["*"]
    # Simulates this stack's roles (the SageMaker role and the other handlers'), never itself or "*".
    simulated = {ref["Fn::GetAtt"][0] for ref in granted["iam:SimulatePrincipalPolicy"]}
    roles = set(template.find_resources("AWS::IAM::Role"))
    assert simulated <= roles and own_role not in simulated
    assert any(r.startswith("SageMakerRole") for r in simulated)
    assert any(r.startswith("HandlerRolesLaunch") for r in simulated)
    # Invokes only the reward function.
    (invoke,) = granted["lambda:InvokeFunction"]
    assert "function:forge-nova-reward-SageMaker" in json.dumps(invoke)


def test_the_preflight_function_knows_the_roles_it_simulates(template) -> None:
    (function,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": "forge-nova-preflight"}}).values()
    variables = function["Properties"]["Environment"]["Variables"]
    encoded = json.dumps(variables["FORGE_ROLE_ARNS"])
    for handler in ("launch", "poll", "deploy", "smoke", "report"):
        assert f'\\"{handler}\\":' in encoded
    assert '\\"preflight\\":' not in encoded
    assert {"SAGEMAKER_ROLE_ARN", "REWARD_LAMBDA_ARN", "ARTIFACTS_BUCKET"} <= set(variables)
