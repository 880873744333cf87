"""The one place handlers get AWS clients from: a seam, not a switch.

Clients are created lazily (never at import time) with a standard retry config. Local mode and tests
inject replacements with ``override(service, client)``; handlers never know which one they talk to.
"""

from __future__ import annotations

import functools
from typing import Any

_RETRY = {"max_attempts": 8, "mode": "standard"}
_overrides: dict[str, Any] = {}


def override(service: str, client: Any) -> None:
    """Make ``get(service)`` return ``client`` (local runtime, fakes). ``None`` removes the override."""
    if client is None:
        _overrides.pop(service, None)
    else:
        _overrides[service] = client
    _boto_client.cache_clear()


def reset() -> None:
    _overrides.clear()
    _boto_client.cache_clear()


@functools.cache
def _boto_client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(service, config=Config(retries=_RETRY))


def get(service: str) -> Any:
    return _overrides.get(service) or _boto_client(service)


def s3() -> Any:
    return get("s3")


def sagemaker() -> Any:
    return get("sagemaker")


def sagemaker_runtime() -> Any:
    return get("sagemaker-runtime")


def sns() -> Any:
    return get("sns")


def scheduler() -> Any:
    return get("scheduler")


def short_call(service: str, read_timeout: int) -> Any:
    """A client that waits at most ``read_timeout`` s for an answer and does not retry a timeout (preflight's
    reward call must end inside its own handler's Timeout); an override still wins."""
    if service in _overrides:
        return _overrides[service]
    import boto3
    from botocore.config import Config

    return boto3.client(service, config=Config(read_timeout=read_timeout, retries={"max_attempts": 1}))
