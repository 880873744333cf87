"""Issue 12, point 6: a bad hyperparameter fails at synth and in `forge validate`, naming the config file,
the stage and the field, instead of failing the SFT job after the paid baseline eval."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from forge.cli import app
from pipeline_core.job_hyperparameters import HyperparameterError, parse_stage
from pipeline_core.settings import ConfigError, load_settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = PROJECT_ROOT / "config"
SAMPLE = PROJECT_ROOT / "examples" / "data" / "so_sample.csv"

# (config, stage slot, settings key, field, value)
BAD = [
    ("open-weights", "sft", "hyperparameters", "learning_rate", "fast"),
    ("open-weights", "sft", "hyperparameters", "epochs", -1),
    ("open-weights", "baseline_eval", "hyperparameters", "batch_size", 0),
    ("open-weights", "sft", "hyperparameters", "max_length", 10),
    ("open-weights", "rft", "hyperparameters", "learning_rate", -1e-5),
    ("open-weights", "eval", "hyperparameters", "max_new_tokens", 0),
    ("open-weights", "sft", "hyperparameters", "batch_size", 8),  # the SFT job calls it per_device_batch_size
    ("nova", "sft", "recipe_overrides", "training_config.optim_config.lr", "fast"),
    ("nova", "sft", "recipe_overrides", "training_config.global_batch_size", 0),
    ("nova", "sft", "recipe_overrides", "training_config.max_steps", -1),
    ("nova", "sft", "recipe_overrides", "training_config.max_length", 10),
    ("nova", "rft", "recipe_overrides", "training_config.trainer.optim_config.lr", 0),
    ("nova", "baseline_eval", "recipe_overrides", "inference.max_new_tokens", 0),
    ("nova", "sft", "recipe_overrides", "training_config.max_epochs", 2),  # Nova SFT counts steps
]


def _bad_config(tmp_path: Path, config: str, slot: str, key: str, field: str, value: object) -> Path:
    raw = yaml.safe_load((CONFIG_DIR / f"{config}.yaml").read_text())
    stage = raw.setdefault("stages", {}).setdefault(slot, {})
    stage.setdefault(key, {})[field] = value
    path = tmp_path / f"bad-{config}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(("config", "slot", "key", "field", "value"), BAD)
def test_a_bad_hyperparameter_fails_at_synth_naming_file_stage_and_field(
    tmp_path: Path, config: str, slot: str, key: str, field: str, value: object
) -> None:
    path = _bad_config(tmp_path, config, slot, key, field, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)  # app.build_app starts with it
    message = str(caught.value)
    assert str(path) in message and f"stages.{slot}.{key}.{field}" in message, message


@pytest.mark.parametrize(("config", "slot", "key", "field", "value"), BAD[:4])
def test_forge_validate_rejects_a_bad_hyperparameter(
    tmp_path: Path, config: str, slot: str, key: str, field: str, value: object
) -> None:
    path = _bad_config(tmp_path, config, slot, key, field, value)
    result = CliRunner().invoke(app, ["validate", str(SAMPLE), "--config", str(path)])
    assert result.exit_code == 1, result.output  # a failed check, not a usage error
    assert f"stages.{slot}.{key}.{field}" in result.output and str(path.name) in result.output


@pytest.mark.parametrize(
    ("kind", "raw", "field"),
    [
        ("sft", {"learning_rate": "fast"}, "learning_rate"),
        ("sft", {"epochs": "-1"}, "epochs"),
        ("sft", {"max_length": "10"}, "max_length"),
        ("eval", {"batch_size": "0"}, "batch_size"),
        ("rft", {"max_completion_length": "0"}, "max_completion_length"),
    ],
)
def test_the_job_code_rejects_the_same_values(kind: str, raw: dict, field: str) -> None:
    """The jobs parse their hyperparameters with the very function the settings use."""
    with pytest.raises(HyperparameterError) as caught:
        parse_stage(kind, raw)
    assert caught.value.field == field


def test_the_shipped_configs_pass() -> None:
    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        load_settings(path)
