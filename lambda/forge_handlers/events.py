"""The handlers' boundary: parse an event with its pipeline_core.state model, or fail with ConfigError.

ConfigError is one of the typed errors the state machine's Catch names, so a malformed event fails the
execution with a message naming the handler, the field path and what was expected.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from forge_handlers.errors import ConfigError
from pipeline_core import state

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], event: Any, handler: str) -> M:
    try:
        return state.parse(model, event, f"{handler}: invalid event")
    except state.StateDocumentError as error:
        raise ConfigError(str(error)) from None
