"""Prepare handler: validate, split and format the run's dataset; reject bad data before any job starts."""

from __future__ import annotations

from typing import Any

from forge_handlers import config, prepare
from forge_handlers.entry import powertools_handler


def run(event: dict[str, Any]) -> dict[str, Any]:
    return prepare.prepare(config.load(), config.environment(), event)


handler = powertools_handler("prepare", run)
