"""forge.moto_lambda: the one moto patch. Fails loudly if moto's patched internals change."""

from __future__ import annotations

import inspect
import json

import boto3
import pytest
from moto import mock_aws

from forge import moto_lambda
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


def test_definition_from_template_resolves_function_arns():
    template = {
        "Resources": {
            "Fn1": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"FunctionName": "p-prepare", "Handler": "forge_handlers.prepare.handler"},
            },
            "Sm": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "DefinitionString": {
                        "Fn::Join": [
                            "",
                            [
                                '{"Resource":"',
                                {"Fn::GetAtt": ["Fn1", "Arn"]},
                                '","P":"',
                                {"Ref": "AWS::Partition"},
                                '"}',
                            ],
                        ]
                    }
                },
            },
        }
    }
    definition = json.loads(moto_lambda.state_machine_definition(template))
    assert definition == {"Resource": "arn:aws:lambda:us-east-1:123456789012:function:p-prepare", "P": "aws"}
    template["Resources"]["Sm"]["Properties"]["DefinitionString"]["Fn::Join"][1].append({"Ref": "Unknown"})
    with pytest.raises(moto_lambda.TemplateError, match="Unknown"):
        moto_lambda.state_machine_definition(template)
