"""Typed exceptions. The Lambda ``errorType`` is the class name; the state machine retries or catches by it.

Retried with backoff (see docs/contracts.md): ThrottlingError, ResourceLimitError.
Caught and reported: every other ForgeError below (and anything else, via States.ALL).
"""

from __future__ import annotations

from typing import Any

from pipeline_core.settings import ConfigError  # re-exported: a bad settings.json fails as ConfigError too

__all__ = [
    "ArtifactMissingError",
    "ConfigError",
    "DataValidationError",
    "ForgeError",
    "JobFailedError",
    "JobNotFoundError",
    "PreflightError",
    "ResourceLimitError",
    "SmokeTestError",
    "ThrottlingError",
    "RETRIED_ERRORS",
    "CAUGHT_ERRORS",
    "translate_client_error",
]


class ForgeError(Exception):
    """Base class of every error a handler raises on purpose."""


class ThrottlingError(ForgeError):
    """An AWS API throttled us; the state machine retries with backoff + jitter."""


class ResourceLimitError(ForgeError):
    """SageMaker refused a job or endpoint for an account quota (ResourceLimitExceeded); retried."""


class DataValidationError(ForgeError):
    """The input data failed validation; the message summarizes the row-level report."""


class JobNotFoundError(ForgeError):
    """A training job this run expects does not exist."""


class ArtifactMissingError(ForgeError):
    """A stage's input (previous stage's artifact record, eval results, dataset) cannot be resolved."""


class JobFailedError(ForgeError):
    """A SageMaker job or endpoint ended in a failed state; the message carries FailureReason."""


class SmokeTestError(ForgeError):
    """The deployed endpoint did not answer with a parseable label."""


class PreflightError(ForgeError):
    """A pre-flight check found what AWS would refuse later (quota, reward Lambda, IAM, endpoint tier)."""


RETRIED_ERRORS = ("ThrottlingError", "ResourceLimitError")
CAUGHT_ERRORS = (
    "DataValidationError",
    "JobNotFoundError",
    "ArtifactMissingError",
    "JobFailedError",
    "SmokeTestError",
    "ConfigError",
    "PreflightError",
)

_THROTTLING_CODES = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
}


def _error_code(error: Exception) -> str | None:
    response: Any = getattr(error, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def translate_client_error(error: Exception) -> Exception:
    """Map a botocore ClientError onto the typed error the state machine retries; others unchanged."""
    code = _error_code(error)
    if code in _THROTTLING_CODES:
        return ThrottlingError(f"{code}: {error}")
    if code == "ResourceLimitExceeded":
        return ResourceLimitError(f"{code}: {error}")
    return error


def error_code(error: Exception) -> str | None:
    """The AWS error code of a botocore ClientError (None for anything else)."""
    return _error_code(error)
