"""Gate handler: decide from the eval metrics whether the candidate may be deployed."""

from __future__ import annotations

from typing import Any

from forge_handlers import config, events, gate
from forge_handlers.entry import powertools_handler
from pipeline_core import state


def run(event: dict[str, Any]) -> dict[str, Any]:
    run = events.parse(state.RunEvent, event, "gate").run
    return gate.decide(config.load(), config.environment().artifacts_bucket, run.run_id)


handler = powertools_handler("gate", run)
