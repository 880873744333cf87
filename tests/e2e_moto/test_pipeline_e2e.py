"""Acceptance 2: the synthesized state machine in moto, real handlers in-process, scripted job statuses."""

from __future__ import annotations

import json

from forge_handlers.entry import launch

from forge.moto_lambda import LambdaContext
from tests.e2e_moto.harness import ARTIFACTS_BUCKET
from tests.handlers.scripted import IN_PROGRESS, failed
from tests.handlers.test_prepare import make_csv

GOOD_METRICS = {
    "baseline_eval": {"accuracy": 0.3, "em": 0.1},
    "eval_sft": {"accuracy": 0.7, "em": 0.7},
    "eval_rft": {"accuracy": 0.8, "em": 0.8},
}
STAGES = ("baseline_eval", "sft", "eval_sft", "rft", "eval_rft")


def _input(pipeline, run_id: str = "run-1", rows: int = 30, **csv_options) -> dict:
    return {
        "dataset": pipeline.upload(f"incoming/{run_id}.csv", make_csv(rows, **csv_options)),
        "run_id": run_id,
    }


def _job_names(run_id: str) -> list[str]:
    tokens = {"baseline_eval": "base", "sft": "sft", "eval_sft": "evsft", "rft": "rft", "eval_rft": "evrft"}
    return sorted(f"forge-hf--{run_id}-{tokens[stage]}-a1" for stage in STAGES)


def test_happy_path_deploys_and_reports(pipeline) -> None:
    pipeline.sagemaker.metrics = GOOD_METRICS
    (result,) = pipeline.run(_input(pipeline))
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["status"] == "SUCCEEDED"
    assert result.states.index("Preflight") == result.states.index("Prepare") + 1
    preflight = result.output["preflight"]
    assert preflight["passed"] is True
    assert {c["check"]: c["status"] for c in preflight["checks"]} == {
        "quotas": "ok", "reward": "skipped", "iam": "ok", "endpoint": "ok"}
    assert result.output["gate"]["passed"] is True and result.output["gate"]["candidate"] == 0.8
    assert result.output["endpoint"]["status"] == "InService"
    assert result.output["smoke"]["label"] == "HQ"
    assert pipeline.training_jobs() == _job_names("run-1")
    endpoints = pipeline.sagemaker._real.list_endpoints()["Endpoints"]
    assert [e["EndpointName"] for e in endpoints] == ["forge-hf--endpoint"]
    report = pipeline.read_json("runs/run-1/report.json")
    assert report["status"] == "SUCCEEDED"
    assert {name: report["stages"][name]["metrics"]["accuracy"] for name in report["stages"]} == {
        "baseline": 0.3,
        "sft": 0.7,
        "rft": 0.8,
    }
    rft_model = result.output["jobs"]["rft"]["artifact"]["model_uri"]
    assert report["stages"]["rft"]["evaluated_model"] == rft_model == result.output["endpoint"]["model_uri"]
    served = pipeline.sagemaker._real.describe_model(ModelName="forge-hf--run-1-model")["PrimaryContainer"]
    assert served["ModelDataUrl"] == f"s3://{ARTIFACTS_BUCKET}/runs/run-1/deployed/model.tar.gz"  # a copy
    assert set(report["timings"]["training_seconds"]) == set(STAGES)
    assert report["gate"]["passed"] is True and report["endpoint"]["endpoint_name"] == "forge-hf--endpoint"
    assert "runs/run-1/report.md" in pipeline.artifact_keys()
    (message,) = pipeline.notifications()
    assert "SUCCEEDED" in message and f"s3://{ARTIFACTS_BUCKET}/runs/run-1/report.json" in message


