"""forge.local.launcher: a warm child must be indistinguishable from a fresh `python script.py` to the job."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

from forge.local.launcher import COLD_NOTE, WARM_NOTE, WarmLauncher, cold_launch, import_time_difference
from forge.local.training import _terminate_group

PROBE = """
import json, os, sys
print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "name": __name__, "job": os.environ.get("SM_JOB"),
                  "path": sys.path[:2], "stdin": sys.stdin.read()}))
raise SystemExit(int(os.environ.get("SM_EXIT", "0")))
"""


def base_env() -> dict[str, str]:
    """What the server and the jobs start from (pytest sets PYTEST_CURRENT_TEST anew for every test)."""
    return {key: value for key, value in os.environ.items() if key != "PYTEST_CURRENT_TEST"}


@pytest.fixture(scope="module")
def warm():
    launcher = WarmLauncher(sys.executable, base_env(), modules=("json",))
    yield launcher
    launcher.close()


def _script(tmp_path, text, name="probe.py"):
    path = tmp_path / "code" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _run(launcher, tmp_path, script, log_name, **env):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    log = tmp_path / log_name
    job_env = {**base_env(), "PYTHONPATH": str(tmp_path / "extra"), "PYTHONUNBUFFERED": "1", **env}
    process = launcher([sys.executable, str(script), "--lr", "0.1"], cwd=work, env=job_env, log_path=log)
    return process, process.wait(timeout=60), log


def test_a_warm_child_sees_what_a_fresh_interpreter_sees(warm, tmp_path):
    script = _script(tmp_path, PROBE)
    seen = {}
    for name, launcher in (("cold", cold_launch), ("warm", warm)):
        _, code, log = _run(launcher, tmp_path, script, f"{name}.log", SM_JOB=name, SM_EXIT="3")
        assert code == 3
        seen[name] = json.loads(log.read_text().splitlines()[-1])
    assert warm.cold_reasons == []
    assert (tmp_path / "warm.log").read_text().startswith(WARM_NOTE + "\n")
    for report in seen.values():
        assert report["argv"] == [str(script), "--lr", "0.1"]
        assert report["cwd"] == str(tmp_path / "work")
        assert report["name"] == "__main__"
        assert report["path"] == [str(script.parent), str(tmp_path / "extra")]  # not the server's own dir
        assert report["stdin"] == ""
    assert (seen["cold"]["job"], seen["warm"]["job"]) == ("cold", "warm")  # per-job variables reach the child


@pytest.mark.parametrize(
    "body, code, expected_in_log",
    [
        ("raise ValueError('bad channel')", 1, "ValueError: bad channel"),
        ("raise SystemExit('a reason')", 1, "a reason"),
        ("import os, signal\nprint('written before', flush=False)\nos.kill(os.getpid(), signal.SIGKILL)",
         -signal.SIGKILL, "written before"),
        ("pass", 0, ""),
    ],
)
def test_exit_statuses_and_output_match_the_cold_path(warm, tmp_path, body, code, expected_in_log):
    script = _script(tmp_path, body)
    for name, launcher in (("cold", cold_launch), ("warm", warm)):
        _, exit_code, log = _run(launcher, tmp_path, script, f"{name}.log")
        assert exit_code == code, (name, log.read_text())
        assert expected_in_log in log.read_text(), name


def test_stopping_a_warm_child_terminates_its_process_group(warm, tmp_path):
    script = _script(tmp_path, "import time\nprint('up', flush=True)\ntime.sleep(60)")
    work = tmp_path / "work"
    work.mkdir()
    log = tmp_path / "sleep.log"
    process = warm([sys.executable, str(script)], cwd=work, env=base_env(), log_path=log)
    deadline = time.monotonic() + 30
    while "up" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None
    assert os.getpgid(process.pid) == process.pid  # its own session, as start_new_session gives
    _terminate_group(process)
    assert process.returncode == -signal.SIGTERM


def test_requests_that_a_fork_cannot_stand_in_for_go_the_cold_way(warm, tmp_path):
    script = _script(tmp_path, PROBE)
    _, code, _ = _run(warm, tmp_path, script, "omp.log", OMP_NUM_THREADS="7")
    assert code == 0
    assert warm.cold_reasons[-1] == "environment differs in OMP_NUM_THREADS"
    other_python = tmp_path / "python3"
    other_python.symlink_to("/bin/true")
    process = warm([str(other_python), str(script)], cwd=tmp_path, env=base_env(),
                   log_path=tmp_path / "x.log")
    assert process.wait(30) == 0
    assert "is not the warm one" in warm.cold_reasons[-1]


def test_a_dead_server_falls_back_to_cold_processes(tmp_path):
    launcher = WarmLauncher(sys.executable, base_env(), modules=())
    launcher.close()
    script = _script(tmp_path, PROBE)
    _, code, log = _run(launcher, tmp_path, script, "after.log", SM_JOB="late")
    note, output = log.read_text().splitlines()
    assert note == f"{COLD_NOTE}: the warm server is not running"
    assert code == 0 and json.loads(output)["job"] == "late"
    assert launcher.cold_reasons == ["the warm server is not running"]


@pytest.mark.parametrize(
    "job_env, server_env, expected",
    [
        ({"A": "1", "SM_MODEL_DIR": "/m", "TRAINING_JOB_NAME": "j"}, {"A": "1"}, []),
        ({"A": "1", "FORGE_LABELS": "[]", "PYTHONPATH": "/code"}, {"A": "1", "PYTHONPATH": "/x"}, []),
        ({"A": "2"}, {"A": "1"}, ["A"]),
        ({}, {"HF_HUB_OFFLINE": "1"}, ["HF_HUB_OFFLINE"]),
        ({"OMP_NUM_THREADS": "1", "B": "x"}, {"B": "x"}, ["OMP_NUM_THREADS"]),
    ],
)
def test_import_time_difference(job_env, server_env, expected):
    assert import_time_difference(job_env, server_env) == expected


def test_a_module_that_prints_while_the_server_imports_it_does_not_break_the_protocol(tmp_path):
    noisy = tmp_path / "noisy_module.py"
    noisy.write_text("print('hello from an import')\n")
    env = {**base_env(), "PYTHONPATH": str(tmp_path)}
    launcher = WarmLauncher(sys.executable, env, modules=("noisy_module",))
    try:
        script = _script(tmp_path, "print('job ran')")
        log = tmp_path / "job.log"
        process = launcher([sys.executable, str(script)], cwd=tmp_path, env=env, log_path=log)
        assert process.wait(timeout=60) == 0
        assert launcher.cold_reasons == [] and launcher.ready_info["failed"] == {}
        assert log.read_text().splitlines() == [WARM_NOTE, "job ran"]
    finally:
        launcher.close()
