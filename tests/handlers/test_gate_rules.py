"""The gate against the rates a model gets without reading: the demo's 0.292 on 3 balanced classes fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from forge_handlers.entry import gate

from pipeline_core import gate_rules
from pipeline_core.settings import load_settings, parse_settings
from tests.handlers.conftest import ARTIFACTS_BUCKET, CONFIG_FILES, a_run, derive, put_json

CONFIG_DIR = Path(CONFIG_FILES[0]).parent
BALANCED = {"HQ": 8, "LQ_EDIT": 8, "LQ_CLOSE": 8}  # the demo's 24-question eval split


def record(s3, run_id: str, stage: str, value: float, counts: dict[str, int], metric: str = "accuracy"):
    per_class = {label: {"precision": 0.0, "f1": 0.0, "support": n} for label, n in counts.items()}
    metrics_uri = put_json(
        s3, ARTIFACTS_BUCKET, f"runs/{run_id}/eval/{stage}/results.json",
        {"results": {"all": {metric: value}}, "per_class": per_class},
    )
    put_json(
        s3, ARTIFACTS_BUCKET, f"runs/{run_id}/artifacts/{stage}.json",
        {"stage": stage, "job_name": f"j-{stage}", "model_uri": "s3://b/m.tar.gz", "base_model": "b",
         "kind": "eval", "source_model_uri": "s3://b/m.tar.gz", "metrics_uri": metrics_uri},
    )


@pytest.fixture
def demo(use_settings):
    return use_settings(load_settings(CONFIG_DIR / "local-demo.yaml"))


def test_the_demo_candidate_below_chance_is_rejected(demo, aws, lambda_context) -> None:
    """Regression: baseline 0.000 and candidate 0.292 (7/24) on 3 balanced classes used to pass and deploy."""
    for stage, value in {"baseline_eval": 0.0, "eval_sft": 7 / 24, "eval_rft": 7 / 24}.items():
        record(aws, "run-1", stage, value, BALANCED)
    decision = gate.handler({"run": a_run()}, lambda_context)
    assert decision["passed"] is False
    assert "chance 0.3333" in decision["reason"]
    against = {c["against"]: c for c in decision["comparisons"]}
    assert against["baseline"]["passed"] is True  # it does beat the baseline: that alone is not enough
    assert against["chance"]["passed"] is False and against["chance"]["reference"] == pytest.approx(1 / 3)
    assert against["majority"]["reference"] == pytest.approx(1 / 3)


def test_a_candidate_above_chance_and_majority_passes(demo, aws, lambda_context) -> None:
    counts = {"HQ": 12, "LQ_EDIT": 6, "LQ_CLOSE": 6}  # majority 0.5
    for stage, value in {"baseline_eval": 0.0, "eval_sft": 0.6, "eval_rft": 0.625}.items():
        record(aws, "run-1", stage, value, counts)
    decision = gate.handler({"run": a_run()}, lambda_context)
    assert decision["passed"] is True, decision["reason"]
    against = {c["against"]: c for c in decision["comparisons"]}
    assert against["majority"]["reference"] == pytest.approx(0.5)
    assert against["majority"]["gain"] == pytest.approx(0.125)


def test_always_answering_the_majority_label_is_rejected(demo, aws, lambda_context) -> None:
    counts = {"HQ": 16, "LQ_EDIT": 4, "LQ_CLOSE": 4}
    for stage, value in {"baseline_eval": 0.1, "eval_sft": 0.5, "eval_rft": 16 / 24}.items():
        record(aws, "run-1", stage, value, counts)
    decision = gate.handler({"run": a_run()}, lambda_context)
    assert decision["passed"] is False
    assert "majority 0.6667" in decision["reason"]


def test_margins_are_configurable(use_settings, aws, lambda_context) -> None:
    use_settings(derive(load_settings(CONFIG_DIR / "local-demo.yaml"), gate__min_gain_over_chance=0.2))
    for stage, value in {"baseline_eval": 0.0, "eval_sft": 0.5, "eval_rft": 0.5}.items():
        record(aws, "run-1", stage, value, BALANCED)
    decision = gate.handler({"run": a_run()}, lambda_context)
    assert decision["passed"] is False  # 0.5 beats chance by 0.167, not by the required 0.2
    assert "required +0.2000" in decision["reason"]


def test_metrics_without_a_reference_rate_skip_chance(use_settings, aws, lambda_context) -> None:
    use_settings(derive(load_settings(CONFIG_DIR / "local-demo.yaml"), gate__metric="rougeL"))
    for stage, value in {"baseline_eval": 0.1, "eval_sft": 0.2, "eval_rft": 0.3}.items():
        record(aws, "run-1", stage, value, BALANCED, metric="rougeL")
    decision = gate.handler({"run": a_run()}, lambda_context)
    assert decision["passed"] is True
    assert [c["against"] for c in decision["comparisons"]] == ["baseline", "floor"]
    assert "no chance or majority rate for rougeL" in decision["notes"][0]


@pytest.mark.parametrize(
    ("metric", "counts", "chance", "majority"),
    [
        ("accuracy", {"a": 5, "b": 5}, 0.5, 0.5),
        ("accuracy", {"a": 8, "b": 8, "c": 8}, 1 / 3, 1 / 3),
        ("em", {"a": 6, "b": 2, "c": 2}, 1 / 3, 0.6),
        # macro-F1, uniform guess on 2 balanced classes: P 0.5, R 0.5 -> F1 0.5 each.
        ("macro_f1", {"a": 5, "b": 5}, 0.5, (2 * 0.5 / 1.5) / 2),
        # 3 classes shares .6/.2/.2, uniform guess: F1_c = 2p/(3p+1).
        ("macro_f1", {"a": 6, "b": 2, "c": 2}, (1.2 / 2.8 + 2 * 0.4 / 1.6) / 3, (1.2 / 1.6) / 3),
        ("rougeL", {"a": 5, "b": 5}, None, None),
        ("accuracy", {"a": 5}, None, None),  # one label: nothing to guess
        ("accuracy", {}, None, None),
    ],
)
def test_reference_rates(metric, counts, chance, majority) -> None:
    rates = gate_rules.reference_rates(metric, counts)
    assert rates.get("chance") == (None if chance is None else pytest.approx(chance))
    assert rates.get("majority") == (None if majority is None else pytest.approx(majority))


def test_class_counts_ignore_what_is_not_a_count() -> None:
    per_class = {"a": {"support": 3}, "b": {"support": True}, "c": {"support": -1}, "d": "x", "e": {}}
    assert gate_rules.class_counts(per_class) == {"a": 3}


def test_the_report_shows_each_comparison_of_the_gate(demo, aws, lambda_context) -> None:
    from forge_handlers import report

    from forge import report_html

    for stage, value in {"baseline_eval": 0.0, "eval_sft": 7 / 24, "eval_rft": 7 / 24}.items():
        record(aws, "run-1", stage, value, BALANCED)
    decision = gate.handler({"run": a_run()}, lambda_context)
    built = report.build_report(demo, ARTIFACTS_BUCKET, {"run": a_run(), "gate": decision}, "GATE_REJECTED")
    markdown = report.render_markdown(built)
    assert "| chance | 0.3333 | 0.2917 | -0.0417 | 0.0100 | **does not beat** |" in markdown
    assert "| baseline | 0.0000 | 0.2917 | 0.2917 | 0.0000 | beats |" in markdown
    page = report_html.render(built, Path("."))
    assert "<b>does not beat</b>" in page and "majority" in page


def _generation(**changes):
    base = load_settings(CONFIG_DIR / "local-demo.yaml")
    raw = base.model_dump(mode="json")
    raw["task"] = {"kind": "generation"}
    raw["metrics"] = {"modules": ["metric.py"]}
    raw["stages"]["rft"]["enabled"] = False
    raw["gate"]["metric"] = changes.get("metric", "answer_recall")
    return derive(parse_settings(raw, "test"))


def record_flat(s3, run_id: str, stage: str, flat: dict) -> None:
    metrics_uri = put_json(s3, ARTIFACTS_BUCKET, f"runs/{run_id}/eval/{stage}/results.json",
                           {"results": {"all": flat}})
    put_json(
        s3, ARTIFACTS_BUCKET, f"runs/{run_id}/artifacts/{stage}.json",
        {"stage": stage, "job_name": f"j-{stage}", "model_uri": "s3://b/m.tar.gz", "base_model": "b",
         "kind": "eval", "source_model_uri": "s3://b/m.tar.gz", "metrics_uri": metrics_uri},
    )


def test_the_gate_decides_on_a_custom_metric(use_settings, aws, lambda_context) -> None:
    use_settings(_generation())
    for stage, value in {"baseline_eval": 0.1, "eval_sft": 0.4}.items():
        record_flat(aws, "run-1", stage, {"em": 0.0, "answer_recall": value})
    decision = gate.handler({"run": a_run()}, lambda_context)
    assert decision["passed"] is True, decision["reason"]
    assert decision["metric"] == "answer_recall" and decision["candidate"] == pytest.approx(0.4)
    assert {c["against"] for c in decision["comparisons"]} == {"baseline", "floor"}
    assert any("task.kind generation has no label set" in note for note in decision["notes"])


def test_a_custom_gate_metric_no_module_returned_fails_naming_it(use_settings, aws, lambda_context) -> None:
    use_settings(_generation(metric="bleu_ish"))
    for stage in ("baseline_eval", "eval_sft"):
        record_flat(aws, "run-1", stage, {"em": 0.0, "answer_recall": 0.2})
    with pytest.raises(Exception, match=r"no numeric 'bleu_ish' \(gate.metric names no built-in.*"
                                        r"present: answer_recall, em"):
        gate.handler({"run": a_run()}, lambda_context)


def test_generation_skips_chance_even_with_per_class_counts(use_settings, aws, lambda_context) -> None:
    use_settings(_generation(metric="em"))
    for stage, value in {"baseline_eval": 0.0, "eval_sft": 0.1}.items():
        record(aws, "run-1", stage, value, BALANCED, metric="em")
    decision = gate.handler({"run": a_run()}, lambda_context)
    assert decision["passed"] is True  # 0.1 would fail chance 1/3 under classification
    assert "chance" not in {c["against"] for c in decision["comparisons"]}
