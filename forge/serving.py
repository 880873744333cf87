"""``forge invoke`` / ``forge serve``: bring a finished local run's endpoint back from its saved model."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from forge.local.endpoints import ServerProcess, default_serve_command, start_server
from pipeline_core import endpoint
from pipeline_core.settings import Settings, parse_settings
from pipeline_core.settings_task import task_labels

SERVE_STATE = "serve.json"
START_TIMEOUT_SECONDS = 300
# Signals that end `forge serve` / `forge invoke` the way Ctrl-C does: kill(1), a closed terminal.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class Answer:
    text: str
    label: str | None  # the one label the text names (job_code.core.labels.parse_label), else None

    def as_dict(self) -> dict[str, str | None]:
        return {"answer": self.text, "label": self.label}


def labelled(text: str, labels: list[str] | None) -> Answer:
    from job_code.core.labels import parse_label

    return Answer(text, parse_label(text, labels) if labels else None)


class ServingError(RuntimeError):
    """The run has no servable model, or the server did not come up; the message says which."""


def _settings(run_dir: Path) -> Settings:
    path = run_dir / "settings.json"
    if not path.is_file():
        raise ServingError(f"{run_dir} is not a local run directory (no settings.json)")
    return parse_settings(json.loads(path.read_text()), str(path))


def _endpoint_record(run_dir: Path) -> dict:
    path = run_dir / "endpoint.json"
    if not path.is_file():
        raise ServingError(
            f"run {run_dir.name} deployed no endpoint (gate rejected, deploy disabled or failed)"
        )
    return json.loads(path.read_text())


def _model_dir(run_dir: Path, record: dict) -> Path:
    """The deployed model, extracted once into <run>/serve/model (the artifact itself is kept as is)."""
    import tarfile

    target = run_dir / "serve" / "model"
    if target.is_dir() and any(target.iterdir()):
        return target
    archive = record.get("model_archive")
    if not archive:
        target.mkdir(parents=True, exist_ok=True)  # a base-model deployment: serve.py reads FORGE_BASE_MODEL
        return target
    source = run_dir / archive
    if not source.is_file():
        raise ServingError(f"the deployed model {source} is missing from the run directory")
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(source) as tar:
        tar.extractall(target, filter="data")
    return target


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """SIGTERM/SIGHUP raise KeyboardInterrupt inside the block, so its cleanup runs as on Ctrl-C.

    The server runs in its own session (it survives the terminal's Ctrl-C and our death alike): without
    this, a kill of `forge serve` left it running, several GB of model, with a stale serve.json.
    """
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    previous = {signum: signal.signal(signum, _interrupt) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop_quietly(server: ServerProcess) -> None:
    """Stop the server; a second signal meanwhile must not cut its cleanup short."""
    if threading.current_thread() is not threading.main_thread():
        server.stop()
        return
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in (*STOP_SIGNALS, signal.SIGINT)}
    try:
        server.stop()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def start(run_dir: Path) -> ServerProcess:
    record = _endpoint_record(run_dir)
    server = start_server(
        _model_dir(run_dir, record),
        run_dir / "serve" / "log.txt",
        default_serve_command,
        record.get("environment"),
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if server.ping():
                return server
            if not server.alive():
                raise ServingError(f"the model server exited: {server.log_tail()}")
            time.sleep(0.2)
        raise ServingError(f"the model server did not answer /ping within {START_TIMEOUT_SECONDS}s")
    except BaseException:  # interrupted while the model loads, or it never came up: no server left behind
        _stop_quietly(server)
        raise


def _running_url(run_dir: Path) -> str | None:
    """The URL of a ``forge serve`` of this run that is still up, if any."""
    path = run_dir / "serve" / SERVE_STATE
    if not path.is_file():
        return None
    url = json.loads(path.read_text())["url"]
    try:
        with urllib.request.urlopen(url + "/ping", timeout=2) as response:
            return url if response.status == 200 else None
    except (urllib.error.URLError, OSError):
        return None


def post_question(url: str, question: str, settings: Settings) -> str:
    body = endpoint.request_body(endpoint.question_messages(question, settings.data.system_prompt))
    request = urllib.request.Request(
        url + "/invocations", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        raise ServingError(f"the model server answered {error.code}: {error.read()[:300]!r}") from None
    try:
        return endpoint.parse_answer(raw, settings.model.family, f"{url}/invocations")
    except endpoint.EndpointAnswerError as error:
        raise ServingError(str(error)) from None


def ask_run(run_dir: Path, question: str) -> Answer:
    """Answer through a running ``forge serve`` of the run, else through a server started for this call;
    the label parsed with the run's own labels."""
    settings = _settings(run_dir)
    url = _running_url(run_dir)
    if url:
        return labelled(post_question(url, question, settings), task_labels(settings))
    with _stopped_by_signals():
        server = start(run_dir)
        try:
            return labelled(post_question(server.url, question, settings), task_labels(settings))
        finally:
            _stop_quietly(server)


def serve_forever(run_dir: Path, on_ready: Callable[[str], None]) -> None:
    """Serve until Ctrl-C, SIGTERM or SIGHUP (then stop the server and remove serve.json), or its exit."""
    _settings(run_dir)
    state = run_dir / "serve" / SERVE_STATE
    with _stopped_by_signals():
        try:
            server = start(run_dir)
        except KeyboardInterrupt:
            return
        try:
            record = {"url": server.url, "pid": os.getpid(), "server_pid": server.process.pid}
            state.write_text(json.dumps(record))
            on_ready(server.url)
            while server.alive():
                time.sleep(1)
        except KeyboardInterrupt:
            return
        finally:
            state.unlink(missing_ok=True)
            _stop_quietly(server)
    raise ServingError(f"the model server exited on its own: {server.log_tail()}")


def ask_aws(stack: str, run_id: str, question: str, fallback_labels: list[str]) -> Answer:
    """The stack's answer; labels from the run's report.json, else ``fallback_labels`` (the deploy
    config's)."""
    from forge import aws_mode

    text, labels = aws_mode.ask(stack, run_id, question)
    return labelled(text, labels or fallback_labels)
