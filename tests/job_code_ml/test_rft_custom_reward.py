"""The GRPO job calls the user's reward (reward.module) from the code channel the stack deploys, with the
completions and the reference answers, and logs the dict's other keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from pipeline_core.hyperparameters import stage_hyperparameters
from pipeline_core.settings import load_settings
from stacks.bundle import stage_code_channel
from tests.synth_helpers import CONFIG_DIR

pytestmark = pytest.mark.slow

COUNTING_REWARD = '''
import json
import os


def score(completion, reference, row):
    with open(os.environ["REWARD_CALLS_FILE"], "a", encoding="utf-8") as calls:
        call = {"completion": completion, "reference": reference, "row": sorted(row)}
        calls.write(json.dumps(call) + "\\n")
    return {"total": float(len(completion) % 3), "chars": float(len(completion))}
'''


def test_the_grpo_job_calls_the_custom_reward_from_the_code_channel(tmp_path, tiny_model_dir, chat_channel):
    (tmp_path / "pyproject.toml").touch()  # the repository tree of the config
    (tmp_path / "counting_reward.py").write_text(COUNTING_REWARD, encoding="utf-8")
    raw = yaml.safe_load((CONFIG_DIR / "open-weights.yaml").read_text(encoding="utf-8"))
    raw["reward"] = {"module": "counting_reward.py"}
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    settings = load_settings(config)
    channel = stage_code_channel(tmp_path / "code", settings)
    # The hyperparameters Launch sends (the reward block carries the module), plus a tiny run's own.
    hyper = stage_hyperparameters(settings, "rft")
    assert json.loads(hyper["reward_weights"])["module"] == "counting_reward.py"
    argv = ["--base_model", str(tiny_model_dir), "--reward_weights", hyper["reward_weights"],
            "--max_steps", "1", "--num_generations", "2", "--prompts_per_step", "2",
            "--max_completion_length", "4", "--beta", "0", "--max_query_tokens", "32", "--logging_steps", "1"]
    calls = tmp_path / "calls.jsonl"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SM_", "PYTHON"))}
    # Only the channel on the path, as the training toolkit runs it (not the checkout's job_code).
    env.update(PYTHONPATH=str(channel), SM_BASE_DIR=str(tmp_path / "job"), SM_CHANNEL_TRAIN=str(chat_channel),
               HF_HUB_OFFLINE="1", REWARD_CALLS_FILE=str(calls))
    done = subprocess.run([sys.executable, str(channel / "rft.py"), *argv], cwd=tmp_path / "code", env=env,
                          capture_output=True, text=True, timeout=600)
    failure = tmp_path / "job" / "output" / "failure"
    assert done.returncode == 0, (failure.read_text() if failure.is_file() else "") + done.stderr[-3000:]
    recorded = [json.loads(line) for line in calls.read_text(encoding="utf-8").splitlines()]
    assert len(recorded) == 4  # 1 step x 2 prompts x 2 generations
    labels = {row["label"] for row in map(json.loads, (chat_channel / "rows.jsonl").read_text().splitlines())}
    assert {call["reference"] for call in recorded} <= labels
    assert all(isinstance(call["completion"], str) for call in recorded)
    assert all({"prompt", "reference_answer"} <= set(call["row"]) for call in recorded)
    metrics = json.loads((tmp_path / "job" / "output" / "data" / "train_metrics.json").read_text())
    assert metrics["steps"] == 1
    assert "reward/chars" in done.stdout + done.stderr + json.dumps(metrics)
