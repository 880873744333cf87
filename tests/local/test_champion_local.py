"""Issue 15, acceptance 2, local end to end: a second run whose candidate is worse than the deployed model is
rejected and the endpoint keeps serving the first model; a run whose smoke test fails after an update leaves
the endpoint on the previous config. And the Champion handler's grants are enforced locally.

Each run is its own ``forge run --local`` (a fresh moto); what run 1 deployed reaches the later runs through
the saved local account (forge/local/account.py), as the endpoint outlives an execution on AWS. With the
tiny random-init model, 80 SFT steps learn to answer one label (accuracy 1/3 on the balanced eval split);
one step at a learning rate of 1e-9 leaves the base model, which names no label (accuracy 0, and no label
for the smoke test to parse).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import yaml

from forge.local import account
from forge.local.runner import LocalPipeline
from pipeline_core import stages as stage_table
from stacks import permissions

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = PROJECT_ROOT / "examples" / "data" / "so_sample.csv"
NAME = "forge-champ"
ENDPOINT = f"{NAME}--endpoint"
CHAMPION = stage_table.champion_stage()

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from job_code.models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def write_config(path: Path, base_model: Path, *, learns: bool, smoke_test: bool = False,
                 min_gain_over_champion: float = 0.0) -> Path:
    evaluation = {"instance_type": "ml.m5.xlarge",
                  "hyperparameters": {"max_new_tokens": 8, "batch_size": 12, "robustness": False}}
    steps = {"max_steps": 80, "learning_rate": 3e-3} if learns else {"max_steps": 1, "learning_rate": 1e-9}
    sft = {"use_lora": False, "per_device_batch_size": 8, "logging_steps": 1, **steps}
    config = {
        "name": NAME,
        "model": {"family": "hf", "base_model": str(base_model)},
        "data": {"max_query_tokens": 32},
        "split": {"sft": 24, "eval": 12, "rft": 0, "seed": 3},
        "stages": {"baseline_eval": evaluation, "eval": evaluation, "rft": {"enabled": False},
                   "sft": {"instance_type": "ml.m5.xlarge", "hyperparameters": sft}},
        # Baseline, chance and majority are no obstacle here: the champion decides.
        "gate": {"metric": "accuracy", "min_gain_over_baseline": -1.0, "min_gain_over_chance": -1.0,
                 "min_gain_over_majority": -1.0, "min_gain_over_champion": min_gain_over_champion},
        "deploy": {"instance_type": "ml.g5.xlarge", "smoke_test": smoke_test},
        "poll_seconds": 1,
        "endpoint_poll_seconds": 1,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def run(config: Path, out: Path, run_id: str, inspect=None):
    """One local run, collected; ``inspect(pipeline)`` runs before the run's moto goes away."""
    started = time.monotonic()
    pipeline = LocalPipeline(config, SAMPLE, out, run_id=run_id)
    with pipeline:
        pipeline.start()
        final = pipeline.watch(interval=0.5)
        result = pipeline.collect(final)
        seen = inspect(pipeline) if inspect else None
    print(f"{run_id}: {result.status} in {time.monotonic() - started:.1f} s")  # the timings, with -s
    return result, seen


def serving(pipeline: LocalPipeline) -> dict:
    """What the endpoint serves at the end of the run: its config and one answer."""
    described = pipeline.sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    return {"status": described["EndpointStatus"], "config": described["EndpointConfigName"],
            "answer": pipeline.invoke("How do I sort a list in Python?")}


@pytest.fixture(scope="module")
def first(tiny_model, tmp_path_factory):
    """Run 1 deploys a model that learned to answer a label: the champion of the later runs."""
    out = tmp_path_factory.mktemp("first")
    config = write_config(out / "learns.yaml", tiny_model, learns=True)
    result, seen = run(config, out / "runs", "first", serving)
    assert result.status == "SUCCEEDED", result.report.get("failure_reason")
    return out / "runs", result.report, seen


def with_the_first_runs_account(first, tmp_path) -> Path:
    """A runs directory holding only what run 1 left deployed (each test starts from it)."""
    runs, _, _ = first
    out = tmp_path / "runs"
    shutil.copytree(account.account_dir(runs, NAME), account.account_dir(out, NAME))
    return out


