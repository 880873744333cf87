"""``forge run --local`` end to end with a tiny random-init model: the synthesized state machine on moto,
the real handlers in-process, the real job scripts as local SageMaker jobs, a local endpoint."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from forge.cli import app
from forge.local.launcher import WARM_NOTE

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = PROJECT_ROOT / "examples" / "data" / "so_sample.csv"
METRICS = ("accuracy", "em", "qem", "f1", "rouge1", "bleu", "macro_f1")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from job_code.models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def write_config(path: Path, base_model: Path, **sft_overrides) -> Path:
    evaluation = {"instance_type": "ml.m5.xlarge", "hyperparameters": {"max_new_tokens": 4, "batch_size": 12}}
    config = {
        "name": "forge-e2e",
        "model": {"family": "hf", "base_model": str(base_model)},
        "data": {"max_query_tokens": 48},
        "split": {"sft": 24, "eval": 12, "rft": 8, "seed": 3},
        "stages": {
            "baseline_eval": evaluation,
            "eval": evaluation,
            "sft": {
                "instance_type": "ml.m5.xlarge",
                "hyperparameters": {
                    "use_lora": False,
                    "max_steps": 3,
                    "per_device_batch_size": 8,
                    "learning_rate": 1e-3,
                    "logging_steps": 1,
                    **sft_overrides,
                },
            },
            "rft": {
                "instance_type": "ml.m5.xlarge",
                "hyperparameters": {
                    "use_lora": False,
                    "max_steps": 2,
                    "num_generations": 2,
                    "prompts_per_step": 2,
                    "max_completion_length": 4,
                    "learning_rate": 1e-4,
                },
            },
        },
        # A random model learns nothing in 3 steps: let the gate pass so deploy runs too.
        "gate": {"metric": "accuracy", "min_gain_over_baseline": -1.0, "min_gain_over_chance": -1.0,
                 "min_gain_over_majority": -1.0},
        # The smoke test needs a parseable label, which a random model cannot give.
        "deploy": {"instance_type": "ml.g5.xlarge", "smoke_test": False},
        # Jobs here are real processes that run for seconds: a 0 s Wait would spin the Poll loop on the
        # cores the jobs need, and every cycle adds history events.
        "poll_seconds": 1,
        "endpoint_poll_seconds": 1,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def run_cli(config: Path, out: Path, run_id: str, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--local",
            "--config",
            str(config),
            "--data",
            str(SAMPLE),
            "--out",
            str(out),
            "--run-id",
            run_id,
            *extra,
        ],
    )
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_run_local_writes_a_full_report(tiny_model, tmp_path):
    # 5 steps logged every 2 (and the first): the MLflow loss curve must hold steps 1, 2 and 4.
    config = write_config(tmp_path / "e2e.yaml", tiny_model, max_steps=5, logging_steps=2)
    code, output = run_cli(config, tmp_path / "runs", "e2e-ok")
    run_dir = tmp_path / "runs" / "e2e-ok"
    report = json.loads((run_dir / "report.json").read_text())
    assert code == 0, output + json.dumps(report.get("failure_reason"))
    assert report["status"] == "SUCCEEDED"
    # No terminal here: progress comes as plain lines (jobs seen running, the end), not a panel at the end.
    assert re.search(r"^\[\S+\] execution RUNNING, stage \S+; job \S+: InProgress", output, re.M), output
    assert re.search(r"^\[\S+\] execution SUCCEEDED", output, re.M), output
    assert set(report["stages"]) == {"baseline", "sft", "rft"}
    for name, stage in report["stages"].items():
        missing = [m for m in METRICS if not isinstance((stage["metrics"] or {}).get(m), int | float)]
        assert not missing, f"stage {name} lacks {missing}"
    assert report["gate"]["passed"] is True
    assert report["endpoint"]["endpoint_name"]
    # The candidate, registered in the (moto) registry with its metrics and the gate's approval.
    (package,) = json.loads((run_dir / "model_packages.json").read_text())
    assert package["ModelApprovalStatus"] == "Approved" == report["registry"]["approval_status"]
    assert package["ModelPackageArn"] == report["registry"]["model_package_arn"]
    assert package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"].endswith(
        "runs/e2e-ok/eval/eval_rft/results.json")
    assert package["CustomerMetadataProperties"]["forge:gate-passed"] == "true"
    for produced in (
        "report.md",
        "report.html",
        "execution_history.json",
        "data/validation.json",
        "eval/baseline_eval/results.json",
        "eval/eval_rft/inference_output.jsonl",
        "endpoint.json",
        "notifications.json",
    ):
        assert (run_dir / produced).is_file(), produced
    assert "<img" in (run_dir / "report.html").read_text()
    logs = sorted((run_dir / "logs").glob("*.log"))
    assert len(logs) == 6  # five jobs and the endpoint
    # Every one forked from the pre-imported Python (a silent fall-back to cold starts would show here).
    assert [log.read_text().splitlines()[0] for log in logs] == [WARM_NOTE] * 6
    assert_tracked_in_mlflow(tmp_path / "runs", "e2e-ok", report)
    # The run is over (its endpoint server stopped): invoke restarts serve.py from the deployed model.
    invoked = CliRunner().invoke(
        app, ["invoke", "e2e-ok", "How do I sort a list?", "--out", str(tmp_path / "runs")]
    )
    assert invoked.exit_code == 0, invoked.output
    assert (
        "GET /ping" in (run_dir / "serve" / "log.txt").read_text() or (run_dir / "serve" / "model").is_dir()
    )


def assert_tracked_in_mlflow(out: Path, run_id: str, report: dict) -> None:
    """The local store under --out: one parent run for the run id with the settings and each stage's
    hyperparameters, a metric (with its stderr) per evaluated stage, the SFT loss at each logged step."""
    import mlflow

    from forge import tracking

    parents = [run for run in tracking.parent_runs(out, "forge-e2e")
               if run.data.tags["forge.run_id"] == run_id]
    assert len(parents) == 1, parents
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.params["settings.name"] == "forge-e2e"
    assert parent.data.params["settings.stages.sft.hyperparameters.logging_steps"] == "2"
    client = mlflow.MlflowClient(tracking.local_store_uri(out))
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"report.json", "report.html"}
    children = {run.info.run_name: run for run in client.search_runs(
        [parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")}
    assert set(children) == {"baseline_eval", "sft", "eval_sft", "rft", "eval_rft"}
    for stage in ("baseline_eval", "eval_sft", "eval_rft"):
        for metric in ("accuracy", "accuracy_stderr", "em", "em_stderr"):
            assert metric in children[stage].data.metrics, (stage, metric)
            assert f"{stage}.{metric}" in parent.data.metrics, (stage, metric)
        assert {"confusion_matrix.png", "response_lengths.png"} <= {
            a.path for a in client.list_artifacts(children[stage].info.run_id)}
    baseline_accuracy = report["stages"]["baseline"]["metrics"]["accuracy"]
    assert baseline_accuracy == parent.data.metrics["baseline_eval.accuracy"]
    sft = children["sft"]
    assert sft.data.params["hp.logging_steps"] == "2" and sft.data.params["hp.max_steps"] == "5"
    history = client.get_metric_history(sft.info.run_id, "loss")
    assert [point.step for point in history] == [1, 2, 4]  # logging_first_step, then every logging_steps
    for name in ("learning_rate", "grad_norm"):
        assert len(client.get_metric_history(sft.info.run_id, name)) == 3, name
    rft = children["rft"]
    assert [p.step for p in client.get_metric_history(rft.info.run_id, "reward")] == [1, 2]
    assert client.get_metric_history(rft.info.run_id, "reward_std")


def test_sft_crash_fails_the_run_with_the_scripts_message(tiny_model, tmp_path):
    # A value only the job can reject (it needs the model's layer count): a bad type or range such as
    # learning_rate="not-a-number" now fails when the settings load, before any job (issue 12).
    config = write_config(tmp_path / "bad.yaml", tiny_model, use_lora=True, lora_layers=99)
    # A separate eval file: the eval split comes from it (its 9 rows), not from the main data.
    eval_file = tmp_path / "my-eval.csv"
    eval_file.write_text(
        "".join(
            SAMPLE.read_text().splitlines(keepends=True)[:1]
            + [
                f"separate eval question {i} about sorting?,{['HQ', 'LQ_EDIT', 'LQ_CLOSE'][i % 3]}\n"
                for i in range(9)
            ]
        )
    )
    code, output = run_cli(config, tmp_path / "runs", "e2e-bad", "--eval-data", str(eval_file))
    run_dir = tmp_path / "runs" / "e2e-bad"
    report = json.loads((run_dir / "report.json").read_text())
    assert code == 1
    assert report["status"] == "FAILED"
    # The script's own error (job_hyperparameters.HyperparameterError), carried by FailureReason.
    assert "lora_layers=99 exceeds the model's" in report["failure_reason"]
    assert report["stages"]["baseline"]["metrics"]["accuracy"] is not None
    assert (run_dir / "eval" / "baseline_eval" / "results.json").is_file()
    assert report["stages"]["sft"]["training_job"]["status"] == "Failed"
    [notification] = json.loads((run_dir / "notifications.json").read_text())
    assert "lora_layers=99 exceeds the model's" in notification["message"]
    # Earlier stages' artifacts are intact: the baseline's results and the validated datasets.
    assert json.loads((run_dir / "artifacts" / "baseline_eval.json").read_text())["stage"] == "baseline_eval"
    assert (run_dir / "data" / "sft" / "sft.jsonl").is_file()
    eval_rows = (run_dir / "data" / "eval" / "eval.jsonl").read_text().splitlines()
    assert len(eval_rows) == 9 and "separate eval question" in eval_rows[0]


def test_ctrl_c_stops_the_execution_and_the_job_and_leaves_a_partial_report(tiny_model, tmp_path):
    from forge.local.runner import LocalPipeline

    config = write_config(tmp_path / "abort.yaml", tiny_model)
    pipeline = LocalPipeline(config, SAMPLE, tmp_path / "runs", run_id="e2e-abort")

    second: dict = {}

    def interrupt_once_a_job_runs(snap):
        if snap.job_status == "InProgress":
            # Issue 12: a second run with the same id, while this one runs, fails at once and touches nothing.
            started = time.monotonic()
            second["result"] = run_cli(config, tmp_path / "runs", "e2e-abort")
            second["seconds"] = time.monotonic() - started
            second["intact"] = pipeline.run_dir.is_dir() and all(
                job.root.is_dir() for job in pipeline.sagemaker.jobs.values()
            )
            raise KeyboardInterrupt

    with pipeline:
        pipeline.start()
        final = pipeline.watch(interrupt_once_a_job_runs, interval=0.1)
        result = pipeline.collect(final)
        [job] = pipeline.sagemaker.jobs.values()
        assert pipeline.sfn.describe_execution(executionArn=pipeline.execution_arn)["status"] == "ABORTED"
    assert job.status == "Stopped"
    assert job.process is None or job.process.poll() is not None
    exit_code, output = second["result"]
    assert exit_code == 1 and "already exists" in output and "--run-id" in output
    assert second["seconds"] < 10 and second["intact"]
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["status"] == "ABORTED"
    assert report["stopped_at"].startswith("BaselineEval")
    assert "BaselineEval" in (result.run_dir / "report.md").read_text()
