"""The shipped free-text example (examples/generation/) end to end in local mode, on the tiny model.

Its own config, reward.py, metric.py and data generator, only shrunk to seconds: the GRPO job (a real
process, as on SageMaker) scores its completions with the example's reward (its ``token_f1`` /
``number_match`` parts are logged as ``reward/<key>``), every evaluation runs the example's metric, and the
gate decides on that metric. The same files at the config's sizes are the SmolLM2 run of the README.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.local.test_end_to_end import tiny_model  # noqa: F401 (fixture)
from tests.local.test_generation_local import app_run

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = PROJECT_ROOT / "examples" / "generation"
REWARD_PARTS = ("token_f1", "number_match", "length_penalty")

pytestmark = pytest.mark.slow


def shrunk_example(directory: Path, base_model: Path) -> Path:
    """examples/generation/generation.yaml beside copies of its reward.py and metric.py, with the tiny model
    and sizes that run in seconds; everything else (task, reward, metrics, gate, deploy) as shipped."""
    directory.mkdir(parents=True)
    (directory / "pyproject.toml").touch()  # the config's repository tree
    for name in ("reward.py", "metric.py"):
        shutil.copy(EXAMPLE / name, directory / name)
    config = yaml.safe_load((EXAMPLE / "generation.yaml").read_text(encoding="utf-8"))
    config["model"]["base_model"] = str(base_model)
    config["split"].update(sft=16, eval=8, rft=4)
    short = {"max_new_tokens": 8, "batch_size": 8}
    config["stages"]["baseline_eval"]["hyperparameters"].update(short)
    config["stages"]["eval"]["hyperparameters"].update(short)
    config["stages"]["sft"]["hyperparameters"].update(epochs=1, per_device_batch_size=8, logging_steps=1,
                                                       lora_layers=1)
    config["stages"]["rft"]["hyperparameters"].update(max_steps=2, num_generations=2, prompts_per_step=2,
                                                      max_completion_length=8, lora_layers=1)
    # A random model's answers are noise (often empty): let the gate pass so the run deploys, and skip the
    # smoke test, which rightly rejects an empty answer (the shipped config keeps it for SmolLM2).
    config["gate"]["min_gain_over_baseline"] = -1.0
    config["deploy"]["smoke_test"] = False
    path = directory / "generation.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def example_data(path: Path) -> Path:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_data", EXAMPLE / "make_data.py")
    make_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_data)
    path.write_text("".join(json.dumps(row) + "\n" for row in make_data.make_rows(40, 11)), encoding="utf-8")
    return path


def test_the_generation_example_runs_with_its_reward_and_metric(tiny_model, tmp_path):  # noqa: F811
    config = shrunk_example(tmp_path / "project", tiny_model)
    data = example_data(tmp_path / "word_problems.jsonl")
    code, output = app_run(config, data, tmp_path / "runs", "example")
    run_dir = tmp_path / "runs" / "example"
    report = json.loads((run_dir / "report.json").read_text())
    assert code == 0, output + json.dumps(report.get("failure_reason"))

    # The GRPO job called the example's reward: its parts are in the RFT job's training log, every step.
    logs = [p for p in run_dir.rglob("training_log.json") if json.loads(p.read_text()).get("stage") == "rft"]
    assert len(logs) == 1, [str(p) for p in run_dir.rglob("training_log.json")]
    steps = [entry for entry in json.loads(logs[0].read_text())["log_history"] if "reward" in entry]
    assert steps, "the RFT job logged no reward"
    for entry in steps:
        for part in REWARD_PARTS:
            assert isinstance(entry.get(f"reward/{part}"), float), (part, entry)

    # The example's metric: in results.json of every evaluation, in the report and in the gate's decision.
    for stage in ("baseline_eval", "eval_sft", "eval_rft"):
        results = json.loads((run_dir / "eval" / stage / "results.json").read_text())
        custom = results["custom_metrics"]["metric.py"]
        assert set(custom) == {"answer_recall", "starts_with_reference", "length_ratio"}, stage
        assert custom["answer_recall"] == results["results"]["all"]["answer_recall"]
    for section in ("baseline", "sft", "rft"):
        assert isinstance(report["stages"][section]["metrics"]["answer_recall"], float), section
    gate = report["gate"]
    rft_results = json.loads((run_dir / "eval" / "eval_rft" / "results.json").read_text())
    assert gate["metric"] == "answer_recall" and gate["candidate_stage"] == "eval_rft"
    assert gate["candidate"] == rft_results["results"]["all"]["answer_recall"]
    assert {c["against"] for c in gate["comparisons"]} >= {"baseline", "floor"}
    assert "answer_recall" in (run_dir / "report.md").read_text()
    assert report["status"] == "SUCCEEDED"
