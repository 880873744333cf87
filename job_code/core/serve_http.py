"""serve.py's HTTP layer: SageMaker's container contract (GET /ping, POST /invocations) with the limits
of job_code/core/serve_limits.py enforced on the way in; no torch here, the model comes in as an object."""

from __future__ import annotations

import json
import re
import socket
import sys
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from job_code.core.serve_limits import GenerationQueue, InvocationError, LimitError, ServeLimits

_DIGITS = re.compile(r"[0-9]+")
# What a refused request may still send (read and dropped) before the connection closes.
DRAIN_BYTES = 1024 * 1024


def make_handler(
    model: Any, parse: Callable[[bytes], Any], limits: ServeLimits
) -> type[BaseHTTPRequestHandler]:
    """The handler class: ``parse`` turns a body into an invocation (or raises InvocationError); ``model``
    has ``prepare(invocation) -> prompt`` (InvocationError when too long) and
    ``generate(prompt, invocation, max_seconds) -> answer`` (GenerationTimeout when it overruns)."""
    queue = GenerationQueue(limits)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = limits.request_timeout_seconds  # a client that stalls mid-request cannot hold a thread

        def _send(self, status: HTTPStatus, payload: dict, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)  # Connection: close also sets self.close_connection
            try:
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # e.g. its own timeout ran out first
                self.close_connection = True
                self.log_message("client hung up before the answer (%s)", int(status))

        def _refuse_unread(self, status: HTTPStatus, message: str) -> None:
            """Answer without reading the body, then close: its framing is unknown or it is unwanted."""
            self._send(status, {"error": message}, {"Connection": "close"})
            # Closing with unread bytes would reset the connection and could destroy the answer at the
            # client: send FIN first, then discard a bounded amount of what the client still sends.
            try:
                self.connection.shutdown(socket.SHUT_WR)
                self.connection.settimeout(1.0)
                deadline, received = time.monotonic() + 2.0, 0
                while received < DRAIN_BYTES and time.monotonic() < deadline:
                    chunk = self.connection.recv(65536)
                    if not chunk:
                        break
                    received += len(chunk)
            except OSError:
                pass

        def _content_length(self) -> int | None:
            """The body's length, or None once the request has been refused."""
            if self.headers.get("Transfer-Encoding"):
                self._refuse_unread(
                    HTTPStatus.LENGTH_REQUIRED,
                    "chunked (Transfer-Encoding) bodies are not supported; send a Content-Length header",
                )
                return None
            values = {value.strip() for value in self.headers.get_all("Content-Length") or []}
            if not values:
                self._refuse_unread(HTTPStatus.LENGTH_REQUIRED, "a POST needs a Content-Length header")
                return None
            if len(values) != 1 or not _DIGITS.fullmatch(next(iter(values))):
                got = ", ".join(sorted(values))
                message = f"header Content-Length must be one non-negative integer, got {got!r}"
                self._refuse_unread(HTTPStatus.BAD_REQUEST, message)
                return None
            length = int(values.pop())
            if length > limits.max_body_bytes:
                self._refuse_unread(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    f"body is {length} bytes (Content-Length); the limit is {limits.max_body_bytes} bytes "
                    f"({ServeLimits.setting('max_body_bytes')})",
                )
                return None
            return length

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.rstrip("/") == "/ping":
                self._send(HTTPStatus.OK, {"status": "ok"})
            else:
                self._send(HTTPStatus.NOT_FOUND, {"error": f"no route GET {self.path}"})

        def do_POST(self) -> None:  # noqa: N802
            started = time.monotonic()
            if self.path.rstrip("/") != "/invocations":
                self._refuse_unread(HTTPStatus.NOT_FOUND, f"no route POST {self.path}")
                return
            length = self._content_length()
            if length is None:
                return
            try:
                body = self.rfile.read(length)
            except TimeoutError:
                message = f"the body did not arrive within {limits.request_timeout_seconds:g}s"
                self._send(HTTPStatus.REQUEST_TIMEOUT, {"error": message}, {"Connection": "close"})
                return
            if len(body) < length:  # the client hung up mid-body: nobody to answer
                self.close_connection = True
                return
            try:
                invocation = parse(body)
                prompt = model.prepare(invocation)
            except InvocationError as error:
                self._send(HTTPStatus.BAD_REQUEST, {"error": str(error)})
                return
            try:
                answer = queue.run(lambda seconds: model.generate(prompt, invocation, seconds), started)
            except LimitError as error:
                retry = {"Retry-After": str(error.retry_after)} if error.retry_after else {}
                self._send(HTTPStatus(error.status), {"error": str(error)}, retry)
                return
            except Exception as error:  # noqa: BLE001 - a failed generation is a 500 with its reason
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(error).__name__}: {error}"})
                return
            self._send(HTTPStatus.OK, answer)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - keep logs on stderr, short
            sys.stderr.write(f"serve: {self.address_string()} {format % args}\n")

    return Handler
