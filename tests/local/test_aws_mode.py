"""``forge run --aws`` / ``status --stack`` / ``report --stack`` against a deployed stack on a moto server."""

from __future__ import annotations

import io
import json
import socket
import time
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
    assert result.exit_code == 2 and "--aws needs --stack NAME" in result.stderr
    result = runner.invoke(app, ["run", "--local", "--aws", "--data", "x.csv"])
    assert result.exit_code == 2 and "exactly one of --local or --aws" in result.stderr
    result = runner.invoke(app, ["report", "r-404", "--stack", STACK])
    assert result.exit_code == 1 and "runs/r-404/report.md does not exist" in result.stderr


@pytest.mark.parametrize("command", [
    ["run", "--aws", "--stack", "Nope", "--data", "{data}"],
    ["status", "--stack", "Nope"],
    ["report", "r-1", "--stack", "Nope"],
    ["invoke", "r-1", "q?", "--stack", "Nope"],
    ["logs", "r-1", "--stack", "Nope"],
])
def test_an_unknown_stack_is_one_line_on_stderr(moto_server, tmp_path, command):
    data = tmp_path / "questions.csv"
    data.write_text("text,rating\nhow do I x?,HQ\n")
    result = CliRunner().invoke(app, [part.format(data=data) for part in command])
    assert result.exit_code == 1 and "Traceback" not in result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("error: stack 'Nope' not found in us-east-1") and "--stack" in line


def _run(data, run_id: str):
    arguments = ["run", "--aws", "--stack", STACK, "--data", str(data), "--run-id", run_id]
    return CliRunner().invoke(app, arguments)


def _machine(session) -> str:
    return session.client("stepfunctions").list_state_machines()["stateMachines"][0]["stateMachineArn"]


def test_a_taken_run_id_is_a_clear_error_and_overwrites_nothing(moto_server, tmp_path):
    first, second = tmp_path / "questions.csv", tmp_path / "other" / "questions.csv"
    first.write_text("text,rating\nfirst?,HQ\n")
    second.parent.mkdir()
    second.write_text("text,rating\nsecond?,LQ_EDIT\n")
    assert _run(first, "r-1").exit_code == 0
    again = _run(second, "r-1")
    assert again.exit_code == 1 and "run 'r-1' already exists" in again.stderr
    s3 = moto_server.client("s3")
    body = s3.get_object(Bucket="forge-test-data", Key="cli/r-1/questions.csv")["Body"].read()
    assert body == first.read_bytes()
    executions = moto_server.client("stepfunctions").list_executions(stateMachineArn=_machine(moto_server))
    assert [e["name"] for e in executions["executions"]] == ["r-1"]


def test_an_upload_left_by_an_earlier_start_is_never_overwritten(moto_server, tmp_path):
    data = tmp_path / "questions.csv"
    data.write_text("text,rating\nnew?,HQ\n")
    s3 = moto_server.client("s3")
    s3.put_object(Bucket="forge-test-data", Key="cli/r-2/questions.csv", Body=b"earlier")
    result = _run(data, "r-2")
    assert result.exit_code == 1 and "cli/r-2/questions.csv already exists" in result.stderr
    assert s3.get_object(Bucket="forge-test-data", Key="cli/r-2/questions.csv")["Body"].read() == b"earlier"


def test_a_name_taken_at_start_removes_the_new_upload(moto_server, tmp_path, monkeypatch):
    from forge import aws_mode

    data = tmp_path / "questions.csv"
    data.write_text("text,rating\nnew?,HQ\n")
    sfn = moto_server.client("stepfunctions")
    # Another client starts r-3 between the check and the start (the check sees no execution yet).
    monkeypatch.setattr(aws_mode, "_check_new", lambda *args: sfn.start_execution(
        stateMachineArn=_machine(moto_server), name="r-3", input="{}"))
    with pytest.raises(aws_mode.RunIdError, match="run 'r-3' already exists"):
        aws_mode.start_run(STACK, data, run_id="r-3", session=moto_server)
    listed = moto_server.client("s3").list_objects_v2(Bucket="forge-test-data", Prefix="cli/r-3/")
    assert "Contents" not in listed


def test_default_run_ids_are_unique_within_a_second_and_valid():
    from forge import aws_mode

    ids = {aws_mode.new_run_id() for _ in range(50)}
    assert len(ids) == 50 and all(aws_mode.RUN_ID_PATTERN.match(run_id) for run_id in ids)


