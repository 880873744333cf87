"""Import one file of the user's repository (a reward or metrics module) as a module of its own.

Shared by job_code.core.custom_reward and job_code.core.custom_metrics; each wraps the failure in its own
error, which names the file. Standard library only: it runs in the reward Lambda and the Poll Lambda too.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


class UserModuleError(Exception):
    """The file cannot be imported; the message says why (without the file's name: the caller adds it)."""


def import_file(path: Path, module_name: str) -> ModuleType:
    """Execute ``path`` as the module ``module_name`` (registered in sys.modules while it lives: dataclasses
    and pickling look a module up by name; removed again when its top level raises)."""
    if not path.is_file():
        raise UserModuleError(f"the file {path} does not exist")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UserModuleError("cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # SyntaxError, ImportError, anything its top level raises: the user's to read
        sys.modules.pop(module_name, None)
        raise UserModuleError(f"importing it raised {type(error).__name__}: {str(error)[:300]}") from error
    return module
