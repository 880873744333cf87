"""Endpoint updates roll back on the stack's own alarms: those Deploy names exist; SageMaker reads them."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from pipeline_core import endpoint_guardrails
from pipeline_core.settings import load_settings
from tests.synth_helpers import CONFIG_DIR, synth


@pytest.mark.parametrize("config", ["nova", "open-weights"])
def test_the_alarms_deploy_names_are_the_stacks_and_the_role_reads_them(synthesized, config) -> None:
    template = Template.from_json(synthesized[config]["template"])
    settings = load_settings(CONFIG_DIR / f"{config}.yaml")
    endpoint = endpoint_guardrails.endpoint_name(settings.resource_prefix)
    named = [a["AlarmName"] for a in endpoint_guardrails.deployment_config(settings)
             ["AutoRollbackConfiguration"]["Alarms"]]
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    assert sorted(a["Properties"]["AlarmName"] for a in alarms.values()) == sorted(named)
    for alarm in alarms.values():
        props = alarm["Properties"]
        assert props["Namespace"] == "AWS/SageMaker"
        assert {d["Name"]: d["Value"] for d in props["Dimensions"]} == {
            "EndpointName": endpoint, "VariantName": "AllTraffic"}
        assert props["TreatMissingData"] == "notBreaching"
    by_metric = {a["Properties"]["MetricName"]: a["Properties"] for a in alarms.values()}
    latency = by_metric["ModelLatency"]
    assert latency["Threshold"] == settings.deploy.max_model_latency_ms * 1000  # microseconds
    template.has_resource_properties("AWS::IAM::Policy", {"PolicyDocument": {"Statement": Match.array_with([
        Match.object_like({"Sid": "RollbackAlarms", "Action": "cloudwatch:DescribeAlarms",
                           "Resource": Match.any_value()})])}})
    policies = json.dumps(template.find_resources("AWS::IAM::Policy"))
    assert "cloudwatch:DescribeAlarms" in policies and ":alarm:" in policies


def test_no_alarms_without_them(tmp_path) -> None:
    result = synth("open-weights", tmp_path, {"deploy": {"rollback_alarms": False}})
    template = Template.from_json(result["template"])
    assert template.find_resources("AWS::CloudWatch::Alarm") == {}
    assert "cloudwatch:DescribeAlarms" not in json.dumps(template.find_resources("AWS::IAM::Policy"))


@pytest.mark.parametrize("bake", [-1, 3601])
def test_the_bake_period_is_within_the_apis_range(bake) -> None:
    from pipeline_core.settings import ConfigError, parse_settings

    raw = load_settings(CONFIG_DIR / "open-weights.yaml").model_dump(mode="json")
    raw["deploy"]["bake_seconds"] = bake
    with pytest.raises((ConfigError, ValueError), match="bake_seconds"):
        parse_settings(raw)
