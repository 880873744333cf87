"""Prepare handler: validate, split and format the run's dataset; reject bad data before any job starts."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from forge_handlers import config, preparation

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return preparation.prepare(config.load(), config.environment(), event)
    except Exception:
        logger.exception("prepare failed")
        raise