def test_sft_failure_reason_reaches_output_notification_and_report(pipeline) -> None:
    reason = "AlgorithmError: ExecuteUserScriptError: CUDA out of memory"
    pipeline.sagemaker.scripts["sft"] = [IN_PROGRESS, failed(reason)]
    (result,) = pipeline.run(_input(pipeline))
    assert result.status == "FAILED"
    assert (result.error, result.cause) == ("JobFailedError", reason)
    assert "Deploy" not in result.states and "SFT Failed" in result.states
    report = pipeline.read_json("runs/run-1/report.json")
    assert report["status"] == "FAILED" and reason in report["failure_reason"]
    (message,) = pipeline.notifications()
    assert reason in message and "FAILED" in message
    kept = pipeline.artifact_keys()
    assert "runs/run-1/eval/baseline_eval/results.json" in kept and "runs/run-1/data/sft/sft.jsonl" in kept
    assert "runs/run-1/artifacts/sft.json" not in kept  # no record for a failed stage


def test_stopped_job_fails_the_run_with_its_reason(pipeline) -> None:
    pipeline.sagemaker.scripts["eval_sft"] = [{"TrainingJobStatus": "Stopped", "SecondaryStatus": "Stopped"}]
    (result,) = pipeline.run(_input(pipeline))
    assert result.status == "FAILED" and result.error == "JobFailedError"
    assert "forge-hf--run-1-evsft-a1 was stopped" in result.cause
    assert "stopped" in pipeline.read_json("runs/run-1/report.json")["failure_reason"]


def test_launch_throttled_twice_then_accepted(pipeline) -> None:
    pipeline.sagemaker.create_errors = ["ThrottlingException", "ThrottlingException"]
    (result,) = pipeline.run(_input(pipeline))
    assert result.status == "SUCCEEDED", result.cause
    assert pipeline.training_jobs() == _job_names("run-1")
    failures = [e for e in result.history if e["type"] == "LambdaFunctionFailed"]
    assert [f["lambdaFunctionFailedEventDetails"]["error"] for f in failures] == ["ThrottlingError"] * 2


def test_resource_limit_is_retried_with_backoff(pipeline) -> None:
    pipeline.sagemaker.create_errors = ["ResourceLimitExceeded", "ResourceLimitExceeded"]
    (result,) = pipeline.run(_input(pipeline))
    assert result.status == "SUCCEEDED", result.cause
    failures = [e for e in result.history if e["type"] == "LambdaFunctionFailed"]
    assert [f["lambdaFunctionFailedEventDetails"]["error"] for f in failures] == ["ResourceLimitError"] * 2
    assert pipeline.training_jobs() == _job_names("run-1")
    # The backoff the interpreter applied is the synthesized Retry of the Launch task.
    definition = json.loads(
        pipeline.sfn.describe_state_machine(stateMachineArn=pipeline.machine)["definition"]
    )
    launch_state = _find_state(definition, "BaselineEval Launch")
    (retry,) = [r for r in launch_state["Retry"] if "ResourceLimitError" in r["ErrorEquals"]]
    assert retry["BackoffRate"] == 2.0 and retry["IntervalSeconds"] == 1 and retry["JitterStrategy"] == "FULL"


def _find_state(definition: dict, name: str) -> dict:
    for state_name, state in definition["States"].items():
        if state_name == name:
            return state
        for branch in state.get("Branches", []):
            found = _find_state(branch, name)
            if found:
                return found
    return {}


def test_capacity_failure_relaunches_under_a_new_attempt_name(pipeline) -> None:
    pipeline.sagemaker.scripts[("sft", 1)] = [
        failed("CapacityError: Unable to provision requested ML compute")
    ]
    (result,) = pipeline.run(_input(pipeline))
    assert result.status == "SUCCEEDED", result.cause
    assert "forge-hf--run-1-sft-a2" in pipeline.training_jobs()
    assert result.output["jobs"]["sft"]["attempt"] == 2


