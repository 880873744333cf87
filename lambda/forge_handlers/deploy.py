"""Deploy handler: create or update this pipeline's endpoint with the gated weights."""

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
        run = events.parse(state.RunEvent, event, "deploy").run
        return deployment.deploy(config.load(), config.environment(), run.dump())
    except Exception:
        logger.exception("deploy failed")
        raise
