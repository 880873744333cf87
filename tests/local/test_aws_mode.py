"""``forge run --aws`` / ``status --stack`` / ``report --stack`` against a deployed stack on a moto server."""

from __future__ import annotations

import json
import socket
import urllib.request

import boto3
import pytest
from moto.server import ThreadedMotoServer
from typer.testing import CliRunner

from forge.cli import app

STACK = "ForgeTest"
TEMPLATE = {
    "Resources": {
        "Data": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "forge-test-data"}},
        "Artifacts": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "forge-test-artifacts"}},
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {"RoleName": "forge-test-role", "AssumeRolePolicyDocument": {"Statement": []}},
        },
        "Prepare": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": "forge-test-prepare",
                "Runtime": "python3.12",
                "Handler": "index.handler",
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Code": {"ZipFile": "def handler(e, c):\n    return e\n"},
                "Environment": {
                    "Variables": {"DATA_BUCKET": {"Ref": "Data"}, "ARTIFACTS_BUCKET": {"Ref": "Artifacts"}}
                },
            },
        },
        "Machine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": "forge-test-pipeline",
                "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                "DefinitionString": json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            },
        },
    }
}


@pytest.fixture
def moto_server(monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    session = boto3.session.Session(region_name="us-east-1")
    session.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(TEMPLATE))
    yield session
    # The moto server keeps its state in-process: reset it so the next test starts empty.
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST"))
    server.stop()


def test_run_status_and_report_against_a_deployed_stack(moto_server, tmp_path):
    data = tmp_path / "questions.csv"
    data.write_text("text,rating\nhow do I x?,HQ\n")
    runner = CliRunner()
    result = runner.invoke(app, ["run", "--aws", "--stack", STACK, "--data", str(data), "--run-id", "r-1"])
    assert result.exit_code == 0, result.output
    sfn = moto_server.client("stepfunctions")
    [execution] = sfn.list_executions(
        stateMachineArn=sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    )["executions"]
    assert execution["name"] == "r-1"
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {
        "run_id": "r-1",
        "dataset": "s3://forge-test-data/cli/r-1/questions.csv",
    }
    body = moto_server.client("s3").get_object(Bucket="forge-test-data", Key="cli/r-1/questions.csv")["Body"]
    assert body.read() == data.read_bytes()

    status = runner.invoke(app, ["status", "--stack", STACK])
    assert status.exit_code == 0 and "r-1" in status.output

    moto_server.client("s3").put_object(
        Bucket="forge-test-artifacts", Key="runs/r-1/report.md", Body=b"# Run r-1"
    )
    report = runner.invoke(app, ["report", "r-1", "--stack", STACK])
    assert report.exit_code == 0 and "# Run r-1" in report.output


def test_unknown_stack_and_missing_flags_are_clear_errors(moto_server, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["run", "--aws", "--data", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "--aws needs --stack NAME" in result.output
    result = runner.invoke(app, ["run", "--local", "--aws", "--data", "x.csv"])
    assert result.exit_code == 2 and "exactly one of --local or --aws" in result.output
    result = runner.invoke(app, ["status", "--stack", "Nope"])
    assert result.exit_code == 2 and "stack 'Nope'" in result.output
    result = runner.invoke(app, ["report", "r-404", "--stack", STACK])
    assert result.exit_code == 2 and "runs/r-404/report.md does not exist" in result.output
