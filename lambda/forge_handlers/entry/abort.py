"""Abort handler: an execution ended ABORTED / TIMED_OUT / FAILED (EventBridge) → clean up, report."""

from __future__ import annotations

from typing import Any

from forge_handlers import abort, config
from forge_handlers.entry import powertools_handler


def run(event: dict[str, Any]) -> dict[str, Any]:
    return abort.on_execution_ended(config.load(), config.environment(), event)


handler = powertools_handler("abort clean-up", run)
