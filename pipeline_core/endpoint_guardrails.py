"""The pipeline endpoint's update guardrails: its name, the CloudWatch alarms that roll an update back, and
the blue/green DeploymentConfig that names them. One source for the stack (which creates the alarms and lets
the SageMaker role read them) and for Deploy (which passes them to UpdateEndpoint). Also its lifetime: the
name and request of the schedule that deletes it after ``deploy.ttl_hours``.

SageMaker shifts traffic to the new fleet, watches the alarms for the baking period, and returns to the old
fleet by itself if one fires (AWS: "Auto-Rollback Configuration and Monitoring", deployment guardrails).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline_core.settings import RESOURCE_SEPARATOR, Settings

VARIANT = "AllTraffic"  # the one production variant of every endpoint config Deploy makes
NAMESPACE = "AWS/SageMaker"


@dataclass(frozen=True)
class RollbackAlarm:
    """One CloudWatch alarm on the endpoint's variant metrics."""

    name: str
    metric: str
    statistic: str
    threshold: float
    period_seconds: int = 60
    evaluation_periods: int = 1

    def dimensions(self, prefix: str) -> dict[str, str]:
        return {"EndpointName": endpoint_name(prefix), "VariantName": VARIANT}


def endpoint_name(prefix: str) -> str:
    """One endpoint per pipeline: later runs update it in place."""
    return f"{prefix}{RESOURCE_SEPARATOR}endpoint"


def rollback_alarms(settings: Settings) -> list[RollbackAlarm]:
    """The alarms of this pipeline's endpoint; none when ``deploy.rollback_alarms`` is off."""
    if not settings.deploy.rollback_alarms:
        return []
    base = endpoint_name(settings.resource_prefix)
    return [
        # Any 5XX from the model container within a minute.
        RollbackAlarm(f"{base}-errors", "Invocation5XXErrors", "Sum", 1.0),
        # ModelLatency is in microseconds.
        RollbackAlarm(f"{base}-latency", "ModelLatency", "Average",
                      float(settings.deploy.max_model_latency_ms) * 1000.0),
    ]


def deployment_config(settings: Settings) -> dict[str, Any] | None:
    """UpdateEndpoint's DeploymentConfig: all traffic at once to the new fleet, then a baking period under
    the rollback alarms. None without alarms (a plain update; SageMaker still rolls back a failed one)."""
    alarms = rollback_alarms(settings)
    if not alarms:
        return None
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "ALL_AT_ONCE",
                "WaitIntervalInSeconds": settings.deploy.bake_seconds,
            },
            "TerminationWaitInSeconds": 0,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm.name} for alarm in alarms]},
    }


# The endpoint's lifetime (deploy.ttl_hours): one EventBridge Scheduler schedule per pipeline endpoint, in
# the default group, calling SageMaker DeleteEndpoint through the universal target (EventBridge Scheduler
# User Guide, "Using universal targets": arn:aws:scheduler:::aws-sdk:<service>:<apiAction>).
SCHEDULER_SERVICE = "scheduler.amazonaws.com"
SCHEDULE_GROUP = "default"
DELETE_ENDPOINT_TARGET = "arn:{partition}:scheduler:::aws-sdk:sagemaker:deleteEndpoint"


def expiry_schedule_name(prefix: str) -> str:
    """The one TTL schedule of the pipeline endpoint (Scheduler names: 1-64 of [0-9a-zA-Z-_.])."""
    return f"{endpoint_name(prefix)}-ttl"


def expiry_target_arn(partition: str = "aws") -> str:
    return DELETE_ENDPOINT_TARGET.format(partition=partition)


def expires_at(settings: Settings, now: datetime) -> datetime | None:
    """When an endpoint deployed at ``now`` is deleted; None without ``deploy.ttl_hours``."""
    if settings.deploy.ttl_hours is None:
        return None
    return (now.astimezone(UTC) + timedelta(hours=settings.deploy.ttl_hours)).replace(microsecond=0)


def expiry_schedule_request(settings: Settings, role_arn: str, when: datetime,
                            partition: str = "aws") -> dict[str, Any]:
    """CreateSchedule / UpdateSchedule's request (an update replaces every field, so both send all):
    once, at ``when`` (UTC), delete the endpoint; then the schedule deletes itself."""
    name = endpoint_name(settings.resource_prefix)
    return {
        "Name": expiry_schedule_name(settings.resource_prefix),
        "GroupName": SCHEDULE_GROUP,
        "ScheduleExpression": f"at({when.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S')})",
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "ActionAfterCompletion": "DELETE",
        "State": "ENABLED",
        "Description": f"{settings.name}: delete endpoint {name} after deploy.ttl_hours",
        "Target": {
            "Arn": expiry_target_arn(partition),
            "RoleArn": role_arn,
            "Input": json.dumps({"EndpointName": name}),
            # An endpoint still Updating refuses deletion: retry for an hour, then give up.
            "RetryPolicy": {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 20},
        },
    }
