"""The stack exports what a user needs (issue 14): the state machine, the two buckets and the topic."""

from __future__ import annotations

import pytest

from pipeline_core import stack_outputs


def _only(template: dict, resource_type: str) -> str:
    [logical_id] = [k for k, r in template["Resources"].items() if r["Type"] == resource_type]
    return logical_id


@pytest.mark.parametrize("config", ["local", "nova"])
def test_outputs_name_the_state_machine_buckets_and_topic(synthesized, config):
    template = synthesized[config]["template"]
    outputs = template["Outputs"]
    assert outputs[stack_outputs.STATE_MACHINE_ARN]["Value"] == {
        "Ref": _only(template, "AWS::StepFunctions::StateMachine")
    }
    assert outputs[stack_outputs.TOPIC_ARN]["Value"] == {"Ref": _only(template, "AWS::SNS::Topic")}
    buckets = {k for k, r in template["Resources"].items() if r["Type"] == "AWS::S3::Bucket"}
    data = outputs[stack_outputs.DATA_BUCKET]["Value"]["Ref"]
    artifacts = outputs[stack_outputs.ARTIFACTS_BUCKET]["Value"]["Ref"]
    assert {data, artifacts} <= buckets and data != artifacts
    assert "DataBucket" in data and "ArtifactsBucket" in artifacts
    for key in (stack_outputs.STATE_MACHINE_ARN, stack_outputs.DATA_BUCKET, stack_outputs.ARTIFACTS_BUCKET,
                stack_outputs.TOPIC_ARN):
        assert outputs[key]["Description"]
