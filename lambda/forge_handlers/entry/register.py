"""Register handler: the gate's candidate becomes a model package version in the pipeline's group."""

from __future__ import annotations

from typing import Any

from forge_handlers import config, events, register
from forge_handlers.entry import powertools_handler
from pipeline_core import state


def run(event: dict[str, Any]) -> dict[str, Any]:
    document = events.parse(state.RegisterEvent, event, "register")
    return register.register(config.load(), config.environment(), document.dump())


handler = powertools_handler("register", run)
