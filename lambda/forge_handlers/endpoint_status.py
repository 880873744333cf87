"""Endpoint-status handler: the endpoint's status for the state machine's wait loop."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from forge_handlers import config, deployment, events
from pipeline_core import state

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        endpoint = events.parse(state.EndpointStatusEvent, event, "endpoint_status").endpoint
        return deployment.endpoint_status(config.load(), endpoint.dump())
    except Exception:
        logger.exception("endpoint_status failed")
        raise
