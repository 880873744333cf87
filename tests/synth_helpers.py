"""Synthesize the app for a config (optionally with overrides) and return the template. Test helper."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import yaml

from app import build_app

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "config"


def _merge(base: dict, overrides: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def synth(config_name: str, workdir: Path, overrides: dict[str, Any] | None = None, *,
          cfn_validation: bool = False) -> dict:
    """Synthesize config/<name>.yaml (+ overrides) into ``workdir``: template, stack, seconds."""
    raw = yaml.safe_load((CONFIG_DIR / f"{config_name}.yaml").read_text(encoding="utf-8"))
    config_path = workdir / f"{config_name}.yaml"
    config_path.write_text(yaml.safe_dump(_merge(raw, overrides or {})), encoding="utf-8")
    started = time.perf_counter()
    app, stack = build_app(config_path, workdir / "cdk.out", cfn_validation=cfn_validation)
    assembly = app.synth()
    seconds = time.perf_counter() - started
    template_path = Path(assembly.directory) / stack.template_file
    return {
        "template": json.loads(template_path.read_text(encoding="utf-8")),
        "template_path": template_path,
        "stack": stack,
        "assembly_dir": Path(assembly.directory),
        "seconds": seconds,
    }
