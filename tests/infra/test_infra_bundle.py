"""The Lambda bundle: content, determinism, and settings that load without PyYAML (as in Lambda)."""

from __future__ import annotations

import json
import subprocess
import sys

from pipeline_core.settings import load_settings
from stacks.bundle import stage_lambda_bundle
from tests.synth_helpers import CONFIG_DIR


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_bundle_holds_handlers_job_code_settings_and_no_caches(tmp_path):
    settings = load_settings(CONFIG_DIR / "nova.yaml")
    bundle = stage_lambda_bundle(settings, tmp_path / "b")
    files = _files(bundle)
    assert "settings.json" in files and "pipeline_core/settings.py" in files
    # The handlers import nothing from the CDK folder, so none of it ships.
    assert not [f for f in files if f.startswith("stacks/")]
    assert "forge_handlers/__init__.py" in files and "job_code/__init__.py" in files
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in files)
    assert json.loads((bundle / "settings.json").read_text())["name"] == "forge-nova"


def test_bundle_is_deterministic(tmp_path):
    settings = load_settings(CONFIG_DIR / "local.yaml")
    first = stage_lambda_bundle(settings, tmp_path / "one")
    second = stage_lambda_bundle(settings, tmp_path / "two")
    assert _files(first) == _files(second)
    for name in _files(first):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_bundled_settings_load_without_pyyaml(tmp_path):
    bundle = stage_lambda_bundle(load_settings(CONFIG_DIR / "nova.yaml"), tmp_path / "b")
    code = (
        "import sys, json; sys.modules['yaml'] = None; sys.path.insert(0, sys.argv[1]);"
        "from pipeline_core.settings import parse_settings;"
        "print(parse_settings(json.load(open(sys.argv[1] + '/settings.json'))).name)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(bundle)], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "forge-nova"
