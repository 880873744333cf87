"""The AWS calls of the pre-flight checks: Service Quotas, IAM's policy simulator, the reward Lambda.

Each returns the API's own records (or a small result), which the pure checks in forge_handlers read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from forge_handlers.aws import clients
from forge_handlers.errors import translate_client_error

SAGEMAKER_SERVICE_CODE = "sagemaker"


class QuotasUnavailable(Exception):
    """No account answers Service Quotas here (local mode): the quota check is skipped, with this reason."""


def _quotas(list_page: Callable[..., dict[str, Any]], names: Collection[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    request: dict[str, Any] = {"ServiceCode": SAGEMAKER_SERVICE_CODE}
    try:
        while True:  # NextToken by hand (not a paginator): a local stand-in needs only the operation
            page = list_page(**request)
            for quota in page.get("Quotas", []):
                if quota.get("QuotaName") in names and "Value" in quota:
                    found[quota["QuotaName"]] = quota
            if not page.get("NextToken"):
                return found
            request["NextToken"] = page["NextToken"]
    except QuotasUnavailable:
        raise
    except Exception as error:
        raise translate_client_error(error) from error


def sagemaker_quotas(names: Collection[str]) -> dict[str, tuple[dict[str, Any], bool]]:
    """Quota name -> (the quota record, whether it is the account's applied value).

    Looked up by name: codes differ per instance type. ListServiceQuotas leaves out quotas with no applied
    value, so the rest come from ListAWSDefaultServiceQuotas (AWS's default).
    """
    if not names:
        return {}
    client = clients.get("service-quotas")
    applied = _quotas(lambda **request: client.list_service_quotas(**request), names)
    result = {name: (quota, True) for name, quota in applied.items()}
    missing = [name for name in names if name not in applied]
    if missing:
        defaults = _quotas(lambda **request: client.list_aws_default_service_quotas(**request), missing)
        result.update({name: (quota, False) for name, quota in defaults.items()})
    return result


def simulate(role_arn: str, action: str, resources: Sequence[str],
             context: Iterable[tuple[str, str]] = ()) -> dict[str, str]:
    """iam:SimulatePrincipalPolicy for one action on ``resources``: resource -> EvalDecision."""
    client = clients.get("iam")
    entries = [{"ContextKeyName": key, "ContextKeyValues": [value], "ContextKeyType": "string"}
               for key, value in context]
    request: dict[str, Any] = {"PolicySourceArn": role_arn, "ActionNames": [action],
                               "ResourceArns": list(resources)}
    if entries:
        request["ContextEntries"] = entries
    decisions: dict[str, str] = {}
    try:
        while True:
            page = client.simulate_principal_policy(**request)
            for result in page.get("EvaluationResults", []):
                decisions[result.get("EvalResourceName", "*")] = result["EvalDecision"]
            if not page.get("IsTruncated"):
                return decisions
            request["Marker"] = page["Marker"]
    except Exception as error:
        raise translate_client_error(error) from error


def invoke_json(function: str, payload: Any, read_timeout: int) -> tuple[Any, str | None, str | None]:
    """Invoke ``function`` synchronously: (parsed payload, FunctionError, call error)."""
    try:
        client = clients.short_call("lambda", read_timeout)
        response = client.invoke(FunctionName=function, InvocationType="RequestResponse",
                                 Payload=json.dumps(payload).encode())
        body = response["Payload"].read()
    except Exception as error:  # a client read timeout, access denied…: the check reports it
        translated = translate_client_error(error)
        if translated is not error:
            raise translated from error
        return None, None, f"{type(error).__name__}: {error}"
    try:
        parsed = json.loads(body) if body else None
    except json.JSONDecodeError:
        return None, response.get("FunctionError"), f"the answer is not JSON: {body[:200]!r}"
    return parsed, response.get("FunctionError"), None


def hosting_instance_types() -> frozenset[str]:
    """The instance types SageMaker hosts (the API model's ProductionVariantInstanceType enum)."""
    from botocore.session import get_session

    shape = get_session().get_service_model("sagemaker").shape_for("ProductionVariantInstanceType")
    return frozenset(shape.enum)


def read_head(uri: str, max_bytes: int) -> bytes:
    """The first ``max_bytes`` of an object (a few records of a large JSONL file)."""
    from forge_handlers.naming import split_s3_uri

    bucket, key = split_s3_uri(uri)
    try:
        response = clients.s3().get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}")
        return response["Body"].read()
    except Exception as error:
        raise translate_client_error(error) from error
