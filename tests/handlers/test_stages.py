"""Gate, deploy, endpoint status, smoke, cleanup, report and notify against moto."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import pytest
from forge_handlers import config
from forge_handlers.aws import clients
from forge_handlers.entry import cleanup, deploy, endpoint_status, gate, notify, report, smoke
from forge_handlers.errors import ArtifactMissingError, SmokeTestError

from pipeline_core.settings import load_settings
from tests.handlers.conftest import ARTIFACTS_BUCKET, CONFIG_FILES, REGION, a_run, derive, put_json
from tests.handlers.scripted import ScriptedSageMaker

CONFIG_DIR = Path(CONFIG_FILES[0]).parent
SERVE_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/forge-serve:1"
MODEL = f"s3://{ARTIFACTS_BUCKET}/runs/run-1/jobs/rft/j/output/model.tar.gz"


@pytest.fixture
def hf(use_settings):
    base = load_settings(CONFIG_DIR / "open-weights.yaml")
    return use_settings(
        derive(
            base,
            deploy__instance_type="ml.g4dn.xlarge",
            gate__min_gain_over_baseline=0.05,
            images__inference={REGION: SERVE_IMAGE},
        )
    )


@pytest.fixture
def sagemaker(aws):
    scripted = ScriptedSageMaker(boto3.client("sagemaker", region_name=REGION), aws)
    clients.override("sagemaker", scripted)
    return scripted


def record_evals(s3, run_id: str, values: dict[str, float], metric: str = "accuracy") -> None:
    s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=MODEL.split("/", 3)[3], Body=b"weights")  # what Deploy copies
    # What the Champion state wrote: nothing deployed when the run began.
    put_json(s3, ARTIFACTS_BUCKET, f"runs/{run_id}/champion.json",
             {"present": False, "reason": "no endpoint"})
    for stage, value in values.items():
        metrics_uri = put_json(
            s3,
            ARTIFACTS_BUCKET,
            f"runs/{run_id}/eval/{stage}/results.json",
            {"results": {"all": {metric: value, "em": value}}},
        )
        put_json(
            s3,
            ARTIFACTS_BUCKET,
            f"runs/{run_id}/artifacts/{stage}.json",
            {
                "stage": stage,
                "job_name": f"j-{stage}",
                "model_uri": MODEL,
                "base_model": "b",
                "kind": "eval",
                "source_model_uri": MODEL,
                "metrics_uri": metrics_uri,
            },
        )


@pytest.mark.parametrize(
    ("baseline", "candidate", "passed"), [(0.3, 0.8, True), (0.3, 0.34, False), (0.5, 0.4, False)]
)
def test_gate_compares_candidate_with_baseline(hf, aws, lambda_context, baseline, candidate, passed) -> None:
    record_evals(aws, "run-1", {"baseline_eval": baseline, "eval_sft": 0.1, "eval_rft": candidate})
    decision = gate.handler({"run": a_run()}, lambda_context)
    assert decision["passed"] is passed
    assert decision["candidate_stage"] == "eval_rft"
    assert (decision["baseline"], decision["candidate"]) == (baseline, candidate)
    assert decision["gain"] == pytest.approx(candidate - baseline)
    assert decision["metric"] == "accuracy" and decision["reason"]


def test_gate_without_results_fails_loudly(hf, aws, lambda_context) -> None:
    with pytest.raises(ArtifactMissingError):
        gate.handler({"run": a_run()}, lambda_context)


def test_gate_names_a_metric_the_results_lack(use_settings, aws, lambda_context) -> None:
    use_settings(derive(load_settings(CONFIG_DIR / "open-weights.yaml"), gate__metric="bleu"))
    record_evals(aws, "run-1", {"baseline_eval": 0.1, "eval_sft": 0.2, "eval_rft": 0.3})
    with pytest.raises(ArtifactMissingError, match="no numeric 'bleu'"):
        gate.handler({"run": a_run()}, lambda_context)


def test_deploy_creates_then_a_later_run_updates(hf, aws, sagemaker, lambda_context) -> None:
    record_evals(aws, "run-1", {"baseline_eval": 0.3, "eval_sft": 0.5, "eval_rft": 0.8})
    aws.put_object(Bucket=ARTIFACTS_BUCKET, Key=MODEL.split("/", 3)[3], Body=b"weights of run-1")
    first = deploy.handler({"run": a_run()}, lambda_context)
    assert first["action"] == "create" and first["endpoint_name"] == "forge-hf--endpoint"
    assert first["model_uri"] == MODEL
    # The endpoint serves a copy under deployed/, which no job (the SageMaker role) may overwrite.
    served = f"s3://{ARTIFACTS_BUCKET}/runs/run-1/deployed/model.tar.gz"
    assert first["served_model_uri"] == served
    body = aws.get_object(Bucket=ARTIFACTS_BUCKET, Key="runs/run-1/deployed/model.tar.gz")["Body"].read()
    assert body == b"weights of run-1"
    status = endpoint_status.handler({"run": a_run(), "endpoint": first}, lambda_context)
    assert status["status"] == "InService" and status["action"] == "create"
    model = boto3.client("sagemaker").describe_model(ModelName="forge-hf--run-1-model")
    assert model["PrimaryContainer"]["ModelDataUrl"] == served
    assert model["PrimaryContainer"]["Image"] == SERVE_IMAGE
    assert json.loads(model["PrimaryContainer"]["Environment"]["FORGE_LABELS"]) == [
        "HQ",
        "LQ_EDIT",
        "LQ_CLOSE",
    ]
    assert deploy.handler({"run": a_run()}, lambda_context)["action"] == "update"  # retried call: same config

    record_evals(aws, "run-2", {"baseline_eval": 0.3, "eval_sft": 0.5, "eval_rft": 0.8})
    second = deploy.handler({"run": a_run("run-2")}, lambda_context)
    assert second["action"] == "update"
    (update,) = [r for op, r in sagemaker.calls if op == "update_endpoint"]
    assert update["EndpointName"] == "forge-hf--endpoint"
    assert update["EndpointConfigName"] == "forge-hf--run-2-epc"
    # Blue/green under the stack's rollback alarms (stacks/endpoint_alarms.py), baked for deploy.bake_seconds.
    guardrails = update["DeploymentConfig"]
    assert [a["AlarmName"] for a in guardrails["AutoRollbackConfiguration"]["Alarms"]] == [
        "forge-hf--endpoint-errors", "forge-hf--endpoint-latency"]
    assert guardrails["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"] == {
        "Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300}


def test_open_weights_deploy_defaults_to_the_pytorch_inference_image(
    use_settings, aws, sagemaker, lambda_context
) -> None:
    use_settings(
        derive(load_settings(CONFIG_DIR / "open-weights.yaml"), deploy__instance_type="ml.g4dn.xlarge")
    )
    record_evals(aws, "run-1", {"baseline_eval": 0.3, "eval_sft": 0.5, "eval_rft": 0.8})
    deploy.handler({"run": a_run()}, lambda_context)
    model = boto3.client("sagemaker").describe_model(ModelName="forge-hf--run-1-model")
    container = model["PrimaryContainer"]
    assert container["Image"].startswith("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:")
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"


def _put_eval_dataset(s3, family: str = "hf") -> None:
    run = a_run(family=family)
    row = (
        {
            "id": "1",
            "messages": [
                {"role": "system", "content": "S"},
                {"role": "user", "content": "Q?"},
                {"role": "assistant", "content": "HQ"},
            ],
            "label": "HQ",
        }
        if family == "hf"
        else {"query": "Q?", "response": "HQ", "system": "S"}
    )
    bucket, key = run["datasets"]["eval"][5:].split("/", 1)
    s3.put_object(Bucket=bucket, Key=key, Body=(json.dumps(row) + "\n").encode())


class FakeRuntime:
    def __init__(self, answer: dict) -> None:
        self.answer, self.requests = answer, []

    def invoke_endpoint(self, **params):
        self.requests.append(params)
        return {"Body": io.BytesIO(json.dumps(self.answer).encode())}


def test_smoke_parses_the_label(hf, aws, lambda_context) -> None:
    _put_eval_dataset(aws)
    runtime = FakeRuntime({"text": "LQ_EDIT", "label": "LQ_EDIT"})
    clients.override("sagemaker-runtime", runtime)
    result = smoke.handler(
        {"run": a_run(), "endpoint": {"endpoint_name": "forge-hf--endpoint"}}, lambda_context
    )
    assert result["label"] == "LQ_EDIT" and result["question"] == "Q?"
    body = json.loads(runtime.requests[0]["Body"])
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


@pytest.mark.parametrize("answer", [{"text": "I think it is fine"}, {"text": "HQ or LQ_CLOSE"}, {"oops": 1}])
def test_smoke_rejects_an_unparseable_answer(hf, aws, lambda_context, answer) -> None:
    _put_eval_dataset(aws)
    clients.override("sagemaker-runtime", FakeRuntime(answer))
    with pytest.raises(SmokeTestError):
        smoke.handler({"run": a_run(), "endpoint": {"endpoint_name": "e"}}, lambda_context)


def test_smoke_reads_novas_chat_completion(use_settings, aws, lambda_context) -> None:
    use_settings(load_settings(CONFIG_DIR / "nova.yaml"))
    _put_eval_dataset(aws, "nova")
    clients.override("sagemaker-runtime", FakeRuntime({"choices": [{"message": {"content": "HQ"}}]}))
    result = smoke.handler({"run": a_run(family="nova"), "endpoint": {"endpoint_name": "e"}}, lambda_context)
    assert result["label"] == "HQ"


def test_cleanup_stops_only_this_runs_running_jobs(hf, aws, sagemaker, lambda_context) -> None:
    from forge_handlers.entry import launch

    sagemaker.scripts["baseline_eval"] = [{"TrainingJobStatus": "InProgress", "SecondaryStatus": "Training"}]
    mine = launch.handler({"stage": "baseline_eval", "run": a_run("run-1"), "attempt": 1}, lambda_context)
    other = launch.handler({"stage": "baseline_eval", "run": a_run("run-10"), "attempt": 1}, lambda_context)
    result = cleanup.handler(
        {"run": a_run("run-1"), "jobs": {"baseline_eval": mine}, "error": {"Error": "X", "Cause": "y"}},
        lambda_context,
    )
    assert result["stopped_jobs"] == [mine["job_name"]]
    stopped = [r["TrainingJobName"] for op, r in sagemaker.calls if op == "stop_training_job"]
    assert stopped == [mine["job_name"]] and other["job_name"] not in stopped
    assert cleanup.handler({"error": {"Error": "DataValidationError", "Cause": "bad"}}, lambda_context) == {
        "stopped_jobs": [],
        "deleted_endpoint": None,
        "rolled_back_to": None,
    }


def test_cleanup_deletes_an_endpoint_this_run_left_half_made(hf, aws, sagemaker, lambda_context) -> None:
    record_evals(aws, "run-1", {"baseline_eval": 0.3, "eval_sft": 0.5, "eval_rft": 0.8})
    endpoint = deploy.handler({"run": a_run()}, lambda_context)
    real_describe = sagemaker._real.describe_endpoint
    sagemaker._real.describe_endpoint = lambda **p: {**real_describe(**p), "EndpointStatus": "Failed"}
    result = cleanup.handler({"run": a_run(), "endpoint": endpoint, "error": {}}, lambda_context)
    assert result["deleted_endpoint"] == "forge-hf--endpoint"
    assert boto3.client("sagemaker").list_endpoints()["Endpoints"] == []
    keys = [o["Key"] for o in aws.list_objects_v2(Bucket=ARTIFACTS_BUCKET)["Contents"]]
    assert "runs/run-1/eval/eval_rft/results.json" in keys  # artifacts kept


def test_cleanup_rolls_a_failed_runs_update_back_to_the_previous_model(hf, aws, sagemaker, lambda_context):
    """Regression: a run whose smoke test failed after it updated the endpoint left the endpoint on the model
    that failed (Cleanup skipped every update)."""
    record_evals(aws, "run-1", {"baseline_eval": 0.3, "eval_sft": 0.5, "eval_rft": 0.8})
    first = deploy.handler({"run": a_run()}, lambda_context)
    assert first["previous_endpoint_config_name"] is None  # a create replaces nothing
    record_evals(aws, "run-2", {"baseline_eval": 0.3, "eval_sft": 0.5, "eval_rft": 0.8})
    second = deploy.handler({"run": a_run("run-2")}, lambda_context)
    assert second["previous_endpoint_config_name"] == "forge-hf--run-1-epc"
    # A retried Deploy of run-2 (the update already done) still knows what it replaced.
    assert deploy.handler({"run": a_run("run-2")}, lambda_context)["previous_endpoint_config_name"] == (
        "forge-hf--run-1-epc"
    )
    error = {"Error": "SmokeTestError", "Cause": "no label in the answer"}
    result = cleanup.handler({"run": a_run("run-2"), "endpoint": second, "error": error}, lambda_context)
    assert result["rolled_back_to"] == "forge-hf--run-1-epc" and result["deleted_endpoint"] is None
    described = boto3.client("sagemaker", region_name=REGION)
    assert sagemaker.describe_endpoint(EndpointName="forge-hf--endpoint")["EndpointConfigName"] == (
        "forge-hf--run-1-epc"
    )
    assert described.list_endpoints()["Endpoints"]  # kept, serving run-1's model
    # Cleanup again (a retried task): the endpoint no longer serves run-2's config, nothing more to do.
    again = cleanup.handler({"run": a_run("run-2"), "endpoint": second, "error": error}, lambda_context)
    assert again["rolled_back_to"] is None


def test_cleanup_leaves_an_update_of_another_run_alone(hf, aws, sagemaker, lambda_context) -> None:
    record_evals(aws, "run-1", {"baseline_eval": 0.3, "eval_sft": 0.5, "eval_rft": 0.8})
    deploy.handler({"run": a_run()}, lambda_context)
    record_evals(aws, "run-2", {"baseline_eval": 0.3, "eval_sft": 0.5, "eval_rft": 0.8})
    second = deploy.handler({"run": a_run("run-2")}, lambda_context)
    record_evals(aws, "run-3", {"baseline_eval": 0.3, "eval_sft": 0.5, "eval_rft": 0.8})
    deploy.handler({"run": a_run("run-3")}, lambda_context)  # a later run updated it again
    result = cleanup.handler({"run": a_run("run-2"), "endpoint": second, "error": {}}, lambda_context)
    assert result["rolled_back_to"] is None
    assert sagemaker.describe_endpoint(EndpointName="forge-hf--endpoint")["EndpointConfigName"] == (
        "forge-hf--run-3-epc"
    )


def test_report_and_notify_carry_the_failure_reason(hf, aws, lambda_context) -> None:
    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name="forge")["TopicArn"]
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    record_evals(aws, "run-1", {"baseline_eval": 0.3})
    reason = "AlgorithmError: CUDA out of memory"
    state = {
        "run": a_run(),
        "dataset": "s3://forge-data/incoming/x.csv",
        "jobs": {
            "baseline_eval": {"job_name": "j-b", "status": "Completed", "metrics": {"accuracy": 0.3}},
            "sft": {"job_name": "forge-hf--run-1-sft-a1", "status": "Failed", "failure_reason": reason},
        },
        "error": {"Error": "JobFailedError", "Cause": reason},
        "status": "FAILED",
    }
    written = report.handler(state, lambda_context)
    document = json.loads(
        aws.get_object(Bucket=ARTIFACTS_BUCKET, Key="runs/run-1/report.json")["Body"].read()
    )
    assert document["status"] == "FAILED" and reason in document["failure_reason"]
    assert document["system_prompt"] == config.load().data.system_prompt  # what `forge ask --stack` sends
    assert document["stages"]["baseline"]["metrics"]["accuracy"] == 0.3
    markdown = aws.get_object(Bucket=ARTIFACTS_BUCKET, Key="runs/run-1/report.md")["Body"].read().decode()
    assert reason in markdown and "| baseline | 0.3000 |" in markdown

    import os

    os.environ["TOPIC_ARN"] = topic
    try:
        sent = notify.handler({**state, "report": written}, lambda_context)
    finally:
        del os.environ["TOPIC_ARN"]
    assert sent["message_id"]
    message = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])["Message"]
    assert reason in message and written["report_uri"] in message and "FAILED" in message