def test_an_invalid_run_id_is_refused_before_anything_is_written(moto_server, tmp_path):
    data = tmp_path / "questions.csv"
    data.write_text("text,rating\nq?,HQ\n")
    result = _run(data, "../x")
    assert result.exit_code == 1 and "run id '../x' is invalid" in result.stderr
    assert "Contents" not in moto_server.client("s3").list_objects_v2(Bucket="forge-test-data")


class _Runtime:
    """A sagemaker-runtime stand-in that records the request and answers like serve.py."""

    def __init__(self):
        self.requests: list[dict] = []

    def invoke_endpoint(self, **params):
        self.requests.append({**params, "Body": json.loads(params["Body"])})
        return {"Body": io.BytesIO(json.dumps({"text": "HQ", "label": "HQ"}).encode())}


class _Session:
    """The moto session, but with the recording runtime (moto cannot host an endpoint)."""

    def __init__(self, session, runtime):
        self._session, self._runtime = session, runtime

    def client(self, name, **kwargs):
        return self._runtime if name == "sagemaker-runtime" else self._session.client(name, **kwargs)


def _put_report(session, run_id: str, report: dict) -> None:
    session.client("s3").put_object(
        Bucket="forge-test-artifacts", Key=f"runs/{run_id}/report.json", Body=json.dumps(report).encode()
    )


def test_ask_on_aws_uses_the_runs_own_system_prompt(moto_server):
    """Issue 13: `forge ask --stack` sent the case-study system prompt whatever the run was trained with."""
    from forge import aws_mode

    _put_report(moto_server, "r-9", {
        "model": {"family": "hf", "base_model": "m"},
        "system_prompt": "Rate the ticket: HQ or LQ.",
        "endpoint": {"endpoint_name": "forge-test-endpoint"},
    })
    runtime = _Runtime()
    answer = aws_mode.ask(STACK, "r-9", "is this good?", session=_Session(moto_server, runtime))
    assert answer == ("HQ", None)  # the report records no labels: the CLI takes the deploy config's
    [request] = runtime.requests
    assert request["EndpointName"] == "forge-test-endpoint"
    assert request["Body"]["messages"] == [
        {"role": "system", "content": "Rate the ticket: HQ or LQ."},
        {"role": "user", "content": "is this good?"},
    ]


def test_ask_on_aws_refuses_a_report_without_the_system_prompt(moto_server):
    from forge import aws_mode

    _put_report(moto_server, "r-8", {"model": {"family": "hf"}, "endpoint": {"endpoint_name": "e"}})
    runtime = _Runtime()
    with pytest.raises(aws_mode.StackLookupError, match=r"runs/r-8/report.json lacks 'system_prompt'"):
        aws_mode.ask(STACK, "r-8", "q?", session=_Session(moto_server, runtime))
    assert runtime.requests == []


def test_invoke_on_aws_prints_the_parsed_label_as_json(moto_server, monkeypatch):
    from forge import aws_mode

    _put_report(moto_server, "r-7", {
        "model": {"family": "hf"}, "system_prompt": "Rate it: GOOD or BAD.", "labels": ["GOOD", "BAD"],
        "endpoint": {"endpoint_name": "forge-test-endpoint"},
    })
    runtime = _Runtime()
    runtime.invoke_endpoint = lambda **params: {"Body": io.BytesIO(b'{"text": "I think BAD."}')}
    monkeypatch.setattr(aws_mode, "_session", lambda session: _Session(moto_server, runtime))
    result = CliRunner().invoke(app, ["invoke", "r-7", "q?", "--stack", STACK, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"answer": "I think BAD.", "label": "BAD"}


OUTPUTS_TEMPLATE = {
    "Resources": {
        "Data": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "forge-out-data"}},
        "Artifacts": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "forge-out-artifacts"}},
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "forge-out-topic"}},
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {"RoleName": "forge-out-role", "AssumeRolePolicyDocument": {"Statement": []}},
        },
        "Machine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {**TEMPLATE["Resources"]["Machine"]["Properties"], "StateMachineName": "forge-out"},
        },
    },
    "Outputs": {
        "StateMachineArn": {"Value": {"Ref": "Machine"}},
        "DataBucketName": {"Value": {"Ref": "Data"}},
        "ArtifactsBucketName": {"Value": {"Ref": "Artifacts"}},
        "TopicArn": {"Value": {"Ref": "Topic"}},
    },
}


