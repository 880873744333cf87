"""Cost before the run (the bound the settings allow) and after (what the jobs were billed), per stage."""

from __future__ import annotations

import json

import pytest
from forge_handlers import notify
from typer.testing import CliRunner

from forge.cli import app
from pipeline_core import cost_estimate, report_table
from pipeline_core.settings import load_settings
from tests.handlers.conftest import derive
from tests.synth_helpers import CONFIG_DIR

OPEN_WEIGHTS = load_settings(CONFIG_DIR / "open-weights.yaml")


def test_each_stage_is_bounded_by_its_max_runtime_at_the_tables_price() -> None:
    settings = derive(OPEN_WEIGHTS, stages__sft__instance_type="ml.g5.12xlarge",
                      stages__sft__instance_count=2, stages__sft__max_runtime_seconds=7200)
    by_stage = {s.stage: s for s in cost_estimate.estimate(settings, "us-east-1").stages}
    assert list(by_stage) == settings.enabled_job_stages()
    assert by_stage["sft"].bound_cost == pytest.approx(7.09 * 2 * 2)  # $/h x count x hours
    assert by_stage["sft"].bound_seconds == 7200


@pytest.mark.parametrize(
    ("instance_type", "region", "bound"),
    [("local", "us-east-1", 0.0), ("ml.p5.48xlarge", "us-east-1", None),
     ("ml.g5.2xlarge", "eu-north-1", None)],
)
def test_local_is_free_and_an_unknown_price_stays_unknown(instance_type, region, bound) -> None:
    settings = derive(OPEN_WEIGHTS, stages__sft__instance_type=instance_type)
    estimate = cost_estimate.estimate(settings, region)
    sft = next(s for s in estimate.stages if s.stage == "sft")
    assert sft.bound_cost == bound
    amount, complete = estimate.bound_total
    assert complete is (bound is not None and region == "us-east-1")


def test_the_lines_name_the_prices_source_and_the_endpoint_rate() -> None:
    lines = cost_estimate.estimate(OPEN_WEIGHTS, "us-east-1").lines()
    assert "https://aws.amazon.com/sagemaker-ai/pricing/" in lines[0]
    assert any(line.startswith("  sft: 1 x ml.g5.2xlarge, at most $") for line in lines)
    assert lines[-1] == "  endpoint: 1 x ml.g5.xlarge, $1.41 per hour while it runs"
    nova = cost_estimate.estimate(load_settings(CONFIG_DIR / "nova.yaml"), "us-east-1").lines()
    assert "  training total: unknown" in nova  # no figure for ml.p5.48xlarge: never a guess


def test_validate_prints_the_estimate_and_json_carries_it(tmp_path) -> None:
    data = CONFIG_DIR.parent / "examples" / "data" / "so_sample.csv"
    config = str(CONFIG_DIR / "local-demo.yaml")
    shown = CliRunner().invoke(app, ["validate", str(data), "--config", config])
    assert "cost estimate" in shown.output and "sft: 1 x local, at most $0.00" in shown.output
    as_json = CliRunner().invoke(app, ["validate", str(data), "--config", config, "--json"])
    record = json.loads(as_json.output)["cost_estimate"]
    assert [row["stage"] for row in record["stages"]][:3] == ["baseline_eval", "eval_champion", "sft"]


def test_report_and_notification_show_estimate_and_actual_per_stage() -> None:
    report = {
        "region": "us-east-1",
        "stages": {
            "sft": {
                "training_job": {"job_name": "j-sft", "status": "Completed", "instance_type": "ml.g5.2xlarge",
                                 "instance_count": 1, "timings": {"TrainingTimeInSeconds": 3600,
                                                                  "BillableTimeInSeconds": 1800}},
                "eval_job": {"job_name": "j-ev", "status": "Completed", "instance_type": "ml.g5.2xlarge",
                             "instance_count": 1, "timings": {"TrainingTimeInSeconds": 600}},
            },
        },
    }
    report["cost"] = {"estimate": cost_estimate.estimate(OPEN_WEIGHTS, "us-east-1").to_record(),
                      "actual": report_table.actual_costs(report)}
    actual = report["cost"]["actual"]["per_stage"]
    assert actual["sft"] == pytest.approx(1.515 / 2)  # the billable half hour
    assert actual["eval_sft"] == pytest.approx(1.515 / 6)
    assert report_table.estimated_bound(report, "sft") == pytest.approx(1.515 * 12)
    lines = notify.cost_lines(report["cost"])
    assert lines[0] == "Cost per stage:"
    assert "  sft: estimated at most $18.18, actual $0.76" in lines
    assert "  rft: estimated at most $85.08, actual not run" in lines
    assert lines[-1] == "  endpoint: $1.41 per hour while it runs"
