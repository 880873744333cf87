"""Import every module of a Lambda asset in an interpreter that sees only Lambda's import surface.

The probe is a ``python -I -S`` subprocess (no site-packages, no PYTHONPATH, no user site) whose sys.path is
the asset directory, a directory of symlinks exposing only the allowed distributions of the dev venv
(their RECORD's top-level entries: packages, modules, extension modules, ``*.libs``, dist-info), and the
standard library; modules Python 3.12 removed are blocked. It imports each handler module the way the
runtime does at init, and every other module of the asset (call-time imports of asset modules are judged
against that result), and reports per module None or the exception it raised.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from stacks import lambda_runtime

PROBE_TIMEOUT_SECONDS = 120

_SCRIPT = r"""
import importlib, json, sys
asset, exposed, blocked, handlers, modules, out = json.loads(sys.argv[1])
sys.path[:0] = [asset, exposed]
class Gone:  # modules the runtime's Python no longer has fail as they would there
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
sys.meta_path.insert(0, Gone)
result = {"modules": {}, "handlers": {}}
def failure(error):
    kind = isinstance(error, ImportError)
    return {"type": type(error).__name__, "message": str(error), "import_error": kind}
for name in modules:
    try:
        importlib.import_module(name)
        result["modules"][name] = None
    except BaseException as error:  # what the runtime would report at init
        result["modules"][name] = failure(error)
for handler in handlers:
    module, _, attribute = handler.rpartition(".")
    found = module in sys.modules and hasattr(sys.modules[module], attribute)
    result["handlers"][handler] = found
with open(out, "w") as stream:
    json.dump(result, stream)
"""


class ProbeError(RuntimeError):
    """The probe interpreter itself failed (not an import of the asset): the message has its stderr."""


@dataclass(frozen=True)
class ProbeResult:
    modules: dict[str, dict[str, object] | None]  # module -> None (imported) or the failure
    handlers: dict[str, bool]  # "module.attribute" -> the attribute exists after the import


def asset_modules(asset_dir: Path) -> list[str]:
    """Every importable module of the asset, packages before their submodules."""
    names = []
    for path in sorted(asset_dir.rglob("*.py")):
        relative = path.relative_to(asset_dir).with_suffix("")
        if "__pycache__" in relative.parts or not all(part.isidentifier() for part in relative.parts):
            continue
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        if parts:
            names.append(".".join(parts))
    return sorted(set(names), key=lambda name: (name.count("."), name))


def expose_distributions(distributions: frozenset[str], target: Path) -> None:
    """Symlink the top-level entries of each allowed distribution installed here into ``target``."""
    seen: set[str] = set()
    for dist in importlib.metadata.distributions():
        name = lambda_runtime.normalize(dist.metadata["Name"] or "")
        if name not in distributions or name in seen:
            continue
        seen.add(name)
        tops = {Path(str(f)).parts[0] for f in dist.files or ()}
        for top in sorted(tops - {"..", "__pycache__"}):
            source = Path(str(dist.locate_file(top)))
            link = target / top
            if source.exists() and not link.exists():
                link.symlink_to(source, target_is_directory=source.is_dir())


def _fingerprint(asset_dir: Path) -> tuple:
    files = sorted(p for p in asset_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return tuple((str(p.relative_to(asset_dir)), p.stat().st_mtime_ns, p.stat().st_size) for p in files)


_cache: dict[tuple, ProbeResult] = {}
_cache_lock = threading.Lock()


def probe(asset_dir: Path, handlers: list[str], layer_version: int) -> ProbeResult:
    """Import the asset as the runtime would (cached per asset content and layer)."""
    asset_dir = asset_dir.resolve()
    key = (str(asset_dir), layer_version, tuple(sorted(handlers)), _fingerprint(asset_dir))
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    blocked = sorted(set(sys.stdlib_module_names) - lambda_runtime.stdlib_names())
    with tempfile.TemporaryDirectory(prefix="forge-lambda-surface-") as scratch:
        exposed, out = Path(scratch) / "site", Path(scratch) / "result.json"
        exposed.mkdir()
        expose_distributions(lambda_runtime.allowed_distributions(layer_version), exposed)
        modules = asset_modules(asset_dir)
        modules += [h.rpartition(".")[0] for h in handlers if h.rpartition(".")[0] not in modules]
        argument = json.dumps([str(asset_dir), str(exposed), blocked, handlers, modules, str(out)])
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        done = subprocess.run([sys.executable, "-I", "-S", "-c", _SCRIPT, argument], capture_output=True,
                              text=True, env=env, cwd=scratch, timeout=PROBE_TIMEOUT_SECONDS)
        if done.returncode != 0 or not out.is_file():
            raise ProbeError(f"the Lambda import probe of {asset_dir} failed: {done.stderr[-3000:]}")
        raw = json.loads(out.read_text())
    result = ProbeResult(modules=raw["modules"], handlers=raw["handlers"])
    with _cache_lock:
        _cache[key] = result
    return result
