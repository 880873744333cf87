"""How local mode starts job and model-server processes: cold (``subprocess.Popen``) or pre-warmed.

Every job imports torch, transformers, TRL and PEFT before its first line of real work: 7-9 s on 2 cores,
paid by each of a run's five jobs and its endpoint. ``WarmLauncher`` pays it once: a server process
(warm_python_server.py) imports the stack while the stack is being synthesized, then forks one child per
job that runs the same entry script, with the same argv, cwd, environment and log as the cold path.

A fork only stands in for a fresh ``python`` when nothing read at import time differs, so a request goes
the cold way whenever its environment differs from the server's in anything but the per-job variables
(``SM_*``, ``SAGEMAKER_*``, ``FORGE_*``, the job name, PYTHONPATH, which the job code reads at run time),
when it asks for another interpreter, or when the server is gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

SERVER_SCRIPT = Path(__file__).with_name("warm_python_server.py")
# What the job scripts import (transformers and trl load lazily: name the classes to import them now).
ML_STACK = (
    "torch",
    "transformers:AutoModelForCausalLM,AutoTokenizer,LlamaForCausalLM,DynamicCache",
    "peft:LoraConfig,get_peft_model,PeftModel",
    "trl:SFTConfig,SFTTrainer,GRPOConfig,GRPOTrainer",
    "datasets:Dataset",
    "matplotlib",
    "mlflow",  # job_code/tracking.py: about 2.5 s of each tracked job's start-up otherwise
)
RUNTIME_ENV_PREFIXES = ("SM_", "SAGEMAKER_", "FORGE_")
# MLFLOW_*: the tracking request's Environment; job_code/tracking.py and the trainers read them at run time.
RUNTIME_ENV_KEYS = frozenset({"TRAINING_JOB_NAME", "PYTHONPATH", "PYTHONUNBUFFERED", "MLFLOW_TRACKING_URI",
                              "MLFLOW_EXPERIMENT_NAME"})
READY_TIMEOUT_SECONDS = 180.0
# The first line of a job's log says how it was started (the platform lines of a SageMaker log, in short).
WARM_NOTE = "forge local runtime: forked from the warm Python (ML stack already imported)"
COLD_NOTE = "forge local runtime: started a fresh Python"


class Process(Protocol):
    """The part of ``subprocess.Popen`` the local runtime uses."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def terminate(self) -> None: ...
    def kill(self) -> None: ...


class Launcher(Protocol):
    def __call__(
        self, argv: Sequence[str], *, cwd: Path | str, env: Mapping[str, str], log_path: Path
    ) -> Process: ...


def cold_launch(argv: Sequence[str], *, cwd: Path | str, env: Mapping[str, str], log_path: Path) -> Process:
    """A fresh interpreter in its own session, stdout+stderr appended to ``log_path``."""
    with log_path.open("ab") as log:
        return subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _note(log_path: Path, line: str) -> None:
    with log_path.open("a", encoding="utf-8") as log:
        log.write(line + "\n")


def runtime_only(key: str) -> bool:
    return key in RUNTIME_ENV_KEYS or key.startswith(RUNTIME_ENV_PREFIXES)


def import_time_difference(job_env: Mapping[str, str], server_env: Mapping[str, str]) -> list[str]:
    """Variables (other than the per-job ones) set differently for the job than for the server."""
    keys = {k for k in (*job_env, *server_env) if not runtime_only(k)}
    return sorted(k for k in keys if job_env.get(k) != server_env.get(k))