def test_gate_rejection_creates_no_endpoint(pipeline) -> None:
    pipeline.sagemaker.metrics = {**GOOD_METRICS, "eval_rft": {"accuracy": 0.32, "em": 0.3}}
    (result,) = pipeline.run(_input(pipeline))
    assert result.status == "SUCCEEDED" and result.output["status"] == "GATE_REJECTED"
    assert result.output["gate"]["passed"] is False
    assert pipeline.sagemaker._real.list_endpoints()["Endpoints"] == []
    assert pipeline.sagemaker._real.list_models()["Models"] == []
    assert pipeline.read_json("runs/run-1/report.json")["status"] == "GATE_REJECTED"


def test_bad_csv_creates_zero_training_jobs(pipeline) -> None:
    (result,) = pipeline.run(_input(pipeline, bad_rows={2: ("a question", "NOT_A_LABEL")}))
    assert result.status == "FAILED" and result.error == "DataValidationError"
    assert "NOT_A_LABEL" in result.cause
    assert pipeline.training_jobs() == []
    assert pipeline.read_json("runs/run-1/data/validation.json")["ok"] is False
    assert pipeline.read_json("runs/run-1/report.json")["status"] == "FAILED"
    (message,) = pipeline.notifications()
    assert "DataValidationError" in message


def test_two_runs_at_once_stay_in_their_own_prefixes(pipeline) -> None:
    pipeline.sagemaker.metrics = GOOD_METRICS
    results = pipeline.run(_input(pipeline, "run-a"), _input(pipeline, "run-b"))
    assert [r.status for r in results] == ["SUCCEEDED", "SUCCEEDED"], [r.cause for r in results]
    keys_a, keys_b = pipeline.artifact_keys("runs/run-a/"), pipeline.artifact_keys("runs/run-b/")
    assert [k.replace("run-a", "run-b") for k in keys_a] == keys_b  # the same files, each under its own run
    assert pipeline.artifact_keys() == sorted(keys_a + keys_b)
    versions = pipeline.s3.list_object_versions(Bucket=ARTIFACTS_BUCKET, Prefix="runs/")["Versions"]
    assert len(versions) == len(keys_a) + len(keys_b)  # no object was ever overwritten
    assert pipeline.training_jobs() == sorted(_job_names("run-a") + _job_names("run-b"))
    for run_id, result in zip(("run-a", "run-b"), results, strict=True):
        assert all(run_id in job["job_name"] for job in result.output["jobs"].values())
        artifacts = [job["artifact"]["model_uri"] for job in result.output["jobs"].values()]
        assert all(f"/runs/{run_id}/" in uri for uri in artifacts if uri.startswith("s3://e2e"))


def test_rerunning_launch_for_the_same_run_creates_no_second_job(pipeline) -> None:
    pipeline.sagemaker.metrics = GOOD_METRICS
    (first,) = pipeline.run(_input(pipeline))
    assert first.status == "SUCCEEDED", first.cause
    relaunched = launch.handler(
        {"stage": "sft", "run": first.output["run"], "attempt": 1},
        LambdaContext(function_name="forge-hf-launch"),
    )
    assert relaunched["reused"] is True and relaunched["job_name"] == "forge-hf--run-1-sft-a1"
    creates = [r for op, r in pipeline.sagemaker.calls if op == "create_training_job"]
    assert len(creates) == len(STAGES)
    assert pipeline.training_jobs() == _job_names("run-1")


def test_nova_pipeline_hands_checkpoints_through_to_deploy(nova_pipeline) -> None:
    nova_pipeline.sagemaker.metrics = GOOD_METRICS
    nova_pipeline.runtime.answer = "LQ_CLOSE"
    (result,) = nova_pipeline.run(_input(nova_pipeline, rows=120))
    assert result.status == "SUCCEEDED", result.cause
    jobs = result.output["jobs"]
    sft_checkpoint = jobs["sft"]["artifact"]["model_uri"]
    assert sft_checkpoint.startswith("s3://customer-escrow-111/forge-nova--run-1-sft-a1/")
    assert jobs["eval_sft"]["artifact"]["model_uri"] == sft_checkpoint
    assert jobs["rft"]["artifact"]["source_model_uri"] == sft_checkpoint
    model = nova_pipeline.sagemaker._real.describe_model(ModelName="forge-nova--run-1-model")
    assert model["PrimaryContainer"]["Image"].endswith("nova-inference-repo:SM-Inference-latest")
    body = nova_pipeline.runtime.requests[0]["Body"]
    assert result.output["smoke"]["label"] == "LQ_CLOSE" and b'"messages"' in body


