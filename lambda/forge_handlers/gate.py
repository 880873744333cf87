"""Gate handler: decide from the eval metrics whether the candidate may be deployed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from forge_handlers import config, events, gating
from pipeline_core import state

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        run = events.parse(state.RunEvent, event, "gate").run
        return gating.decide(config.load(), config.environment().artifacts_bucket, run.run_id)
    except Exception:
        logger.exception("gate failed")
        raise
