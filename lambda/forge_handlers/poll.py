"""Poll handler: map the stage job's status; on Completed record its artifact (and eval metrics)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from forge_handlers import config, events, jobs
from pipeline_core import state

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        parsed = events.parse(state.PollEvent, event, "poll")
        return jobs.poll(
            config.load(), config.environment(), parsed.stage, parsed.run.dump(), parsed.job.dump()
        )
    except Exception:
        logger.exception("poll failed")
        raise
