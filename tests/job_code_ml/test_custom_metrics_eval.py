"""The eval job runs metrics.modules after the built-ins: values in results.json, a bad module fails the job
naming its file; a generation eval set (no labels) gets no label metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from job_code import evaluate

pytestmark = pytest.mark.slow

EXAMPLE_METRIC = Path(__file__).resolve().parents[2] / "examples" / "generation" / "metric.py"
ARGS = ["--max_new_tokens", "4", "--batch_size", "8", "--max_query_tokens", "16", "--robustness", "false"]


def _generation_channel(tmp_path: Path, rows_writer) -> Path:
    channel = tmp_path / "gen-channel"
    rows = [
        {"id": f"g-{i}", "messages": [
            {"role": "system", "content": "Answer with the capital city."},
            {"role": "user", "content": f"Capital of country number {i}?"},
            {"role": "assistant", "content": f"City number {i}"}]}
        for i in range(6)
    ]
    return rows_writer(channel / "rows.jsonl", rows).parent


def test_custom_metric_lands_in_results_json(tmp_path, tiny_model_dir, chat_channel, job_runner):
    modules = json.dumps([str(EXAMPLE_METRIC)])
    code = job_runner(evaluate.main, tmp_path / "job", {"eval": chat_channel},
                      ["--base_model", str(tiny_model_dir), "--metrics_modules", modules, *ARGS])
    failure = tmp_path / "job" / "output" / "failure"
    assert code == 0, failure.read_text() if failure.exists() else code
    results = json.loads((tmp_path / "job" / "output" / "data" / "results.json").read_text())
    flat = results["results"]["all"]
    assert set(results["custom_metrics"]["metric.py"]) == {"answer_recall", "starts_with_reference",
                                                          "length_ratio"}
    for name, value in results["custom_metrics"]["metric.py"].items():
        assert flat[name] == value
    assert 0.0 <= flat["answer_recall"] <= 1.0
    assert "accuracy" in flat  # the built-ins are still there


def test_generation_eval_has_no_label_metrics(tmp_path, tiny_model_dir, rows_writer, job_runner):
    channel = _generation_channel(tmp_path, rows_writer)
    code = job_runner(evaluate.main, tmp_path / "job", {"eval": channel},
                      ["--base_model", str(tiny_model_dir), "--labels", "",
                       "--metrics_modules", json.dumps([str(EXAMPLE_METRIC)]), *ARGS[:-2]])  # robustness on
    assert code == 0
    out = tmp_path / "job" / "output" / "data"
    results = json.loads((out / "results.json").read_text())
    flat = results["results"]["all"]
    assert {"em", "f1", "rougeL", "bleu", "answer_recall"} <= set(flat)
    assert "accuracy" not in flat and "confusion_matrix" not in results and "per_class" not in results
    assert not (out / "confusion_matrix.png").exists()
    assert results["labels"] == []
    assert "robustness" not in results  # a label-accuracy check: skipped without labels


@pytest.mark.parametrize(("body", "expected"), [
    ("def compute(p, r, rows):\n    return {'score': 'high'}\n", "metric 'score' is 'high'"),
    ("def compute(p, r, rows):\n    raise RuntimeError('boom')\n", "compute raised RuntimeError: boom"),
    ("def compute(p, r, rows):\n    return {'em': 1.0}\n", "metric 'em' clashes with the built-in"),
])
def test_bad_metric_module_fails_the_eval_naming_the_file(tmp_path, tiny_model_dir, chat_channel, job_runner,
                                                          body, expected):
    module = tmp_path / "my_metric.py"
    module.write_text(body, encoding="utf-8")
    code = job_runner(evaluate.main, tmp_path / "job", {"eval": chat_channel},
                      ["--base_model", str(tiny_model_dir), "--metrics_modules", json.dumps([str(module)]),
                       *ARGS])
    assert code != 0
    failure = (tmp_path / "job" / "output" / "failure").read_text()
    assert "metrics module my_metric.py" in failure and expected in failure


def test_mlflow_gets_the_custom_metrics_from_results_json(tmp_path):
    """job_code/tracking: the eval's MLflow run logs results.all, custom metrics included."""

    class Run:
        def __init__(self) -> None:
            self.metrics: dict = {}

        def log_metrics(self, metrics: dict) -> None:
            self.metrics.update(metrics)

        def log_artifacts(self, paths) -> None:
            pass

    results = {"results": {"all": {"em": 0.5, "em_stderr": 0.1, "answer_recall": 0.75}},
               "custom_metrics": {"metric.py": {"answer_recall": 0.75}}}
    run = Run()
    evaluate.log_evaluation(run, results, tmp_path)
    assert run.metrics["answer_recall"] == 0.75 and run.metrics["em"] == 0.5
