"""tests/template_readers.py: a synthesized template's functions and runnable ASL (local mode's resolver)."""

from __future__ import annotations

import json

import pytest

from forge.local.cfn import TemplateError
from tests.template_readers import lambda_functions, state_machine_definition


def test_definition_from_template_resolves_function_arns():
    template = {
        "Resources": {
            "Fn1": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": "p-prepare", "Handler": "forge_handlers.entry.prepare.handler"
                },
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
    definition = json.loads(state_machine_definition(template))
    assert definition == {"Resource": "arn:aws:lambda:us-east-1:123456789012:function:p-prepare", "P": "aws"}
    template["Resources"]["Sm"]["Properties"]["DefinitionString"]["Fn::Join"][1].append({"Ref": "Unknown"})
    with pytest.raises(TemplateError, match="Unknown"):
        state_machine_definition(template)
    expected = {"Fn1": {"name": "p-prepare", "handler": "forge_handlers.entry.prepare.handler"}}
    assert lambda_functions(template) == expected
