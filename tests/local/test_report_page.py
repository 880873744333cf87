"""report.html from a report with every block: each section present, in pipeline order, plots embedded."""

from __future__ import annotations

import json
import re

from forge.report_html import render

PNG = b"\x89PNG fake"


def full_report() -> dict:
    def stage(accuracy: float, trained: bool) -> dict:
        job = {
            "job_name": "e",
            "status": "Completed",
            "instance_type": "local",
            "instance_count": 1,
            "timings": {"TrainingTimeInSeconds": 30},
            "hyperparameters": {},
        }
        train = {
            **job,
            "job_name": "t",
            "hyperparameters": {"learning_rate": {"value": 1e-3, "default": 2e-4}},
        }
        return {
            "metrics": {"accuracy": accuracy, "accuracy_stderr": 0.05},
            "per_class": {"HQ": {"precision": 0.5, "recall": 0.25, "f1": 0.3333, "support": 4}},
            "confusion_matrix": {"rows": ["HQ"], "columns": ["HQ", None], "counts": [[1, 3]]},
            "num_samples": 4,
            "answer_tokens": {"mean": 3.0, "max": 16, "cap": 16, "at_cap": 1},
            "samples": {
                "right": [{"id": "r1", "question": "q<b>", "answer": "HQ", "gold": "HQ", "parsed": "HQ"}],
                "wrong": [{"id": "w1", "question": "q", "answer": "no", "gold": "HQ", "parsed": None}],
            },
            "eval_job": job,
            "training_job": train if trained else None,
        }

    # Sorted keys, as a report.json written with sort_keys has them.
    return {
        "run_id": "r1",
        "status": "SUCCEEDED",
        "model": {"family": "hf", "base_model": "m"},
        "counts": {"sft": 24, "eval": 4},
        "region": "us-east-1",
        "stages": {"baseline": stage(0.25, False), "rft": stage(0.75, True), "sft": stage(0.5, True)},
    }


def test_every_section_in_pipeline_order(tmp_path) -> None:
    for folder in ("eval/baseline_eval", "eval/eval_sft", "outputs/sft"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "eval/eval_sft/confusion_matrix.png").write_bytes(PNG)
    (tmp_path / "eval/eval_sft/response_lengths.png").write_bytes(PNG)
    (tmp_path / "outputs/sft/training_curves.png").write_bytes(PNG)
    log = {"log_history": [{"step": 1, "loss": 2.5}, {"step": 2, "loss": 1.25}]}
    (tmp_path / "outputs/sft/training_log.json").write_text(json.dumps(log))
    page = render(full_report(), tmp_path)
    ids = re.findall(r"<section id='([\w-]+)'", page)
    assert ids == [
        "metrics",
        "splits",
        "shortcuts",
        "stage-baseline",
        "stage-sft",
        "stage-rft",
        "gate",
        "endpoint",
        "jobs",
    ]
    sft = page[page.index("id='stage-sft'") : page.index("id='stage-rft'")]
    for heading in (
        "Per-class precision, recall, F1",
        "Confusion matrix",
        "Answer lengths",
        "Training curves",
        "Hyperparameters that differ from the defaults",
        "Sample answers",
    ):
        assert f"<h3>{heading}</h3>" in sft, heading
    assert sft.count("data:image/png;base64,") == 3
    assert "2 logged steps" in sft and "loss 2.5000 → 1.2500" in sft
    assert "25%<br><small>(1)</small>" in sft and "75%<br><small>(3)</small>" in sft
    assert "<code>learning_rate</code>" in sft
    assert "q&lt;b&gt;" in page and "<b>" not in page.replace("<b>Total", "")
    assert "max_new_tokens=16" in sft
    assert "id='changes'" in page and "+0.2500" in page  # sft vs baseline, rft vs sft
    assert "0.5000<br><small>[0.402, 0.598]</small>" in page
    assert "local, no charge" in page and "Total: $0.00" in page
    rft = page[page.index("id='stage-rft'") : page.index("id='gate'")]
    assert "no training log" in rft
