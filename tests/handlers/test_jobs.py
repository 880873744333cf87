"""Launch and poll against moto, with scripted job statuses."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from forge_handlers import config
from forge_handlers.aws import clients
from forge_handlers.entry import launch, poll
from forge_handlers.errors import ArtifactMissingError, JobNotFoundError, ResourceLimitError, ThrottlingError

from pipeline_core.settings import load_settings
from tests.handlers.conftest import ARTIFACTS_BUCKET, CONFIG_FILES, REGION, a_run, derive
from tests.handlers.scripted import COMPLETED, IN_PROGRESS, ScriptedSageMaker, failed

CONFIG_DIR = Path(CONFIG_FILES[0]).parent


@pytest.fixture
def hf(use_settings):
    return use_settings(derive(load_settings(CONFIG_DIR / "open-weights.yaml"), poll_seconds=0))


@pytest.fixture
def sagemaker(aws):
    scripted = ScriptedSageMaker(boto3.client("sagemaker", region_name=REGION), aws)
    clients.override("sagemaker", scripted)
    return scripted


def _launch(stage: str, attempt: int = 1, run_id: str = "run-1", ctx=None) -> dict:
    return launch.handler({"stage": stage, "run": a_run(run_id), "attempt": attempt}, ctx)


def _poll(job: dict, run_id: str = "run-1", ctx=None) -> dict:
    return poll.handler({"stage": job["stage"], "run": a_run(run_id), "job": job}, ctx)


def _listed_jobs() -> list[str]:
    sm = boto3.client("sagemaker", region_name=REGION)
    return sorted(j["TrainingJobName"] for j in sm.list_training_jobs()["TrainingJobSummaries"])


def test_launch_creates_one_job_and_a_repeat_reuses_it(hf, sagemaker, lambda_context) -> None:
    first = _launch("baseline_eval", ctx=lambda_context)
    again = _launch("baseline_eval", ctx=lambda_context)
    assert first["status"] == again["status"] == "InProgress"
    assert first["job_name"] == again["job_name"] == "forge-hf--run-1-base-a1"
    assert (first["reused"], again["reused"]) == (False, True)
    assert _listed_jobs() == ["forge-hf--run-1-base-a1"]


def test_a_create_that_timed_out_but_succeeded_is_found_not_duplicated(hf, sagemaker, lambda_context) -> None:
    _launch("baseline_eval", ctx=lambda_context)

    class RacingCreate(ScriptedSageMaker):
        """The describe before create misses the job (created by a call that timed out)."""

        seen = False

        def describe_training_job(self, **params):
            if not RacingCreate.seen:
                RacingCreate.seen = True
                raise clients_error("ValidationException", "Requested resource not found.")
            return super().describe_training_job(**params)

        def create_training_job(self, **request):
            raise clients_error("ResourceInUse", "Training job names must be unique")

    from tests.handlers.scripted import client_error as clients_error

    clients.override("sagemaker", RacingCreate(sagemaker._real, sagemaker._s3))
    result = _launch("baseline_eval", ctx=lambda_context)
    assert result["reused"] is True
    assert _listed_jobs() == ["forge-hf--run-1-base-a1"]


@pytest.mark.parametrize(
    ("code", "error"),
    [("ThrottlingException", ThrottlingError), ("ResourceLimitExceeded", ResourceLimitError)],
)
def test_retryable_create_errors_are_typed(hf, sagemaker, lambda_context, code, error) -> None:
    sagemaker.create_errors = [code]
    with pytest.raises(error):
        _launch("baseline_eval", ctx=lambda_context)
    assert _listed_jobs() == []
    assert _launch("baseline_eval", ctx=lambda_context)["reused"] is False
    assert _listed_jobs() == ["forge-hf--run-1-base-a1"]


def test_eval_of_sft_without_the_sft_record_fails_loudly(hf, sagemaker, lambda_context) -> None:
    with pytest.raises(ArtifactMissingError, match="artifact record of stage 'sft'"):
        _launch("eval_sft", ctx=lambda_context)
    assert _listed_jobs() == []


@pytest.mark.parametrize(
    ("step", "attempt", "expected"),
    [
        (IN_PROGRESS, 1, "InProgress"),
        ({"TrainingJobStatus": "Stopping", "SecondaryStatus": "Stopping"}, 1, "InProgress"),
        ({"TrainingJobStatus": "Stopped", "SecondaryStatus": "Stopped"}, 1, "Stopped"),
        (failed("AlgorithmError: loss is NaN"), 1, "Failed"),
        (failed("CapacityError: Unable to provision requested ML compute capacity."), 1, "Retry"),
        (failed("CapacityError: Unable to provision requested ML compute capacity."), 3, "Failed"),
        (COMPLETED, 1, "Completed"),
    ],
)
def test_poll_maps_sagemaker_status(hf, sagemaker, lambda_context, step, attempt, expected) -> None:
    sagemaker.scripts[("sft", attempt)] = [step]
    job = _launch("sft", attempt=attempt, ctx=lambda_context)
    result = _poll(job, ctx=lambda_context)
    assert result["status"] == expected
    assert result["secondary_status"] == step["SecondaryStatus"]
    assert result["log_group"] == "/aws/sagemaker/TrainingJobs"
    assert result["log_stream"] == f"{job['job_name']}/algo-1-*"
    if step["TrainingJobStatus"] in ("Failed", "Stopped"):
        assert result["failure_reason"]  # a string the state machine's Choice routes on
        if "FailureReason" in step:
            assert result["failure_reason"] == step["FailureReason"]


def test_poll_completed_sft_records_the_model_and_eval_records_its_weights(
    hf, sagemaker, lambda_context
) -> None:
    sagemaker.metrics["eval_sft"] = {"accuracy": 0.75, "em": 0.7}
    sft = _poll(_launch("sft", ctx=lambda_context), ctx=lambda_context)
    assert sft["status"] == "InProgress"
    sft = _poll(sft, ctx=lambda_context)
    assert sft["status"] == "Completed"
    model_uri = f"s3://{ARTIFACTS_BUCKET}/runs/run-1/jobs/sft/forge-hf--run-1-sft-a1/output/model.tar.gz"
    assert sft["artifact"]["model_uri"] == model_uri
    assert sft["artifact"]["kind"] == "merged"
    stored = json.loads(
        boto3.client("s3")
        .get_object(Bucket=ARTIFACTS_BUCKET, Key="runs/run-1/artifacts/sft.json")["Body"]
        .read()
    )
    assert stored == sft["artifact"]

    job = _launch("eval_sft", ctx=lambda_context)
    request = next(
        r
        for op, r in sagemaker.calls
        if op == "create_training_job" and r["TrainingJobName"] == job["job_name"]
    )
    assert {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in request["InputDataConfig"]}[
        "model"
    ] == model_uri
    evaluated = _poll(_poll(job, ctx=lambda_context), ctx=lambda_context)
    assert evaluated["status"] == "Completed"
    assert evaluated["metrics"]["accuracy"] == 0.75
    assert evaluated["artifact"]["kind"] == "eval"
    assert evaluated["artifact"]["model_uri"] == model_uri  # which weights this eval measured
    results = json.loads(
        boto3.client("s3")
        .get_object(Bucket=ARTIFACTS_BUCKET, Key="runs/run-1/eval/eval_sft/results.json")["Body"]
        .read()
    )
    assert results["results"]["all"]["accuracy"] == 0.75


def test_poll_of_a_missing_job_is_job_not_found(hf, sagemaker, lambda_context) -> None:
    job = {"stage": "sft", "job_name": "forge-hf--run-1-sft-a1", "attempt": 1, "status": "InProgress"}
    with pytest.raises(JobNotFoundError):
        _poll(job, ctx=lambda_context)


def test_nova_training_hands_off_the_manifest_checkpoint(use_settings, aws, lambda_context) -> None:
    settings = use_settings(load_settings(CONFIG_DIR / "nova.yaml"))
    scripted = ScriptedSageMaker(boto3.client("sagemaker", region_name=REGION), aws, family="nova")
    clients.override("sagemaker", scripted)
    scripted.scripts["sft"] = [COMPLETED]
    sft = poll.handler(
        {
            "stage": "sft",
            "run": a_run(family="nova"),
            "job": launch.handler(
                {"stage": "sft", "run": a_run(family="nova"), "attempt": 1}, lambda_context
            ),
        },
        lambda_context,
    )
    checkpoint = "s3://customer-escrow-111/forge-nova--run-1-sft-a1/step-final/"
    assert sft["artifact"]["model_uri"] == checkpoint and sft["artifact"]["kind"] == "checkpoint"
    rft = launch.handler({"stage": "rft", "run": a_run(family="nova"), "attempt": 1}, lambda_context)
    request = next(
        r
        for op, r in scripted.calls
        if op == "create_training_job" and r["TrainingJobName"] == rft["job_name"]
    )
    assert request["HyperParameters"]["base_model_location"] == checkpoint
    assert settings.model.family == "nova"


def test_settings_file_errors_are_config_errors(monkeypatch, tmp_path) -> None:
    from forge_handlers.errors import ConfigError

    monkeypatch.setenv("FORGE_SETTINGS_FILE", str(tmp_path / "missing.json"))
    config.clear_cache()
    with pytest.raises(ConfigError, match="cannot read settings file"):
        config.load()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": {"family": "nova", "base_model": "x"}}))
    monkeypatch.setenv("FORGE_SETTINGS_FILE", str(bad))
    with pytest.raises(ConfigError, match="model_type"):
        config.load()
    config.clear_cache()