class WarmProcess:
    """A child of the warm server, driven like a Popen (its exit status comes from the server)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        self._done = threading.Event()

    def _finish(self, code: int) -> None:
        self.returncode = code
        self._done.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(f"warm child {self.pid}", timeout)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class WarmLauncher:
    """Starts the warm server at once (it imports in the background); ``__call__`` launches a process."""

    def __init__(self, python: str = sys.executable, env: Mapping[str, str] | None = None,
                 modules: Sequence[str] = ML_STACK, log_path: Path | None = None):
        self.python = python
        self.env = dict(os.environ if env is None else env)
        self.ready_info: dict | None = None
        self.cold_reasons: list[str] = []  # why requests went the cold way (shown in tests and debugging)
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._next_id = 0
        self._replies: dict[int, WarmProcess] = {}  # request id -> the child forked for it
        self._reply_ready = threading.Condition(self._lock)
        self._children: dict[int, WarmProcess] = {}  # pid -> child
        stderr = log_path.open("ab") if log_path else subprocess.DEVNULL
        try:
            self._server = subprocess.Popen(
                [python, str(SERVER_SCRIPT), *modules], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=stderr, env=self.env, start_new_session=True,
            )
        finally:
            if log_path:
                stderr.close()
        threading.Thread(target=self._read_replies, name="warm-python-replies", daemon=True).start()

    # -- replies from the server ------------------------------------------------------------------
    def _read_replies(self) -> None:
        assert self._server.stdout is not None
        for line in self._server.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not a reply (the server sends nothing else on this pipe; be safe anyway)
            with self._lock:
                if "ready" in message:
                    self.ready_info = message
                    self._ready.set()
                elif "exit" in message:
                    # The server sends a child's pid reply before it can reap that child: it is known here.
                    self._children[message["pid"]]._finish(message["exit"])
                else:
                    child = self._children[message["pid"]] = WarmProcess(message["pid"])
                    self._replies[message["id"]] = child
                    self._reply_ready.notify_all()
        with self._lock:  # the server is gone: no more exit statuses will come
            self._ready.set()
            for child in self._children.values():
                if child.returncode is None:
                    child._finish(-signal.SIGKILL)
            self._reply_ready.notify_all()

    # -- launching --------------------------------------------------------------------------------
    def alive(self) -> bool:
        return self._server.poll() is None

    def warm_for(self, argv: Sequence[str], env: Mapping[str, str]) -> str | None:
        """None if the warm server can run this request, else why it cannot."""
        if not argv or os.path.realpath(argv[0]) != os.path.realpath(self.python):
            return f"interpreter {argv[0] if argv else None!r} is not the warm one ({self.python})"
        differences = import_time_difference(env, self.env)
        if differences:
            return f"environment differs in {', '.join(differences)}"
        if not self._ready.wait(READY_TIMEOUT_SECONDS) or not self.alive():
            return "the warm server is not running"
        return None

    def __call__(
        self, argv: Sequence[str], *, cwd: Path | str, env: Mapping[str, str], log_path: Path
    ) -> Process:
        reason = self.warm_for(argv, env)
        if reason is not None:
            return self._cold(reason, argv, cwd, env, log_path)
        _note(log_path, WARM_NOTE)
        request = {"argv": list(argv), "env": dict(env), "cwd": str(cwd), "log": str(log_path)}
        with self._lock:
            self._next_id += 1
            request["id"] = request_id = self._next_id
            assert self._server.stdin is not None
            try:
                self._server.stdin.write((json.dumps(request) + "\n").encode())
                self._server.stdin.flush()
            except (BrokenPipeError, OSError):
                return self._cold("the warm server stopped reading", argv, cwd, env, log_path)
            deadline = time.monotonic() + 30
            while request_id not in self._replies and self.alive() and time.monotonic() < deadline:
                self._reply_ready.wait(0.5)
            child = self._replies.pop(request_id, None)
            if child is None:
                return self._cold("the warm server did not fork", argv, cwd, env, log_path)
        return child

    def _cold(self, reason: str, argv: Sequence[str], cwd: Path | str, env: Mapping[str, str],
              log_path: Path) -> Process:
        self.cold_reasons.append(reason)
        _note(log_path, f"{COLD_NOTE}: {reason}")
        return cold_launch(argv, cwd=cwd, env=env, log_path=log_path)

    def close(self) -> None:
        """End the server (children keep running until their owners stop them, as cold ones do)."""
        if self._server.stdin and not self._server.stdin.closed:
            try:
                self._server.stdin.close()
            except OSError:
                pass
        try:
            self._server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._server.kill()
            self._server.wait()
