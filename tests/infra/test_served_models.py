"""An endpoint serves a copy under runs/<id>/deployed/, which the SageMaker role (every job) cannot write."""

from __future__ import annotations

import fnmatch
import json

import pytest
from aws_cdk.assertions import Template

from pipeline_core import layout
from stacks import storage


@pytest.fixture(scope="module")
def template(synthesized):
    return synthesized["open-weights"]["template"]


def _sagemaker_role(template: dict) -> str:
    (role,) = [logical for logical, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"
               and "sagemaker.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])]
    return role


def _function_role(template: dict, name: str) -> str:
    (role,) = [r["Properties"]["Role"]["Fn::GetAtt"][0] for r in template["Resources"].values()
               if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("FunctionName") == name]
    return role


def _statements(template: dict, role: str) -> list[dict]:
    policies = [r for r in template["Resources"].values()
                if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]]
    return [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statement: dict) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def test_the_protected_pattern_covers_the_served_copies_and_nothing_else_of_a_run() -> None:
    served = layout.deployed_model_key("run-1", "runs/run-1/jobs/rft/j/output/model.tar.gz")
    assert served == "runs/run-1/deployed/model.tar.gz" and fnmatch.fnmatchcase(served, storage.SERVED_MODELS)
    assert not fnmatch.fnmatchcase("runs/run-1/jobs/rft/j/output/model.tar.gz", storage.SERVED_MODELS)


def test_the_bucket_policy_denies_the_sagemaker_role_every_write_under_deployed(template) -> None:
    role = _sagemaker_role(template)
    policies = Template.from_json(template).find_resources("AWS::S3::BucketPolicy")
    statements = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    (deny,) = [s for s in statements if s.get("Sid") == "ServedModelsAreNotTheJobsToWrite"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": "*"}
    assert {"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"} <= set(_actions(deny))
    assert deny["Condition"] == {"ArnEquals": {"aws:PrincipalArn": {"Fn::GetAtt": [role, "Arn"]}}}
    assert json.dumps(deny["Resource"]).endswith('/runs/*/deployed/*"]]}')


def test_the_sagemaker_roles_own_writes_are_under_runs_only(template) -> None:
    # Its Allow on runs/* covers runs/<id>/deployed/ too: only the bucket policy's Deny keeps it out.
    for statement in _statements(template, _sagemaker_role(template)):
        if "s3:PutObject" in _actions(statement):
            resources = statement["Resource"]
            resources = resources if isinstance(resources, list) else [resources]
            assert all(json.dumps(r).endswith('/runs/*"]]}') for r in resources), statement


def test_deploy_writes_only_the_served_copies(template) -> None:
    statements = _statements(template, _function_role(template, "forge-hf-deploy"))
    (put,) = [s for s in statements if "s3:PutObject" in _actions(s)]
    assert json.dumps(put["Resource"]).endswith('/runs/*/deployed/*"]]}')
