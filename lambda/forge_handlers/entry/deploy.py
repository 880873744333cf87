"""Deploy handler: create or update this pipeline's endpoint with the gated weights."""

from __future__ import annotations

from typing import Any

from forge_handlers import config, deploy, events
from forge_handlers.entry import powertools_handler
from pipeline_core import state


def run(event: dict[str, Any]) -> dict[str, Any]:
    parsed = events.parse(state.DeployEvent, event, "deploy")
    return deploy.deploy(config.load(), config.environment(), parsed.run.dump(), parsed.registry)


handler = powertools_handler("deploy", run)
