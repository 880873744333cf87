"""Issue 11: defects that only a real deploy or run on AWS would show, pinned in the synthesized templates."""

from __future__ import annotations

import json
import re

import pytest

from tests.synth_helpers import synth

FIXED_NAME_PROPERTIES = ("LogGroupName", "BucketName", "TopicName", "TableName", "RoleName", "AliasName")


def _sagemaker_role_statements(template: dict) -> list[dict]:
    resources = template["Resources"]
    (role_id,) = [
        logical for logical, r in resources.items()
        if r["Type"] == "AWS::IAM::Role"
        and "sagemaker.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])
    ]
    statements = []
    for resource in resources.values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource["Properties"]["Roles"]:
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _grants(statements: list[dict], action: str, resource_pattern: str) -> bool:
    for statement in statements:
        if statement["Effect"] == "Allow" and action in _as_list(statement["Action"]):
            if any(re.search(resource_pattern, json.dumps(r)) for r in _as_list(statement["Resource"])):
                return True
    return False


def test_hf_sagemaker_role_reads_the_code_channel(synthesized) -> None:
    """Defect 1: every open-weights job mounts s3://<artifacts>/code/; the role could read only runs/*."""
    statements = _sagemaker_role_statements(synthesized["open-weights"]["template"])
    assert _grants(statements, "s3:GetObject", r'"/code/\*"'), "the SageMaker role cannot read code/*"
    (listing,) = [s for s in statements if s["Action"] == "s3:ListBucket"]
    assert "code/*" in listing["Condition"]["StringLike"]["s3:prefix"]


def test_nova_sagemaker_role_pulls_the_inference_image_and_reads_the_escrow_bucket(nova) -> None:
    """Defect 4: deploying a Nova model pulls nova-inference-repo and reads the checkpoint from escrow."""
    statements = _sagemaker_role_statements(nova["template"])
    assert _grants(statements, "ecr:BatchGetImage", r"repository/nova-inference-repo")
    assert _grants(statements, "s3:GetObject", r"customer-escrow-")
    assert _grants(statements, "s3:ListBucket", r"customer-escrow-")


def _reward_environment(template: dict) -> dict[str, str]:
    (function,) = [
        r for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and str(r["Properties"].get("FunctionName", "")).endswith(
            "-reward-SageMaker")
    ]
    return function["Properties"]["Environment"]["Variables"]


def test_reward_lambda_gets_the_configs_labels_and_weights(tmp_path, monkeypatch) -> None:
    """Defect 5: the reward Lambda was created with environment={}, so Nova RFT scored the case study's
    labels with default weights whatever the config said."""
    from job_code.core import reward

    overrides = {"data": {"labels": ["spam", "ham"]}, "reward": {"correct_label": 2.0, "exact_format": 0.25}}
    variables = _reward_environment(synth("nova", tmp_path, overrides)["template"])
    assert json.loads(variables[reward.LABELS_ENV]) == ["spam", "ham"]
    assert json.loads(variables[reward.WEIGHTS_ENV])["correct_label"] == 2.0
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    sample = {"id": "1", "messages": [{"role": "user", "content": "buy now"},
                                      {"role": "assistant", "content": "spam"}], "reference_answer": "spam"}
    (scored,) = reward.lambda_handler([sample], None)
    assert scored["aggregate_reward_score"] == pytest.approx(2.25)


@pytest.mark.parametrize("config", ["nova", "open-weights", "local"])
def test_no_retained_resource_has_a_fixed_name(synthesized, config: str) -> None:
    """Defect 6: a retained log group with a fixed name made the next deploy after `cdk destroy` fail."""
    fixed = [
        (logical, prop)
        for logical, resource in synthesized[config]["template"]["Resources"].items()
        if resource.get("DeletionPolicy") == "Retain"
        for prop in FIXED_NAME_PROPERTIES
        if prop in resource.get("Properties", {})
    ]
    assert not fixed, f"retained resources with fixed names break a redeploy: {fixed}"


def test_metric_definitions_match_transformers_5_log_lines() -> None:
    """Defect 7: transformers 5 logs quoted values; the regexes matched nothing."""
    from forge_handlers.training_requests import METRIC_DEFINITIONS

    lines = {
        "train:loss": "{'loss': '4.565', 'grad_norm': '12.3', 'learning_rate': '1e-05', 'epoch': '0.1'}",
        "train:reward": "{'loss': '0.0', 'reward': '-0.25', 'reward_std': '0.5', 'epoch': '0.2'}",
    }
    expected = {"train:loss": "4.565", "train:reward": "-0.25"}
    for definition in METRIC_DEFINITIONS:
        match = re.search(definition["Regex"], lines[definition["Name"]])
        assert match and match.group(1) == expected[definition["Name"]], definition
        # transformers 4's unquoted form still matches
        assert re.search(definition["Regex"], lines[definition["Name"]].replace("'4.565'", "4.565"))


@pytest.mark.parametrize(("family", "isolated"), [("nova", True), ("hf", None)])
def test_nova_model_runs_network_isolated(family: str, isolated) -> None:
    """Defect 4: the Nova Forge SDK's CreateModel sets EnableNetworkIsolation=True; ours did not."""
    from forge_handlers.config import Environment
    from forge_handlers.deploy import model_request

    from pipeline_core.settings import parse_settings

    nova = {"family": "nova", "base_model": "nova-lite-2/prod", "model_type": "amazon.nova-2-lite-v1:0:256k"}
    model = nova if family == "nova" else {"family": "hf", "base_model": "x"}
    env = Environment(data_bucket="d", artifacts_bucket="a", sagemaker_role_arn="arn:aws:iam::1:role/r")
    request = model_request(parse_settings({"model": model}), env, "run-1", "s3://a/runs/run-1/model.tar.gz")
    assert request.get("EnableNetworkIsolation") is isolated


@pytest.mark.parametrize("config", ["nova", "open-weights"])
def test_sagemaker_role_may_encrypt_with_the_output_key(synthesized, config: str) -> None:
    """Launch sets OutputDataConfig.KmsKeyId; SageMaker then requires kms:Encrypt of the execution role."""
    statements = _sagemaker_role_statements(synthesized[config]["template"])
    assert _grants(statements, "kms:Encrypt", r"StorageKey")
