"""task.kind and metrics.modules: config rules, the eval hyperparameter, the files in the code channel, and
the case study unchanged (classification, and the stages' hyperparameters carry nothing new)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipeline_core.hyperparameters import stage_hyperparameters
from pipeline_core.settings import ConfigError, load_settings, parse_settings
from pipeline_core.settings_task import BUILTIN_METRICS, LABEL_ONLY_METRICS, TEXT_METRICS
from stacks.bundle import BundleError, stage_code_channel

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
HF = {"family": "hf", "base_model": "tiny"}
NO_RFT = {"rft": {"enabled": False}}


def generation(**extra) -> dict:
    return {"model": HF, "task": {"kind": "generation"}, "stages": NO_RFT, "gate": {"metric": "f1"}, **extra}


@pytest.mark.parametrize("config", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_case_study_configs_are_classification_and_their_files_unchanged(config):
    settings = load_settings(config)
    assert settings.task.kind == "classification" and settings.metrics.modules == []
    dumped = json.loads(settings.to_json())
    assert dumped["task"] == {"kind": "classification"} and dumped["metrics"] == {"modules": []}
    for stage in settings.enabled_job_stages():
        hyper = stage_hyperparameters(settings, stage)
        assert "metrics_modules" not in hyper
        if settings.model.family == "hf":
            assert json.loads(hyper["labels"]) == ["HQ", "LQ_EDIT", "LQ_CLOSE"]


def test_generation_round_trips_through_settings_json():
    settings = parse_settings(generation())
    again = parse_settings(json.loads(settings.to_json()))
    assert again == settings and again.task.kind == "generation"
    assert stage_hyperparameters(settings, "baseline_eval")["labels"] == ""


@pytest.mark.parametrize(("raw", "expected"), [
    ({"data": {"labels": ["A", "B"]}}, "data.labels: task.kind generation has no label set"),
    ({"stages": {}}, "reward.module: task.kind generation with RFT enabled needs reward.module"),
    ({"gate": {"metric": "accuracy"}}, "gate.metric: 'accuracy' is a label metric"),
    ({"gate": {"metric": "macro_f1"}}, "gate.metric: 'macro_f1' is a label metric"),
])
def test_generation_rules_name_the_field(raw, expected):
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.").replace("(", r"\(")):
        parse_settings({**generation(), **raw})


def test_a_custom_gate_metric_needs_a_metrics_module():
    with pytest.raises(ConfigError, match="gate.metric: 'answer_recall' is not a built-in metric"):
        parse_settings({"model": HF, "gate": {"metric": "answer_recall"}})
    settings = parse_settings({"model": HF, "gate": {"metric": "answer_recall"},
                               "metrics": {"modules": ["m/metric.py"]}})
    assert settings.gate.metric == "answer_recall"


@pytest.mark.parametrize("metric", ["em_stderr", "exact_format", "not a name"])
def test_gate_metric_rejects_non_scores(metric):
    with pytest.raises(ConfigError, match="gate.metric"):
        parse_settings({"model": HF, "gate": {"metric": metric}, "metrics": {"modules": ["metric.py"]}})


@pytest.mark.parametrize(("modules", "expected"), [
    (["/abs/metric.py"], "must be a relative path"),
    (["../metric.py"], "must be a relative path"),
    (["metric.txt"], "must be a relative path to a .py file"),
    (["my-metric.py"], "must be a Python identifier"),
    (["a/metric.py", "b/metric.py"], "have the same file name"),
])
def test_metrics_modules_paths(modules, expected):
    with pytest.raises(ConfigError, match=f"metrics.modules.*{expected}"):
        parse_settings({"model": HF, "metrics": {"modules": modules}})


def test_builtin_names_are_what_the_metrics_compute():
    from job_code.core.metrics import LABEL_METRICS, compute_metrics

    flat = compute_metrics(["HQ", "LQ_EDIT x"], ["HQ", "LQ_EDIT"], ["HQ", "LQ_EDIT"])
    assert set(flat) == BUILTIN_METRICS
    without_labels = compute_metrics(["a b"], ["a"])
    assert set(without_labels) == BUILTIN_METRICS - set(LABEL_METRICS)
    assert set(LABEL_ONLY_METRICS) <= set(LABEL_METRICS)
    assert set(LABEL_ONLY_METRICS) & set(TEXT_METRICS) == set()


def _config_with_module(tmp_path: Path, write_module: bool = True) -> Path:
    if write_module:
        (tmp_path / "metrics").mkdir()
        module = "def compute(p, r, rows):\n    return {'x': 1.0}\n"
        (tmp_path / "metrics" / "my_metric.py").write_text(module, encoding="utf-8")
    raw = {"model": HF, "metrics": {"modules": ["metrics/my_metric.py"]}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return tmp_path / "config.yaml"


def test_metric_files_ship_in_the_code_channel_where_the_eval_job_looks(tmp_path):
    config = _config_with_module(tmp_path)
    settings = load_settings(config)
    staged = stage_code_channel(tmp_path / "code", settings, config_dir=config.parent)
    modules = json.loads(stage_hyperparameters(settings, "baseline_eval")["metrics_modules"])
    assert modules == ["custom_metrics/my_metric.py"]
    assert (staged / modules[0]).read_text() == (tmp_path / "metrics" / "my_metric.py").read_text()
    assert "metrics_modules" not in stage_hyperparameters(settings, "sft")


def test_a_missing_metric_file_fails_the_bundle_naming_it(tmp_path):
    config = _config_with_module(tmp_path, write_module=False)
    with pytest.raises(BundleError, match="metrics.modules: 'metrics/my_metric.py' is not a file"):
        stage_code_channel(tmp_path / "code", load_settings(config), config_dir=config.parent)
    with pytest.raises(BundleError, match="not loaded from a file"):
        stage_code_channel(tmp_path / "code", load_settings(config))
