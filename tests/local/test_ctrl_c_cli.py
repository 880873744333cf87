"""Issue 12, point 9: Ctrl-C on ``forge run --local`` (SIGINT to the whole process group, as a terminal
sends it) ends cleanly: no traceback, no process left, the interrupted job reported ``Stopped``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.local.test_end_to_end import write_config

PROJECT_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from job_code.models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def processes_using(path: Path) -> list[int]:
    """Pids whose working directory or command line is under ``path`` (jobs run in their own sessions)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone, or not ours to read
            continue
        if cwd.startswith(str(path)) or str(path) in cmdline:
            found.append(int(entry.name))
    return found


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_ctrl_c_mid_job_prints_no_traceback_and_reports_the_job_stopped(tiny_model, tmp_path):
    config = write_config(tmp_path / "c.yaml", tiny_model)
    out = tmp_path / "runs"
    command = [sys.executable, "-m", "forge.cli", "run", "--local", "--config", str(config),
               "--out", str(out), "--run-id", "interrupted"]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        jobs = out / ".work" / "interrupted" / "jobs"
        _wait_for(lambda: any(jobs.glob("*/log.txt")), 240, "the first job to start")
        os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 1, stdout + stderr
    assert "Traceback" not in stderr and "Traceback" not in stdout, stderr
    assert "ABORTED" in stdout
    assert processes_using(tmp_path) == []
    report = json.loads((out / "interrupted" / "report.json").read_text())
    assert report["status"] == "ABORTED"
    baseline_job = report["stages"]["baseline"]["eval_job"]
    assert baseline_job["job_name"] and baseline_job["status"] == "Stopped"
    # Written by the stack's abort handler (the execution's status-change event), as on AWS.
    assert report["cleanup"]["stopped_jobs"] == [baseline_job["job_name"]]
    assert report["stopped_at"].startswith("BaselineEval") and "warning" not in stdout
