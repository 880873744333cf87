"""Smoke handler: one invoke of the endpoint with an eval sample; the label must parse."""

from __future__ import annotations

from typing import Any

from forge_handlers import config, events, smoke
from forge_handlers.entry import powertools_handler
from pipeline_core import state


def run(event: dict[str, Any]) -> dict[str, Any]:
    parsed = events.parse(state.SmokeEvent, event, "smoke")
    return smoke.smoke(config.load(), parsed.run.dump(), parsed.endpoint.endpoint_name)


handler = powertools_handler("smoke", run)
