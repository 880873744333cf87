"""Report handler: write runs/<run-id>/report.json and report.md from the whole state."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from forge_handlers import config, events, reporting
from pipeline_core import state

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        parsed = events.parse(state.ReportEvent, event, "report")
        return reporting.write_report(
            config.load(), config.environment().artifacts_bucket, parsed.dump("status"), parsed.status
        )
    except Exception:
        logger.exception("report failed")
        raise
