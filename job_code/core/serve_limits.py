"""The endpoint server's limits (body, prompt, queue, time) and the queue of generations that enforces them.

Pure logic, no HTTP and no torch: serve.py's handler and the SageMaker inference-toolkit functions use it.
The limits and their variables are documented in serve.py's module docstring and docs/contracts.md.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from itertools import accumulate
from typing import TypeVar

T = TypeVar("T")

# A chat body nests 5 deep (object > messages > message > content list > part); 16 leaves room for
# extra fields while keeping json.loads far from Python's recursion limit.
MAX_JSON_DEPTH = 16
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NESTING = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


@dataclass(frozen=True)
class ServeLimits:
    """What one request may ask of the server; each field has an env variable FORGE_SERVE_<FIELD>."""

    # SageMaker's InvokeEndpoint payload limit (6 MB): a larger body could not reach a real endpoint.
    max_body_bytes: int = 6 * 1024 * 1024
    # Characters of all messages' content together, checked before tokenizing (cheap, model-independent).
    max_prompt_chars: int = 20_000
    # Tokens of the chat-templated prompt; also capped by the model's context minus max_tokens.
    max_prompt_tokens: int = 2048
    # Requests waiting for the model while one generates; one more gets 503.
    max_queue: int = 4
    # Waiting plus generating; SageMaker gives an invocation 60 s, so the server answers before that.
    request_timeout_seconds: float = 55.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            low = 0 if item.name == "max_queue" else 1
            if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
                raise ValueError(f"serve limit {item.name} must be a number >= {low}, got {value!r}")

    @staticmethod
    def variable(name: str) -> str:
        return f"FORGE_SERVE_{name.upper()}"

    @classmethod
    def setting(cls, name: str) -> str:
        """How an error names a limit: its env variable and serve.py flag."""
        return f"{cls.variable(name)} / --{name.replace('_', '-')}"

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(item.name for item in fields(cls))

    @classmethod
    def number_type(cls, name: str) -> type:
        return float if name == "request_timeout_seconds" else int

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: float | None) -> ServeLimits:
        """Limits from FORGE_SERVE_* variables, then ``overrides`` (CLI flags; None = not given)."""
        values: dict[str, float] = {}
        for name in cls.names():
            variable, raw = cls.variable(name), environ.get(cls.variable(name))
            if raw is None or not raw.strip():
                continue
            number = cls.number_type(name)
            try:
                values[name] = number(raw)
                cls(**{name: values[name]})
            except ValueError:
                kind = "a number" if number is float else "an integer"
                low = 0 if name == "max_queue" else 1
                message = f"environment variable {variable} must be {kind} >= {low}, got {raw!r}"
                raise ValueError(message) from None
        values.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**values)


class InvocationError(ValueError):
    """The /invocations body is invalid; the message names the field."""


class LimitError(Exception):
    """A request refused for a limit; ``status`` is the HTTP answer, ``retry_after`` seconds when set."""

    status = 503
    retry_after: int | None = None

    def __init__(self, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class QueueFull(LimitError):
    status = 503


class WaitTimeout(LimitError):
    status = 503


class GenerationTimeout(LimitError):
    status = 504


def json_depth_error(body: bytes, limit: int = MAX_JSON_DEPTH) -> str | None:
    """Why ``body`` nests too deep for json.loads to be safe, else None (brackets in strings do not count).

    Runs at C speed over the body (regex, translate, accumulate), so a 6 MB body costs milliseconds.
    """
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    deepest = max(accumulate(map(_NESTING.__getitem__, brackets)), default=0)
    if deepest > limit:
        return f"body nests deeper than {limit} levels of arrays/objects ({deepest})"
    return None


class GenerationQueue:
    """One generation at a time, at most ``max_queue`` more waiting, each request within its timeout.

    ``run`` raises QueueFull when every place is taken, WaitTimeout when the turn does not come before the
    request's deadline; the work gets the seconds left and raises GenerationTimeout itself if it overruns.
    """

    def __init__(self, limits: ServeLimits):
        self.limits = limits
        self._places = threading.BoundedSemaphore(limits.max_queue + 1)  # the waiting and the generating
        self._turn = threading.Lock()
        self._last_seconds = 1.0  # how long the last generation took: the basis of Retry-After

    def retry_after(self) -> int:
        wait = self._last_seconds * (self.limits.max_queue + 1)
        return max(1, min(math.ceil(wait), math.ceil(self.limits.request_timeout_seconds)))

    def run(self, work: Callable[[float], T], started: float | None = None) -> T:
        deadline = (time.monotonic() if started is None else started) + self.limits.request_timeout_seconds
        if not self._places.acquire(blocking=False):
            raise QueueFull(
                f"the model is busy: {self.limits.max_queue} requests already wait in the queue "
                f"({ServeLimits.setting('max_queue')}); retry later",
                self.retry_after(),
            )
        try:
            if not self._turn.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise WaitTimeout(
                    f"waited the whole request timeout of {self.limits.request_timeout_seconds:g}s for the "
                    f"model ({ServeLimits.setting('request_timeout_seconds')}); retry later",
                    self.retry_after(),
                )
            try:
                begun = time.monotonic()
                try:
                    return work(max(0.001, deadline - begun))
                finally:
                    self._last_seconds = time.monotonic() - begun
            finally:
                self._turn.release()
        finally:
            self._places.release()
