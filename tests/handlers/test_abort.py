"""The abort handler: an execution that ended outside its Catch path is cleaned up and reported once."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from forge_handlers import abort
from forge_handlers.aws import clients
from forge_handlers.entry import abort as abort_entry
from forge_handlers.errors import ConfigError

from pipeline_core.settings import load_settings
from stacks import triggers
from tests.handlers.conftest import ARTIFACTS_BUCKET, CONFIG_FILES, REGION, a_run, derive, put_json
from tests.handlers.scripted import IN_PROGRESS, ScriptedSageMaker

CONFIG_DIR = CONFIG_FILES[0].parent
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:forge-hf-pipeline:run-1"
SFT_JOB = "forge-hf--run-1-sft-a1"


class FakeHistory:
    """get_execution_history over given events, in pages (as Step Functions pages them)."""

    def __init__(self, events: list[dict[str, Any]], page: int = 2) -> None:
        self.events, self.page, self.calls = events, page, []

    def get_execution_history(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        start = int(params.get("nextToken") or 0)
        page = {"events": self.events[start : start + self.page]}
        if start + self.page < len(self.events):
            page["nextToken"] = str(start + self.page)
        return page


def _event(status: str = "ABORTED", **detail: Any) -> dict[str, Any]:
    return {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"executionArn": EXECUTION, "name": "run-1", "status": status,
                   "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:forge-hf-pipeline",
                   **detail},
    }


def _history(last_state: dict[str, Any]) -> list[dict[str, Any]]:
    start = {"id": 1, "type": "ExecutionStarted",
             "executionStartedEventDetails": {"input": json.dumps({"dataset": "s3://d/x.csv"})}}
    early = {"id": 2, "type": "PassStateExited",
             "stateExitedEventDetails": {"name": "Read Input", "output": json.dumps({"early": True})}}
    late = {"id": 7, "type": "TaskStateExited",
            "stateExitedEventDetails": {"name": "SFT Launch", "output": json.dumps(last_state)}}
    noise = [{"id": i, "type": "LambdaFunctionStarted"} for i in (3, 4, 5, 6)]
    return [start, early, *noise, late, {"id": 8, "type": "WaitStateEntered"}]


@pytest.fixture
def hf(use_settings):
    return use_settings(derive(load_settings(CONFIG_DIR / "open-weights.yaml"), stages__rft__enabled=False))


@pytest.fixture
def sagemaker(aws):
    scripted = ScriptedSageMaker(boto3.client("sagemaker", region_name=REGION), aws)
    clients.override("sagemaker", scripted)
    return scripted


def _start_sft(sagemaker: ScriptedSageMaker) -> dict[str, Any]:
    sagemaker.scripts["sft"] = [IN_PROGRESS]
    sagemaker.create_training_job(
        TrainingJobName=SFT_JOB, RoleArn="arn:aws:iam::123456789012:role/r",
        AlgorithmSpecification={"TrainingImage": "img", "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": f"s3://{ARTIFACTS_BUCKET}/runs/run-1/jobs/sft/"},
        ResourceConfig={"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 3600}, Tags=[{"Key": "forge:stage", "Value": "sft"}],
    )
    return {"sft": {"stage": "sft", "job_name": SFT_JOB, "attempt": 1, "status": "InProgress"}}


def test_the_handler_pattern_is_the_rules_pattern() -> None:
    assert abort.EVENT_SOURCE == triggers.EXECUTION_EVENT_SOURCE
    assert abort.EVENT_DETAIL_TYPE == triggers.EXECUTION_EVENT_DETAIL_TYPE
    assert abort.ENDED == triggers.ENDED_STATUSES


def test_an_aborted_run_is_stopped_and_reported_from_its_last_state(hf, sagemaker, aws,
                                                                   lambda_context) -> None:
    jobs = _start_sft(sagemaker)
    history = FakeHistory(_history({"dataset": "s3://d/x.csv", "run": a_run(), "jobs": jobs}))
    clients.override("stepfunctions", history)
    result = abort_entry.handler(_event(), lambda_context)
    assert result["action"] == "reported" and result["reached"] == "SFT Launch"
    assert result["cleanup"]["stopped_jobs"] == [SFT_JOB]
    assert len(history.calls) == 4  # every page: the newest state is found by event id, not by page order
    report = json.loads(aws.get_object(Bucket=ARTIFACTS_BUCKET, Key="runs/run-1/report.json")["Body"].read())
    assert report["status"] == "ABORTED" and report["dataset"] == "s3://d/x.csv"
    assert report["stages"]["sft"]["training_job"]["status"] == "Stopped"
    assert "ABORTED" in report["failure_reason"]
    markdown = aws.get_object(Bucket=ARTIFACTS_BUCKET, Key="runs/run-1/report.md")["Body"].read().decode()
    assert markdown.startswith("# Run run-1: ABORTED") and f"- stopped job `{SFT_JOB}`" in markdown


def test_an_existing_report_is_kept_but_jobs_are_still_stopped(hf, sagemaker, aws, lambda_context) -> None:
    jobs = _start_sft(sagemaker)
    put_json(aws, ARTIFACTS_BUCKET, "runs/run-1/report.json", {"status": "FAILED", "run_id": "run-1"})
    clients.override("stepfunctions", FakeHistory(_history({"run": a_run(), "jobs": jobs})))
    result = abort_entry.handler(_event("FAILED"), lambda_context)
    assert result["action"] == "kept" and result["report_status"] == "FAILED"
    assert result["cleanup"]["stopped_jobs"] == [SFT_JOB]
    kept = json.loads(aws.get_object(Bucket=ARTIFACTS_BUCKET, Key="runs/run-1/report.json")["Body"].read())
    assert kept == {"status": "FAILED", "run_id": "run-1"}


def test_a_run_stopped_before_prepare_is_reported_under_its_execution_name(hf, sagemaker, aws,
                                                                          lambda_context) -> None:
    start = {"id": 1, "type": "ExecutionStarted",
             "executionStartedEventDetails": {"input": json.dumps({"dataset": "s3://d/x.csv"})}}
    clients.override("stepfunctions", FakeHistory([start]))
    result = abort_entry.handler(_event("TIMED_OUT", error="States.Timeout"), lambda_context)
    assert result["action"] == "reported" and result["cleanup"]["stopped_jobs"] == []
    report = json.loads(aws.get_object(Bucket=ARTIFACTS_BUCKET, Key="runs/run-1/report.json")["Body"].read())
    assert report["status"] == "TIMED_OUT" and report["failure_reason"].startswith("States.Timeout")


def test_a_succeeded_execution_needs_nothing(hf, aws, lambda_context) -> None:
    result = abort_entry.handler(_event("SUCCEEDED"), lambda_context)
    assert result == {"status": "SUCCEEDED", "action": "none"}


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({**_event(), "source": "aws.s3"}, "source='aws.s3'"),
        ({**_event(), "detail": None}, "no 'detail'"),
        (_event(name=""), "no 'name'"),
        (_event(name="bad name!"), "run_id 'bad name!' is invalid"),
    ],
)
def test_a_malformed_event_is_a_named_error(hf, aws, lambda_context, event, message) -> None:
    clients.override("stepfunctions", FakeHistory([]))
    with pytest.raises(ConfigError, match=message):
        abort_entry.handler(event, lambda_context)
