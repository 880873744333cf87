"""Acceptance (issue 11): in ``forge run --local``, a handler importing what Lambda lacks fails the run.

The synthesized asset gets ``import rouge_score`` in its Prepare handler (rouge-score is installed here, but
neither the python3.12 runtime nor the Powertools layer has it). The run must fail as on AWS, with
Lambda's init error naming the module, before any job starts.
"""

from __future__ import annotations

import json
from pathlib import Path

import app as cdk_app
from forge.local.runner import LocalPipeline

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_an_import_outside_the_lambda_surface_fails_a_local_run(tmp_path, monkeypatch) -> None:
    stage = cdk_app.stage_lambda_bundle

    def stage_with_an_injected_import(settings, dest_dir, **options):
        bundle = stage(settings, dest_dir, **options)
        handler = bundle / "forge_handlers" / "entry" / "prepare.py"
        handler.write_text(handler.read_text(encoding="utf-8") + "\nimport rouge_score  # injected\n")
        return bundle

    monkeypatch.setattr(cdk_app, "stage_lambda_bundle", stage_with_an_injected_import)
    pipeline = LocalPipeline(PROJECT_ROOT / "config" / "local.yaml",
                             PROJECT_ROOT / "examples" / "data" / "so_sample.csv", tmp_path / "runs",
                             run_id="surface", warm_start=False)
    with pipeline:
        pipeline.start()
        final = pipeline.watch(interval=0.2)
        result = pipeline.collect(final)
        jobs = dict(pipeline.sagemaker.jobs)
    assert final.status == "FAILED" and jobs == {}
    message = "Unable to import module 'forge_handlers.entry.prepare': No module named 'rouge_score'"
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["failure_reason"] == f"Runtime.ImportModuleError: {message}"
    history = json.loads((result.run_dir / "execution_history.json").read_text())
    failed = [e["lambdaFunctionFailedEventDetails"] for e in history if e["type"] == "LambdaFunctionFailed"]
    assert [(f["error"], json.loads(f["cause"])["errorMessage"]) for f in failed] == [
        ("Runtime.ImportModuleError", message)
    ]
