"""Acceptance 4: every IAM action a handler's code can call is declared and granted to its role.

The calls are derived from the code (api_calls.py: a call graph from each handler through the logic
modules to the client seam), checked against the declared table stacks/permissions.py, and then against
the synthesized template's policies on that handler's role, so a deploy cannot fail on AccessDenied.
"""

from __future__ import annotations

import fnmatch

import pytest

from stacks.permissions import HANDLER_NAMES, HANDLER_PERMISSIONS
from tests.handlers.api_calls import iam_actions, reachable_operations
from tests.synth_helpers import synth

DERIVED = {handler: iam_actions(reachable_operations(handler)) for handler in HANDLER_NAMES}
# S3 objects are SSE-KMS encrypted with the stack's key: reading or writing them needs the key too.
KMS_FOR_S3 = {"s3:GetObject": "kms:Decrypt", "s3:PutObject": "kms:GenerateDataKey"}


def required_actions(handler: str) -> set[str]:
    actions = set(DERIVED[handler])
    actions |= {KMS_FOR_S3[a] for a in actions if a in KMS_FOR_S3}
    return actions


def test_the_derivation_sees_the_calls_it_should() -> None:
    """Guards the call graph itself: known calls through several modules are found."""
    assert {
        "sagemaker:DescribeTrainingJob",
        "sagemaker:CreateTrainingJob",
        "iam:PassRole",
        "s3:PutObject",
        "s3:GetObject",
    } <= DERIVED["launch"]
    assert {"sagemaker:StopTrainingJob", "sagemaker:DeleteEndpoint"} <= DERIVED["cleanup"]
    assert "sagemaker:InvokeEndpoint" in DERIVED["smoke"] and "sns:Publish" in DERIVED["notify"]
    assert "sagemaker:CreateTrainingJob" not in DERIVED["poll"]
    # Preflight binds its clients to a name first (client = clients.get("iam")): still seen.
    assert {"servicequotas:ListServiceQuotas", "servicequotas:ListAWSDefaultServiceQuotas",
            "iam:SimulatePrincipalPolicy", "lambda:InvokeFunction", "s3:GetObject"} == DERIVED["preflight"]


@pytest.mark.parametrize("handler", HANDLER_NAMES)
def test_declared_table_covers_the_code(handler: str) -> None:
    missing = required_actions(handler) - set(HANDLER_PERMISSIONS[handler])
    assert not missing, f"{handler} calls {sorted(missing)} but stacks/permissions.py does not declare them"


@pytest.fixture(scope="module", params=["open-weights", "nova"])
def template(request, tmp_path_factory) -> dict:
    return synth(request.param, tmp_path_factory.mktemp(f"iam-{request.param}"))["template"]


def _role_actions(template: dict, function_name: str) -> set[str]:
    resources = template["Resources"]
    (function,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("FunctionName") == function_name
    ]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = []
    for resource in resources.values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource["Properties"].get(
            "Roles", []
        ):
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    for policy in resources[role_id]["Properties"].get("Policies", []):
        statements += policy["PolicyDocument"]["Statement"]
    granted = set()
    for statement in statements:
        if statement.get("Effect") == "Allow":
            actions = statement["Action"]
            granted.update([actions] if isinstance(actions, str) else actions)
    return granted


@pytest.mark.parametrize("handler", HANDLER_NAMES)
def test_synthesized_role_grants_every_called_action(template, handler: str) -> None:
    document = template
    names = [
        r["Properties"]["FunctionName"]
        for r in document["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and isinstance(r["Properties"].get("FunctionName"), str)
    ]
    (function_name,) = [n for n in names if n.endswith(f"-{handler.replace('_', '-')}")]
    granted = _role_actions(document, function_name)
    missing = {a for a in required_actions(handler) if not any(fnmatch.fnmatchcase(a, g) for g in granted)}
    assert not missing, f"{function_name}'s role lacks {sorted(missing)}"
