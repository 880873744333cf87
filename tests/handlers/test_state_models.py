"""The state document's typed models (pipeline_core/state.py) and each handler's boundary check.

A handler given an event that lacks a field it needs fails with ConfigError naming the handler and the
field path (before the models: a bare KeyError, TypeError or AttributeError, or silently nothing); the
models round-trip the documented shapes and the handlers' real outputs key for key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from forge_handlers.artifacts import parse_record
from forge_handlers.entry import (
    abort,
    cleanup,
    deploy,
    endpoint_status,
    gate,
    launch,
    notify,
    poll,
    prepare,
    report,
    smoke,
)
from forge_handlers.entry import champion as champion_entry
from forge_handlers.errors import ArtifactMissingError, ConfigError

from pipeline_core import state
from pipeline_core.settings import load_settings
from tests.handlers.conftest import ARTIFACTS_BUCKET, CONFIG_FILES, REGION, a_run, derive
from tests.handlers.scripted import COMPLETED, ScriptedSageMaker
from tests.handlers.test_stages import record_evals

CONFIG_DIR = Path(CONFIG_FILES[0]).parent
BUCKET = f"s3://{ARTIFACTS_BUCKET}"
JOB = {"stage": "sft", "job_name": "forge-hf--run-1-sft-a1", "attempt": 1, "status": "InProgress",
       "wait_seconds": 0, "reused": False, "source_model_uri": "HuggingFaceTB/SmolLM2-135M-Instruct"}
ENDPOINT = {"endpoint_name": "forge-hf--endpoint", "endpoint_config_name": "forge-hf--run-1-epc",
            "action": "create", "status": "Creating", "model_uri": f"{BUCKET}/runs/run-1/m.tar.gz",
            "served_model_uri": f"{BUCKET}/runs/run-1/deployed/model.tar.gz",
            "started_at": "2026-01-01T00:00:00+00:00", "wait_seconds": 30}
ABORT_EVENT = {"source": "aws.states", "detail-type": "Step Functions Execution Status Change",
               "detail": {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:p:run-1",
                          "status": "ABORTED"}}


@pytest.fixture
def hf(use_settings, aws, monkeypatch):
    monkeypatch.setenv("TOPIC_ARN", f"arn:aws:sns:{REGION}:123456789012:forge")
    return use_settings(derive(load_settings(CONFIG_DIR / "open-weights.yaml"), poll_seconds=0,
                               deploy__instance_type="ml.g4dn.xlarge"))


def _without(document: dict[str, Any], dotted: str) -> dict[str, Any]:
    """A copy of ``document`` without the field at the dotted path."""
    head, _, rest = dotted.partition(".")
    if not rest:
        return {k: v for k, v in document.items() if k != head}
    return {**document, head: _without(document[head], rest)}


# (handler, a complete event, the field left out (or given a wrong value), what the message names)
CASES = [
    (launch, {"stage": "sft", "run": a_run(), "attempt": 1}, "run", "'run' is missing"),
    (launch, {"stage": "sft", "run": a_run(), "attempt": 1}, "run.run_id", "'run.run_id' is missing"),
    (launch, {"stage": "sft", "run": a_run(), "attempt": 1}, "stage", "'stage' is missing"),
    (poll, {"stage": "sft", "run": a_run(), "job": JOB}, "job.job_name", "'job.job_name' is missing"),
    (poll, {"stage": "sft", "run": a_run(), "job": JOB}, "job", "'job' is missing"),
    (gate, {"run": a_run()}, "run.run_id", "'run.run_id' is missing"),
    (gate, {"run": a_run()}, "run", "'run' is missing"),
    (deploy, {"run": a_run()}, "run.run_id", "'run.run_id' is missing"),
    (endpoint_status, {"run": a_run(), "endpoint": ENDPOINT}, "endpoint.endpoint_name",
     "'endpoint.endpoint_name' is missing"),
    (endpoint_status, {"run": a_run(), "endpoint": ENDPOINT}, "endpoint", "'endpoint' is missing"),
    (smoke, {"run": a_run(), "endpoint": ENDPOINT}, "endpoint.endpoint_name",
     "'endpoint.endpoint_name' is missing"),
    (smoke, {"run": a_run(), "endpoint": ENDPOINT}, "run", "'run' is missing"),
    (report, {"run": a_run(), "status": "FAILED"}, "status", "'status' is missing"),
    (cleanup, {"run": a_run(), "error": {}}, "run.run_id", "'run.run_id' is missing"),
    # Already named before the models (their logic checks these fields): kept as the contract.
    (prepare, {"dataset": "s3://forge-data/incoming/x.csv", "execution_name": "run-1"}, "execution_name",
     "execution_name"),
    (abort, {**ABORT_EVENT, "detail": {**ABORT_EVENT["detail"], "name": "run-1"}}, "detail.name", "'name'"),
]


@pytest.mark.parametrize(("module", "event", "field", "message"), CASES,
                         ids=[f"{c[0].__name__.rsplit('.', 1)[-1]}-{c[2]}" for c in CASES])
def test_a_missing_field_is_a_config_error_naming_it(
    hf, lambda_context, module, event, field, message
) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        module.handler(_without(event, field), lambda_context)
    handler = module.__name__.rsplit(".", 1)[-1]
    assert str(raised.value).startswith(f"{handler}:")


@pytest.mark.parametrize(
    ("module", "event", "message"),
    [
        (launch, {"stage": "sft", "run": a_run(), "attempt": "first"}, "'attempt' is invalid"),
        (poll, {"stage": "sft", "run": a_run(), "job": {**JOB, "status": "Done"}}, "'job.status' is invalid"),
        (cleanup, {"run": "run-1"}, "'run' is invalid"),
        (notify, {"status": "FAILED", "report": "s3://x/report.json"}, "'report' is invalid"),
        (report, {"status": "FAILED", "run": a_run(), "jobs": {"sft": "Failed"}}, r"'jobs\.sft' is invalid"),
        (gate, ["run-1"], "expected a JSON object"),
    ],
)
def test_a_mistyped_field_is_a_config_error_naming_it(hf, lambda_context, module, event, message) -> None:
    with pytest.raises(ConfigError, match=message):
        module.handler(event, lambda_context)


def test_a_missing_nested_model_says_what_it_needs() -> None:
    with pytest.raises(state.StateDocumentError) as raised:
        state.parse(state.LaunchEvent, {"stage": "sft"}, "launch")
    expected = "'run' is missing (expected a Run object with run_id, run_prefix, datasets, counts"
    assert expected in str(raised.value)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (["not", "a", "record"], "expected a JSON object"),
        ({"stage": "sft", "job_name": "j", "model_uri": "", "base_model": "b", "kind": "merged",
          "source_model_uri": "b"}, "'model_uri' is invalid"),
        ({"stage": "sft", "job_name": "j", "model_uri": "m", "base_model": "b", "source_model_uri": "b"},
         "'kind' is missing"),
        ({"stage": "sft", "job_name": "j", "model_uri": "m", "base_model": "b", "kind": "weights",
          "source_model_uri": "b"}, "'kind' is invalid"),
    ],
)
def test_a_bad_artifact_record_is_an_artifact_missing_error_naming_it(record, message) -> None:
    with pytest.raises(ArtifactMissingError, match=message) as raised:
        parse_record(record, "s3://b/runs/r/artifacts/sft.json")
    assert "artifact record s3://b/runs/r/artifacts/sft.json" in str(raised.value)


# The shapes docs/contracts.md documents, one example each.
DOCUMENTED = [
    (state.Run, a_run()),
    (state.JobRecord, JOB),
    (state.JobRecord, {
        "stage": "eval_sft", "job_name": "forge-hf--run-1-evsft-a1", "attempt": 1, "status": "Completed",
        "raw_status": "Completed", "secondary_status": "Completed", "failure_reason": None,
        "log_group": "/aws/sagemaker/TrainingJobs", "log_stream": "forge-hf--run-1-evsft-a1/algo-1-*",
        "artifact": {"stage": "eval_sft", "job_name": "forge-hf--run-1-evsft-a1", "model_uri": "s3://a/m",
                     "base_model": "b", "kind": "eval", "source_model_uri": "s3://a/m",
                     "metrics_uri": f"{BUCKET}/runs/run-1/eval/eval_sft/results.json"},
        "metrics": {"accuracy": 0.75, "em": 0.7},
        "timings": {"CreationTime": "2026-01-01T00:00:00+00:00", "TrainingTimeInSeconds": 42},
        "wait_seconds": 60}),
    (state.ArtifactRecord, {"stage": "sft", "job_name": "j", "model_uri": "s3://a/m", "base_model": "b",
                            "kind": "merged", "source_model_uri": "b", "metrics_uri": None}),
    (state.GateDecision, {"passed": True, "metric": "accuracy", "baseline": 0.3, "candidate": 0.8,
                          "candidate_stage": "eval_rft", "gain": 0.5, "min_gain": 0.05,
                          "reason": "accuracy 0.8000, gain +0.5000 over baseline"}),
    (state.GateDecision, {"passed": False, "metric": "accuracy", "baseline": None, "candidate": 0.1,
                          "candidate_stage": "eval_sft", "gain": None, "min_gain": 0.0,
                          "reason": "accuracy 0.1000 < floor 0.5000"}),
    (state.EndpointRecord, ENDPOINT),
    (state.EndpointRecord, {**ENDPOINT, "status": "Failed", "failure_reason": "no capacity"}),
    (state.SmokeResult, {"question": "Q?", "answer": "HQ", "label": "HQ", "expected": "HQ"}),
    (state.ReportRecord, {"report_uri": f"{BUCKET}/runs/run-1/report.json",
                          "markdown_uri": f"{BUCKET}/runs/run-1/report.md", "status": "SUCCEEDED",
                          "failure_reason": None}),
    # Keys the state machine adds are kept.
    (state.StateDocument, {"run": a_run(), "dataset": "s3://d/incoming/x.csv", "attempts": {"sft": 1},
                           "jobs": {"sft": JOB}, "error": {"Error": "JobFailedError", "Cause": "x"}}),
]


@pytest.mark.parametrize(("model", "document"), DOCUMENTED)
def test_the_documented_shapes_round_trip(model, document) -> None:
    parsed = state.parse(model, document, "test")
    dumped = parsed.to_dict() if isinstance(parsed, state.ArtifactRecord) else parsed.dump()
    assert dumped == document


def test_the_handlers_real_outputs_round_trip_their_models(hf, aws, lambda_context) -> None:
    sagemaker = ScriptedSageMaker(boto3.client("sagemaker", region_name=REGION), aws)
    from forge_handlers.aws import clients

    clients.override("sagemaker", sagemaker)
    sagemaker.scripts[("sft", 1)] = [COMPLETED]
    launched = launch.handler({"stage": "sft", "run": a_run(), "attempt": 1}, lambda_context)
    polled = poll.handler({"stage": "sft", "run": a_run(), "job": launched}, lambda_context)
    assert polled["status"] == "Completed" and polled["artifact"]
    record_evals(aws, "run-1", {"baseline_eval": 0.3, "eval_sft": 0.5, "eval_rft": 0.8})
    found = champion_entry.handler({"run": a_run()}, lambda_context)
    decision = gate.handler({"run": a_run()}, lambda_context)
    deployed = deploy.handler({"run": a_run()}, lambda_context)
    champion_again = champion_entry.handler({"run": a_run("run-2")}, lambda_context)  # now deployed
    assert champion_again["present"] is True
    status = endpoint_status.handler({"run": a_run(), "endpoint": deployed}, lambda_context)
    for model, output in [(state.ChampionRecord, found), (state.ChampionRecord, champion_again),
                          (state.JobRecord, launched), (state.JobRecord, polled),
                          (state.GateDecision, decision), (state.EndpointRecord, deployed),
                          (state.EndpointRecord, status)]:
        assert state.parse(model, output, model.__name__).dump() == output
    assert state.ArtifactRecord.model_validate(polled["artifact"]).to_dict() == polled["artifact"]
