"""forge.local.execution_events: the status-change event AWS sends, delivered in moto to Lambda targets."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from moto import mock_aws

from forge.local import execution_events
from forge.local.execution_events import ExecutionEventError, emit_final_status, install_rules, matches
from forge.moto_lambda import run_lambdas_in_process

REGION = "us-east-1"
CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:t-abort"
TEMPLATE = {
    "Resources": {
        "Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {}},
        "Ended": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "EventPattern": {
                    "source": ["aws.states"],
                    "detail-type": ["Step Functions Execution Status Change"],
                    "detail": {"status": ["ABORTED", "TIMED_OUT", "FAILED"],
                               "stateMachineArn": [{"Ref": "Machine"}]},
                },
                "State": "ENABLED",
                "Targets": [{"Id": "Target0", "Arn": {"Fn::GetAtt": ["Abort", "Arn"]}}],
            },
        },
        "Other": {"Type": "AWS::Events::Rule", "Properties": {"EventPattern": {"source": ["aws.s3"]}}},
    }
}


def _resolver(machine_arn: str):
    def resolve(value):
        if isinstance(value, list):
            return [resolve(item) for item in value]
        if isinstance(value, dict):
            if value == {"Ref": "Machine"}:
                return machine_arn
            if value == {"Fn::GetAtt": ["Abort", "Arn"]}:
                return FUNCTION
            return {key: resolve(item) for key, item in value.items()}
        return value

    return resolve


def _finished(sfn, arn: str) -> dict:
    deadline = time.monotonic() + 20
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return described


@pytest.mark.parametrize(("definition", "delivered"), [
    ({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom", "Cause": "why"}}}, True),
    ({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, False),
])
def test_a_final_status_reaches_the_rules_lambda_target(definition, delivered) -> None:
    received = []
    with mock_aws(config=CONFIG):
        session = boto3.session.Session(region_name=REGION)
        sfn = session.client("stepfunctions")
        machine = sfn.create_state_machine(name="t", definition=json.dumps(definition),
                                           roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]
        assert install_rules(session, TEMPLATE, _resolver(machine)) == ["Ended"]
        arn = sfn.start_execution(stateMachineArn=machine, name="run-1", input='{"a": 1}')["executionArn"]
        _finished(sfn, arn)
        with run_lambdas_in_process(lambda name: lambda event, context: received.append(event) or {"ok": 1}):
            deliveries = emit_final_status(session, arn)
    assert [d.response for d in deliveries] == ([{"ok": 1}] if delivered else [])
    if delivered:
        (event,) = received
        assert event["source"] == "aws.states" and event["resources"] == [arn]
        assert event["detail"] | {"startDate": 0, "stopDate": 0} == {
            "executionArn": arn, "stateMachineArn": machine, "name": "run-1", "status": "FAILED",
            "input": '{"a": 1}', "output": None, "error": "Boom", "cause": "why",
            "startDate": 0, "stopDate": 0,
        }


def test_a_running_execution_has_no_event_yet() -> None:
    with mock_aws(config=CONFIG):
        session = boto3.session.Session(region_name=REGION)
        sfn = session.client("stepfunctions")
        wait = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}}
        machine = sfn.create_state_machine(name="t", definition=json.dumps(wait),
                                           roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine, name="r")["executionArn"]
        with pytest.raises(ExecutionEventError, match="still RUNNING"):
            execution_events.status_change_event(session, arn)
        sfn.stop_execution(executionArn=arn)


def test_pattern_matching_follows_eventbridge_for_exact_values() -> None:
    event = {"source": "aws.states", "detail": {"status": "ABORTED", "tags": ["a", "b"]}}
    assert matches({"source": ["aws.states"], "detail": {"status": ["FAILED", "ABORTED"]}}, event)
    assert matches({"detail": {"tags": ["b"]}}, event)  # a list value matches if any element does
    assert not matches({"detail": {"status": ["FAILED"]}}, event)
    assert not matches({"detail": {"missing": ["x"]}}, event)
    with pytest.raises(ExecutionEventError, match="not a list of exact values"):
        matches({"detail": {"status": [{"prefix": "AB"}]}}, event)


def test_local_mode_can_install_the_stacks_rule_from_its_own_resolver(tmp_path) -> None:
    """What forge/local/runner.py needs: the synthesized ExecutionEnded rule, resolved against the stack
    create_in_moto made, matches that stack's machine and targets its abort function."""
    from forge.local.cfn import create_in_moto
    from tests.synth_helpers import synth

    synthesized = synth("local", tmp_path)
    with mock_aws(config=CONFIG):
        session = boto3.session.Session(region_name=REGION)
        stack = create_in_moto(session, synthesized["assembly_dir"], region=REGION)
        (rule,) = install_rules(session, stack.template, stack.resolver)
        events = session.client("events")
        pattern = json.loads(events.describe_rule(Name=rule)["EventPattern"])
        (target,) = events.list_targets_by_rule(Rule=rule)["Targets"]
    assert pattern["detail"]["stateMachineArn"] == [stack.state_machine_arn]
    assert target["Arn"].endswith(":function:forge-local-abort")
    ended = {"source": "aws.states", "detail-type": "Step Functions Execution Status Change",
             "detail": {"status": "ABORTED", "stateMachineArn": stack.state_machine_arn}}
    assert matches(pattern, ended) and not matches(pattern, {**ended, "detail": {"status": "SUCCEEDED"}})
