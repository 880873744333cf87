"""Acceptance: a stopped or timed-out execution stops its jobs and reports how far it got.

Step Functions runs no Catch on StopExecution or on the execution's own timeout; the stack's
ExecutionEnded rule sends the status-change event to the abort handler (delivered in moto by
forge.local.execution_events, which the harness calls for every execution that ends).
"""

from __future__ import annotations

from tests.e2e_moto.test_pipeline_e2e import GOOD_METRICS, _input
from tests.handlers.scripted import COMPLETED, IN_PROGRESS

SFT_JOB = "forge-hf--run-1-sft-a1"


def _waiting_in(pipeline, state: str) -> bool:
    """The one execution is in ``state`` (a Wait): the moment to stop it."""
    (execution,) = pipeline.sfn.list_executions(stateMachineArn=pipeline.machine)["executions"]
    events = pipeline.sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
    return bool(events) and events[-1]["type"] == "WaitStateEntered" and (
        events[-1]["stateEnteredEventDetails"]["name"] == state)


def _stopped_jobs(pipeline) -> list[str]:
    return [params["TrainingJobName"] for op, params in pipeline.sagemaker.calls if op == "stop_training_job"]


def _assert_kept_data_and_baseline(pipeline) -> None:
    kept = pipeline.artifact_keys()
    assert "runs/run-1/data/sft/sft.jsonl" in kept and "runs/run-1/data/eval/eval.jsonl" in kept
    assert "runs/run-1/eval/baseline_eval/results.json" in kept
    assert "runs/run-1/artifacts/baseline_eval.json" in kept


def test_stopping_mid_sft_stops_the_job_and_reports_aborted(slow_pipeline) -> None:
    pipeline = slow_pipeline
    pipeline.sagemaker.metrics = GOOD_METRICS
    pipeline.sagemaker.scripts["baseline_eval"] = [COMPLETED]
    pipeline.sagemaker.scripts["sft"] = [IN_PROGRESS]  # SFT runs until something stops it
    (result,) = pipeline.run(_input(pipeline), stop_when=lambda: _waiting_in(pipeline, "SFT Wait"))
    assert result.status == "ABORTED"
    assert "Cleanup" not in result.states  # the Catch path never ran
    assert _stopped_jobs(pipeline) == [SFT_JOB]
    report = pipeline.read_json("runs/run-1/report.json")
    assert report["status"] == "ABORTED"
    assert report["cleanup"]["stopped_jobs"] == [SFT_JOB]
    assert report["stages"]["baseline"]["metrics"]["accuracy"] == 0.3
    assert report["stages"]["sft"]["training_job"]["job_name"] == SFT_JOB
    assert report["stages"]["sft"]["training_job"]["status"] == "Stopped"
    assert "ABORTED" in report["failure_reason"]
    assert "runs/run-1/report.md" in pipeline.artifact_keys()
    _assert_kept_data_and_baseline(pipeline)
    (delivery,) = next(iter(pipeline.deliveries.values()))
    assert delivery.response["action"] == "reported"


def test_timing_out_mid_sft_stops_the_job_and_reports_timed_out(slow_pipeline) -> None:
    pipeline = slow_pipeline
    pipeline.sagemaker.metrics = GOOD_METRICS
    pipeline.sagemaker.scripts["baseline_eval"] = [COMPLETED]
    pipeline.sagemaker.scripts["sft"] = [IN_PROGRESS]
    # 4 s: past the baseline (one 2 s wait) and inside the first 2 s SFT wait, even on a loaded machine.
    pipeline.machine = pipeline.create_machine(timeout_seconds=4)
    (result,) = pipeline.run(_input(pipeline))
    assert result.status == "TIMED_OUT"
    assert _stopped_jobs(pipeline) == [SFT_JOB]
    report = pipeline.read_json("runs/run-1/report.json")
    assert report["status"] == "TIMED_OUT" and report["cleanup"]["stopped_jobs"] == [SFT_JOB]
    _assert_kept_data_and_baseline(pipeline)


def test_a_failure_the_catch_path_reported_is_not_clobbered(pipeline) -> None:
    pipeline.sagemaker.scripts["sft"] = [{"TrainingJobStatus": "Failed", "SecondaryStatus": "Failed",
                                          "FailureReason": "AlgorithmError: boom"}]
    (result,) = pipeline.run(_input(pipeline))
    assert result.status == "FAILED" and "Cleanup" in result.states
    (delivery,) = next(iter(pipeline.deliveries.values()))
    assert delivery.response["action"] == "kept" and delivery.response["report_status"] == "FAILED"
    report = pipeline.read_json("runs/run-1/report.json")
    assert report["status"] == "FAILED" and "AlgorithmError: boom" in report["failure_reason"]
    versions = pipeline.s3.list_object_versions(Bucket="e2e-artifacts", Prefix="runs/run-1/report.json")
    assert len(versions["Versions"]) == 1  # written once, by Report Failure


def test_a_succeeded_execution_sends_nothing_to_the_abort_handler(pipeline) -> None:
    pipeline.sagemaker.metrics = GOOD_METRICS
    (result,) = pipeline.run(_input(pipeline))
    assert result.status == "SUCCEEDED", result.cause
    assert list(pipeline.deliveries.values()) == [[]]
