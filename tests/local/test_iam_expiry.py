"""Local IAM knows the scheduler calls: the synthesized Deploy role sets the endpoint's TTL schedule with the
expiry role, and is denied another schedule, another passed role, and the scheduler to other handlers."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from forge.local.cfn import Resolver
from forge.local.iam.enforce import Actor, Enforcer
from forge.local.iam.principals import offline_physicals, principals_from_template
from pipeline_core import endpoint_guardrails
from pipeline_core.settings import load_settings
from tests.synth_helpers import CONFIG_DIR, synth

REGION, ACCOUNT = "us-east-1", "123456789012"


@pytest.fixture(scope="module")
def enforcer(tmp_path_factory) -> Enforcer:
    workdir = tmp_path_factory.mktemp("iam-ttl")
    template = synth("open-weights", workdir, {"deploy": {"ttl_hours": 1}})["template"]
    resolver = Resolver("Stack", REGION, offline_physicals(template, "Stack", REGION))
    return Enforcer(principals_from_template(template, resolver, REGION))


def role(enforcer: Enforcer, part: str) -> str:
    (arn,) = [a for a in enforcer.principals.roles if part in a]
    return arn


def request(enforcer: Enforcer, role_arn: str, name: str = "forge-hf--endpoint-ttl") -> dict:
    from datetime import UTC, datetime

    settings = load_settings(CONFIG_DIR / "open-weights.yaml")
    params = endpoint_guardrails.expiry_schedule_request(settings, role_arn, datetime(2030, 1, 1, tzinfo=UTC))
    return {**params, "Name": name}


def actor(enforcer: Enforcer, handler: str) -> Actor:
    return Actor(enforcer.principals.functions[f"forge-hf-{handler}"], f"forge-hf-{handler}")


def test_deploy_sets_the_ttl_schedule_with_the_expiry_role(enforcer) -> None:
    deploy, expiry = actor(enforcer, "deploy"), role(enforcer, "EndpointExpiry")
    for operation in ("CreateSchedule", "UpdateSchedule"):
        assert enforcer.denial(deploy, "scheduler", operation, request(enforcer, expiry)) is None
    for operation in ("GetSchedule", "DeleteSchedule"):
        assert enforcer.denial(deploy, "scheduler", operation, {"Name": "forge-hf--endpoint-ttl"}) is None


@pytest.mark.parametrize(("handler", "passed", "name", "denied_action"), [
    ("deploy", "EndpointExpiry", "other--endpoint-ttl", "scheduler:CreateSchedule"),  # another schedule
    ("deploy", "SageMakerRole", "forge-hf--endpoint-ttl", "iam:PassRole"),  # only to sagemaker
    ("smoke", "EndpointExpiry", "forge-hf--endpoint-ttl", "scheduler:CreateSchedule"),  # not Deploy
])
def test_denials(enforcer, handler, passed, name, denied_action) -> None:
    denial = enforcer.denial(actor(enforcer, handler), "scheduler", "CreateSchedule",
                             request(enforcer, role(enforcer, passed), name))
    assert denial is not None and denial.authorization.action == denied_action


def test_a_handler_s_boto3_scheduler_call_is_checked(enforcer) -> None:
    """Through the hook on boto3's default session (the handlers' clients): AWS's error, moto untouched."""
    with mock_aws():
        uninstall = enforcer.install_boto_hooks()
        client = boto3.client("scheduler", region_name=REGION)
        try:
            with enforcer.acting_as_function("forge-hf-smoke"), pytest.raises(ClientError) as denied:
                client.create_schedule(**request(enforcer, role(enforcer, "EndpointExpiry")))
            with enforcer.acting_as_function("forge-hf-deploy"):
                client.create_schedule(**request(enforcer, role(enforcer, "EndpointExpiry")))
        finally:
            uninstall()
        assert [s["Name"] for s in client.list_schedules()["Schedules"]] == ["forge-hf--endpoint-ttl"]
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    schedule = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/forge-hf--endpoint-ttl"
    assert f"not authorized to perform: scheduler:CreateSchedule on resource: {schedule}" in str(denied.value)
