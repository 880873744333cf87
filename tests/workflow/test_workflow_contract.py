"""The workflow and the handler code agree: error names, and handler strings that import from the bundle."""

from __future__ import annotations

import subprocess
import sys

from forge_handlers import errors

from stacks import workflow
from tests.template_readers import lambda_functions


def test_error_names_agree_with_the_handler_exceptions():
    # Errors Lambda itself reports (service errors, a function past its Timeout), not handler exceptions.
    lambda_service_errors = {n for n in workflow.RETRIED_ERRORS if n.startswith(("Lambda.", "Sandbox."))}
    assert set(workflow.RETRIED_ERRORS) - lambda_service_errors == set(errors.RETRIED_ERRORS)
    assert set(workflow.CAUGHT_ERRORS) == set(errors.CAUGHT_ERRORS)
    for name in [*errors.RETRIED_ERRORS, *errors.CAUGHT_ERRORS]:
        assert issubclass(getattr(errors, name), Exception)


def test_every_function_handler_imports_from_the_synthesized_bundle(full_pipeline):
    bundle = full_pipeline["stack"].handlers.bundle_dir
    handlers = sorted({spec["handler"] for spec in lambda_functions(full_pipeline["template"]).values()})
    assert len(handlers) == 16  # stacks.permissions' handlers (abort, preflight, champion, …) + reward
    code = (
        "import importlib, sys; sys.modules['yaml'] = None; sys.path.insert(0, sys.argv[1]);"
        "[getattr(importlib.import_module(h.rsplit('.', 1)[0]), h.rsplit('.', 1)[1]) for h in sys.argv[2:]]"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(bundle), *handlers],
        capture_output=True,
        text=True,
        check=False,
        cwd=bundle,
    )
    assert result.returncode == 0, result.stderr[-2000:]
