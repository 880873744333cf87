"""Launch handler: create (or find) the SageMaker training job of one stage of a run."""

from __future__ import annotations

from typing import Any

from forge_handlers import config, events, jobs
from forge_handlers.entry import powertools_handler
from pipeline_core import state


def run(event: dict[str, Any]) -> dict[str, Any]:
    parsed = events.parse(state.LaunchEvent, event, "launch")
    return jobs.launch(config.load(), config.environment(), parsed.stage, parsed.run.dump(), parsed.attempt)


handler = powertools_handler("launch", run)
