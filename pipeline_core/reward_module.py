"""Where a custom reward module may live, and how its requirements are written (settings.RewardSettings).

Standard library only: it ships with pipeline_core in the Lambda asset and the code channel.
"""

from __future__ import annotations

import re
from pathlib import Path

# A pinned requirement of a custom reward module: exactly ``name==version`` (no ranges, extras or URLs).
PINNED = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?==[A-Za-z0-9][A-Za-z0-9.+!_-]*")
# The repository tree a reward.module must stay in: the nearest ancestor of the config holding one of these.
REPOSITORY_MARKERS = (".git", "pyproject.toml")


def repository_root(config_dir: Path) -> Path:
    """The config's repository tree: the nearest ancestor with .git or pyproject.toml, else its directory."""
    for directory in (config_dir, *config_dir.parents):
        if any((directory / marker).exists() for marker in REPOSITORY_MARKERS):
            return directory
    return config_dir


def checked_module(module: str, config_dir: Path) -> Path:
    """The absolute path of ``module`` (relative to ``config_dir``); ValueError naming what is wrong."""
    path = (config_dir / module).resolve()
    root = repository_root(config_dir.resolve())
    where = f"reward.module {module!r} (resolved to {path})"
    if path.suffix != ".py":
        raise ValueError(f"{where} is not a .py file")
    if not path.stem.isidentifier():
        raise ValueError(f"{where}: the file name {path.name!r} is not an importable Python module name")
    if not path.is_relative_to(root):
        raise ValueError(f"{where} is outside the config's repository tree {root}")
    if not path.is_file():
        raise ValueError(f"{where} does not exist")
    return path
