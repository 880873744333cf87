"""Issue 11: the handlers and the reward Lambda run within Lambda's import surface (forge/lambda_surface.py).

The synthesized stack in moto, as in test_pipeline_e2e.py, with every function limited to what the
python3.12 runtime, the pinned Powertools layer and the asset provide, though the dev venv has more.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys

import boto3
import pytest
from forge_handlers import job_outputs

from forge.moto_lambda import run_lambdas_in_process
from tests.e2e_moto.conftest import _pipeline
from tests.e2e_moto.harness import REGION
from tests.e2e_moto.test_pipeline_e2e import GOOD_METRICS, _input

LABELS = ("HQ", "LQ_EDIT", "LQ_CLOSE")
# What Nova's gen_qa evaluator reports itself: lighteval's text metrics, no label accuracy.
NOVA_TEXT_METRICS = {"em": 0.1, "em_stderr": 0.05, "qem": 0.1, "f1": 0.2, "rouge1": 0.3, "rougeL": 0.3,
                     "bleu": 1.5}


def _nova_rows(right: int, total: int = 10) -> list[dict[str, str]]:
    """``right`` answers name the gold label (verbosely, so only the permissive parse counts them)."""
    rows = []
    for index in range(total):
        gold = LABELS[index % 3]
        wrong = LABELS[(index + 1) % 3]
        answer = f"The category is {gold}." if index < right else wrong
        rows.append({"prompt": f"question {index}", "inference": [answer], "gold": gold})
    return rows


@contextlib.contextmanager
def _pipeline_on(synthesized, family: str, asset_dir):
    generator = _pipeline(synthesized, family, asset_dir)
    try:
        yield next(generator)
    finally:
        generator.close()


def _asset_copy(pipeline_or_stack, tmp_path, edits: dict[str, str]):
    """A copy of the synthesized Lambda asset with ``edits`` (path -> text appended) applied."""
    staged = next(pipeline_or_stack["assembly_dir"].glob("lambda-bundle/*/settings.json")).parent
    copy = tmp_path / "asset"
    shutil.copytree(staged, copy)
    for relative, text in edits.items():
        path = copy / relative
        path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")
    return copy


def _failures(result) -> list[tuple[str, str]]:
    return [
        (e["lambdaFunctionFailedEventDetails"]["error"], e["lambdaFunctionFailedEventDetails"]["cause"])
        for e in result.history
        if e["type"] == "LambdaFunctionFailed"
    ]


def test_nova_eval_is_scored_within_the_lambda_surface(nova_pipeline) -> None:
    """Regression (defect 2): Nova's eval outputs are completed by the poll handler without rouge-score,
    sacrebleu or numpy. The rescoring imported them: the Poll Lambda failed with No module named ..."""
    nova_pipeline.sagemaker.metrics = {stage: NOVA_TEXT_METRICS for stage in GOOD_METRICS}
    nova_pipeline.sagemaker.inference = {
        "baseline_eval": _nova_rows(3), "eval_sft": _nova_rows(7), "eval_rft": _nova_rows(9)
    }
    (result,) = nova_pipeline.run(_input(nova_pipeline, rows=120))
    assert result.status == "SUCCEEDED", (result.cause, _failures(result))
    assert _failures(result) == []
    report = nova_pipeline.read_json("runs/run-1/report.json")
    accuracy = {name: stage["metrics"]["accuracy"] for name, stage in report["stages"].items()}
    assert accuracy == {"baseline": 0.3, "sft": 0.7, "rft": 0.9}  # the permissive parse, in the Lambda
    assert result.output["gate"]["passed"] is True
    results = nova_pipeline.read_json("runs/run-1/eval/eval_rft/results.json")
    flat = results["results"]["all"]
    assert {k: flat[k] for k in NOVA_TEXT_METRICS} == NOVA_TEXT_METRICS  # Nova's own text metrics kept
    assert results["confusion_matrix"]["rows"] == list(LABELS) and results["per_class"]["HQ"]["support"]
    assert results["response_lengths"]["max_chars"] > 2 and results["num_samples"] == 10


def test_an_import_outside_the_surface_in_a_handler_module_fails_the_run(hf_stack, tmp_path) -> None:
    """Acceptance: `import rouge_score` in the asset's poll handler fails as Lambda's init does."""
    injected = {"forge_handlers/entry/poll.py": "\nimport rouge_score  # injected\n"}
    asset = _asset_copy(hf_stack, tmp_path, injected)
    with _pipeline_on(hf_stack, "hf", asset) as pipeline:
        pipeline.sagemaker.metrics = GOOD_METRICS
        (result,) = pipeline.run(_input(pipeline))
        report = pipeline.read_json("runs/run-1/report.json")
        jobs = pipeline.training_jobs()
    message = "Unable to import module 'forge_handlers.entry.poll': No module named 'rouge_score'"
    assert result.status == "FAILED" and result.error == "Runtime.ImportModuleError"
    assert [(e, json.loads(c)["errorMessage"]) for e, c in _failures(result)] == [
        ("Runtime.ImportModuleError", message)
    ]
    scheduled = [e["lambdaFunctionScheduledEventDetails"]["resource"] for e in result.history
                 if e["type"] == "LambdaFunctionScheduled"]
    assert scheduled[-4].endswith(":forge-hf-poll")  # then Cleanup, Report, Notify
    assert report["failure_reason"] == f"Runtime.ImportModuleError: {message}"
    assert jobs == ["forge-hf--run-1-base-a1"]  # nothing ran past the failed poll


def test_a_lazy_import_outside_the_surface_fails_at_call_time(pipeline, monkeypatch) -> None:
    """A call-time `import numpy` in asset code fails, though numpy is installed and already imported."""
    import numpy  # noqa: F401  (in sys.modules: the guard must refuse it anyway)

    assert "numpy" in sys.modules
    source = (
        "def _read_eval_results_lazily(uri, labels):\n"
        "    import numpy\n"
        "    return _original_read_eval_results(uri, labels)\n"
    )
    monkeypatch.setattr(job_outputs, "_original_read_eval_results", job_outputs.read_eval_results,
                        raising=False)
    exec(compile(source, job_outputs.__file__, "exec"), vars(job_outputs))  # asset code, by its module
    monkeypatch.setattr(job_outputs, "read_eval_results", job_outputs._read_eval_results_lazily)
    pipeline.sagemaker.metrics = GOOD_METRICS
    (result,) = pipeline.run(_input(pipeline))
    assert result.status == "FAILED"
    errors = [(e, json.loads(c)["errorMessage"]) for e, c in _failures(result)]
    assert ("ModuleNotFoundError", "No module named 'numpy'") in errors


@pytest.mark.parametrize("inject", [None, "\nimport numpy  # injected\n"])
def test_the_reward_lambda_runs_within_the_surface(nova_stack, tmp_path, inject) -> None:
    edits = {"job_code/core/reward.py": inject} if inject else {}
    asset = _asset_copy(nova_stack, tmp_path, edits)
    with _pipeline_on(nova_stack, "nova", asset) as pipeline:
        name = next(n for n, h in pipeline._handlers.items() if h == "job_code.core.reward.lambda_handler")
        sample = {"id": "s1", "messages": [{"role": "assistant", "content": "HQ"}], "reference_answer": "HQ"}
        with run_lambdas_in_process(pipeline.resolve, runtime=pipeline.lambda_runtime):
            response = boto3.client("lambda", region_name=REGION).invoke(
                FunctionName=name, Payload=json.dumps([sample]).encode()
            )
        payload = json.loads(response["Payload"].read())
    if inject is None:
        assert "FunctionError" not in response and payload[0]["id"] == "s1"
        assert payload[0]["aggregate_reward_score"] > 0
    else:
        assert response["FunctionError"] == "Unhandled"
        assert payload["errorType"] == "Runtime.ImportModuleError"
        assert payload["errorMessage"] == (
            "Unable to import module 'job_code.core.reward': No module named 'numpy'")
