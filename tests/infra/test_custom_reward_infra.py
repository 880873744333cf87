"""reward.module / reward.requirements: checked at load, packaged into the Lambda asset and the code channel,
and the template changes only when they are set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipeline_core.settings import ConfigError, load_settings, parse_settings
from stacks.bundle import BundleError, stage_code_channel, stage_lambda_bundle
from tests.synth_helpers import CONFIG_DIR, synth

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = PROJECT_ROOT / "examples" / "generation" / "reward.py"
GOOD = "def score(completion, reference, row):\n    return float(completion.strip() == reference.strip())\n"


def config_with(tmp_path: Path, reward: dict, base: str = "open-weights") -> Path:
    raw = yaml.safe_load((CONFIG_DIR / f"{base}.yaml").read_text(encoding="utf-8"))
    raw["reward"] = {**raw.get("reward", {}), **reward}
    (tmp_path / "pyproject.toml").touch()  # the repository tree: tmp_path
    path = tmp_path / "configs" / "pipeline.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_module_is_resolved_relative_to_the_config(tmp_path):
    (tmp_path / "rewards").mkdir()
    (tmp_path / "rewards" / "mine.py").write_text(GOOD)
    settings = load_settings(config_with(tmp_path, {"module": "../rewards/mine.py"}))
    assert settings.reward.source_path == (tmp_path / "rewards" / "mine.py").resolve()
    dumped = json.loads(settings.to_json())["reward"]
    assert dumped["module"] == "../rewards/mine.py"  # settings.json keeps the config's relative path
    assert "requirements" not in dumped


@pytest.mark.parametrize(("module", "make", "message"), [
    ("absent.py", None, "reward.module 'absent.py' (resolved to {path}) does not exist"),
    ("reward.txt", "reward.txt", "reward.module 'reward.txt' (resolved to {path}) is not a .py file"),
    ("my-reward.py", "my-reward.py", "the file name 'my-reward.py' is not an importable Python module name"),
    ("../../outside.py", "../outside.py", "is outside the config's repository tree"),
    ("", None, "reward.module is empty"),
])
def test_a_bad_module_is_a_config_error_naming_field_and_path(tmp_path, module, make, message):
    root = tmp_path / "repo"
    (root / "configs").mkdir(parents=True)
    (root / ".git").mkdir()
    if make:
        (root / "configs" / make).resolve().write_text(GOOD)
    raw = yaml.safe_load((CONFIG_DIR / "open-weights.yaml").read_text(encoding="utf-8"))
    raw["reward"] = {"module": module}
    config = root / "configs" / "c.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    expected = message.format(path=(root / "configs" / module).resolve())
    assert expected in str(raised.value) and str(config) in str(raised.value)


@pytest.mark.parametrize("requirement", ["numpy", "numpy>=1.0", "numpy==", "git+https://x/y.git", "a b==1"])
def test_requirements_must_be_pinned(requirement):
    raw = {"model": {"family": "hf", "base_model": "tiny"}, "reward": {"requirements": [requirement]}}
    with pytest.raises(ConfigError, match=r"reward.requirements.*not pinned as name==version"):
        parse_settings(raw)


def test_pinned_requirements_are_accepted():
    raw = {"model": {"family": "hf", "base_model": "tiny"}, "reward": {"requirements": ["rapidfuzz==3.9.7"]}}
    assert parse_settings(raw).reward.requirements == ["rapidfuzz==3.9.7"]


def test_settings_json_of_todays_configs_is_unchanged_by_the_new_fields():
    for name in ("nova", "open-weights", "local-demo"):
        reward = json.loads(load_settings(CONFIG_DIR / f"{name}.yaml").to_json())["reward"]
        assert set(reward) == {"correct_label", "exact_format", "verbosity_penalty", "verbose_chars"}, name


def test_the_bundle_and_the_code_channel_hold_the_module(tmp_path):
    (tmp_path / "mine.py").write_text(GOOD)
    reward = {"module": "../mine.py", "requirements": ["regex==2024.11.6"]}
    settings = load_settings(config_with(tmp_path, reward))
    bundle = stage_lambda_bundle(settings, tmp_path / "bundle")
    channel = stage_code_channel(tmp_path / "code", settings)
    for root in (bundle, channel):
        assert (root / "user_reward" / "mine.py").read_text() == GOOD
        assert (root / "user_reward" / "__init__.py").is_file()
        assert (root / "job_code" / "core" / "reward.py").is_file()  # the built-in stays beside it
    assert (channel / "requirements.txt").read_text().splitlines()[-1] == "regex==2024.11.6"


def test_without_a_module_nothing_is_added(tmp_path):
    settings = load_settings(CONFIG_DIR / "open-weights.yaml")
    assert not (stage_lambda_bundle(settings, tmp_path / "bundle") / "user_reward").exists()
    assert not (stage_code_channel(tmp_path / "code", settings) / "user_reward").exists()


def test_an_unresolved_module_cannot_be_packaged(tmp_path):
    settings = parse_settings({"model": {"family": "hf", "base_model": "tiny"}, "reward": {"module": "r.py"}})
    with pytest.raises(BundleError, match="reward.module 'r.py' was not resolved to a file"):
        stage_lambda_bundle(settings, tmp_path / "bundle")


def test_nova_requirements_must_be_on_the_lambda_surface(tmp_path):
    (tmp_path / "mine.py").write_text(GOOD)
    config = config_with(tmp_path, {"module": "../mine.py", "requirements": ["numpy==2.1.0"]}, base="nova")
    with pytest.raises(BundleError, match=r"reward.requirements \['numpy==2.1.0'\]: the Nova reward Lambda"):
        stage_lambda_bundle(load_settings(config), tmp_path / "bundle")
    allowed = config_with(tmp_path, {"module": "../mine.py", "requirements": ["boto3==1.34.0"]}, base="nova")
    bundle = stage_lambda_bundle(load_settings(allowed), tmp_path / "b2")
    assert (bundle / "user_reward" / "mine.py").is_file()


def _reward_function(template: dict) -> dict:
    resources = template["Resources"].values()
    functions = [r["Properties"] for r in resources if r["Type"] == "AWS::Lambda::Function"]
    return next(f for f in functions if str(f.get("FunctionName", "")).endswith("-reward-SageMaker"))


def test_the_template_sets_the_module_file_only_with_a_module(tmp_path):
    (tmp_path / "with").mkdir()
    (tmp_path / "with" / "reward.py").write_text(EXAMPLE.read_text())
    synthesized = synth("nova", tmp_path / "with", {"reward": {"module": "reward.py"}})
    with_module = _reward_function(synthesized["template"])
    (tmp_path / "plain").mkdir()
    plain = _reward_function(synth("nova", tmp_path / "plain")["template"])
    assert with_module["Environment"]["Variables"]["REWARD_MODULE_FILE"] == "/var/task/user_reward/reward.py"
    assert "REWARD_MODULE_FILE" not in plain["Environment"]["Variables"]
    # The weights the built-in reads are the same JSON either way.
    assert (with_module["Environment"]["Variables"]["REWARD_WEIGHTS"]
            == plain["Environment"]["Variables"]["REWARD_WEIGHTS"])
    assert with_module["Handler"] == plain["Handler"] == "job_code.core.reward.lambda_handler"
