"""Nova: the metrics.modules run where the built-in re-scoring runs (the Poll handler, job_outputs), inside
the Lambda's import surface; their files ship in the Lambda bundle. A bad file fails the eval stage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_core.settings import load_settings
from stacks.bundle import stage_lambda_bundle
from tests.handlers.conftest import CONFIG_FILES, derive
from tests.handlers.test_nova_rescoring_runtime import NOT_IN_LAMBDA

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = Path(CONFIG_FILES[0]).parent
EXAMPLE = PROJECT_ROOT / "examples" / "generation" / "metric.py"

PROBE = """
import json, sys
for name in {blocked!r}:
    sys.modules[name] = None  # as in the Lambda runtime
sys.path[:0] = [{root!r}, {root!r} + "/lambda"]
from pathlib import Path
from forge_handlers import errors, job_outputs
members = {{k: v.encode() for k, v in json.loads(open({members!r}).read()).items()}}
job_outputs.read_tar_members = lambda uri, patterns: members
try:
    uri = "s3://bucket/output.tar.gz"
    results = job_outputs.read_eval_results(uri, [])
    print(json.dumps(job_outputs.add_custom_metrics(results, uri, [Path({module!r})])))
except errors.JobFailedError as error:
    print(json.dumps({{"failed": str(error)}}))
"""


def run_probe(tmp_path: Path, module: Path) -> dict:
    rows = [{"prompt": "Capital of France?", "inference": "Paris, of course", "gold": "Paris"},
            {"prompt": "Capital of Peru?", "inference": "Quito", "gold": "Lima"}]
    members = {"results_2026-12-02.json": json.dumps({"results": {"all": {"em": 0.0, "rouge1": 0.3}}}),
               "inference_output.jsonl": "".join(json.dumps(r) + "\n" for r in rows)}
    members_file = tmp_path / "members.json"
    members_file.write_text(json.dumps(members))
    code = PROBE.format(blocked=NOT_IN_LAMBDA, root=str(PROJECT_ROOT), members=str(members_file),
                        module=str(module))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_custom_metrics_complete_nova_results_in_the_lambda_runtime(tmp_path):
    results = run_probe(tmp_path, EXAMPLE)
    flat = results["results"]["all"]
    assert flat["em"] == 0.0 and flat["rouge1"] == 0.3  # Nova's own figures kept
    assert flat["answer_recall"] == pytest.approx(0.5)  # "paris" recalled, "lima" not
    assert flat["starts_with_reference"] == pytest.approx(0.5)
    assert set(results["custom_metrics"]["metric.py"]) == {"answer_recall", "starts_with_reference",
                                                          "length_ratio"}


def test_a_bad_metric_file_fails_the_nova_eval_naming_it(tmp_path):
    module = tmp_path / "broken_metric.py"
    module.write_text("import numpy\n\ndef compute(p, r, rows):\n    return {'x': 1.0}\n", encoding="utf-8")
    results = run_probe(tmp_path, module)
    assert "metrics module broken_metric.py: importing it raised" in results["failed"]


def test_nova_bundle_ships_the_metric_files_where_the_poll_handler_looks(tmp_path):
    config = tmp_path / "nova.yaml"
    text = (CONFIG_DIR / "nova.yaml").read_text(encoding="utf-8")
    config.write_text(text + "\nmetrics:\n  modules: [metric.py]\n", encoding="utf-8")
    (tmp_path / "metric.py").write_text(EXAMPLE.read_text(), encoding="utf-8")
    settings = load_settings(config)
    bundle = stage_lambda_bundle(settings, tmp_path / "bundle", config_dir=tmp_path)
    assert (bundle / "custom_metrics" / "metric.py").read_text() == EXAMPLE.read_text()
    sys.path.insert(0, str(PROJECT_ROOT / "lambda"))
    from forge_handlers import job_outputs

    (path,) = job_outputs.bundled_metric_paths(settings)
    assert path.relative_to(Path(job_outputs.__file__).resolve().parent.parent).as_posix() == \
        "custom_metrics/metric.py"
    hf = derive(load_settings(CONFIG_DIR / "open-weights.yaml"), metrics__modules=["metric.py"])
    assert job_outputs.bundled_metric_paths(hf) == []  # the open-weights eval job runs them itself
    hf_bundle = stage_lambda_bundle(hf, tmp_path / "hf-bundle", config_dir=tmp_path)
    assert not (hf_bundle / "custom_metrics").exists()


def test_the_nova_eval_poll_adds_the_custom_metrics(use_settings, aws, lambda_context, monkeypatch):
    """The Poll handler's glue (jobs.py): Nova's results + inference output -> the metric values recorded."""
    import boto3
    from forge_handlers import job_outputs
    from forge_handlers.aws import clients
    from forge_handlers.entry import launch, poll

    from tests.handlers.conftest import ARTIFACTS_BUCKET, REGION, a_run
    from tests.handlers.scripted import COMPLETED, ScriptedSageMaker

    use_settings(derive(load_settings(CONFIG_DIR / "nova.yaml"), metrics__modules=["metric.py"]))
    monkeypatch.setattr(job_outputs, "bundled_metric_paths", lambda settings: [EXAMPLE])
    scripted = ScriptedSageMaker(boto3.client("sagemaker", region_name=REGION), aws, family="nova",
                                 metrics={"baseline_eval": {"em": 0.0}})
    scripted.inference["baseline_eval"] = [{"prompt": "Q?", "inference": "HQ it is", "gold": "HQ"}]
    scripted.scripts["baseline_eval"] = [COMPLETED]
    clients.override("sagemaker", scripted)
    run = a_run(family="nova")
    job = launch.handler({"stage": "baseline_eval", "run": run, "attempt": 1}, lambda_context)
    done = poll.handler({"stage": "baseline_eval", "run": run, "job": job}, lambda_context)
    bucket, key = done["artifact"]["metrics_uri"][5:].split("/", 1)
    assert bucket == ARTIFACTS_BUCKET
    results = json.loads(aws.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert results["results"]["all"]["starts_with_reference"] == 1.0
    assert results["custom_metrics"]["metric.py"]["answer_recall"] == 1.0
