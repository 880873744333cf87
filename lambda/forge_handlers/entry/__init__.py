"""The Lambda entry points: handler ``forge_handlers.entry.<name>.handler`` for each function.

Each module parses its event and makes one call into the logic module of the same name one level up
(``forge_handlers.<name>``); ``powertools_handler`` adds the Powertools logging, tracing and error logging
that every handler shares.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Tracer

Event = dict[str, Any]


def powertools_handler(name: str, run: Callable[[Event], Event]) -> Callable[[Event, Any], Event]:
    """The Lambda handler of ``run``: the event logged with the Lambda context, the call traced, and a
    failure logged with its traceback under ``"<name> failed"`` before it propagates to the state machine."""
    logger = Logger()
    tracer = Tracer()

    @logger.inject_lambda_context(log_event=True)
    @tracer.capture_lambda_handler
    def handler(event: Event, context: Any) -> Event:
        try:
            return run(event)
        except Exception:
            logger.exception(f"{name} failed")
            raise

    return handler
