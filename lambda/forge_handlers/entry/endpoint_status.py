"""Endpoint-status handler: the endpoint's status for the state machine's wait loop."""

from __future__ import annotations

from typing import Any

from forge_handlers import config, deploy, events
from forge_handlers.entry import powertools_handler
from pipeline_core import state


def run(event: dict[str, Any]) -> dict[str, Any]:
    endpoint = events.parse(state.EndpointStatusEvent, event, "endpoint_status").endpoint
    return deploy.endpoint_status(config.load(), endpoint.dump())


handler = powertools_handler("endpoint_status", run)
