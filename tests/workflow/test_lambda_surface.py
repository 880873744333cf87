"""The in-process Lambda import surface (forge/lambda_surface.py, forge/lambda_probe.py) on a tiny asset.

The asset's package is also importable in-process from a "project" copy that has one module more
(``extra``) and whose ``heavy`` lacks the asset's ``import numpy``: the guard must judge by the asset.
"""

from __future__ import annotations

import builtins
import importlib
import json
import sys
import textwrap

import pytest

from forge.lambda_surface import LambdaInitError, LambdaRuntime, guard_installed

HANDLER = '''
import importlib


def handler(event, context):
    return "ok"


def use_allowed():
    import json, pydantic, boto3, botocore, dateutil, aws_lambda_powertools  # noqa
    from aws_lambda_powertools.utilities.typing import LambdaContext  # noqa
    return "ok"


def use_numpy():
    import numpy
    return numpy.__name__


def use_yaml():
    import yaml  # noqa


def use_import_module():
    return importlib.import_module("yaml")


def use_extra():
    from surfacepkg import extra  # noqa


def use_relative_extra():
    from . import extra  # noqa


def use_extra_dotted():
    import surfacepkg.extra  # noqa


def use_heavy():
    from surfacepkg import heavy
    return heavy.VALUE


def through(callback):
    return callback()
'''


def _write(root, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    asset, project = tmp_path / "asset", tmp_path / "project"
    common = {"surfacepkg/__init__.py": "", "surfacepkg/handler.py": HANDLER}
    _write(asset, {**common, "settings.json": json.dumps({"powertools_layer_version": 27}),
                   "surfacepkg/heavy.py": "import numpy\nVALUE = 1\n",
                   "surfacepkg/broken.py": "import yaml\n\ndef handler(event, context):\n    return 1\n",
                   "surfacepkg/typo.py": "def handler(event, context)\n    return 1\n"})
    _write(project, {**common, "surfacepkg/heavy.py": "VALUE = 1\n", "surfacepkg/extra.py": "X = 1\n"})
    monkeypatch.syspath_prepend(str(project))
    runtime = LambdaRuntime({
        "fn": (asset, "surfacepkg.handler.handler"),
        "broken": (asset, "surfacepkg.broken.handler"),
        "typo": (asset, "surfacepkg.typo.handler"),
        "missing": (asset, "surfacepkg.handler.nope"),
    })
    yield runtime
    for name in [n for n in sys.modules if n.split(".")[0] == "surfacepkg"]:
        del sys.modules[name]


@pytest.mark.parametrize(
    ("function", "error_type", "message"),
    [
        ("broken", "Runtime.ImportModuleError",
         "Unable to import module 'surfacepkg.broken': No module named 'yaml'"),
        ("missing", "Runtime.HandlerNotFound", "Handler 'nope' missing on module 'surfacepkg.handler'"),
        ("typo", "Runtime.UserCodeSyntaxError", "Syntax error in module 'surfacepkg.typo': expected ':'"),
    ],
)
def test_init_fails_as_lambda_reports_it(runtime, function, error_type, message) -> None:
    with pytest.raises(LambdaInitError) as raised:
        runtime.check_init(function)
    assert raised.value.lambda_error_type == error_type
    assert str(raised.value).startswith(message)


def test_a_good_handler_and_an_unknown_function_pass_init(runtime) -> None:
    runtime.check_init("fn")
    runtime.check_init("a-test-fake")  # not one of the stack's functions: nothing to judge


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        ("use_numpy", ModuleNotFoundError, "No module named 'numpy'"),
        ("use_yaml", ModuleNotFoundError, "No module named 'yaml'"),
        ("use_import_module", ModuleNotFoundError, "No module named 'yaml'"),
        ("use_extra", ImportError, "cannot import name 'extra' from 'surfacepkg'"),
        ("use_relative_extra", ImportError, "cannot import name 'extra' from 'surfacepkg'"),
        ("use_extra_dotted", ModuleNotFoundError, "No module named 'surfacepkg.extra'"),
        ("use_heavy", ModuleNotFoundError, "No module named 'numpy'"),  # what the asset's heavy.py imports
    ],
)
def test_call_time_imports_outside_the_surface_fail(runtime, call, error, message) -> None:
    import numpy  # noqa: F401  (already imported here: the guard refuses it anyway)

    handler = importlib.import_module("surfacepkg.handler")
    with guard_installed(), runtime.running("fn"), pytest.raises(error) as raised:
        getattr(handler, call)()
    assert str(raised.value).startswith(message)


def test_what_the_surface_allows_and_what_is_not_judged(runtime) -> None:
    handler = importlib.import_module("surfacepkg.handler")
    with guard_installed():
        with runtime.running("fn"):
            assert handler.use_allowed() == "ok"
            import yaml  # noqa: F401  (this test's own import: not asset code)

            # Asset code calling local infrastructure (here, this test) that calls asset code: not judged.
            assert handler.through(lambda: handler.use_numpy()) == "numpy"
        assert handler.use_numpy() == "numpy"  # no handler running
    assert builtins.__import__.__module__ == "builtins" and importlib.import_module.__module__ == "importlib"
