"""`forge serve` stopped by SIGTERM or Ctrl-C (SIGINT) takes its model server down and removes serve.json."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline_core.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
PID_SERVER = Path(__file__).with_name("fixtures") / "pid_server.py"
# `forge serve` as the CLI runs it, with the model server swapped for a stand-in (no torch to import).
LAUNCH = """
import sys
import forge.serving as serving
serving.default_serve_command = lambda model_dir, port: [
    sys.executable, {server!r}, str(model_dir), str(port)
]
from forge.cli import app
app(["serve", "run-1", "--out", {out!r}])
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def wait_for(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def prepare_run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "runs" / "run-1"
    model_dir = run_dir / "serve" / "model"
    model_dir.mkdir(parents=True)
    (model_dir / "weights.txt").write_text("w")
    settings = load_settings(ROOT / "config" / "local.yaml")
    (run_dir / "settings.json").write_text(settings.model_dump_json())
    (run_dir / "endpoint.json").write_text(json.dumps({"endpoint_name": "e"}))
    return run_dir


@contextlib.contextmanager
def reaped(forge: subprocess.Popen) -> Iterator[dict]:
    """Whatever the test asserts, kill `forge serve` and the server whose pid it records in the dict."""
    server: dict = {}
    try:
        yield server
    finally:
        if forge.poll() is None:
            forge.kill()
            forge.wait()
        if server.get("pid") and alive(server["pid"]):
            os.kill(server["pid"], signal.SIGKILL)


def forge_serve(tmp_path: Path, **env: str) -> subprocess.Popen:
    script = LAUNCH.format(server=str(PID_SERVER), out=str(tmp_path / "runs"))
    return subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT), **env})


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signalled_forge_serve_leaves_no_server_and_no_state(tmp_path, signum):
    run_dir = prepare_run(tmp_path)
    model_dir, state = run_dir / "serve" / "model", run_dir / "serve" / "serve.json"
    forge = forge_serve(tmp_path)
    with reaped(forge) as server:
        assert wait_for(state.is_file, 60), forge.stdout.read1().decode() if forge.poll() is not None else ""
        server_pid = server["pid"] = int((model_dir / "server.pid").read_text())
        assert alive(server_pid)
        forge.send_signal(signum)
        forge.wait(timeout=30)
        assert wait_for(lambda: not alive(server_pid), 10), "the model server outlived forge serve"
        assert not state.exists(), "serve.json outlived forge serve"


def test_a_forge_serve_killed_while_the_model_loads_leaves_no_server(tmp_path):
    run_dir = prepare_run(tmp_path)
    pid_file = run_dir / "serve" / "model" / "server.pid"
    forge = forge_serve(tmp_path, PID_SERVER_LOAD_SECONDS="60")
    with reaped(forge) as server:
        assert wait_for(pid_file.is_file, 60)
        server_pid = server["pid"] = int(pid_file.read_text())
        forge.terminate()
        forge.wait(timeout=30)
        assert wait_for(lambda: not alive(server_pid), 10), "the loading model server outlived forge serve"
        assert not (run_dir / "serve" / "serve.json").exists()
