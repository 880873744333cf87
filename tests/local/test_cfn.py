"""Creating a synthesized template's resources in moto, with intrinsic functions resolved."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from forge.local.cfn import Physical, Resolver, TemplateError, create_in_moto


def write_cdk_out(outdir: Path, template: dict) -> None:
    (outdir / "asset.abc").mkdir(parents=True)
    (outdir / "asset.abc" / "settings.json").write_text("{}")
    (outdir / "Demo.template.json").write_text(json.dumps(template))
    (outdir / "manifest.json").write_text(
        json.dumps(
            {
                "artifacts": {
                    "Demo": {
                        "type": "aws:cloudformation:stack",
                        "properties": {"templateFile": "Demo.template.json"},
                    },
                    "Tree": {"type": "cdk:tree"},
                }
            }
        )
    )


TEMPLATE = {
    "Resources": {
        "Key": {"Type": "AWS::KMS::Key", "Properties": {}},
        "DataBucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {"VersioningConfiguration": {"Status": "Enabled"}},
        },
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {}},
        "FnRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": []}}},
        "Prepare": {
            "Type": "AWS::Lambda::Function",
            "Metadata": {"aws:asset:path": "asset.abc"},
            "Properties": {
                "FunctionName": "demo-prepare",
                "Handler": "forge_handlers.entry.prepare.handler",
                "Runtime": "python3.12",
                "Role": {"Fn::GetAtt": ["FnRole", "Arn"]},
                "Code": {
                    "S3Bucket": {"Fn::Sub": "cdk-assets-${AWS::AccountId}-${AWS::Region}"},
                    "S3Key": "abc.zip",
                },
                "Layers": [{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":lambda:layer"]]}],
                "Environment": {
                    "Variables": {
                        "ARTIFACTS_BUCKET": {"Ref": "DataBucket"},
                        "TOPIC_ARN": {"Ref": "Topic"},
                        "KMS_KEY_ARN": {"Fn::GetAtt": ["Key", "Arn"]},
                        "SELF": {"Fn::GetAtt": ["Prepare", "Arn"]},
                        "FORGE_SETTINGS_FILE": "/var/task/settings.json",
                    }
                },
            },
        },
        "Machine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "RoleArn": {"Fn::GetAtt": ["FnRole", "Arn"]},
                "DefinitionString": {
                    "Fn::Join": [
                        "",
                        [
                            '{"StartAt":"Prepare","States":{"Prepare":{"Type":"Task","Resource":"',
                            {"Fn::GetAtt": ["Prepare", "Arn"]},
                            '","End":true}}}',
                        ],
                    ]
                },
            },
        },
    }
}


def test_template_resources_are_created_and_the_definition_runs(tmp_path):
    write_cdk_out(tmp_path, TEMPLATE)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        session = boto3.session.Session(region_name="us-east-1")
        stack = create_in_moto(session, tmp_path)
        env = stack.function_env()
        assert env["ARTIFACTS_BUCKET"] == "demo-databucket" == stack.buckets[0]
        assert env["TOPIC_ARN"].startswith("arn:aws:sns:us-east-1:123456789012:")
        assert env["SELF"] == "arn:aws:lambda:us-east-1:123456789012:function:demo-prepare"
        assert env["FORGE_SETTINGS_FILE"] == str((tmp_path / "asset.abc" / "settings.json").resolve())
        assert stack.functions["demo-prepare"]["AssetDir"] == str((tmp_path / "asset.abc").resolve())
        s3 = session.client("s3")
        assert s3.get_bucket_versioning(Bucket="demo-databucket")["Status"] == "Enabled"
        sfn = session.client("stepfunctions")
        definition = json.loads(
            sfn.describe_state_machine(stateMachineArn=stack.state_machine_arn)["definition"]
        )
        assert definition["States"]["Prepare"]["Resource"] == env["SELF"]
        execution = sfn.start_execution(stateMachineArn=stack.state_machine_arn, input='{"dataset": "x"}')
        for _ in range(100):
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if described["status"] != "RUNNING":
                break
            time.sleep(0.05)
        assert described["status"] == "SUCCEEDED", described
        assert session.client("lambda").get_function(FunctionName="demo-prepare")["Configuration"][
            "Handler"
        ] == ("forge_handlers.entry.prepare.handler")


def test_unresolvable_references_name_the_resource():
    resolve = Resolver("demo", "us-east-1", {"A": Physical("a-name", {"Arn": "arn:a"})})
    assert (
        resolve({"Fn::Sub": ["${A}-${X}-${AWS::Region}-${A.Arn}", {"X": "x"}]}) == "a-name-x-us-east-1-arn:a"
    )
    assert resolve({"Fn::Select": [1, {"Fn::Split": [",", "p,q"]}]}) == "q"
    with pytest.raises(TemplateError, match="Ref to 'Missing'"):
        resolve({"Ref": "Missing"})
    with pytest.raises(TemplateError, match="A.Name"):
        resolve({"Fn::GetAtt": ["A", "Name"]})
    with pytest.raises(TemplateError, match="Fn::ImportValue"):
        resolve({"Fn::ImportValue": "x"})


def test_the_job_code_bucket_deployment_is_skipped(tmp_path):
    # The stack's BucketDeployment (custom resource + its handler) uploads the code channel in AWS;
    # local mode uploads it itself, so neither is created in moto.
    template = json.loads(json.dumps(TEMPLATE))
    template["Resources"]["DeployHandler"] = {
        "Type": "AWS::Lambda::Function",
        "Metadata": {"aws:asset:path": "asset.abc"},
        "Properties": {"Handler": "index.handler", "Runtime": "python3.13",
                       "Role": {"Fn::GetAtt": ["FnRole", "Arn"]}, "Code": {"S3Key": "abc.zip"}},
    }
    template["Resources"]["JobCodeDeployment"] = {
        "Type": "Custom::CDKBucketDeployment",
        "Properties": {"ServiceToken": {"Fn::GetAtt": ["DeployHandler", "Arn"]},
                       "DestinationBucketName": {"Ref": "DataBucket"}, "DestinationBucketKeyPrefix": "code/"},
    }
    write_cdk_out(tmp_path, template)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        session = boto3.session.Session(region_name="us-east-1")
        stack = create_in_moto(session, tmp_path)
        assert sorted(stack.functions) == ["demo-prepare"]
        names = [f["FunctionName"] for f in session.client("lambda").list_functions()["Functions"]]
        assert names == ["demo-prepare"]
