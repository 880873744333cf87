"""Lambda's import surface, enforced on the handlers that run in-process (local mode, moto e2e tests).

On AWS a handler can import the standard library, the runtime's boto3, the Powertools layer and its own
asset, nothing else (stacks/lambda_runtime.py). In-process, the handlers share the forge process, where
numpy, rouge-score, PyYAML, moto and the whole project are importable. Two checks close that gap:

1. At init (forge/lambda_probe.py): every module of the asset is imported in a subprocess that sees only
   the surface. A function whose handler module fails there fails every invocation as Lambda reports it:
   ``Runtime.ImportModuleError`` "Unable to import module 'forge_handlers.entry.poll': No module named
   'rouge_score'" (or ``Runtime.UserCodeSyntaxError`` / ``Runtime.HandlerNotFound`` / the exception).
2. At call time (this module): while a handler runs (a thread-local, set by forge/moto_lambda.py around the
   call), ``builtins.__import__`` and ``importlib.import_module`` refuse an import made by asset code
   (a module named like the asset's top-level packages) of a module outside the surface, whether or not
   it is already in sys.modules: ``ModuleNotFoundError: No module named 'numpy'``. An asset module is
   judged by the asset directory, not by this process: ``stacks.bundle`` exists in the project but not
   in the asset, so ``from stacks import bundle`` fails; an asset module the probe could not import
   fails with the probe's error (its module-level imports ran only in the probe, if this process had
   imported it already).

Asset code that calls into local infrastructure (the local SageMaker runtime behind the clients seam) is
not judged below that call: an import is the Lambda's only if no asset frame sits above the first frame
of code that is neither asset, surface library nor standard library.

Not caught: call-time imports made by surface libraries (pydantic importing an optional module: the probe
sees those at init only); imports in threads a handler starts; modules loaded through runpy or
importlib.util loaders; an ``import_module`` bound (``from importlib import import_module``) before the
guard was installed; namespace packages at the asset's top level (the asset has none); versions (the dev
venv's boto3 and Powertools are newer than the runtime's and the layer's: an API they added passes here
and fails on AWS); native libraries the Lambda OS lacks. Names are checked, not versions.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import importlib.util
import json
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from forge import lambda_probe
from stacks import lambda_runtime

SETTINGS_FILE = "settings.json"  # in the asset: the settings the stack was synthesized with


class LambdaInitError(Exception):
    """A function's init failed as it would in Lambda; ``lambda_error_type`` is what Lambda reports."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.lambda_error_type = error_type


class ImportSurface:
    """What asset code may import: stdlib + runtime + layer by top-level name, asset modules by file."""

    def __init__(self, asset_dir: Path, layer_version: int, probed: lambda_probe.ProbeResult) -> None:
        self.asset_dir = asset_dir.resolve()
        self.layer_version = layer_version
        self.distributions = lambda_runtime.allowed_distributions(layer_version)
        self.libraries = frozenset(lambda_runtime.installed_import_names(self.distributions))
        self.stdlib = lambda_runtime.stdlib_names()
        self.asset_names = frozenset(
            path.stem if path.suffix == ".py" else path.name
            for path in self.asset_dir.iterdir()
            if (path.suffix == ".py" or (path / "__init__.py").is_file()) and path.stem.isidentifier()
        )
        self.probed = probed
        self._lambda_tops = self.asset_names | self.libraries | self.stdlib

    def asset_has(self, module: str) -> bool:
        base = self.asset_dir.joinpath(*module.split("."))
        return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()

    def is_asset_code(self, frame: FrameType) -> bool:
        return str(frame.f_globals.get("__name__", "")).partition(".")[0] in self.asset_names

    def for_the_lambda(self, frame: FrameType) -> bool:
        """The import in ``frame`` (asset code) happens on the Lambda's behalf, not local infrastructure's."""
        current = frame.f_back
        while current is not None and (
            current.f_code in _HOOK_CODES
            or str(current.f_globals.get("__name__", "")).partition(".")[0] in self._lambda_tops
        ):
            current = current.f_back
        while current is not None:  # the first frame outside the Lambda's code: the invoker, or infra
            if self.is_asset_code(current):
                return False
            current = current.f_back
        return True

    def check(self, target: str) -> None:
        """Raise what the import of ``target`` (absolute) raises in Lambda, if it would fail there."""
        top = target.partition(".")[0]
        if top in self.asset_names:
            if not self.asset_has(target):
                raise ModuleNotFoundError(f"No module named '{target}'", name=target)
            failure = self.probed.modules.get(target)
            if failure:  # its module-level code fails in Lambda (the probe ran it; this process may not)
                error = ModuleNotFoundError if failure["type"] == "ModuleNotFoundError" else ImportError
                raise error(str(failure["message"]), name=target)
        elif top not in self.libraries and top not in self.stdlib:
            raise ModuleNotFoundError(f"No module named '{top}'", name=top)

    def check_from(self, package: str, names: Any) -> None:
        """``from package import name``: a submodule of the in-process package that the asset lacks."""
        module = sys.modules.get(package)
        locations = getattr(module, "__path__", None)
        if not locations or package.partition(".")[0] not in self.asset_names:
            return
        for name in names:
            if not isinstance(name, str) or name == "*" or self.asset_has(f"{package}.{name}"):
                continue
            if any((Path(p) / f"{name}.py").is_file() or (Path(p) / name / "__init__.py").is_file()
                   for p in locations):
                where = self.asset_dir.joinpath(*package.split("."), "__init__.py")
                raise ImportError(f"cannot import name '{name}' from '{package}' ({where})", name=package)


