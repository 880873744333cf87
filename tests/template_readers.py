"""Readers of a synthesized template for tests that run its state machine in moto without local mode's
stack (tests/workflow, tests/e2e_moto): the functions with fixed names and the runnable ASL. Test helper.

References resolve with local mode's own resolver (forge/local/cfn.py), so both read a template alike.
"""

from __future__ import annotations

from forge.local.cfn import Physical, Resolver, TemplateError, function_arn

REGION = "us-east-1"


def _resources(template: dict, resource_type: str) -> dict[str, dict]:
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == resource_type
    }


def lambda_functions(template: dict) -> dict[str, dict[str, str]]:
    """``{logical id: {"name": FunctionName, "handler": Handler}}`` of every function with a fixed name."""
    functions = {}
    for logical_id, resource in _resources(template, "AWS::Lambda::Function").items():
        properties = resource.get("Properties", {})
        if isinstance(properties.get("FunctionName"), str):
            functions[logical_id] = {"name": properties["FunctionName"], "handler": properties["Handler"]}
    return functions


def state_machine_definition(template: dict, *, stack_name: str = "forge") -> str:
    """The state machine's ASL with every reference resolved (function ARNs from their fixed names)."""
    machines = _resources(template, "AWS::StepFunctions::StateMachine")
    if len(machines) != 1:
        raise TemplateError(f"expected exactly one state machine in the template, found {len(machines)}")
    (machine,) = machines.values()
    physical = {
        logical_id: Physical(spec["name"], {"Arn": function_arn(spec["name"], REGION)})
        for logical_id, spec in lambda_functions(template).items()
    }
    return Resolver(stack_name, REGION, physical)(machine["Properties"]["DefinitionString"])
