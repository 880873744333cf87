"""serve.py's HTTP layer under hostile or heavy traffic, with a fake model (no torch): body and prompt
limits, malformed framing, deep JSON, the bounded queue of waiting generations and the request timeout."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer

import pytest

from job_code import serve

QUESTION = {"messages": [{"role": "user", "content": "why?"}], "max_tokens": 4}


class FakeModel:
    """Answers like ChatModel; each generation takes ``seconds`` (or until released) and is counted."""

    def __init__(self, seconds: float = 0.0):
        self.seconds = seconds
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        self.generations = 0

    def prepare(self, invocation: serve.Invocation) -> str:
        return invocation.messages[-1]["content"]

    def generate(self, prompt: str, invocation: serve.Invocation, max_seconds: float | None = None) -> dict:
        self.generations += 1
        self.started.release()
        # Like generate's max_time, the overrun is noticed late: at the end of the work, not at the deadline.
        if not self.release.wait(self.seconds) and max_seconds is not None and self.seconds > max_seconds:
            raise serve.GenerationTimeout(f"generation stopped at the request timeout of {max_seconds:.1f}s")
        return {"text": f"answer to {prompt}", "label": None}

    def answer(self, invocation: serve.Invocation, max_seconds: float | None = None) -> dict:
        return self.generate(self.prepare(invocation), invocation, max_seconds)


@contextmanager
def running(model: FakeModel, **limits) -> Iterator[int]:
    handler = serve.make_handler(model, 16, serve.ServeLimits(**limits)) if limits else serve.make_handler(
        model, 16
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        model.release.set()
        server.shutdown()
        server.server_close()


def exchange(port: int, raw: bytes, timeout: float = 10) -> tuple[int, dict[str, str], dict]:
    """Send raw bytes, read one response; (status, headers, JSON body). The server must answer in time."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed without a response: {data!r}")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers["content-length"])
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return int(lines[0].split()[1]), headers, json.loads(rest[:length])


def post(port: int, body: bytes, extra_headers: str | None = None, timeout: float = 10):
    headers = extra_headers if extra_headers is not None else f"Content-Length: {len(body)}\r\n"
    raw = f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}\r\n"
    return exchange(port, raw.encode() + body, timeout)


def test_a_body_over_the_limit_is_refused_before_it_is_read():
    model = FakeModel()
    with running(model) as port:
        # 300 MB announced, 1 KB sent: the answer comes at once, without waiting for the rest.
        started = time.monotonic()
        status, headers, payload = post(port, b"{" + b" " * 1023, "Content-Length: 300000000\r\n")
        assert time.monotonic() - started < 5
        assert status == 413 and "300000000 bytes" in payload["error"]
        assert str(serve.ServeLimits().max_body_bytes) in payload["error"]
        assert headers["connection"] == "close"
    assert model.generations == 0


def test_the_body_limit_is_configurable():
    with running(FakeModel(), max_body_bytes=100) as port:
        status, _, payload = post(port, json.dumps({**QUESTION, "pad": "x" * 200}).encode())
        assert status == 413 and "limit is 100 bytes" in payload["error"]
        status, _, payload = post(port, json.dumps(QUESTION).encode())
        assert status == 200 and payload["text"] == "answer to why?"


@pytest.mark.parametrize("value", ["abc", "-5", "1e3", "12, 13", " "])
def test_a_malformed_content_length_is_a_json_400(value):
    with running(FakeModel()) as port:
        status, _, payload = post(port, json.dumps(QUESTION).encode(), f"Content-Length: {value}\r\n")
        assert status == 400 and "Content-Length" in payload["error"]
        assert repr(value.strip()) in payload["error"]


def test_a_post_without_content_length_is_a_411():
    with running(FakeModel()) as port:
        status, _, payload = post(port, b"", "")
        assert status == 411 and "Content-Length" in payload["error"]
        status, _, payload = post(port, b"5\r\nhello\r\n0\r\n\r\n", "Transfer-Encoding: chunked\r\n")
        assert status == 411 and "chunked" in payload["error"]


def test_deep_json_is_a_400_not_a_recursion_error():
    with running(FakeModel()) as port:
        for depth in (50, 100_000):
            status, _, payload = post(port, b"[" * depth + b"]" * depth)
            assert status == 400 and "nest" in payload["error"], payload
        brackets = {"messages": [{"role": "user", "content": "[[[[{{" * 20}]}
        status, _, payload = post(port, json.dumps(brackets).encode())
        assert status == 200  # brackets inside strings are text, not nesting


def test_deep_json_in_parse_invocation():
    with pytest.raises(serve.InvocationError, match=f"deeper than {serve.MAX_JSON_DEPTH}"):
        serve.parse_invocation(b'{"messages": ' + b"[" * 40 + b"]" * 40 + b"}", 16)


