"""app.py: which config it builds, and the stack name it derives."""

from __future__ import annotations

import pytest

from app import PROJECT_ROOT, build_app, cfn_validation_requested, resolve_config, stack_id
from pipeline_core.settings import ConfigError


@pytest.mark.parametrize(
    "context, environ, expected",
    [
        ("config/open-weights.yaml", {"FORGE_CONFIG": "config/local.yaml"}, "config/open-weights.yaml"),
        (None, {"FORGE_CONFIG": "config/local.yaml"}, "config/local.yaml"),
        (None, {}, "config/nova.yaml"),
    ],
)
def test_config_comes_from_context_then_env_then_default(context, environ, expected):
    assert resolve_config(context, environ) == PROJECT_ROOT / expected


def test_absolute_config_paths_are_kept(tmp_path):
    assert resolve_config(str(tmp_path / "x.yaml"), {}) == tmp_path / "x.yaml"


def test_stack_id_is_the_settings_name_in_pascal_case():
    assert stack_id("forge-nova") == "ForgeNova"


def test_a_bad_config_fails_before_building_anything(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {family: gpt, base_model: x}\n")
    with pytest.raises(ConfigError, match="model.family"):
        build_app(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value, expected", [("true", True), ("1", True), (True, True), ("false", False),
                                             (None, False), (False, False), ("Off", False)])
def test_the_cfn_validation_context_reads_cli_strings_and_booleans(value, expected):
    assert cfn_validation_requested(value) is expected


def test_a_misspelt_cfn_validation_context_is_an_error():
    with pytest.raises(ValueError, match="cfn-validation='ture'"):
        cfn_validation_requested("ture")
