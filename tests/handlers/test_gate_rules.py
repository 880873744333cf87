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


def no_champion(s3, run_id: str) -> None:
    """What the Champion state writes when nothing is deployed (a first run)."""
    put_json(s3, ARTIFACTS_BUCKET, f"runs/{run_id}/champion.json",
             {"present": False, "endpoint_name": "forge-demo--endpoint", "reason": "no endpoint"})


def record(s3, run_id: str, stage: str, value: float, counts: dict[str, int], metric: str = "accuracy"):
    no_champion(s3, run_id)
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
    assert "no chance or majority rate for rougeL" in decision["notes"][-1]  # after "no champion (…)"


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
    no_champion(s3, run_id)
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


# --- champion/challenger: the model deployed as the run began -------------------------------------------
CHAMPION_FOUND = {"present": True, "endpoint_name": "forge-demo--endpoint", "run_id": "run-0",
                  "endpoint_config_name": "forge-demo--run-0-epc", "model_name": "forge-demo--run-0-model",
                  "model_data_uri": "s3://forge-artifacts/runs/run-0/deployed/model.tar.gz"}


@pytest.mark.parametrize(
    ("champion", "candidate", "margin", "passed", "reason"),
    [
        # A worse candidate loses to the champion even when it beats the baseline, chance and majority.
        (0.75, 0.5, 0.0, False, "accuracy 0.5000 does not beat champion 0.7500 by the required +0.0000"),
        (0.5, 0.625, 0.0, True, "accuracy 0.6250 beats baseline 0.0000, champion 0.5000"),
        (0.5, 0.5, 0.0, True, "champion 0.5000"),  # equal is no loss at margin 0, as for the baseline
        (0.5, 0.5, 0.01, False, "accuracy 0.5000 does not beat champion 0.5000 by the required +0.0100"),
        (0.6, 0.55, -0.1, True, "champion 0.6000"),  # a margin below 0 tolerates a small loss
    ],
)
def test_the_candidate_must_beat_the_champion(use_settings, aws, lambda_context, champion, candidate,
                                              margin, passed, reason) -> None:
    use_settings(derive(load_settings(CONFIG_DIR / "local-demo.yaml"), gate__min_gain_over_champion=margin))
    scores = {"baseline_eval": 0.0, "eval_champion": champion, "eval_sft": 0.4, "eval_rft": candidate}
    for stage, value in scores.items():
        record(aws, "run-1", stage, value, BALANCED)
    put_json(aws, ARTIFACTS_BUCKET, "runs/run-1/champion.json", CHAMPION_FOUND)
    decision = gate.handler({"run": a_run()}, lambda_context)
    assert decision["passed"] is passed and reason in decision["reason"], decision["reason"]
    against = {c["against"]: c for c in decision["comparisons"]}
    assert against["champion"] == {"against": "champion", "reference": champion, "candidate": candidate,
                                   "required_gain": margin, "gain": pytest.approx(candidate - champion),
                                   "passed": passed, "reason": against["champion"]["reason"]}
    assert [c["against"] for c in decision["comparisons"]] == ["baseline", "champion", "chance", "majority",
                                                               "floor"]
    assert decision["champion"] == {**CHAMPION_FOUND, "stage": "eval_champion", "score": champion}


def test_nothing_deployed_is_no_champion_comparison_and_a_note(demo, aws, lambda_context) -> None:
    counts = {"HQ": 12, "LQ_EDIT": 6, "LQ_CLOSE": 6}
    for stage, value in {"baseline_eval": 0.0, "eval_sft": 0.6, "eval_rft": 0.625}.items():
        record(aws, "run-1", stage, value, counts)
    decision = gate.handler({"run": a_run()}, lambda_context)
    assert decision["passed"] is True
    assert "champion" not in [c["against"] for c in decision["comparisons"]]
    assert decision["notes"] == ["no champion (no endpoint): compared without one"]
    assert decision["champion"]["present"] is False and decision["champion"]["score"] is None


def test_a_run_without_its_champion_record_fails_the_gate(demo, aws, lambda_context) -> None:
    """Deploy enabled means the Champion state ran: a missing record is an error, never 'no champion'."""
    for stage, value in {"baseline_eval": 0.0, "eval_sft": 0.6, "eval_rft": 0.625}.items():
        record(aws, "run-1", stage, value, BALANCED)
    aws.delete_object(Bucket=ARTIFACTS_BUCKET, Key="runs/run-1/champion.json")
    with pytest.raises(Exception, match="run run-1 has no champion record"):
        gate.handler({"run": a_run()}, lambda_context)


def test_without_deploy_the_gate_has_no_champion(use_settings, aws, lambda_context) -> None:
    use_settings(derive(load_settings(CONFIG_DIR / "local-demo.yaml"), deploy__enabled=False))
    for stage, value in {"baseline_eval": 0.0, "eval_sft": 0.6, "eval_rft": 0.625}.items():
        record(aws, "run-1", stage, value, BALANCED)
    aws.delete_object(Bucket=ARTIFACTS_BUCKET, Key="runs/run-1/champion.json")
    decision = gate.handler({"run": a_run()}, lambda_context)
    assert decision["champion"] is None and decision["notes"] == []


def test_the_report_shows_the_champion_comparison_and_section(use_settings, aws, lambda_context) -> None:
    from forge_handlers import report

    from forge import report_html

    settings = use_settings(load_settings(CONFIG_DIR / "local-demo.yaml"))
    scores = {"baseline_eval": 0.0, "eval_champion": 0.75, "eval_sft": 0.4, "eval_rft": 0.5}
    for stage, value in scores.items():
        record(aws, "run-1", stage, value, BALANCED)
    put_json(aws, ARTIFACTS_BUCKET, "runs/run-1/champion.json", CHAMPION_FOUND)
    decision = gate.handler({"run": a_run()}, lambda_context)
    jobs = {stage: {"job_name": f"j-{stage}", "status": "Completed"}
            for stage in ("baseline_eval", "eval_champion", "sft", "eval_sft", "rft", "eval_rft")}
    state = {"run": a_run(), "gate": decision, "jobs": jobs, "champion": CHAMPION_FOUND}
    built = report.build_report(settings, ARTIFACTS_BUCKET, state, "GATE_REJECTED")
    assert list(built["stages"]) == ["baseline", "champion", "sft", "rft"]
    assert built["champion"] == CHAMPION_FOUND and built["stages"]["champion"]["training_job"] is None
    markdown = report.render_markdown(built)
    assert "| champion | 0.7500 | 0.5000 | -0.2500 | 0.0000 | **does not beat** |" in markdown
    assert ("Champion: run run-0's model forge-demo--run-0-model on forge-demo--endpoint (endpoint config "
            "forge-demo--run-0-epc), accuracy 0.7500 on this run's eval set.") in markdown
    assert "| champion | 0.7500 |" in markdown  # its row in the stage table
    # "vs previous stage": SFT follows the baseline in this run, not the champion (an earlier run's model).
    assert "| sft | accuracy | +0.4000 | +0.4000 |" in markdown
    assert "| champion | accuracy | +0.7500 | – |" in markdown
    page = report_html.render(built, Path("."))
    assert "<section id='stage-champion'" in page and "run run-0&#x27;s model" in page
