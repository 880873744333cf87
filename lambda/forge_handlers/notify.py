"""Notify handler: publish the run's outcome to the pipeline's SNS topic."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from forge_handlers import config, events, notification
from pipeline_core import state

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        document = events.parse(state.StateDocument, event, "notify").dump()
        return notification.notify(config.load(), config.environment().topic_arn, document)
    except Exception:
        logger.exception("notify failed")
        raise