def test_a_failed_smoke_test_after_an_update_rolls_the_endpoint_back(pipeline) -> None:
    """Regression: the endpoint stayed on the new model whose smoke test failed (Cleanup skipped updates)."""
    pipeline.sagemaker.metrics = GOOD_METRICS
    (first,) = pipeline.run(_input(pipeline, "run-1"))
    assert first.status == "SUCCEEDED", first.cause
    pipeline.runtime.answer = "I cannot tell."  # the second run's model names no label
    (second,) = pipeline.run(_input(pipeline, "run-2"))
    assert second.status == "FAILED"
    endpoint = pipeline.sagemaker.describe_endpoint(EndpointName="forge-hf--endpoint")
    assert endpoint["EndpointConfigName"] == "forge-hf--run-1-epc"
    report = pipeline.read_json("runs/run-2/report.json")
    assert report["cleanup"]["rolled_back_to"] == "forge-hf--run-1-epc"
    assert report["endpoint"]["previous_endpoint_config_name"] == "forge-hf--run-1-epc"


def test_a_second_run_worse_than_the_deployed_model_is_rejected_and_the_endpoint_kept(pipeline) -> None:
    """Champion/challenger: run-2's candidate beats its baseline and chance but not run-1's deployed model,
    scored on run-2's eval set; the gate rejects it and the endpoint keeps serving run-1's config."""
    pipeline.sagemaker.metrics = GOOD_METRICS
    (first,) = pipeline.run(_input(pipeline, "run-1"))
    assert first.status == "SUCCEEDED", first.cause
    assert first.output["champion"]["present"] is False and "eval_champion" not in first.output["jobs"]
    pipeline.sagemaker.metrics = {**GOOD_METRICS, "eval_champion": {"accuracy": 0.8, "em": 0.8},
                                  "eval_rft": {"accuracy": 0.6, "em": 0.6}}
    (second,) = pipeline.run(_input(pipeline, "run-2"))
    assert second.status == "SUCCEEDED" and second.output["status"] == "GATE_REJECTED", second.cause
    champion = second.output["champion"]
    assert (champion["present"], champion["run_id"]) == (True, "run-1")
    assert champion["model_data_uri"] == f"s3://{ARTIFACTS_BUCKET}/runs/run-1/deployed/model.tar.gz"
    # The champion's evaluation loaded run-1's served copy as its model channel.
    (request,) = [r for op, r in pipeline.sagemaker.calls if op == "create_training_job"
                  and r["TrainingJobName"] == "forge-hf--run-2-champ-a1"]
    model = next(c for c in request["InputDataConfig"] if c["ChannelName"] == "model")
    assert model["DataSource"]["S3DataSource"]["S3Uri"] == champion["model_data_uri"]
    assert "accuracy 0.6000 does not beat champion 0.8000 by the required +0.0000" in second.output["gate"][
        "reason"]
    assert "Deploy" not in second.states
    endpoint = pipeline.sagemaker.describe_endpoint(EndpointName="forge-hf--endpoint")
    assert endpoint["EndpointConfigName"] == "forge-hf--run-1-epc"
    report = pipeline.read_json("runs/run-2/report.json")
    assert report["stages"]["champion"]["metrics"]["accuracy"] == 0.8
    assert report["gate"]["champion"]["score"] == 0.8
