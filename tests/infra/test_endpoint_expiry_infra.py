"""deploy.ttl_hours in the stack: the expiry role (Scheduler may assume it; it may delete this pipeline's
endpoint only), Deploy's statements on the one schedule and its PassRole of that role to Scheduler only."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from tests.infra.test_infra_checks import report_violations
from tests.synth_helpers import synth

ENDPOINT = ":endpoint/forge-hf--endpoint"
SCHEDULE = ":schedule/default/forge-hf--endpoint-ttl"


@pytest.fixture(scope="module")
def with_ttl(tmp_path_factory):
    return synth("open-weights", tmp_path_factory.mktemp("ttl"), {"deploy": {"ttl_hours": 4}})


def joined(value) -> str:
    """The text of an Fn::Join ARN (references as their names), for comparisons."""
    if isinstance(value, dict) and "Fn::Join" in value:
        return "".join(joined(part) for part in value["Fn::Join"][1])
    if isinstance(value, dict):  # {"Fn::GetAtt": [id, "Arn"]} / {"Ref": id}: the logical id
        reference = next(iter(value.values()))
        return str(reference[0] if isinstance(reference, list) else reference)
    return str(value)


def expiry_role_id(template: dict) -> str:
    (role_id,) = [k for k, v in template["Resources"].items() if v["Type"] == "AWS::IAM::Role"
                  and "scheduler.amazonaws.com" in str(v["Properties"]["AssumeRolePolicyDocument"])]
    return role_id


def statements_of(template: dict, role_id: str) -> list[dict]:
    policies = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    return [s for p in policies if {"Ref": role_id} in p["Roles"] for s in p["PolicyDocument"]["Statement"]]


def test_the_expiry_role_is_scheduler_s_and_deletes_this_endpoint_only(with_ttl) -> None:
    template = with_ttl["template"]
    role_id = expiry_role_id(template)
    trust = template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{"Action": "sts:AssumeRole", "Effect": "Allow",
                      "Principal": {"Service": "scheduler.amazonaws.com"},
                      "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}}]
    (statement,) = statements_of(template, role_id)
    assert statement["Action"] == "sagemaker:DeleteEndpoint"
    assert joined(statement["Resource"]).endswith(ENDPOINT)  # not "<prefix>--*": the endpoint itself


def test_deploy_may_set_the_schedule_and_pass_the_expiry_role_to_scheduler_only(with_ttl) -> None:
    template = with_ttl["template"]
    Template.from_json(template).has_resource_properties("AWS::Lambda::Function", {
        "FunctionName": "forge-hf-deploy",
        "Environment": {"Variables": Match.object_like(
            {"SCHEDULER_ROLE_ARN": {"Fn::GetAtt": [expiry_role_id(template), "Arn"]}})}})
    (deploy,) = [v for v in template["Resources"].values() if v["Type"] == "AWS::Lambda::Function"
                 and v["Properties"].get("FunctionName") == "forge-hf-deploy"]
    statements = statements_of(template, deploy["Properties"]["Role"]["Fn::GetAtt"][0])
    (schedule,) = [s for s in statements if "scheduler:CreateSchedule" in s["Action"]]
    assert sorted(schedule["Action"]) == ["scheduler:CreateSchedule", "scheduler:DeleteSchedule",
                                          "scheduler:GetSchedule", "scheduler:UpdateSchedule"]
    assert joined(schedule["Resource"]).endswith(SCHEDULE)
    passes = {joined(s["Resource"]): s["Condition"]["StringEquals"]["iam:PassedToService"]
              for s in statements if s["Action"] == "iam:PassRole"}
    assert passes == {expiry_role_id(template): "scheduler.amazonaws.com",
                      next(k for k in passes if "SageMakerRole" in k): "sagemaker.amazonaws.com"}


def test_cdk_nag_is_green_with_a_ttl(with_ttl) -> None:
    assert report_violations(with_ttl["assembly_dir"]) == []  # app.synth() raised on any finding too


def test_no_expiry_role_without_a_ttl(synthesized) -> None:
    template = synthesized["open-weights"]["template"]
    assert "scheduler.amazonaws.com" not in str(template["Resources"])
    assert "SCHEDULER_ROLE_ARN" not in str(template["Resources"])
