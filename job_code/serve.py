"""Inference server for SageMaker endpoints and local endpoints (same code).

SageMaker's container contract: ``GET /ping`` answers 200 when the model is loaded; ``POST /invocations``
takes a chat body like Nova's::

    {"messages": [{"role": "system", "content": ...}, {"role": "user", "content": ...}],
     "max_tokens": 16, "temperature": 0.0}

and answers ``{"text": <generated answer>, "label": <label parsed from it, or null>}``. A bad body gets a 400
with ``{"error": <what is wrong>}``. Labels come from ``--labels`` / env ``FORGE_LABELS`` (JSON list or
comma-separated), else ``forge_labels.json`` beside the model (written by sft/rft), else none (label null).

Model dir: ``--model-dir``, else ``SM_MODEL_DIR``, else ``/opt/ml/model`` (a model.tar.gz in it is extracted).
Port: ``--port``, else ``SAGEMAKER_BIND_TO_PORT``, else 8080. Generation is serialized by a lock: one model,
one request at a time; the threading server keeps /ping responsive while a request generates.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MAX_TOKENS_LIMIT = 1024


class InvocationError(ValueError):
    """The /invocations body is invalid; the message names the field."""


@dataclass(frozen=True)
class Invocation:
    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float


# Answer length when a request gives no max_tokens (HTTP server, inference toolkit and the CLI flag alike).
DEFAULT_MAX_TOKENS = 16


def parse_invocation(body: bytes, default_max_tokens: int) -> Invocation:
    try:
        payload = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvocationError(f"body is not valid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise InvocationError("body must be a JSON object with a 'messages' list")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvocationError("field 'messages' must be a non-empty list")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant"):
            raise InvocationError(f"messages[{index}].role must be system, user or assistant")
        content = message.get("content")
        if isinstance(content, list):  # Converse-style [{"text": ...}] content is accepted too
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        if not isinstance(content, str):
            raise InvocationError(f"messages[{index}].content must be a string")
        messages[index] = {"role": message["role"], "content": content}
    max_tokens = payload.get("max_tokens", default_max_tokens)
    valid = isinstance(max_tokens, int) and not isinstance(max_tokens, bool)
    if not valid or not 0 < max_tokens <= MAX_TOKENS_LIMIT:
        message = f"field 'max_tokens' must be an integer in 1..{MAX_TOKENS_LIMIT}, got {max_tokens!r}"
        raise InvocationError(message)
    temperature = payload.get("temperature", 0.0)
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 <= temperature <= 5:
        raise InvocationError(f"field 'temperature' must be a number in 0..5, got {temperature!r}")
    return Invocation(messages=messages, max_tokens=max_tokens, temperature=float(temperature))


class ChatModel:
    """A loaded model + tokenizer answering chat messages; thread-safe by a lock."""

    def __init__(self, model_dir: Path, labels: list[str]):
        from job_code.models import load_model_and_tokenizer

        self.model, self.tokenizer = load_model_and_tokenizer(model_dir)
        self.labels = labels
        self.lock = threading.Lock()

    def answer(self, invocation: Invocation) -> dict[str, str | None]:
        from job_code.chat import prompt_text
        from job_code.generation import generate_texts
        from job_code.labels import parse_label

        prompt = prompt_text(invocation.messages, self.tokenizer)
        with self.lock:
            text = generate_texts(
                self.model,
                self.tokenizer,
                [prompt],
                max_new_tokens=invocation.max_tokens,
                batch_size=1,
                temperature=invocation.temperature,
            )[0]
        return {"text": text, "label": parse_label(text, self.labels) if self.labels else None}


def make_handler(chat_model: ChatModel, default_max_tokens: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: HTTPStatus, payload: dict) -> None:
            body = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.rstrip("/") == "/ping":
                self._send(HTTPStatus.OK, {"status": "ok"})
            else:
                self._send(HTTPStatus.NOT_FOUND, {"error": f"no route GET {self.path}"})

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.rstrip("/") != "/invocations":
                self._send(HTTPStatus.NOT_FOUND, {"error": f"no route POST {self.path}"})
                return
            try:
                invocation = parse_invocation(body, default_max_tokens)
            except InvocationError as error:
                self._send(HTTPStatus.BAD_REQUEST, {"error": str(error)})
                return
            try:
                self._send(HTTPStatus.OK, chat_model.answer(invocation))
            except Exception as error:  # noqa: BLE001 - a failed generation is a 500 with its reason
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(error).__name__}: {error}"})

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - keep logs on stderr, short
            sys.stderr.write(f"serve: {self.address_string()} {format % args}\n")

    return Handler


def resolve_labels(cli_labels: str | None, model_dir: Path) -> list[str]:
    from job_code.chat import load_labels, parse_labels_hyperparameter

    raw = cli_labels if cli_labels is not None else os.environ.get("FORGE_LABELS", "")
    return parse_labels_hyperparameter(raw) or load_labels(model_dir)


def load_chat_model(model_dir: str | Path, labels: str | None = None) -> ChatModel:
    """The model of a directory (or a model.tar.gz in it) with its labels, ready to answer."""
    import tempfile

    from job_code.models import resolve_model_dir

    model_path = resolve_model_dir(Path(model_dir), "", Path(tempfile.mkdtemp(prefix="forge-serve-")))
    return ChatModel(model_path, resolve_labels(labels, model_path))


def build_server(
    model_dir: str | Path, *, host: str = "0.0.0.0", port: int = 8080, labels: str | None = None,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
) -> ThreadingHTTPServer:
    """Load the model and bind the server (port 0 = any free port; read it from server.server_port)."""
    chat_model = load_chat_model(model_dir, labels)
    server = ThreadingHTTPServer((host, port), make_handler(chat_model, default_max_tokens))
    server.daemon_threads = True
    return server


# -- SageMaker PyTorch inference toolkit handlers ----------------------------------------------------
# The PyTorch inference image loads code/inference.py from model.tar.gz (SAGEMAKER_PROGRAM); that shim
# re-exports these four. The toolkit passes a trailing `context` only to functions with one more
# parameter, so the signatures are exactly the toolkit's. Same body and answer as POST /invocations.
JSON_CONTENT_TYPE = "application/json"


def _toolkit_error(message: str) -> Exception:
    """A 400 inside the toolkit (its own error type carries the status); an InvocationError elsewhere."""
    try:
        from sagemaker_inference.errors import GenericInferenceToolkitError
    except ImportError:
        return InvocationError(message)
    return GenericInferenceToolkitError(HTTPStatus.BAD_REQUEST, message)


def model_fn(model_dir: str) -> ChatModel:
    from job_code.sm_contract import configure_cpu_threads

    configure_cpu_threads()
    return load_chat_model(model_dir)


def input_fn(request_body: bytes | str, request_content_type: str) -> Invocation:
    media_type = (request_content_type or JSON_CONTENT_TYPE).split(";")[0].strip().lower()
    if media_type != JSON_CONTENT_TYPE:
        raise _toolkit_error(
            f"content type {request_content_type!r} is not supported; send {JSON_CONTENT_TYPE}"
        )
    body = request_body.encode("utf-8") if isinstance(request_body, str) else bytes(request_body)
    try:
        return parse_invocation(body, DEFAULT_MAX_TOKENS)
    except InvocationError as error:
        raise _toolkit_error(str(error)) from None


def predict_fn(input_data: Invocation, model: ChatModel) -> dict[str, str | None]:
    return model.answer(input_data)


def output_fn(prediction: dict[str, str | None], accept: str) -> tuple[str, str]:
    # (body, content type): the toolkit's tuple form; the answer is JSON whatever Accept says.
    return json.dumps(prediction), JSON_CONTENT_TYPE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a chat model: GET /ping, POST /invocations")
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080")))
    parser.add_argument("--labels", default=None, help="JSON list or comma-separated; default: saved labels")
    parser.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS,
                        help="default when a request has no max_tokens")
    args = parser.parse_args(argv)
    from job_code.sm_contract import configure_cpu_threads

    configure_cpu_threads()
    server = build_server(
        args.model_dir, host=args.host, port=args.port, labels=args.labels, default_max_tokens=args.max_tokens
    )
    print(f"serving {args.model_dir} on {args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
