"""Abort handler: an execution ended ABORTED / TIMED_OUT / FAILED (EventBridge) → clean up, report."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from forge_handlers import abort_logic, config

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return abort_logic.on_execution_ended(config.load(), config.environment(), event)
    except Exception:
        logger.exception("abort clean-up failed")
        raise
