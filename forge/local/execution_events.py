"""The "Step Functions Execution Status Change" events AWS emits, for moto (which emits none).

On AWS an execution that ends ABORTED / TIMED_OUT / FAILED sends an EventBridge event; the stack's
ExecutionEnded rule (stacks/triggers.py) forwards it to the abort handler, which stops the run's jobs and
writes its report. moto's Step Functions sends no such event, and moto's EventBridge does not deliver to
Lambda targets (its PutEvents routes to SQS, logs, buses and archives only). So this module builds the
event AWS would send, matches it against the rules in moto's EventBridge (moto's TestEventPattern is not
implemented: ``matches`` covers the exact-value patterns the stack's rules use, and refuses any other),
and invokes each matching rule's Lambda targets through the Lambda API, which forge.moto_lambda runs
in-process. The invoke is synchronous (AWS's is asynchronous, with retries) so a failing target surfaces
here instead of being lost.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SOURCE = "aws.states"
DETAIL_TYPE = "Step Functions Execution Status Change"
RULE_TYPE = "AWS::Events::Rule"
EVENTS_PRINCIPAL = "events.amazonaws.com"
ServiceContext = Callable[[str, str], AbstractContextManager[Any]]


class ExecutionEventError(RuntimeError):
    """The execution is still running, a rule cannot be reproduced here, or a target failed."""


@dataclass(frozen=True)
class Delivery:
    rule: str
    target: str
    response: Any


def _millis(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if isinstance(value, datetime) else None


def status_change_event(session: Any, execution_arn: str) -> dict[str, Any]:
    """The event AWS sends when ``execution_arn`` reached its (final) status."""
    described = session.client("stepfunctions").describe_execution(executionArn=execution_arn)
    if described["status"] == "RUNNING":
        raise ExecutionEventError(f"execution {execution_arn} is still RUNNING: no status-change event yet")
    parts = execution_arn.split(":")  # arn:aws:states:<region>:<account>:execution:<machine>:<name>
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": parts[4],
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": parts[3],
        "resources": [execution_arn],
        "detail": {
            "executionArn": execution_arn,
            "stateMachineArn": described["stateMachineArn"],
            "name": described["name"],
            "status": described["status"],
            "startDate": _millis(described.get("startDate")),
            "stopDate": _millis(described.get("stopDate")),
            "input": described.get("input"),
            "output": described.get("output"),
            "error": described.get("error"),
            "cause": described.get("cause"),
        },
    }


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge matching for exact-value patterns: each listed field has one of the listed values."""
    for key, expected in pattern.items():
        value = event.get(key) if isinstance(event, dict) else None
        if isinstance(expected, dict):
            if not isinstance(value, dict) or not matches(expected, value):
                return False
            continue
        if not isinstance(expected, list) or any(isinstance(item, (dict, list)) for item in expected):
            raise ExecutionEventError(
                f"pattern field {key!r}: {expected!r} is not a list of exact values (all local mode matches)"
            )
        values = value if isinstance(value, list) else [value]
        if not any(item in expected for item in values):
            return False
    return True


def _rules(events: Any) -> list[dict[str, Any]]:
    rules, token = [], None
    while True:
        page = events.list_rules(**({"NextToken": token} if token else {}))
        rules += page.get("Rules", [])
        token = page.get("NextToken")
        if not token:
            return rules


def deliver(session: Any, event: dict[str, Any], as_service: ServiceContext | None = None) -> list[Delivery]:
    """Invoke the Lambda targets of every enabled rule on the default bus whose pattern matches ``event``.

    ``as_service(principal, rule_arn)``: a context the invokes run in, so local IAM checks them as
    EventBridge's (the function's resource-based policy), e.g. Enforcer.invoked_by_service."""
    events, functions = session.client("events"), session.client("lambda")
    deliveries = []
    for rule in _rules(events):
        if rule.get("State") != "ENABLED" or not rule.get("EventPattern"):
            continue
        if not matches(json.loads(rule["EventPattern"]), event):
            continue
        for target in events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", []):
            if ":lambda:" not in target["Arn"] or {"InputPath", "InputTransformer"} & set(target):
                raise ExecutionEventError(
                    f"rule {rule['Name']}: target {target['Arn']} is not a plain Lambda target; local mode "
                    "delivers the whole event to Lambda functions only"
                )
            payload = target.get("Input") or json.dumps(event)
            caller = as_service(EVENTS_PRINCIPAL, rule["Arn"]) if as_service else contextlib.nullcontext()
            with caller:
                response = functions.invoke(FunctionName=target["Arn"], Payload=payload.encode())
            body = json.loads(response["Payload"].read() or b"null")
            if response.get("FunctionError"):
                raise ExecutionEventError(
                    f"rule {rule['Name']}: target {target['Arn']} failed on the {event['detail']['status']} "
                    f"event of {event['detail']['executionArn']}: {body}"
                )
            deliveries.append(Delivery(rule["Name"], target["Arn"], body))
    return deliveries


def emit_final_status(
    session: Any, execution_arn: str, as_service: ServiceContext | None = None
) -> list[Delivery]:
    """What AWS does once an execution has ended: its status-change event reaches the matching rules."""
    return deliver(session, status_change_event(session, execution_arn), as_service)


def install_rules(session: Any, template: dict[str, Any], resolve: Callable[[Any], Any]) -> list[str]:
    """Create the template's rules on Step Functions events (with their targets) in moto's EventBridge.

    ``resolve`` turns the template's references (the state machine's Ref, the functions' Arn) into values,
    e.g. forge.local.cfn's resolver. Returns the rule names.
    """
    events = session.client("events")
    names = []
    for logical, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        if resource.get("Type") != RULE_TYPE or SOURCE not in (properties.get("EventPattern") or {}).get(
            "source", []
        ):
            continue
        name = properties.get("Name") or logical
        events.put_rule(Name=name, EventPattern=json.dumps(resolve(properties["EventPattern"])),
                        State=properties.get("State", "ENABLED"))
        targets = [{"Id": t["Id"], "Arn": resolve(t["Arn"])} for t in properties.get("Targets", [])]
        events.put_targets(Rule=name, Targets=targets)
        names.append(name)
    return names
