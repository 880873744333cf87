"""Notify handler: publish the run's outcome to the pipeline's SNS topic."""

from __future__ import annotations

from typing import Any

from forge_handlers import config, events, notify
from forge_handlers.entry import powertools_handler
from pipeline_core import state


def run(event: dict[str, Any]) -> dict[str, Any]:
    document = events.parse(state.StateDocument, event, "notify").dump()
    return notify.notify(config.load(), config.environment().topic_arn, document)


handler = powertools_handler("notify", run)
