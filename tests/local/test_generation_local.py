"""``forge run --local`` of a task.kind generation config (no RFT: reward.module is another part of issue 16)
with a metrics.modules file beside the config and chat-form JSONL data: the custom metric reaches
results.json, the report and the gate; no label metrics anywhere."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from forge.cli import app
from tests.local.test_end_to_end import tiny_model  # noqa: F401 (fixture)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_METRIC = PROJECT_ROOT / "examples" / "generation" / "metric.py"

pytestmark = pytest.mark.slow


def write_generation_config(directory: Path, base_model: Path) -> Path:
    (directory / "metrics").mkdir(parents=True)
    shutil.copy(EXAMPLE_METRIC, directory / "metrics" / "metric.py")
    evaluation = {"instance_type": "ml.m5.xlarge", "hyperparameters": {"max_new_tokens": 6, "batch_size": 12,
                                                                        "robustness": False}}
    config = {
        "name": "forge-gen",
        "model": {"family": "hf", "base_model": str(base_model)},
        "task": {"kind": "generation"},
        "metrics": {"modules": ["metrics/metric.py"]},
        "data": {"max_query_tokens": 32, "system_prompt": "Answer with the sum, as a sentence."},
        "split": {"sft": 16, "eval": 8, "rft": 0, "seed": 3},
        "stages": {
            "baseline_eval": evaluation,
            "eval": evaluation,
            "sft": {"instance_type": "ml.m5.xlarge", "hyperparameters": {
                "use_lora": False, "max_steps": 2, "per_device_batch_size": 8, "learning_rate": 1e-3,
                "logging_steps": 1, "max_length": 96}},
            "rft": {"enabled": False},
        },
        "gate": {"metric": "answer_recall", "min_gain_over_baseline": -1.0},
        "deploy": {"instance_type": "ml.g5.xlarge", "smoke_test": False},
        "poll_seconds": 1,
        "endpoint_poll_seconds": 1,
    }
    path = directory / "generation.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def write_chat_data(path: Path) -> Path:
    rows = [{"messages": [{"role": "user", "content": f"What is {i} plus {i + 1}?"},
                          {"role": "assistant", "content": f"{i} plus {i + 1} is {2 * i + 1}."}]}
            for i in range(30)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def app_run(config: Path, data: Path, out: Path, run_id: str) -> tuple[int, str]:
    """``forge run --local`` in-process: (exit code, output)."""
    result = CliRunner().invoke(app, ["run", "--local", "--config", str(config), "--data", str(data),
                                      "--out", str(out), "--run-id", run_id])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_generation_run_reports_and_gates_on_a_custom_metric(tiny_model, tmp_path):  # noqa: F811
    config = write_generation_config(tmp_path / "project", tiny_model)
    data = write_chat_data(tmp_path / "chat.jsonl")
    code, output = app_run(config, data, tmp_path / "runs", "gen-ok")
    run_dir = tmp_path / "runs" / "gen-ok"
    report = json.loads((run_dir / "report.json").read_text())
    assert code == 0, output + json.dumps(report.get("failure_reason"))
    for name in ("baseline", "sft"):
        stage = report["stages"][name]
        assert isinstance(stage["metrics"]["answer_recall"], float), name
        assert "accuracy" not in stage["metrics"] and not stage.get("confusion_matrix")
        assert set(stage["custom_metrics"]["metric.py"]) >= {"answer_recall"}
    results = json.loads((run_dir / "eval" / "eval_sft" / "results.json").read_text())
    custom = results["custom_metrics"]["metric.py"]
    assert custom["answer_recall"] == results["results"]["all"]["answer_recall"]
    assert report["gate"]["metric"] == "answer_recall" and report["gate"]["passed"] is True
    assert any("generation" in note for note in report["gate"]["notes"])
    assert "answer_recall" in (run_dir / "report.md").read_text()
