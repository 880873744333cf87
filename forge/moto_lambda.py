"""Run Lambda invocations in-process under moto (templates are read by forge/local/cfn.py).

moto's Docker-less Lambda backend only echoes its input. This module is the ONE place that patches it
(``moto.awslambda_simple.models.LambdaSimpleBackend.invoke``) so that Step Functions executions in moto
call real Python callables: the handlers from the Lambda bundle, or test fakes. An exception raised by a
callable comes back exactly like a Lambda function error (``errorType`` = class name, ``errorMessage`` =
``str(exc)``), so the state machine's Retry/Catch match on the same names as in AWS.

With a ``LambdaRuntime`` (forge/lambda_surface.py), every call also runs within Lambda's import surface:
a function whose handler module cannot be imported in Lambda fails with Lambda's init error, and asset
code importing outside the surface while a handler runs fails as it would on AWS.

With ``timeouts`` (function name -> the template's ``Timeout`` in seconds), a call that runs longer fails
as Lambda reports it (``Sandbox.Timedout``, "Task timed out after N.NN seconds"), so the state machine's
Catch sees what it sees on AWS. Python cannot kill a thread: the overrunning handler finishes in the
background (on AWS the sandbox is frozen), which local mode tolerates because every handler is idempotent.

moto is pinned (pyproject.toml); tests/workflow/test_moto_lambda.py fails loudly if the patched
internals move.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from forge.lambda_surface import LambdaInitError, LambdaRuntime, guard_installed

Handler = Callable[[Any, Any], Any]
Resolver = Callable[[str], Handler]

FAKE_ACCOUNT = "123456789012"
FAKE_REGION = "us-east-1"


class MotoInternalsChanged(RuntimeError):
    """The moto version in use no longer has the method this module patches."""


class UnknownFunctionError(LookupError):
    """A Lambda function name has no in-process handler (the resolver raised or returned None)."""


@dataclass
class LambdaContext:
    """The subset of the Lambda context object handlers and Powertools read."""

    function_name: str
    region: str = FAKE_REGION
    account: str = FAKE_ACCOUNT
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    deadline: float | None = None  # time.monotonic() when the function's Timeout ends

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        if self.deadline is None:
            return 900_000
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class LambdaTimeoutError(Exception):
    """The handler ran past its function's Timeout; reported with Lambda's own error type and message."""

    lambda_error_type = "Sandbox.Timedout"

    def __init__(self, request_id: str, timeout: float) -> None:
        super().__init__(f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds")


@dataclass
class Invocation:
    function_name: str
    event: Any
    error_type: str | None = None


@dataclass
class InvocationLog:
    """Every invocation made while the patch is active, in order (thread-safe)."""

    calls: list[Invocation] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, call: Invocation) -> None:
        with self._lock:
            self.calls.append(call)

    def names(self) -> list[str]:
        with self._lock:
            return [call.function_name for call in self.calls]


def function_name_of(name_or_arn: str) -> str:
    """``arn:aws:lambda:r:a:function:NAME[:qualifier]`` or ``NAME`` -> ``NAME``."""
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        if len(parts) < 7 or parts[5] != "function":
            raise UnknownFunctionError(f"not a Lambda function ARN: {name_or_arn!r}")
        return parts[6]
    return name_or_arn


def _backend_class() -> type:
    try:
        from moto.awslambda_simple.models import LambdaSimpleBackend
    except ImportError as error:  # pragma: no cover - only on an incompatible moto
        raise MotoInternalsChanged(f"moto.awslambda_simple.models.LambdaSimpleBackend: {error}") from None
    if not callable(getattr(LambdaSimpleBackend, "invoke", None)):
        raise MotoInternalsChanged("LambdaSimpleBackend.invoke is gone; update forge/moto_lambda.py")
    return LambdaSimpleBackend


def _error_payload(error: BaseException) -> bytes:
    if isinstance(error, LambdaInitError | LambdaTimeoutError):  # Lambda's own error type, no trace
        error_type, trace = error.lambda_error_type, []
    else:
        error_type, trace = type(error).__name__, traceback.format_exception(error)[-5:]
    payload = {"errorType": error_type, "errorMessage": str(error), "stackTrace": trace}
    return json.dumps(payload).encode("utf-8")


def _run_with_timeout(call: Callable[[], Any], timeout: float | None, context: LambdaContext) -> Any:
    """``call()`` in a worker thread (with this thread's context variables); LambdaTimeoutError past
    ``timeout`` seconds."""
    if timeout is None:
        return call()
    outcome: dict[str, Any] = {}
    variables = contextvars.copy_context()

    def work() -> None:
        try:
            outcome["result"] = variables.run(call)
        except BaseException as error:  # re-raised in the invoking thread
            outcome["error"] = error

    context.deadline = time.monotonic() + timeout
    worker = threading.Thread(target=work, name=f"lambda-{context.function_name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise LambdaTimeoutError(context.aws_request_id, timeout)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


@contextlib.contextmanager
def run_lambdas_in_process(
    resolve: Resolver,
    authorize: Callable[[str], None] | None = None,
    *,
    runtime: LambdaRuntime | None = None,
    timeouts: Mapping[str, float] | None = None,
) -> Iterator[InvocationLog]:
    """Patch moto so an invoke of function NAME runs ``resolve(NAME)(event, context)`` in-process.

    Use inside ``mock_aws(config={"lambda": {"use_docker": False}, ...})``. Yields the invocation log.
    The functions need not exist in moto's Lambda backend: the name (or ARN) is enough.
    ``authorize(NAME)`` runs first; what it raises is the Invoke API's error, not a function error
    (local IAM raises a 403 AccessDeniedException there: forge.local.iam.enforce). With ``runtime``,
    the stack's functions run within Lambda's import surface; with ``timeouts``, within their Timeout
    (the module docstring).
    """
    backend_class = _backend_class()
    original = backend_class.invoke
    log = InvocationLog()

    def invoke(
        self: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        name = function_name_of(function_name)
        if authorize is not None:
            authorize(name)
        event = json.loads(body) if body else {}
        if runtime is not None:
            try:
                runtime.check_init(name)
            except LambdaInitError as error:  # its module cannot be imported in Lambda: every invoke fails
                log.record(Invocation(name, event, error.lambda_error_type))
                response_headers["x-amz-function-error"] = "Unhandled"
                return _error_payload(error)
        try:
            handler = resolve(name)
            if handler is None:
                raise LookupError("the resolver returned None")
        except Exception as error:  # reported as a function error, visible in the execution history
            log.record(Invocation(name, event, UnknownFunctionError.__name__))
            response_headers["x-amz-function-error"] = "Unhandled"
            return _error_payload(UnknownFunctionError(f"no in-process handler for {name!r}: {error}"))
        context = LambdaContext(function_name=name, region=getattr(self, "region_name", FAKE_REGION))

        def call() -> Any:
            with runtime.running(name) if runtime is not None else contextlib.nullcontext():
                return handler(event, context)

        try:
            result = _run_with_timeout(call, (timeouts or {}).get(name), context)
        except Exception as error:  # a Lambda function error, as AWS reports it
            log.record(Invocation(name, event, getattr(error, "lambda_error_type", type(error).__name__)))
            response_headers["x-amz-function-error"] = "Unhandled"
            return _error_payload(error)
        log.record(Invocation(name, event))
        return json.dumps(result).encode("utf-8")

    backend_class.invoke = invoke
    try:
        with guard_installed() if runtime is not None else contextlib.nullcontext():
            yield log
    finally:
        backend_class.invoke = original
