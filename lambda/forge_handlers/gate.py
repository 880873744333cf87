"""Gate handler: decide from the eval metrics whether the candidate may be deployed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from forge_handlers import config, gating

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return gating.decide(config.load(), config.environment().artifacts_bucket, event["run"]["run_id"])
    except Exception:
        logger.exception("gate failed")
        raise