def test_the_first_run_has_no_champion_and_deploys(first) -> None:
    runs, report, seen = first
    assert report["gate"]["champion"]["present"] is False
    assert "no endpoint forge-champ--endpoint" in report["gate"]["notes"][0]
    assert "champion" not in report["stages"]  # no champion: its evaluation did not run
    assert report["stages"]["sft"]["metrics"]["accuracy"] == pytest.approx(1 / 3)  # always one label
    assert seen["config"] == f"{NAME}--first-epc" and seen["status"] == "InService"
    saved = json.loads((account.account_dir(runs, NAME) / account.ACCOUNT_FILE).read_text())
    assert saved["endpoint"]["config_name"] == f"{NAME}--first-epc"


def test_a_worse_candidate_is_rejected_and_the_endpoint_keeps_serving_the_first_model(
        first, tiny_model, tmp_path) -> None:
    _, first_report, first_seen = first
    out = with_the_first_runs_account(first, tmp_path)
    config = write_config(tmp_path / "worse.yaml", tiny_model, learns=False)
    result, seen = run(config, out, "worse", serving)
    report = result.report
    assert result.status == "GATE_REJECTED", report.get("failure_reason")
    champion = report["gate"]["champion"]
    assert (champion["present"], champion["run_id"]) == (True, "first")
    # The champion was scored on this run's eval set: run 1's model, run 1's score on the same split.
    first_score = first_report["stages"]["sft"]["metrics"]["accuracy"]
    assert champion["score"] == report["stages"]["champion"]["metrics"]["accuracy"] == first_score
    candidate = report["gate"]["candidate"]
    assert candidate < first_score
    assert (f"accuracy {candidate:.4f} does not beat champion {first_score:.4f} by the required +0.0000"
            in report["gate"]["reason"])
    markdown = (result.run_dir / "report.md").read_text()
    assert "| champion |" in markdown and "**does not beat**" in markdown
    assert "Champion: run first's model forge-champ--first-model" in markdown
    assert "<section id='stage-champion'" in (result.run_dir / "report.html").read_text()
    # Nothing deployed: the endpoint still serves run 1's config and model.
    assert report["endpoint"] is None
    assert seen == first_seen
    assert report["stages"]["champion"]["eval_job"]["job_name"] == f"{NAME}--worse-{CHAMPION.token}-a1"


def test_a_failed_smoke_test_after_an_update_leaves_the_previous_config(first, tiny_model, tmp_path) -> None:
    _, _, first_seen = first
    out = with_the_first_runs_account(first, tmp_path)
    # The gate lets it through (it may lose to the champion); its model names no label: smoke fails.
    config = write_config(tmp_path / "smoke.yaml", tiny_model, learns=False, smoke_test=True,
                          min_gain_over_champion=-1.0)
    result, seen = run(config, out, "smoke", serving)
    report = result.report
    assert result.status == "FAILED" and "SmokeTestError" in report["failure_reason"]
    assert report["gate"]["passed"] is True
    assert report["endpoint"]["action"] == "update"
    assert report["endpoint"]["previous_endpoint_config_name"] == f"{NAME}--first-epc"
    assert report["cleanup"]["rolled_back_to"] == f"{NAME}--first-epc"
    assert seen == first_seen  # back on run 1's config, answering with run 1's model
    saved = json.loads((account.account_dir(out, NAME) / account.ACCOUNT_FILE).read_text())
    assert saved["endpoint"]["config_name"] == f"{NAME}--first-epc"  # what the next run will find


@pytest.mark.parametrize(("action", "state"), [
    ("sagemaker:DescribeModel", "Champion"),  # an earlier run's model: only the Champion call can ask
    ("sagemaker:DescribeEndpoint", "Preflight"),  # known before any job: Preflight's IAM check names it
])
def test_without_its_grant_the_champion_handler_fails_the_local_run(
        first, tiny_model, tmp_path, monkeypatch, action, state) -> None:
    out = with_the_first_runs_account(first, tmp_path)
    granted = [a for a in permissions.HANDLER_PERMISSIONS["champion"] if a != action]
    monkeypatch.setitem(permissions.HANDLER_PERMISSIONS, "champion", granted)
    config = write_config(tmp_path / "denied.yaml", tiny_model, learns=False)

    def denials(pipeline):
        return [(d.authorization.action, d.authorization.resource) for d in pipeline.iam.denials]

    result, denied = run(config, out, "denied", denials)
    report = result.report
    assert result.status == "FAILED"
    reason = report["failure_reason"]
    assert action in reason and "Champion" in reason, reason
    if state == "Champion":  # local IAM refused the call itself, as AWS would
        assert denied == [(action, f"arn:aws:sagemaker:us-east-1:123456789012:model/{NAME}--first-model")]
        assert "AccessDenied" in reason
    else:
        assert "PreflightError" in reason and "(champion)" in reason
    assert report["timings"]["training_seconds"] == {}  # it failed before any job
