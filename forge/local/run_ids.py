"""Local run identity: the id's format, fresh ids, and the run directory claimed before anything runs."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path


class LocalModeError(RuntimeError):
    """Local mode cannot run this configuration or input; the message says what to change."""


def new_run_id() -> str:
    """Time-ordered and unique: two runs started in the same second differ in the random suffix."""
    return "local-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def checked_run_id(run_id: str) -> str:
    """The run id as a path and key component: the handlers' own format (no '/', no '..')."""
    from forge_handlers.errors import ConfigError
    from forge_handlers.naming import check_run_id

    try:
        return check_run_id(run_id)
    except ConfigError as error:
        raise LocalModeError(str(error)) from None


def claim_run_dir(run_dir: Path) -> Path:
    """Create ``run_dir`` exclusively: of two runs given the same id, exactly one gets it, at once."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        run_dir.mkdir()
    except FileExistsError:
        raise LocalModeError(
            f"{run_dir} already exists (an earlier or running run with id {run_dir.name!r}); runs never "
            "overwrite each other: choose another --run-id"
        ) from None
    return run_dir
