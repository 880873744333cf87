"""The ExecutionEnded rule: this machine's ABORTED / TIMED_OUT / FAILED executions reach the abort handler."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template


@pytest.fixture(scope="module")
def template(nova):
    return Template.from_json(nova["template"])


def _logical_id(template, resource_type: str, **properties) -> str:
    (logical_id,) = template.find_resources(resource_type, {"Properties": properties}).keys()
    return logical_id


def test_the_rule_matches_this_machines_ended_executions_and_targets_the_abort_handler(template) -> None:
    machine = _logical_id(template, "AWS::StepFunctions::StateMachine")
    abort = _logical_id(template, "AWS::Lambda::Function", FunctionName="forge-nova-abort")
    template.has_resource_properties("AWS::Events::Rule", {
        "EventPattern": {
            "source": ["aws.states"],
            "detail-type": ["Step Functions Execution Status Change"],
            "detail": {"status": ["ABORTED", "TIMED_OUT", "FAILED"], "stateMachineArn": [{"Ref": machine}]},
        },
        "State": "ENABLED",
        "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [abort, "Arn"]},
                                       "RetryPolicy": {"MaximumRetryAttempts": 4}})],
    })
    template.has_resource_properties("AWS::Lambda::Permission", {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Fn::GetAtt": [abort, "Arn"]},
        "Principal": "events.amazonaws.com",
    })


def test_the_abort_role_reads_only_this_machines_executions(template) -> None:
    abort = template.find_resources("AWS::Lambda::Function",
                                    {"Properties": {"FunctionName": "forge-nova-abort"}})
    (role,) = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in abort.values()]
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role}]}})
    statements = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    (states,) = [s for s in statements if "states:GetExecutionHistory" in json.dumps(s["Action"])]
    assert json.dumps(states["Resource"]).endswith(':execution:forge-nova-pipeline:*"]]}')
    actions = set()
    for statement in statements:
        action = statement["Action"]
        actions.update([action] if isinstance(action, str) else action)
    assert {"sagemaker:StopTrainingJob", "sagemaker:DeleteEndpoint", "s3:PutObject"} <= actions
    assert not any(a.startswith("states:") and a != "states:GetExecutionHistory" for a in actions)
