"""Poll handler: map the stage job's status; on Completed record its artifact (and eval metrics)."""

from __future__ import annotations

from typing import Any

from forge_handlers import config, events, jobs
from forge_handlers.entry import powertools_handler
from pipeline_core import state


def run(event: dict[str, Any]) -> dict[str, Any]:
    parsed = events.parse(state.PollEvent, event, "poll")
    return jobs.poll(config.load(), config.environment(), parsed.stage, parsed.run.dump(), parsed.job.dump())


handler = powertools_handler("poll", run)
