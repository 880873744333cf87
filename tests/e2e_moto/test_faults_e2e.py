"""Issue 12, point 10: faults driven end to end in moto, each asserting what the run kept (datasets,
earlier results, report) and that no job is left running.

Faults: a Lambda that times out (once: retried; always: caught), an untyped handler crash, and a reward
Lambda error during Nova RFT (the job fails, as a Nova RFT job does when its reward function errors).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import boto3
from forge_handlers import config
from forge_handlers.aws import clients

from forge.moto_lambda import function_name_of
from tests.e2e_moto.harness import REGION
from tests.e2e_moto.test_pipeline_e2e import GOOD_METRICS, _input
from tests.handlers.scripted import IN_PROGRESS, failed

RUN = "run-1"


def _injecting(pipeline, function: str, fault, *, when=lambda event: True):
    """A resolver that runs ``fault(event)`` instead of ``function``'s handler while ``when(event)``."""

    def resolve(name: str):
        handler = pipeline.resolve(name)
        if name != function:
            return handler

        def call(event: Any, context: Any) -> Any:
            return fault(event) if when(event) else handler(event, context)

        return call

    return resolve


def _kept(pipeline, run_id: str = RUN) -> set[str]:
    """The kinds of artifacts the run kept: datasets, baseline results, report."""
    keys = pipeline.artifact_keys(f"runs/{run_id}/")
    kinds = set()
    if any(k.startswith(f"runs/{run_id}/data/sft/") for k in keys):
        kinds.add("sft dataset")
    if f"runs/{run_id}/eval/baseline_eval/results.json" in keys:
        kinds.add("baseline results")
    if {f"runs/{run_id}/report.json", f"runs/{run_id}/report.md"} <= set(keys):
        kinds.add("report")
    return kinds


def _left_running(pipeline) -> list[str]:
    """Created jobs that neither finished nor were stopped (by the scripts, the last status they show)."""
    scripted = pipeline.sagemaker
    running = []
    for name in scripted.created_jobs():
        if name in scripted._stopped:
            continue
        script = scripted._script(name)
        shown = script[min(scripted._progress[name], len(script)) - 1]
        if shown["TrainingJobStatus"] == "InProgress":
            running.append(name)
    return running


def _sleeping(seconds: float):
    def fault(event: Any) -> Any:
        time.sleep(seconds)
        raise AssertionError("a timed-out invoke's result must not be used")

    return fault


def test_a_poll_that_times_out_once_is_retried_and_the_run_succeeds(pipeline) -> None:
    pipeline.sagemaker.metrics = GOOD_METRICS
    calls = {"n": 0}

    def first_sft_poll(event):
        if event.get("stage") == "sft":
            calls["n"] += 1
            return calls["n"] == 1
        return False

    resolve = _injecting(pipeline, "forge-hf-poll", _sleeping(1.0), when=first_sft_poll)
    (result,) = pipeline.run(_input(pipeline), resolve=resolve, timeouts={"forge-hf-poll": 0.3})
    assert result.status == "SUCCEEDED", result.cause
    timed_out = [e for e in result.history if e["type"].endswith("Failed")
                 and '"Sandbox.Timedout"' in json.dumps(e, default=str)]
    assert len(timed_out) == 1
    assert pipeline.read_json(f"runs/{RUN}/report.json")["status"] == "SUCCEEDED"


def test_a_poll_that_always_times_out_fails_the_run_and_stops_the_job(pipeline) -> None:
    pipeline.sagemaker.metrics = GOOD_METRICS
    pipeline.sagemaker.scripts["sft"] = [IN_PROGRESS]  # never finishes on its own
    resolve = _injecting(pipeline, "forge-hf-poll", _sleeping(1.0), when=lambda e: e.get("stage") == "sft")
    (result,) = pipeline.run(_input(pipeline), resolve=resolve, timeouts={"forge-hf-poll": 0.3})
    assert result.status == "FAILED"
    report = pipeline.read_json(f"runs/{RUN}/report.json")
    assert report["status"] == "FAILED"
    assert "Sandbox.Timedout" in report["failure_reason"]
    assert "Task timed out after 0.30 seconds" in report["failure_reason"]
    assert _kept(pipeline) == {"sft dataset", "baseline results", "report"}
    assert f"forge-hf--{RUN}-sft-a1" in pipeline.sagemaker._stopped
    assert _left_running(pipeline) == []


