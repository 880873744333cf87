"""``forge run --local`` with reward.module: the staged code channel carries the user's file and the local
GRPO job (a real process, as on SageMaker) calls it."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from tests.local.test_end_to_end import run_cli, tiny_model, write_config  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow

COUNTING_REWARD = '''
import json
import os


def score(completion, reference, row):
    with open(os.environ["FORGE_TEST_REWARD_CALLS"], "a", encoding="utf-8") as calls:
        call = {"completion": completion, "reference": reference, "pid": os.getpid()}
        calls.write(json.dumps(call) + "\\n")
    return float(completion.strip() == reference.strip()) - 0.01 * len(completion)
'''


def test_the_local_rft_job_calls_the_custom_reward(tiny_model, tmp_path, monkeypatch):  # noqa: F811
    (tmp_path / "pyproject.toml").touch()  # the config's repository tree
    (tmp_path / "counting_reward.py").write_text(COUNTING_REWARD, encoding="utf-8")
    config = write_config(tmp_path / "e2e.yaml", tiny_model)
    raw = yaml.safe_load(config.read_text())
    raw["reward"] = {"module": "counting_reward.py"}
    raw["deploy"]["enabled"] = False
    config.write_text(yaml.safe_dump(raw))
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FORGE_TEST_REWARD_CALLS", str(calls))
    code, output = run_cli(config, tmp_path / "runs", "custom-reward")
    report_file = tmp_path / "runs" / "custom-reward" / "report.json"
    report = json.loads(report_file.read_text()) if report_file.is_file() else {}
    assert code == 0 and report["status"] == "SUCCEEDED", output + json.dumps(report.get("failure_reason"))
    recorded = [json.loads(line) for line in calls.read_text(encoding="utf-8").splitlines()]
    # forge run checks the reward here first (this process), then the job runs: 2 steps x 2 prompts x 2.
    job_calls = [call for call in recorded if call["pid"] != os.getpid()]
    assert len(job_calls) == 8 and len(recorded) > 8, recorded
    assert {call["reference"] for call in job_calls} <= {"HQ", "LQ_EDIT", "LQ_CLOSE"}
