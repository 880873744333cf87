"""Launch handler: create (or find) the SageMaker training job of one stage of a run."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from forge_handlers import config, jobs

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return jobs.launch(
            config.load(), config.environment(), event["stage"], event["run"], int(event.get("attempt") or 1)
        )
    except Exception:
        logger.exception("launch failed")
        raise
