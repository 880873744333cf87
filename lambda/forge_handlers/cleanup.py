"""Cleanup handler: stop this run's running jobs, delete a half-made endpoint, keep artifacts."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from forge_handlers import cleanup_logic, config, events
from pipeline_core import state

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        document = events.parse(state.StateDocument, event, "cleanup").dump()
        return cleanup_logic.cleanup(config.load(), document)
    except Exception:
        logger.exception("cleanup failed")
        raise