def test_find_stack_reads_the_outputs_and_falls_back_to_the_resources(moto_server):
    from forge import aws_mode

    moto_server.client("cloudformation").create_stack(StackName="WithOutputs",
                                                      TemplateBody=json.dumps(OUTPUTS_TEMPLATE))
    found = aws_mode.find_stack("WithOutputs", moto_server)
    assert (found.data_bucket, found.artifacts_bucket) == ("forge-out-data", "forge-out-artifacts")
    assert found.state_machine_arn.endswith(":stateMachine:forge-out")
    # A stack deployed before the outputs existed (TEMPLATE has none): the handlers' environment.
    old = aws_mode.find_stack(STACK, moto_server)
    assert (old.data_bucket, old.artifacts_bucket) == ("forge-test-data", "forge-test-artifacts")


def test_status_shows_stage_elapsed_and_headline_metric_as_json(moto_server, tmp_path):
    data = tmp_path / "questions.csv"
    data.write_text("text,rating\nhow do I x?,HQ\n")
    assert _run(data, "r-5").exit_code == 0
    _put_report(moto_server, "r-5", {
        "run_id": "r-5", "status": "SUCCEEDED", "gate": {"metric": "em"},
        "stages": {"baseline": {"metrics": {"em": 0.1}, "eval_job": {"job_name": "p--r-5-base-a1"}},
                   "sft": {"metrics": {"em": 0.75}, "eval_job": {"job_name": "p--r-5-evsft-a1"},
                           "training_job": {"job_name": "p--r-5-sft-a1"}}},
    })
    result = CliRunner().invoke(app, ["status", "--stack", STACK, "--json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert (row["run_id"], row["stage"], row["metric"], row["value"]) == ("r-5", "eval_sft", "em", 0.75)
    assert row["evaluated_stage"] == "sft" and isinstance(row["elapsed_s"], float)
    human = CliRunner().invoke(app, ["status", "--stack", STACK])
    assert "r-5" in human.stdout and "em 0.750 (sft)" in human.stdout


def test_logs_reads_the_runs_training_job_streams_from_cloudwatch(moto_server):
    _put_report(moto_server, "r-6", {"stages": {
        "baseline": {"eval_job": {"job_name": "p--r-6-base-a1"}},
        "sft": {"training_job": {"job_name": "p--r-6-sft-a1"}, "eval_job": {"job_name": "p--r-6-evsft-a1"}},
    }})
    cloudwatch = moto_server.client("logs")
    group = "/aws/sagemaker/TrainingJobs"
    cloudwatch.create_log_group(logGroupName=group)
    for job, text in (("p--r-6-base-a1", "baseline says hi"), ("p--r-6-sft-a1", "loss 0.5"),
                      ("p--r-7-sft-a1", "another run")):
        stream = f"{job}/algo-1-1700000000"
        cloudwatch.create_log_stream(logGroupName=group, logStreamName=stream)
        cloudwatch.put_log_events(logGroupName=group, logStreamName=stream,
                                  logEvents=[{"timestamp": int(time.time() * 1000), "message": text}])
    result = CliRunner().invoke(app, ["logs", "r-6", "--stack", STACK])
    assert result.exit_code == 0, result.output
    assert result.stdout.index("baseline says hi") < result.stdout.index("loss 0.5")
    assert "another run" not in result.stdout
    only_sft = CliRunner().invoke(app, ["logs", "r-6", "--stack", STACK, "--stage", "sft"])
    assert "loss 0.5" in only_sft.stdout and "baseline says hi" not in only_sft.stdout
    none_yet = CliRunner().invoke(app, ["logs", "r-6", "--stack", STACK, "--stage", "eval_sft"])
    assert none_yet.exit_code == 1 and "no CloudWatch logs yet for p--r-6-evsft-a1" in none_yet.stderr


def test_report_json_from_the_stack(moto_server):
    _put_report(moto_server, "r-4", {"run_id": "r-4", "status": "FAILED"})
    result = CliRunner().invoke(app, ["report", "r-4", "--stack", STACK, "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["status"] == "FAILED"
