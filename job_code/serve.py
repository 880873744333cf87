"""Inference server for SageMaker endpoints and local endpoints (same code).

SageMaker's container contract: ``GET /ping`` answers 200 when the model is loaded; ``POST /invocations``
takes a chat body like Nova's::

    {"messages": [{"role": "system", "content": ...}, {"role": "user", "content": ...}],
     "max_tokens": 16, "temperature": 0.0}

and answers ``{"text": <generated answer>, "label": <label parsed from it, or null>}``. A bad body gets a 400
with ``{"error": <what is wrong>}``. Labels come from ``--labels`` / env ``FORGE_LABELS`` (JSON list or
comma-separated), else ``forge_labels.json`` beside the model (written by sft/rft), else none (label null).

Model dir: ``--model-dir``, else ``SM_MODEL_DIR``, else ``/opt/ml/model`` (a model.tar.gz in it is extracted).
Port: ``--port``, else ``SAGEMAKER_BIND_TO_PORT``, else 8080.

Limits (job_code/core/serve_limits.py; flag, else env variable, else default) — every refusal is JSON
``{"error": ...}`` naming the limit:

- ``--max-body-bytes`` / ``FORGE_SERVE_MAX_BODY_BYTES`` (6 MiB, SageMaker's InvokeEndpoint payload limit):
  a larger Content-Length is refused with 413 before the body is read. A POST without Content-Length
  (or chunked) gets 411; a malformed one (not a non-negative integer, or two that differ) 400.
- JSON nesting deeper than 16 levels: 400, checked before parsing (no RecursionError).
- ``--max-prompt-chars`` / ``FORGE_SERVE_MAX_PROMPT_CHARS`` (20,000): characters of all messages' content
  together, checked before tokenizing: 400 naming field 'messages'.
- ``--max-prompt-tokens`` / ``FORGE_SERVE_MAX_PROMPT_TOKENS`` (2,048): tokens of the chat-templated prompt,
  and never more than the model's context (max_position_embeddings) minus the request's max_tokens: 400.
- ``--max-queue`` / ``FORGE_SERVE_MAX_QUEUE`` (4): one request generates at a time; this many more may
  wait; the next gets 503 with Retry-After.
- ``--request-timeout-seconds`` / ``FORGE_SERVE_REQUEST_TIMEOUT_SECONDS`` (55, under SageMaker's 60 s
  invocation timeout): waiting plus generating. A request whose turn does not come in time gets 503 with
  Retry-After; a generation still running at the deadline is stopped (transformers ``max_time``) and
  answered 504. Reading a request's headers or body is bounded by the same timeout.

/ping never waits for the model: the threading server answers it while a request generates.
On SageMaker's default image the inference toolkit serves HTTP and calls ``model_fn``/``input_fn``/
``predict_fn`` below; they read the same FORGE_SERVE_* variables for the body, prompt and time limits (the
toolkit's model server queues requests itself).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from job_code.core import serve_http
from job_code.core.serve_limits import (
    MAX_JSON_DEPTH,
    GenerationTimeout,
    InvocationError,
    ServeLimits,
    json_depth_error,
)

MAX_TOKENS_LIMIT = 1024


@dataclass(frozen=True)
class Invocation:
    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float


# Answer length when a request gives no max_tokens (HTTP server, inference toolkit and the CLI flag alike).
DEFAULT_MAX_TOKENS = 16


def parse_invocation(
    body: bytes, default_max_tokens: int, max_prompt_chars: int = ServeLimits.max_prompt_chars
) -> Invocation:
    too_deep = json_depth_error(body)
    if too_deep:
        raise InvocationError(too_deep)
    try:
        payload = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvocationError(f"body is not valid JSON: {error}") from None
    except RecursionError:  # the depth check above makes this unreachable; kept as the last guard
        raise InvocationError(f"body nests deeper than {MAX_JSON_DEPTH} levels of arrays/objects") from None
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
    characters = sum(len(message["content"]) for message in messages)
    if characters > max_prompt_chars:
        raise InvocationError(
            f"field 'messages' holds {characters} characters of content; the limit is {max_prompt_chars} "
            f"({ServeLimits.setting('max_prompt_chars')})"
        )
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
    """A loaded model + tokenizer answering chat messages (the server's queue runs one at a time)."""

    def __init__(
        self, model_dir: Path, labels: list[str], max_prompt_tokens: int = ServeLimits.max_prompt_tokens
    ):
        from job_code.models import load_model_and_tokenizer

        self.model, self.tokenizer = load_model_and_tokenizer(model_dir)
        self.labels = labels
        self.max_prompt_tokens = max_prompt_tokens
        self.context = getattr(self.model.config, "max_position_embeddings", None)

    def prepare(self, invocation: Invocation) -> str:
        """The chat-templated prompt; InvocationError when it has more tokens than allowed."""
        from job_code.chat import prompt_text

        prompt = prompt_text(invocation.messages, self.tokenizer)
        tokens = len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        limit, source = self.max_prompt_tokens, ServeLimits.setting("max_prompt_tokens")
        if self.context and self.context - invocation.max_tokens < limit:
            limit = self.context - invocation.max_tokens
            source = f"the model's context of {self.context} tokens minus max_tokens {invocation.max_tokens}"
        if tokens > limit:
            raise InvocationError(
                f"field 'messages' makes a prompt of {tokens} tokens; the limit is {limit} ({source})"
            )
        return prompt

    def generate(self, prompt: str, invocation: Invocation, max_seconds: float | None = None) -> dict:
        """Generate the answer; GenerationTimeout when it is still running after ``max_seconds``."""
        from job_code.core.labels import parse_label
        from job_code.generation import generate_texts

        started = time.monotonic()
        text = generate_texts(
            self.model,
            self.tokenizer,
            [prompt],
            max_new_tokens=invocation.max_tokens,
            batch_size=1,
            temperature=invocation.temperature,
            max_time=max_seconds,
        )[0]
        if max_seconds is not None and time.monotonic() - started >= max_seconds:
            raise GenerationTimeout(
                f"generation was stopped at the request timeout ({max_seconds:.1f}s were left for it; "
                f"{ServeLimits.setting('request_timeout_seconds')}); ask for fewer max_tokens or retry later"
            )
        return {"text": text, "label": parse_label(text, self.labels) if self.labels else None}

    def answer(self, invocation: Invocation, max_seconds: float | None = None) -> dict[str, str | None]:
        return self.generate(self.prepare(invocation), invocation, max_seconds)


def make_handler(
    chat_model: ChatModel, default_max_tokens: int, limits: ServeLimits | None = None
) -> type[BaseHTTPRequestHandler]:
    """The request handler; ``chat_model`` is anything with ChatModel's prepare/generate."""
    limits = limits or ServeLimits()
    return serve_http.make_handler(
        chat_model, lambda body: parse_invocation(body, default_max_tokens, limits.max_prompt_chars), limits
    )


def resolve_labels(cli_labels: str | None, model_dir: Path) -> list[str]:
    from job_code.chat import load_labels, parse_labels_hyperparameter

    raw = cli_labels if cli_labels is not None else os.environ.get("FORGE_LABELS", "")
    return parse_labels_hyperparameter(raw) or load_labels(model_dir)


def load_chat_model(
    model_dir: str | Path, labels: str | None = None, max_prompt_tokens: int = ServeLimits.max_prompt_tokens
) -> ChatModel:
    """The model of a directory (or a model.tar.gz in it) with its labels, ready to answer."""
    import tempfile

    from job_code.models import resolve_model_dir

    model_path = resolve_model_dir(Path(model_dir), "", Path(tempfile.mkdtemp(prefix="forge-serve-")))
    return ChatModel(model_path, resolve_labels(labels, model_path), max_prompt_tokens)


def build_server(
    model_dir: str | Path, *, host: str = "0.0.0.0", port: int = 8080, labels: str | None = None,
    default_max_tokens: int = DEFAULT_MAX_TOKENS, limits: ServeLimits | None = None,
) -> ThreadingHTTPServer:
    """Load the model and bind the server (port 0 = any free port; read it from server.server_port)."""
    limits = limits or ServeLimits()
    chat_model = load_chat_model(model_dir, labels, limits.max_prompt_tokens)
    server = ThreadingHTTPServer((host, port), make_handler(chat_model, default_max_tokens, limits))
    server.daemon_threads = True
    return server


# -- SageMaker PyTorch inference toolkit handlers ----------------------------------------------------
# The PyTorch inference image loads code/inference.py from model.tar.gz (SAGEMAKER_PROGRAM); that shim
# re-exports these four. The toolkit passes a trailing `context` only to functions with one more
# parameter, so the signatures are exactly the toolkit's. Same body, answer and FORGE_SERVE_* limits as
# POST /invocations (the toolkit's model server does the queueing).
JSON_CONTENT_TYPE = "application/json"


def _toolkit_error(message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> Exception:
    """An error inside the toolkit (its own error type carries the status); an InvocationError elsewhere."""
    try:
        from sagemaker_inference.errors import GenericInferenceToolkitError
    except ImportError:
        return InvocationError(message) if status == HTTPStatus.BAD_REQUEST else GenerationTimeout(message)
    return GenericInferenceToolkitError(status, message)


def model_fn(model_dir: str) -> ChatModel:
    from job_code.sm_contract import configure_cpu_threads

    configure_cpu_threads()
    return load_chat_model(model_dir, max_prompt_tokens=ServeLimits.from_env(os.environ).max_prompt_tokens)


def input_fn(request_body: bytes | str, request_content_type: str) -> Invocation:
    media_type = (request_content_type or JSON_CONTENT_TYPE).split(";")[0].strip().lower()
    if media_type != JSON_CONTENT_TYPE:
        raise _toolkit_error(
            f"content type {request_content_type!r} is not supported; send {JSON_CONTENT_TYPE}"
        )
    body = request_body.encode("utf-8") if isinstance(request_body, str) else bytes(request_body)
    limits = ServeLimits.from_env(os.environ)
    if len(body) > limits.max_body_bytes:
        raise _toolkit_error(
            f"body is {len(body)} bytes; the limit is {limits.max_body_bytes} bytes "
            f"({ServeLimits.setting('max_body_bytes')})",
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        )
    try:
        return parse_invocation(body, DEFAULT_MAX_TOKENS, limits.max_prompt_chars)
    except InvocationError as error:
        raise _toolkit_error(str(error)) from None


def predict_fn(input_data: Invocation, model: ChatModel) -> dict[str, str | None]:
    try:
        return model.answer(input_data, ServeLimits.from_env(os.environ).request_timeout_seconds)
    except InvocationError as error:  # the prompt's token count
        raise _toolkit_error(str(error)) from None
    except GenerationTimeout as error:
        raise _toolkit_error(str(error), HTTPStatus.GATEWAY_TIMEOUT) from None


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
    defaults = ServeLimits()
    for name in ServeLimits.names():
        parser.add_argument(f"--{name.replace('_', '-')}", type=ServeLimits.number_type(name), default=None,
                            help=f"else env {ServeLimits.variable(name)}, else {getattr(defaults, name)}")
    args = parser.parse_args(argv)
    try:
        flags = {name: getattr(args, name) for name in ServeLimits.names()}
        limits = ServeLimits.from_env(os.environ, **flags)
    except ValueError as error:
        parser.error(str(error))
    from job_code.sm_contract import configure_cpu_threads

    configure_cpu_threads()
    server = build_server(
        args.model_dir, host=args.host, port=args.port, labels=args.labels,
        default_max_tokens=args.max_tokens, limits=limits,
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
