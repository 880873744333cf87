"""Preflight handler: quotas, reward Lambda, IAM and endpoint tiers checked before any job starts."""

from __future__ import annotations

import os
from typing import Any

from forge_handlers import config, events, preflight
from forge_handlers.entry import powertools_handler
from pipeline_core import state


def run(event: dict[str, Any]) -> dict[str, Any]:
    run = events.parse(state.RunEvent, event, "preflight").run
    return preflight.preflight(config.load(), preflight.deployment_of(config.environment(), os.environ),
                               run.run_id, run.datasets)


handler = powertools_handler("preflight", run)
