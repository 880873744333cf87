"""AWS problems as one line that says what to do: the CLI prints it on stderr and exits 1, never a traceback.

The common first tries fail before any request is made (no region, no credentials, an unknown profile) or
at the connection (no network, a wrong AWS_ENDPOINT_URL); the rest are AWS's own refusals (ClientError).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from botocore import exceptions as boto
from botocore.config import Config

# Few retries and a short connect timeout: an unreachable endpoint is reported in seconds, not minutes.
CLIENT_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=60)

_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
_BAD_CREDENTIALS = {"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch",
                    "InvalidAccessKeyId", "AuthFailure"}


class AwsError(RuntimeError):
    """An AWS call could not be made or was refused; the message is one line naming the fix."""


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "the profile's region"


def message(error: Exception) -> str | None:
    """The one-line explanation of a botocore error, or None for anything that is not one."""
    if isinstance(error, boto.NoRegionError):
        return ("no AWS region is set: export AWS_REGION=<the stack's region> (for example us-east-1) "
                "or run `aws configure`")
    if isinstance(error, boto.NoCredentialsError | boto.PartialCredentialsError):
        return ("no AWS credentials found: run `aws configure` (or `aws sso login --profile NAME` and "
                "export AWS_PROFILE=NAME)")
    if isinstance(error, boto.ProfileNotFound):
        return f"{error}: check AWS_PROFILE or run `aws configure --profile NAME`"
    if isinstance(error, boto.SSOError | boto.TokenRetrievalError | boto.UnauthorizedSSOTokenError):
        return "the AWS SSO session is missing or expired: run `aws sso login` (with your --profile)"
    unreachable = boto.EndpointConnectionError | boto.ConnectTimeoutError | boto.ConnectionClosedError
    if isinstance(error, unreachable):
        where = getattr(error, "kwargs", {}).get("endpoint_url") or "AWS"
        override = " and AWS_ENDPOINT_URL" if os.environ.get("AWS_ENDPOINT_URL") else ""
        return f"cannot reach {where}: check the network connection, the region ({_region()}){override}"
    if isinstance(error, boto.ReadTimeoutError):
        return f"AWS did not answer in time ({error}): check the network connection and try again"
    if isinstance(error, boto.ClientError):
        details = error.response.get("Error", {})
        code, text = details.get("Code", "?"), " ".join(str(details.get("Message", "")).split())
        operation = getattr(error, "operation_name", "the call")
        if code in _EXPIRED:
            return f"the AWS credentials have expired ({code}): refresh them (`aws sso login` or new keys)"
        if code in _BAD_CREDENTIALS:
            return f"AWS rejected the credentials ({code}): check AWS_PROFILE or the access keys"
        if "AccessDenied" in code or code == "UnauthorizedOperation":
            return f"AWS denied {operation} ({code}): {text}; the identity needs that permission"
        return f"AWS {operation} failed ({code}): {text}"
    if isinstance(error, boto.BotoCoreError):
        return f"AWS: {' '.join(str(error).split())}"
    return None


@contextlib.contextmanager
def one_line() -> Iterator[None]:
    """Turn any botocore error raised inside into an AwsError with a one-line message."""
    try:
        yield
    except (boto.BotoCoreError, boto.ClientError) as error:
        raise AwsError(message(error)) from None
