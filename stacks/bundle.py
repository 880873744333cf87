"""Stage the one Lambda asset directory: handler code, job code, the settings model and settings.json.

No Docker: the handlers need only what the Lambda runtime and the Powertools layer provide (boto3,
pydantic, Powertools) plus PyYAML, which `stacks.settings` imports. Local mode imports the handlers from
this same directory, so what runs offline is what CDK uploads.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from stacks.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SETTINGS_FILE_NAME = "settings.json"
# (source relative to the project root, destination inside the bundle)
_COPIED_TREES = (("lambda/forge_handlers", "forge_handlers"), ("job_code", "job_code"))
_COPIED_FILES = (("stacks/__init__.py", "stacks/__init__.py"), ("stacks/settings.py", "stacks/settings.py"))
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache")


class BundleError(RuntimeError):
    """The Lambda bundle cannot be staged (a source tree is missing)."""


def stage_lambda_bundle(settings: Settings, dest_dir: str | Path) -> Path:
    """Write the bundle into ``dest_dir`` (replacing what was there) and return its path.

    The content depends only on the sources and the settings, so CDK's asset hash is stable.
    """
    dest = Path(dest_dir).resolve()
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for source, target in _COPIED_TREES:
        source_path = PROJECT_ROOT / source
        if not source_path.is_dir():
            raise BundleError(f"Lambda bundle source {source}/ is missing under {PROJECT_ROOT}")
        shutil.copytree(source_path, dest / target, ignore=_IGNORED)
    for source, target in _COPIED_FILES:
        (dest / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PROJECT_ROOT / source, dest / target)
    (dest / SETTINGS_FILE_NAME).write_text(settings.to_json() + "\n", encoding="utf-8")
    return dest
