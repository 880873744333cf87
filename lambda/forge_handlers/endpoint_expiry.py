"""The endpoint's lifetime (deploy.ttl_hours): Deploy sets the one schedule that deletes the pipeline
endpoint, or replaces it when a later run deploys again (the clock restarts at each deploy); without a ttl
it removes a schedule an earlier config left, so it cannot delete the endpoint this run serves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from forge_handlers.aws import clients
from forge_handlers.errors import ConfigError, error_code, translate_client_error
from pipeline_core import endpoint_guardrails
from pipeline_core.settings import Settings

_MISSING = "ResourceNotFoundException"


def partition_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[1] if len(parts) > 2 and parts[0] == "arn" and parts[1] else "aws"


def schedule_exists(name: str) -> bool:
    try:
        clients.scheduler().get_schedule(Name=name, GroupName=endpoint_guardrails.SCHEDULE_GROUP)
    except Exception as error:
        if error_code(error) == _MISSING:
            return False
        raise translate_client_error(error) from error
    return True


def set_expiry(settings: Settings, role_arn: str, now: datetime) -> str | None:
    """Schedule the endpoint's deletion at now + ttl; the ISO time it expires, or None (no ttl)."""
    name = endpoint_guardrails.expiry_schedule_name(settings.resource_prefix)
    when = endpoint_guardrails.expires_at(settings, now)
    if when is None:
        if schedule_exists(name):
            try:
                clients.scheduler().delete_schedule(Name=name, GroupName=endpoint_guardrails.SCHEDULE_GROUP)
            except Exception as error:
                if error_code(error) != _MISSING:
                    raise translate_client_error(error) from error
        return None
    if not role_arn:
        raise ConfigError("deploy.ttl_hours is set but the handler environment has no SCHEDULER_ROLE_ARN "
                          "(redeploy the stack)")
    request = endpoint_guardrails.expiry_schedule_request(settings, role_arn, when, partition_of(role_arn))
    try:
        if schedule_exists(name):
            clients.scheduler().update_schedule(**request)
        else:
            _create_or_update(request)
    except Exception as error:
        raise translate_client_error(error) from error
    return when.isoformat()


def _create_or_update(request: dict[str, Any]) -> None:
    try:
        clients.scheduler().create_schedule(**request)
    except Exception as error:
        if error_code(error) != "ConflictException":  # made meanwhile (a retried Deploy): replace it
            raise
        clients.scheduler().update_schedule(**request)
