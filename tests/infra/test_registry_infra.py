"""The registry in the template: one model package group, the approval rule, scoped IAM, the state order."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Template

from pipeline_core import registry
from tests.template_readers import state_machine_definition

GROUP = registry.group_name("forge-nova")


@pytest.fixture(scope="module")
def template(nova):
    return Template.from_json(nova["template"])


def test_one_model_package_group_per_pipeline(template):
    template.resource_count_is("AWS::SageMaker::ModelPackageGroup", 1)
    template.has_resource_properties("AWS::SageMaker::ModelPackageGroup", {"ModelPackageGroupName": GROUP})


def test_an_approval_in_the_group_starts_a_deploying_execution(template):
    rules = template.find_resources("AWS::Events::Rule", {"Properties": {"EventPattern": {
        "source": [registry.EVENT_SOURCE]}}})
    assert len(rules) == 1, rules
    (rule,) = rules.values()
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.sagemaker"], "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": [GROUP], "ModelApprovalStatus": ["Approved"]}}
    (target,) = rule["Properties"]["Targets"]
    assert "StateMachine" in json.dumps(target["Arn"])
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"] == {"detail-ModelPackageArn": "$.detail.ModelPackageArn"}
    assert transformer["InputTemplate"] == f'{{"{registry.APPROVED_PACKAGE_KEY}":<detail-ModelPackageArn>}}'


def _statements_with(template, action):
    found = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if action in actions:
                found.append(statement)
    return found


@pytest.mark.parametrize(("action", "count"), [("sagemaker:CreateModelPackage", 1),
                                               ("sagemaker:DescribeModelPackage", 2)])
def test_registry_actions_reach_only_this_pipelines_group(template, action, count):
    statements = _statements_with(template, action)
    assert len(statements) == count  # register; approval and deploy
    for statement in statements:
        resources = statement["Resource"]
        for resource in resources if isinstance(resources, list) else [resources]:
            text = json.dumps(resource)
            assert text.endswith(f':model-package/{GROUP}/*"]]}}') or text.endswith(
                f':model-package-group/{GROUP}"]]}}'), text


def test_register_comes_after_the_gate_and_a_pending_candidate_ends_the_run(nova):
    definition = json.loads(state_machine_definition(nova["template"]))
    states = definition["States"]
    assert states["Gate"]["Next"] == "Register"
    assert states["Register"]["Next"] == "Gate Passed"
    choices = states["Gate Passed"]["Choices"]
    assert choices[0]["Next"] == "Mark Pending Approval" and choices[1]["Next"] == "Deploy"
    assert states["Gate Passed"]["Default"] == "Mark Gate Rejected"
    assert states["Mark Pending Approval"]["Next"] == "Report"
    assert states["Mark Pending Approval"]["Result"] == registry.PENDING_APPROVAL
    assert states["Deploy"]["Parameters"]["registry.$"] == "$.registry"


def test_an_approved_package_skips_to_deploy(nova):
    states = json.loads(state_machine_definition(nova["template"]))["States"]
    assert states["Add Execution Name"]["Next"] == "Approved Package?"
    (choice,) = states["Approved Package?"]["Choices"]
    assert choice["Variable"] == f"$.{registry.APPROVED_PACKAGE_KEY}" and choice["Next"] == "Approval"
    assert states["Approved Package?"]["Default"] == "Prepare"
    assert states["Approval"]["Next"] == "Deploy Approved?"
    assert states["Deploy Approved?"]["Choices"][0]["Next"] == "Restore Run"
    assert states["Deploy Approved?"]["Default"] == "Nothing To Deploy"
    assert states["Restore Run"]["Next"] == "Deploy"
