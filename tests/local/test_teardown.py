"""``forge teardown``: on AWS (moto) it deletes the endpoint, its TTL schedule and the run's config and model,
once; locally it stops the model server a ``forge serve`` left running and keeps the run directory."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from forge import teardown
from forge.cli import app
from tests.local.test_aws_mode import OUTPUTS_TEMPLATE

REGION, ACCOUNT, STACK, PREFIX = "us-east-1", "123456789012", "ForgeHf", "forge-hf"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sm"
TEMPLATE = {**OUTPUTS_TEMPLATE, "Outputs": {**OUTPUTS_TEMPLATE["Outputs"], "PipelineName": {"Value": PREFIX}}}


@pytest.fixture
def session(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        session.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(TEMPLATE))
        yield session


def deploy_run(session, run_id: str, schedule: bool = True) -> None:
    sagemaker = session.client("sagemaker")
    model, config = f"{PREFIX}--{run_id}-model", f"{PREFIX}--{run_id}-epc"
    sagemaker.create_model(ModelName=model, ExecutionRoleArn=ROLE,
                           PrimaryContainer={"Image": "1.dkr.ecr.us-east-1.amazonaws.com/x:1"})
    sagemaker.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.g4dn.xlarge",
        "InitialInstanceCount": 1}])
    sagemaker.create_endpoint(EndpointName=f"{PREFIX}--endpoint", EndpointConfigName=config)
    if schedule:
        session.client("scheduler").create_schedule(
            Name=f"{PREFIX}--endpoint-ttl", ScheduleExpression="at(2030-01-01T00:00:00)",
            FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion="DELETE",
            Target={"Arn": "arn:aws:scheduler:::aws-sdk:sagemaker:deleteEndpoint", "RoleArn": ROLE,
                    "Input": json.dumps({"EndpointName": f"{PREFIX}--endpoint"})})


def test_teardown_deletes_the_endpoint_schedule_config_and_model_then_nothing(session) -> None:
    deploy_run(session, "run-1")
    other = session.client("sagemaker")
    other.create_model(ModelName="other--run-1-model", ExecutionRoleArn=ROLE,
                       PrimaryContainer={"Image": "1.dkr.ecr.us-east-1.amazonaws.com/x:1"})
    lines = teardown.teardown_stack(STACK, "run-1", session)
    assert lines == [
        f"deleted schedule {PREFIX}--endpoint-ttl",
        f"deleted endpoint {PREFIX}--endpoint",
        f"deleted endpoint config {PREFIX}--run-1-epc",
        f"deleted model {PREFIX}--run-1-model",
    ]
    sagemaker = session.client("sagemaker")
    assert sagemaker.list_endpoints()["Endpoints"] == []
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert [m["ModelName"] for m in sagemaker.list_models()["Models"]] == ["other--run-1-model"]  # not ours
    assert session.client("scheduler").list_schedules()["Schedules"] == []
    assert teardown.teardown_stack(STACK, "run-1", session) == [teardown.NOTHING]


def test_without_a_run_only_the_endpoint_and_schedule_go(session) -> None:
    deploy_run(session, "run-1", schedule=False)
    assert teardown.teardown_stack(STACK, None, session) == [f"deleted endpoint {PREFIX}--endpoint"]
    assert session.client("sagemaker").list_endpoint_configs()["EndpointConfigs"]  # kept without --run


def test_the_cli_prints_one_line_per_deletion_and_fails_clearly(session) -> None:
    deploy_run(session, "run-1")
    runner = CliRunner()
    first = runner.invoke(app, ["teardown", "--stack", STACK, "--run", "run-1"])
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[0] == f"deleted schedule {PREFIX}--endpoint-ttl"
    assert len(first.stdout.splitlines()) == 4
    again = runner.invoke(app, ["teardown", "--stack", STACK])
    assert (again.exit_code, again.stdout.strip()) == (0, "nothing to delete")
    missing = runner.invoke(app, ["teardown", "--stack", "Nope"])
    assert missing.exit_code == 1 and "stack 'Nope' not found" in missing.stderr
    assert "Traceback" not in missing.output
    assert runner.invoke(app, ["teardown"]).exit_code == 2  # neither RUN nor --stack


def test_a_stack_without_the_pipeline_name_output_says_to_redeploy(session) -> None:
    outputs = {key: {"Value": value} for key, value in {
        "StateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:old",
        "DataBucketName": "old-data", "ArtifactsBucketName": "old-artifacts"}.items()}
    session.client("cloudformation").create_stack(StackName="Old", TemplateBody=json.dumps(
        {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": outputs}))
    with pytest.raises(teardown.TeardownError, match="redeploy"):
        teardown.teardown_stack("Old", None, session)


# -- local ---------------------------------------------------------------------------------------------

SERVER = """
import http.server, sys
class Ping(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Ping)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@pytest.fixture
def run_dir(tmp_path) -> Path:
    run = tmp_path / "runs" / "r1"
    (run / "serve").mkdir(parents=True)
    (run / "settings.json").write_text("{}")
    return run


def test_local_teardown_stops_the_server_forge_serve_left_and_keeps_the_run(run_dir) -> None:
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}"
        urllib.request.urlopen(url + "/ping", timeout=5)
        # As if `forge serve` was killed -9: its pid is gone, the server (own session) still answers.
        record = {"url": url, "pid": 2**22 + 12345, "server_pid": server.pid}
        (run_dir / "serve" / "serve.json").write_text(json.dumps(record))
        assert teardown.teardown_local(run_dir) == [f"stopped the local server of run r1 at {url}"]
        server.wait(timeout=10)
    finally:
        server.kill()
    assert not (run_dir / "serve" / "serve.json").exists()
    assert (run_dir / "settings.json").is_file()  # the run directory stays
    assert teardown.teardown_local(run_dir) == [teardown.NOTHING]


def test_a_stale_serve_record_is_nothing_to_delete(run_dir) -> None:
    (run_dir / "serve" / "serve.json").write_text(json.dumps(
        {"url": "http://127.0.0.1:9", "pid": 1, "server_pid": 1}))  # pid 1: never signalled (no server)
    started = time.monotonic()
    assert teardown.teardown_local(run_dir) == [teardown.NOTHING]
    assert time.monotonic() - started < 5 and not (run_dir / "serve" / "serve.json").exists()


def test_a_directory_that_is_not_a_run_fails_through_the_cli(tmp_path) -> None:
    result = CliRunner().invoke(app, ["teardown", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "not a local run directory" in result.stderr
