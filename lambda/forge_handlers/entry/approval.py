"""Approval handler: an approved package's run, restored for Deploy (an execution the approval started)."""

from __future__ import annotations

from typing import Any

from forge_handlers import approval, config, events
from forge_handlers.entry import powertools_handler
from pipeline_core import state


def run(event: dict[str, Any]) -> dict[str, Any]:
    parsed = events.parse(state.ApprovalEvent, event, "approval")
    return approval.resume(config.load(), config.environment(), parsed.approved_model_package)


handler = powertools_handler("approval", run)
