"""pipeline_core.report_table: order, 95% intervals, changes against the baseline and the previous stage."""

from __future__ import annotations

import pytest

from pipeline_core import report_table


def stages_sorted_by_name() -> dict:
    """report.json's stages as a sorted-keys file left them: baseline, rft, sft."""
    return {
        "baseline": {"metrics": {"accuracy": 0.25, "accuracy_stderr": 0.1, "em": 0.0}},
        "rft": {"metrics": {"accuracy": 0.75, "em": 0.5}},
        "sft": {"metrics": {"accuracy": 0.5, "accuracy_stderr": 0.05, "em": 0.25}},
    }


def test_rows_come_in_pipeline_order_whatever_the_dict_order() -> None:
    stages = stages_sorted_by_name()
    assert [name for name, _ in report_table.ordered(stages)] == ["baseline", "sft", "rft"]
    rows = report_table.stage_rows(stages, ["accuracy", "em"])
    assert [row.section for row in rows] == ["baseline", "sft", "rft"]


def test_intervals_and_changes() -> None:
    rows = {row.section: row for row in report_table.stage_rows(stages_sorted_by_name(), ["accuracy", "em"])}
    base, sft, rft = rows["baseline"].cells[0], rows["sft"].cells[0], rows["rft"].cells[0]
    assert (base.low, base.high) == (
        pytest.approx(0.25 - 0.196, abs=1e-4),
        pytest.approx(0.25 + 0.196, abs=1e-4),
    )
    assert base.vs_baseline is None and base.vs_previous is None
    assert sft.vs_baseline == pytest.approx(0.25) and sft.vs_previous == pytest.approx(0.25)
    assert rft.vs_baseline == pytest.approx(0.5) and rft.vs_previous == pytest.approx(0.25)
    assert rft.low is None  # no stderr, no interval
    assert rows["rft"].cells[1].vs_previous == pytest.approx(0.25)


def test_without_a_baseline_section_there_is_no_change_against_it() -> None:
    stages = {k: v for k, v in stages_sorted_by_name().items() if k != "baseline"}
    rows = report_table.stage_rows(stages, ["accuracy"])
    assert all(row.cells[0].vs_baseline is None for row in rows)
    assert rows[1].cells[0].vs_previous == pytest.approx(0.25)


def test_normalized_confusion_and_changed_hyperparameters() -> None:
    shares = report_table.normalized_confusion({"counts": [[1, 3], [0, 0]]})
    assert shares == [[0.25, 0.75], [0.0, 0.0]]
    changed = report_table.changed_hyperparameters({"lr": 1e-3, "steps": 5}, {"lr": 2e-4, "steps": 5})
    assert changed == {"lr": {"value": 1e-3, "default": 2e-4}}


def test_job_rows_cost_each_job_and_total() -> None:
    stages = {
        "sft": {
            "training_job": {
                "job_name": "t",
                "instance_type": "ml.g5.xlarge",
                "instance_count": 1,
                "timings": {"TrainingTimeInSeconds": 7200, "BillableTimeInSeconds": 3600},
            },
            "eval_job": {
                "job_name": "e",
                "instance_type": "ml.p5.48xlarge",
                "timings": {"TrainingTimeInSeconds": 60},
            },
        }
    }
    rows = report_table.job_rows(stages)
    assert [row.job_name for row in rows] == ["t", "e"]
    assert rows[0].cost.instance_hours == pytest.approx(1.0)
    amount, complete = report_table.cost_total(rows)
    assert amount == pytest.approx(rows[0].cost.cost) and not complete
