"""forge.moto_lambda: the one moto patch. Fails loudly if moto's patched internals change."""

from __future__ import annotations

import inspect
import json

import boto3
import pytest
from moto import mock_aws

from forge.moto_lambda import UnknownFunctionError, function_name_of, run_lambdas_in_process


class ResourceLimitError(Exception):
    pass


def test_moto_internals_still_have_the_patched_method():
    from moto.awslambda_simple.models import LambdaSimpleBackend

    parameters = list(inspect.signature(LambdaSimpleBackend.invoke).parameters)
    assert parameters == ["self", "function_name", "qualifier", "body", "headers", "response_headers"], (
        "moto changed LambdaSimpleBackend.invoke; update forge/moto_lambda.py"
    )


def test_patch_is_removed_on_exit():
    from moto.awslambda_simple.models import LambdaSimpleBackend

    original = LambdaSimpleBackend.invoke
    with run_lambdas_in_process(lambda name: None):
        assert LambdaSimpleBackend.invoke is not original
    assert LambdaSimpleBackend.invoke is original


@pytest.mark.parametrize(
    "value, name",
    [
        ("arn:aws:lambda:us-east-1:123456789012:function:forge-poll", "forge-poll"),
        ("arn:aws:lambda:us-east-1:123456789012:function:forge-poll:live", "forge-poll"),
        ("forge-poll", "forge-poll"),
    ],
)
def test_function_name_of(value, name):
    assert function_name_of(value) == name


def _invoke(client, name, event):
    response = client.invoke(FunctionName=name, Payload=json.dumps(event))
    return response.get("FunctionError"), json.loads(response["Payload"].read())


def test_invoke_runs_the_callable_and_surfaces_exceptions_as_function_errors():
    def handler(event, context):
        if event.get("fail"):
            raise ResourceLimitError(f"quota for {context.function_name}")
        return {"doubled": event["n"] * 2}

    with mock_aws(config={"lambda": {"use_docker": False}}):
        client = boto3.client("lambda", region_name="us-east-1")
        with run_lambdas_in_process({"f": handler}.get) as log:
            assert _invoke(client, "f", {"n": 21}) == (None, {"doubled": 42})
            error, payload = _invoke(
                client, "arn:aws:lambda:us-east-1:123456789012:function:f", {"fail": True}
            )
            assert error == "Unhandled"
            assert payload["errorType"] == "ResourceLimitError"
            assert payload["errorMessage"] == "quota for f"
            error, payload = _invoke(client, "missing", {})
            assert payload["errorType"] == UnknownFunctionError.__name__
    assert log.names() == ["f", "f", "missing"]
    assert [call.error_type for call in log.calls] == [None, "ResourceLimitError", "UnknownFunctionError"]


def test_a_handler_past_its_timeout_fails_as_lambda_reports_it():
    """Issue 12: local invokes ran without a time limit; Lambda stops a function at its Timeout."""
    import time

    def slow(event, context):
        time.sleep(event["seconds"])
        return {"remaining_ms": context.get_remaining_time_in_millis()}

    with mock_aws(config={"lambda": {"use_docker": False}}):
        client = boto3.client("lambda", region_name="us-east-1")
        with run_lambdas_in_process({"slow": slow}.get, timeouts={"slow": 0.3}) as log:
            error, payload = _invoke(client, "slow", {"seconds": 0.0})
            assert error is None and 0 < payload["remaining_ms"] <= 300
            error, payload = _invoke(client, "slow", {"seconds": 2.0})
    assert error == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert payload["errorMessage"].endswith("Error: Task timed out after 0.30 seconds")
    assert payload["errorMessage"].startswith("RequestId: ")
    assert [call.error_type for call in log.calls] == [None, "Sandbox.Timedout"]


def test_a_timed_out_invoke_reaches_the_state_machine_catch():
    import time

    definition = {
        "StartAt": "Slow",
        "States": {
            "Slow": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "slow", "Payload": {}},
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    with mock_aws(config={"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="t", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/r"
        )["stateMachineArn"]
        with run_lambdas_in_process({"slow": lambda e, c: time.sleep(2)}.get, timeouts={"slow": 0.2}):
            arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
            for _ in range(200):
                described = sfn.describe_execution(executionArn=arn)
                if described["status"] != "RUNNING":
                    break
                time.sleep(0.05)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["error"]["Error"] == "Sandbox.Timedout"
