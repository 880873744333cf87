"""Report handler: write runs/<run-id>/report.json and report.md from the whole state."""

from __future__ import annotations

from typing import Any

from forge_handlers import config, events, report
from forge_handlers.entry import powertools_handler
from pipeline_core import state


def run(event: dict[str, Any]) -> dict[str, Any]:
    parsed = events.parse(state.ReportEvent, event, "report")
    return report.write_report(
        config.load(), config.environment().artifacts_bucket, parsed.dump("status"), parsed.status
    )


handler = powertools_handler("report", run)
