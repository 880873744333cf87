"""tracking.mlflow_arn: the SageMaker execution role may log to exactly that managed MLflow server, and
cdk-nag stays clean; without it the role has no sagemaker-mlflow action at all."""

from __future__ import annotations

import pytest

from stacks.roles import MLFLOW_JOB_ACTIONS
from tests.infra.test_infra_checks import report_violations
from tests.synth_helpers import synth

ARN = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/forge-team"


def sagemaker_role_statements(template: dict) -> list[dict]:
    resources = template["Resources"]
    role_ids = [rid for rid, res in resources.items() if res["Type"] == "AWS::IAM::Role"
                and "sagemaker.amazonaws.com" in str(res["Properties"]["AssumeRolePolicyDocument"])]
    assert len(role_ids) == 1, role_ids
    statements = []
    for res in resources.values():
        if res["Type"] == "AWS::IAM::Policy" and {"Ref": role_ids[0]} in res["Properties"]["Roles"]:
            statements += res["Properties"]["PolicyDocument"]["Statement"]
    return statements


def mlflow_statements(template: dict) -> list[dict]:
    return [s for s in sagemaker_role_statements(template)
            if any(str(a).startswith("sagemaker-mlflow:") for a in _list(s["Action"]))]


def _list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module", params=["nova", "open-weights"])
def with_arn(request, tmp_path_factory):
    return synth(request.param, tmp_path_factory.mktemp(f"mlflow-{request.param}"),
                 {"tracking": {"mlflow_arn": ARN}})


def test_the_role_may_log_to_the_configured_server_only(with_arn):
    statements = mlflow_statements(with_arn["template"])
    assert len(statements) == 1
    statement = statements[0]
    assert statement["Effect"] == "Allow" and statement["Resource"] == ARN
    assert sorted(_list(statement["Action"])) == sorted(MLFLOW_JOB_ACTIONS)
    assert not any("*" in action for action in MLFLOW_JOB_ACTIONS)
    assert report_violations(with_arn["assembly_dir"]) == []


@pytest.mark.parametrize("name", ["nova", "local"])
def test_no_mlflow_actions_without_an_arn(synthesized, name):
    assert mlflow_statements(synthesized[name]["template"]) == []