def test_a_prompt_over_the_character_limit_is_a_400_naming_field_and_limit():
    model = FakeModel()
    with running(model) as port:
        big = {"messages": [{"role": "user", "content": "x" * 1_100_000}]}
        status, _, payload = post(port, json.dumps(big).encode())
        assert status == 400, payload
        limit = serve.ServeLimits().max_prompt_chars
        assert "'messages'" in payload["error"] and "1100000 characters" in payload["error"]
        assert f"limit is {limit}" in payload["error"]
    assert model.generations == 0


def test_parse_invocation_counts_characters_over_all_messages():
    messages = [{"role": "system", "content": "a" * 6}, {"role": "user", "content": [{"text": "b" * 5}]}]
    body = json.dumps({"messages": messages}).encode()
    assert serve.parse_invocation(body, 16, max_prompt_chars=11).messages[1]["content"] == "b" * 5
    with pytest.raises(serve.InvocationError, match="11 characters.*limit is 10"):
        serve.parse_invocation(body, 16, max_prompt_chars=10)


def test_a_full_queue_answers_503_with_retry_after_and_ping_stays_up():
    model = FakeModel(seconds=30)
    with running(model, max_queue=1, request_timeout_seconds=30) as port:
        results: list = []
        body = json.dumps(QUESTION).encode()
        first = threading.Thread(target=lambda: results.append(post(port, body, timeout=40)))
        first.start()
        assert model.started.acquire(timeout=5)  # generating
        second = threading.Thread(target=lambda: results.append(post(port, body, timeout=40)))
        second.start()
        time.sleep(0.3)  # waiting in the queue
        started = time.monotonic()
        status, headers, payload = post(port, body)
        assert status == 503 and "queue" in payload["error"] and int(headers["retry-after"]) >= 1
        status, _, payload = exchange(port, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 200 and payload == {"status": "ok"}
        assert time.monotonic() - started < 3
        model.release.set()
        first.join(10)
        second.join(10)
        assert [r[0] for r in results] == [200, 200]


def test_waiting_past_the_request_timeout_is_a_503_and_a_slow_generation_a_504():
    model = FakeModel(seconds=1.5)
    with running(model, max_queue=4, request_timeout_seconds=1.0) as port:
        body = json.dumps(QUESTION).encode()
        results: list = []
        first = threading.Thread(target=lambda: results.append(post(port, body)))
        first.start()
        assert model.started.acquire(timeout=5)
        status, headers, payload = post(port, body)  # waits for the turn, in vain
        assert status == 503 and "timeout" in payload["error"] and "retry-after" in headers
        first.join(10)
        assert results[0][0] == 504 and "timeout" in results[0][2]["error"]


@pytest.mark.parametrize(
    ("variable", "value"), [("FORGE_SERVE_MAX_QUEUE", "many"), ("FORGE_SERVE_MAX_BODY_BYTES", "0")]
)
def test_limits_from_a_bad_environment_name_the_variable(variable, value):
    with pytest.raises(ValueError, match=f"{variable}.*{value!r}"):
        serve.ServeLimits.from_env({variable: value})


def test_limits_come_from_the_environment():
    limits = serve.ServeLimits.from_env({"FORGE_SERVE_MAX_PROMPT_CHARS": "77", "FORGE_SERVE_MAX_QUEUE": "0"})
    assert limits.max_prompt_chars == 77 and limits.max_queue == 0
    assert limits.max_body_bytes == serve.ServeLimits().max_body_bytes


def test_the_inference_toolkit_path_applies_the_same_limits(monkeypatch):
    """On SageMaker's default image the toolkit calls input_fn: the prompt and depth limits hold there too."""
    big = json.dumps({"messages": [{"role": "user", "content": "x" * 1_100_000}]}).encode()
    with pytest.raises(serve.InvocationError, match="1100000 characters"):
        serve.input_fn(big, "application/json")
    with pytest.raises(serve.InvocationError, match="nest"):
        serve.input_fn(b"[" * 100_000 + b"]" * 100_000, "application/json")
    monkeypatch.setenv("FORGE_SERVE_MAX_PROMPT_CHARS", "3")
    with pytest.raises(serve.InvocationError, match="limit is 3"):
        serve.input_fn(json.dumps(QUESTION).encode(), "application/json")


def test_a_client_that_hangs_up_before_its_answer_costs_a_log_line_not_a_traceback(capsys):
    model = FakeModel(seconds=0.5)
    with running(model) as port:
        body = json.dumps(QUESTION).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            head = f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
            sock.sendall(head.encode() + body)
            assert model.started.acquire(timeout=5)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        time.sleep(1.0)  # the answer is written to a reset connection
        status, _, _ = exchange(port, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 200
    err = capsys.readouterr().err
    assert "Traceback" not in err and "hung up before the answer" in err
