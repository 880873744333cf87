"""forge/tracking.py: local mode's store under --out, the parent run's final logging, and `forge ui`, which
really serves the store (a real `mlflow ui` process answering over HTTP)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forge import tracking
from forge.cli import app
from job_code import tracking as job_tracking
from pipeline_core.settings import load_settings

mlflow = pytest.importorskip("mlflow")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOCAL_CONFIG = PROJECT_ROOT / "config" / "local-demo.yaml"


def test_local_mode_fills_in_its_store_only_when_tracking_points_nowhere(tmp_path):
    settings = load_settings(LOCAL_CONFIG)
    filled = tracking.with_local_store(settings, tmp_path / "runs")
    assert filled.tracking.uri == f"sqlite:///{(tmp_path / 'runs' / 'mlflow' / 'mlflow.db').resolve()}"
    assert (tmp_path / "runs" / "mlflow").is_dir()
    off = settings.model_copy(update={"tracking": settings.tracking.model_copy(update={"enabled": False})})
    assert tracking.with_local_store(off, tmp_path / "runs").tracking.uri is None
    own = settings.model_copy(
        update={"tracking": settings.tracking.model_copy(update={"mlflow_uri": "http://127.0.0.1:5000"})}
    )
    assert tracking.with_local_store(own, tmp_path / "runs").tracking.uri == "http://127.0.0.1:5000"
    # What the stack is synthesized from: the user's file when nothing changed, else the filled settings.
    assert tracking.synth_config(settings, LOCAL_CONFIG, tmp_path) == LOCAL_CONFIG
    written = tracking.synth_config(filled, LOCAL_CONFIG, tmp_path)
    assert load_settings(written) == filled


def test_log_run_records_settings_report_and_status_on_the_parent_run(tmp_path):
    out = tmp_path / "runs"
    settings = tracking.with_local_store(load_settings(LOCAL_CONFIG), out)
    env = {"MLFLOW_TRACKING_URI": settings.tracking.uri, "MLFLOW_EXPERIMENT_NAME": settings.experiment_name,
           "FORGE_RUN_ID": "r1", "FORGE_STAGE": "baseline_eval"}
    with job_tracking.stage_run({"batch_size": 16}, env=env) as stage:
        stage.log_metrics({"accuracy": 0.5})
    run_dir = out / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "report.json").write_text(json.dumps({"status": "FAILED"}))
    parent_id = tracking.log_run(settings, "r1", run_dir, "FAILED")
    assert parent_id == stage.parent_id  # found by its forge.run_id tag, not created again
    (parent,) = tracking.parent_runs(out, settings.experiment_name)
    assert parent.info.status == "FAILED"
    assert parent.data.params["settings.name"] == settings.name
    assert parent.data.params["settings.data.labels"] == str(settings.data.labels)
    assert parent.data.metrics == {"baseline_eval.accuracy": 0.5}
    client = mlflow.MlflowClient(settings.tracking.uri)
    assert [a.path for a in client.list_artifacts(parent_id)] == ["report.json"]


def test_nothing_is_logged_when_tracking_is_off(tmp_path):
    settings = load_settings(LOCAL_CONFIG)
    off = settings.model_copy(update={"tracking": settings.tracking.model_copy(update={"enabled": False})})
    assert tracking.log_run(off, "r1", tmp_path, "SUCCEEDED") is None
    assert tracking.parent_runs(tmp_path) == []


def test_ui_without_a_store_says_what_to_do(tmp_path):
    result = CliRunner().invoke(app, ["ui", "--out", str(tmp_path / "nowhere")])
    assert result.exit_code != 0
    assert "no MLflow store" in result.output and "forge run --local" in result.output
    assert "Traceback" not in result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_ui_command_serves_the_local_store(tmp_path):
    out = tmp_path / "runs"
    settings = tracking.with_local_store(load_settings(LOCAL_CONFIG), out)
    target = job_tracking.Target(settings.tracking.uri, "forge-ui", "r9", "sft")
    with job_tracking.stage_run({}, target=target):
        pass
    port = _free_port()
    process = subprocess.Popen(tracking.ui_command(out, port), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        body, deadline = None, time.monotonic() + 150
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=forge-ui")
        while body is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    body = json.loads(response.read())
            except OSError:
                assert process.poll() is None, "mlflow ui exited"
                time.sleep(0.5)
        assert body is not None, "mlflow ui did not answer within 150 s"
        assert body["experiment"]["name"] == "forge-ui"
    finally:  # mlflow ui runs its server in child processes: stop the whole group
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
