"""Smoke handler: one invoke of the endpoint with an eval sample; the label must parse."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from forge_handlers import config, events, smoke_test
from pipeline_core import state

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        parsed = events.parse(state.SmokeEvent, event, "smoke")
        return smoke_test.smoke(config.load(), parsed.run.dump(), parsed.endpoint.endpoint_name)
    except Exception:
        logger.exception("smoke failed")
        raise
