"""Issue 14: `forge status` (stage, elapsed, headline metric, --json, "no runs"), `forge report --json`,
`forge logs` on a local run and the parsed label of `forge invoke`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forge.cli import app


def _run_dir(tmp_path, name="r1"):
    run = tmp_path / name
    (run / "logs").mkdir(parents=True)
    (run / "report.json").write_text(json.dumps({
        "run_id": name, "status": "GATE_REJECTED",
        "stages": {  # written sorted (rft before sft): the order must come from the stage table
            "baseline": {"metrics": {"accuracy": 0.2, "em": 0.1}, "eval_job": {"job_name": "p--r1-base-a1"}},
            "rft": {"metrics": None, "eval_job": {}, "training_job": {}},
            "sft": {"metrics": {"accuracy": 0.5, "em": 0.4}, "eval_job": {"job_name": "p--r1-evsft-a1"},
                    "training_job": {"job_name": "p--r1-sft-a1"}},
        },
    }))
    (run / "settings.json").write_text(json.dumps({"gate": {"metric": "em"}}))
    (run / "execution_history.json").write_text(json.dumps([
        {"timestamp": "2026-01-01 10:00:00+00:00"}, {"timestamp": "2026-01-01 10:02:05.5+00:00"}]))
    (run / "logs" / "p--r1-sft-a1.log").write_text("step 1 loss 2.0\n")
    (run / "logs" / "p--r1-base-a1.log").write_text("baseline eval\n")
    (run / "logs" / "endpoint-p--endpoint.log").write_text("serving\n")
    return run


def test_status_says_when_there_are_no_runs(tmp_path):
    result = CliRunner().invoke(app, ["status", "--out", str(tmp_path)])
    assert result.exit_code == 0 and result.stdout.strip() == f"no runs under {tmp_path}"
    assert json.loads(CliRunner().invoke(app, ["status", "--out", str(tmp_path), "--json"]).stdout) == []


def test_status_shows_stage_elapsed_and_the_gate_metric_of_the_last_evaluated_stage(tmp_path):
    _run_dir(tmp_path)
    result = CliRunner().invoke(app, ["status", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "r1  GATE_REJECTED  stage eval_sft  2m06s  em 0.400 (sft)" in result.stdout
    [row] = json.loads(CliRunner().invoke(app, ["status", "--out", str(tmp_path), "--json"]).stdout)
    assert row["elapsed_s"] == 125.5 and row["metric"] == "em" and row["value"] == 0.4


def test_report_json_prints_the_report_document(tmp_path):
    _run_dir(tmp_path)
    result = CliRunner().invoke(app, ["report", "r1", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["status"] == "GATE_REJECTED"


def test_logs_of_a_local_run_in_pipeline_order_and_by_stage(tmp_path):
    _run_dir(tmp_path)
    result = CliRunner().invoke(app, ["logs", "r1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("baseline eval") < out.index("step 1 loss 2.0") < out.index("serving")
    sft = CliRunner().invoke(app, ["logs", "r1", "--out", str(tmp_path), "--stage", "sft"])
    assert "step 1 loss 2.0" in sft.stdout and "baseline eval" not in sft.stdout
    missing = CliRunner().invoke(app, ["logs", "r1", "--out", str(tmp_path), "--stage", "rft"])
    assert missing.exit_code == 1 and "no job logs of stage rft" in missing.stderr
    assert "baseline_eval, endpoint, sft" in missing.stderr
    bad = CliRunner().invoke(app, ["logs", "r1", "--out", str(tmp_path), "--stage", "nope"])
    assert bad.exit_code == 1 and "--stage 'nope' is not a stage" in bad.stderr
    none = CliRunner().invoke(app, ["logs", "r9", "--out", str(tmp_path)])
    assert none.exit_code == 1 and "no run at" in none.stderr


@pytest.mark.parametrize("text, label", [("LQ_EDIT", "LQ_EDIT"), ("I'd say HQ.", "HQ"),
                                         ("HQ or LQ_CLOSE", None), ("no idea", None)])
def test_local_invoke_prints_the_label_parsed_with_the_runs_labels(tmp_path, monkeypatch, text, label):
    from forge import serving
    from pipeline_core.settings import load_settings

    run = tmp_path / "r1"
    run.mkdir()
    demo = load_settings(Path(__file__).resolve().parents[2] / "config" / "local-demo.yaml")
    (run / "settings.json").write_text(demo.to_json())
    monkeypatch.setattr(serving, "_running_url", lambda run_dir: "http://127.0.0.1:1")
    monkeypatch.setattr(serving, "post_question", lambda url, question, settings: text)
    result = CliRunner().invoke(app, ["invoke", "r1", "q?", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"answer": text, "label": label}
    human = CliRunner().invoke(app, ["invoke", "r1", "q?", "--out", str(tmp_path)])
    assert human.stdout.splitlines()[-1].startswith(f"label: {label or '–'}")