# --- the call-time guard ------------------------------------------------------------------------------

_state = threading.local()  # .surface: the ImportSurface of the handler running in this thread
_install_lock = threading.Lock()
_installed = 0
_original_import = builtins.__import__
_original_import_module = importlib.import_module


def _judged(frame: FrameType) -> ImportSurface | None:
    """The surface to judge an import made in ``frame`` by, or None (no handler running, not asset code)."""
    surface: ImportSurface | None = getattr(_state, "surface", None)
    if surface is None or not surface.is_asset_code(frame):
        return None
    return surface if surface.for_the_lambda(frame) else None


def _absolute(name: str, globals_: Mapping[str, Any], level: int) -> str:
    if level == 0:
        return name
    package = globals_.get("__package__") or str(globals_.get("__name__", "")).rpartition(".")[0]
    return importlib.util.resolve_name("." * level + name, package)


def _guarded_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (),
                    level: int = 0) -> Any:
    frame = sys._getframe(1)  # the code running the import statement
    surface = _judged(frame)
    if surface is None:
        return _original_import(name, globals, locals, fromlist, level)
    target = _absolute(name, globals if globals is not None else frame.f_globals, level)
    surface.check(target)
    module = _original_import(name, globals, locals, fromlist, level)
    if fromlist:  # after the import: only then is the package (and its __path__) known here
        surface.check_from(target, fromlist)
        for item in fromlist:
            if isinstance(item, str) and item != "*" and surface.asset_has(f"{target}.{item}"):
                surface.check(f"{target}.{item}")
    return module


def _guarded_import_module(name: str, package: str | None = None) -> Any:
    frame = sys._getframe(1)
    surface = _judged(frame)
    if surface is not None:
        surface.check(importlib.util.resolve_name(name, package) if name.startswith(".") else name)
    return _original_import_module(name, package)


_HOOK_CODES = frozenset({_guarded_import.__code__, _guarded_import_module.__code__})


@contextlib.contextmanager
def guard_installed() -> Iterator[None]:
    """Install the import hooks (process-wide, reference-counted); they judge only while a handler runs."""
    global _installed
    with _install_lock:
        if _installed == 0:
            builtins.__import__ = _guarded_import
            importlib.import_module = _guarded_import_module
        _installed += 1
    try:
        yield
    finally:
        with _install_lock:
            _installed -= 1
            if _installed == 0:
                builtins.__import__ = _original_import
                importlib.import_module = _original_import_module


# --- one stack's functions ------------------------------------------------------------------------


class LambdaRuntime:
    """The stack's functions with their asset's surface: ``check_init`` and ``running`` per invocation."""

    def __init__(self, functions: Mapping[str, tuple[str | Path, str]]) -> None:
        """``functions``: function name -> (asset directory, handler "module.attribute")."""
        self.functions = {name: (Path(asset).resolve(), handler)
                          for name, (asset, handler) in functions.items()}
        self.surfaces: dict[Path, ImportSurface] = {}
        for asset in sorted({asset for asset, _ in self.functions.values()}):
            handlers = sorted(h for a, h in self.functions.values() if a == asset)
            version = layer_version_of(asset)
            self.surfaces[asset] = ImportSurface(asset, version, lambda_probe.probe(asset, handlers, version))

    def check_init(self, function_name: str) -> None:
        """Raise LambdaInitError if the function's handler cannot be loaded in Lambda."""
        if function_name not in self.functions:
            return  # not one of the stack's functions (a test fake)
        asset, handler = self.functions[function_name]
        surface = self.surfaces[asset]
        module, _, attribute = handler.rpartition(".")
        failure = surface.probed.modules.get(module)
        if failure is None and not surface.probed.handlers.get(handler):
            raise LambdaInitError("Runtime.HandlerNotFound",
                                  f"Handler '{attribute}' missing on module '{module}'")
        if failure is None:
            return
        if failure["import_error"]:
            raise LambdaInitError("Runtime.ImportModuleError",
                                  f"Unable to import module '{module}': {failure['message']}")
        if failure["type"] == "SyntaxError":
            raise LambdaInitError("Runtime.UserCodeSyntaxError",
                                  f"Syntax error in module '{module}': {failure['message']}")
        raise LambdaInitError(str(failure["type"]), str(failure["message"]))

    @contextlib.contextmanager
    def running(self, function_name: str) -> Iterator[None]:
        """Judge the imports of asset code in this thread while the function's handler runs."""
        asset = self.functions.get(function_name, (None, ""))[0]
        previous = getattr(_state, "surface", None)
        _state.surface = self.surfaces.get(asset) if asset else None
        try:
            yield
        finally:
            _state.surface = previous


def layer_version_of(asset_dir: Path) -> int:
    """The Powertools layer version the asset's settings pin (what the template's layer ARN carries)."""
    settings = json.loads((asset_dir / SETTINGS_FILE).read_text(encoding="utf-8"))
    return int(settings[lambda_runtime.SETTING])
