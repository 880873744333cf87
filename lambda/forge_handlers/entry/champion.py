"""Champion handler: the model the pipeline's endpoint serves as the run begins (the gate's champion)."""

from __future__ import annotations

from typing import Any

from forge_handlers import champion, config, events
from forge_handlers.entry import powertools_handler
from pipeline_core import state


def run(event: dict[str, Any]) -> dict[str, Any]:
    run = events.parse(state.RunEvent, event, "champion").run
    return champion.champion(config.load(), config.environment().artifacts_bucket, run.run_id)


handler = powertools_handler("champion", run)