def test_an_untyped_handler_crash_is_caught_reported_and_cleaned_up(pipeline) -> None:
    pipeline.sagemaker.metrics = GOOD_METRICS

    def crash(event):
        raise KeyError("checkpoint")  # a bug, not one of the handlers' named errors

    resolve = _injecting(pipeline, "forge-hf-launch", crash, when=lambda e: e.get("stage") == "eval_sft")
    (result,) = pipeline.run(_input(pipeline), resolve=resolve)
    assert result.status == "FAILED"
    report = pipeline.read_json(f"runs/{RUN}/report.json")
    assert report["status"] == "FAILED" and report["failure_reason"].startswith("KeyError")
    assert report["stages"]["sft"]["training_job"]["status"] == "Completed"
    assert report["stages"]["baseline"]["metrics"]["accuracy"] == GOOD_METRICS["baseline_eval"]["accuracy"]
    assert _kept(pipeline) == {"sft dataset", "baseline results", "report"}
    assert _left_running(pipeline) == []
    assert not pipeline.sagemaker._real.list_endpoints()["Endpoints"]


class _RewardCallingSageMaker:
    """Nova RFT as SageMaker runs it: the job calls the reward Lambda with rollouts of its dataset, and
    fails if the function errors. Wraps the scripted SageMaker's describe of the RFT job."""

    def __init__(self, scripted, s3) -> None:
        self.scripted, self.s3 = scripted, s3

    def __getattr__(self, name: str) -> Any:
        return getattr(self.scripted, name)

    def describe_training_job(self, **params: Any) -> dict[str, Any]:
        name = params["TrainingJobName"]
        request = next((r for op, r in self.scripted.calls if op == "create_training_job"
                        and r["TrainingJobName"] == name), {})  # Launch describes before it creates
        arn = request.get("HyperParameters", {}).get("reward_lambda_arn")
        if arn and name not in self.scripted._stopped:
            error = self._rollout(request, arn)
            if error:
                self.scripted.scripts[self.scripted._jobs[name]] = [failed(error)]
        return self.scripted.describe_training_job(**params)

    def _rollout(self, request: dict[str, Any], arn: str) -> str | None:
        (channel,) = [c["DataSource"]["S3DataSource"]["S3Uri"] for c in request["InputDataConfig"]
                      if c["ChannelName"] == "train"]
        bucket, _, prefix = channel.removeprefix("s3://").partition("/")
        key = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"][0]["Key"]
        row = json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()[0])
        sample = {**row, "messages": [*row["messages"], {"role": "assistant", "content": "HQ"}]}
        response = boto3.client("lambda", region_name=REGION).invoke(
            FunctionName=function_name_of(arn), Payload=json.dumps([sample]).encode()
        )
        if "FunctionError" in response:
            payload = json.loads(response["Payload"].read())
            return f"ClientError: the reward Lambda failed: {payload['errorType']}: {payload['errorMessage']}"
        return None


def test_a_reward_lambda_error_fails_nova_rft_and_keeps_the_sft_model(nova_pipeline) -> None:
    pipeline = nova_pipeline
    reward = next(f for f, h in pipeline._handlers.items() if h == "job_code.core.reward.lambda_handler")
    os.environ["REWARD_LAMBDA_ARN"] = f"arn:aws:lambda:{REGION}:123456789012:function:{reward}"
    config.clear_cache()
    clients.override("sagemaker", _RewardCallingSageMaker(pipeline.sagemaker, pipeline.s3))

    def broken_reward(event):
        raise ValueError("reward weights do not sum to 1")

    calls: list[Any] = []

    def after_preflight(event: Any) -> bool:  # Preflight's sample rollouts pass; RFT's rollouts then fail
        calls.append(event)
        return len(calls) > 1

    resolve = _injecting(pipeline, reward, broken_reward, when=after_preflight)
    (result,) = pipeline.run(_input(pipeline, rows=120), resolve=resolve)
    assert result.status == "FAILED"
    report = pipeline.read_json(f"runs/{RUN}/report.json")
    assert report["stages"]["rft"]["training_job"]["status"] == "Failed"
    assert "reward Lambda failed: ValueError: reward weights do not sum to 1" in report["failure_reason"]
    assert report["stages"]["sft"]["training_job"]["status"] == "Completed"
    assert report["stages"]["sft"]["trained_model"]  # the SFT checkpoint is kept for a rerun
    assert _kept(pipeline) >= {"sft dataset", "report"}
    assert _left_running(pipeline) == []
