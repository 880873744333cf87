"""Cleanup handler: stop this run's running jobs, delete a half-made endpoint, keep artifacts."""

from __future__ import annotations

from typing import Any

from forge_handlers import cleanup, config, events
from forge_handlers.entry import powertools_handler
from pipeline_core import state


def run(event: dict[str, Any]) -> dict[str, Any]:
    document = events.parse(state.StateDocument, event, "cleanup").dump()
    return cleanup.cleanup(config.load(), document)


handler = powertools_handler("cleanup", run)
