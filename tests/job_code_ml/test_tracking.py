"""job_code/tracking.py against a real local MLflow store (SQLite in tmp_path), no mocks."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from job_code import tracking
from pipeline_core.tracking import ENV_EXPERIMENT, ENV_RUN_ID, ENV_STAGE, ENV_TRACKING_URI

mlflow = pytest.importorskip("mlflow")


def store(tmp_path: Path) -> str:
    (tmp_path / "mlflow").mkdir(exist_ok=True)
    return f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"


def target(uri: str, stage: str, run_id: str = "run-1") -> tracking.Target:
    return tracking.Target(uri=uri, experiment="forge-test", run_id=run_id, stage=stage)


def test_no_tracking_env_is_a_no_op_that_never_imports_mlflow():
    code = (
        "import sys\n"
        "from job_code import tracking\n"
        "with tracking.stage_run({'a': 1}, env={}) as run:\n"
        "    assert run is None and tracking.report_to() == 'none'\n"
        "assert 'mlflow' not in sys.modules, 'mlflow imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({ENV_TRACKING_URI: "sqlite:///x.db"}, None),  # no run id: not a pipeline job
        ({ENV_TRACKING_URI: "sqlite:///x.db", ENV_RUN_ID: "r", "RANK": "1"}, None),  # only rank 0 logs
        (
            {ENV_TRACKING_URI: "sqlite:///x.db", ENV_RUN_ID: "r", ENV_EXPERIMENT: "e", ENV_STAGE: "sft"},
            tracking.Target("sqlite:///x.db", "e", "r", "sft"),
        ),
    ],
)
def test_target_from_env(env, expected):
    assert tracking.Target.from_env(env) == expected


def test_flat_params_and_numeric_metrics_are_pure():
    assert tracking.flat_params({"a": {"b": 1, "c": [1, 2]}, "d": True}, "s.") == {
        "s.a.b": "1", "s.a.c": "[1, 2]", "s.d": "True"
    }
    assert len(tracking.flat_params({"long": "x" * 7000})["long"]) == tracking.MAX_PARAM_CHARS
    metrics = tracking.numeric_metrics({"em": 0.5, "ok": True, "nan": math.nan, "per": {"HQ": {"f1": 1}},
                                        "text": "a"})
    assert metrics == {"em": 0.5, "per.HQ.f1": 1.0}


def test_sqlite_stores_keep_artifacts_beside_the_database(tmp_path):
    uri = store(tmp_path)
    assert tracking.default_artifact_location(uri) == (tmp_path / "mlflow" / "artifacts").as_uri()
    assert tracking.default_artifact_location("http://localhost:5000") is None
    assert tracking.default_artifact_location("arn:aws:sagemaker:us-east-1:123456789012:mlflow-app/a") is None


def test_stages_of_one_run_nest_under_one_parent_with_their_params_metrics_and_artifacts(tmp_path):
    uri = store(tmp_path)
    plot = tmp_path / "confusion_matrix.png"
    plot.write_bytes(b"\x89PNG fake")
    hyper = {"max_new_tokens": 4, "labels": '["HQ"]'}
    with tracking.stage_run(hyper, target=target(uri, "baseline_eval")) as run:
        assert tracking.report_to() == "mlflow" and tracking.active() is run
        run.log_metrics({"accuracy": 0.25, "accuracy_stderr": 0.1})
        assert run.log_artifacts([plot, tmp_path / "missing.png"]) == ["confusion_matrix.png"]
    assert tracking.report_to() == "none"
    with tracking.stage_run({"learning_rate": 0.001}, target=target(uri, "sft")) as second:
        pass
    with tracking.stage_run({}, target=target(uri, "sft", run_id="run-2")):
        pass

    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("forge-test")
    assert experiment.artifact_location == (tmp_path / "mlflow" / "artifacts").as_uri()
    parents = client.search_runs([experiment.experiment_id], "tags.`forge.level` = 'pipeline'")
    assert sorted(p.data.tags["forge.run_id"] for p in parents) == ["run-1", "run-2"]
    parent = next(p for p in parents if p.data.tags["forge.run_id"] == "run-1")
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics == {"baseline_eval.accuracy": 0.25, "baseline_eval.accuracy_stderr": 0.1}
    children = client.search_runs([experiment.experiment_id],
                                  f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert sorted(c.info.run_name for c in children) == ["baseline_eval", "sft"]
    baseline = next(c for c in children if c.info.run_name == "baseline_eval")
    assert baseline.data.params == {"hp.max_new_tokens": "4", "hp.labels": '["HQ"]'}
    assert baseline.data.metrics["accuracy_stderr"] == 0.1
    assert [a.path for a in client.list_artifacts(baseline.info.run_id)] == ["confusion_matrix.png"]
    assert client.get_run(second.run_id).data.params == {"hp.learning_rate": "0.001"}


def test_a_failing_stage_fails_its_run_and_the_parent(tmp_path):
    uri = store(tmp_path)
    with pytest.raises(RuntimeError, match="boom"), tracking.stage_run({}, target=target(uri, "rft")) as run:
        raise RuntimeError("boom")
    client = mlflow.MlflowClient(uri)
    assert client.get_run(run.run_id).info.status == "FAILED"
    assert client.get_run(run.parent_id).info.status == "FAILED"
    assert tracking.report_to() == "none"


def test_the_job_that_opens_the_parent_run_logs_the_channels_settings(tmp_path, monkeypatch):
    """On AWS only the jobs have MLflow: the parent run's settings params come from the code channel's
    settings.json (stacks/bundle.py writes it); a second stage finds the parent and logs nothing again."""
    from pipeline_core.settings import load_settings

    settings = load_settings(Path(__file__).resolve().parents[2] / "config" / "open-weights.yaml")
    channel = tmp_path / "settings.json"
    channel.write_text(settings.to_json(), encoding="utf-8")
    monkeypatch.setattr(tracking, "CHANNEL_SETTINGS", channel)
    uri = store(tmp_path)
    with tracking.stage_run({}, target=target(uri, "baseline_eval")):
        pass
    with tracking.stage_run({}, target=target(uri, "sft")):
        pass
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("forge-test")
    (parent,) = client.search_runs([experiment.experiment_id], "tags.`forge.level` = 'pipeline'")
    params = parent.data.params
    assert params["settings.model.base_model"] == settings.model.base_model
    assert params["settings.stages.sft.instance_type"] == settings.stages.sft.instance_type
    assert len(params) == len(tracking.flat_params(settings.model_dump(mode="json"), "settings."))
