"""CLI commands that need no pipeline run: validate, status, report, and report.html rendering."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from forge.cli import app
from forge.report_html import render

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = PROJECT_ROOT / "examples" / "data" / "so_sample.csv"
DEMO = PROJECT_ROOT / "config" / "local-demo.yaml"


def test_validate_accepts_the_bundled_sample():
    result = CliRunner().invoke(app, ["validate", str(SAMPLE), "--config", str(DEMO)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK:") and "600 rows, 0 errors" in result.output


def test_validate_names_the_bad_row_and_field(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,rating\nhow do I sort a list?,HQ\nwhy is this slow?,MAYBE\n,LQ_EDIT\n")
    result = CliRunner().invoke(app, ["validate", str(bad), "--config", str(DEMO)])
    assert result.exit_code == 1
    assert result.output.startswith("INVALID:")
    assert "row 2 [rating]" in result.output and "MAYBE" in result.output
    assert "row 3 [text]" in result.output
    as_json = CliRunner().invoke(app, ["validate", str(bad), "--config", str(DEMO), "--json"])
    assert json.loads(as_json.output)["rows_with_errors"] == 2


def test_validate_reports_too_few_rows_for_the_split(tmp_path):
    small = tmp_path / "small.csv"
    small.write_text(
        "text,rating\n"
        + "".join(f"question number {i}?,{['HQ', 'LQ_EDIT', 'LQ_CLOSE'][i % 3]}\n" for i in range(30))
    )
    result = CliRunner().invoke(app, ["validate", str(small), "--config", str(DEMO)])
    assert result.exit_code == 1 and "too_few_rows_for_split" in result.output


def test_validate_bad_config_is_a_clear_error(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("model: {family: gpt}\n")
    result = CliRunner().invoke(app, ["validate", str(SAMPLE), "--config", str(config)])
    assert result.exit_code == 1 and "model.family" in result.stderr


def test_status_and_report_read_local_runs(tmp_path):
    run_dir = tmp_path / "r1"
    run_dir.mkdir()
    (run_dir / "report.json").write_text(json.dumps({"run_id": "r1", "status": "FAILED"}))
    (run_dir / "report.md").write_text("# Run r1: FAILED\n")
    status = CliRunner().invoke(app, ["status", "--out", str(tmp_path)])
    assert status.exit_code == 0 and "r1  FAILED" in status.output
    report = CliRunner().invoke(app, ["report", "r1", "--out", str(tmp_path)])
    assert report.exit_code == 0 and "# Run r1: FAILED" in report.output
    missing = CliRunner().invoke(app, ["report", "nope", "--out", str(tmp_path)])
    assert missing.exit_code == 1 and "no report" in missing.stderr


def test_report_html_has_the_stage_table_failure_and_embedded_plots(tmp_path):
    plots = tmp_path / "eval" / "baseline_eval"
    plots.mkdir(parents=True)
    (plots / "confusion_matrix.png").write_bytes(b"\x89PNG fake")
    report = {
        "run_id": "r<1>",
        "status": "FAILED",
        "failure_reason": "sft job x Failed: AlgorithmError: boom",
        "model": {"family": "hf", "base_model": "m"},
        "stages": {
            "baseline": {"metrics": {"accuracy": 0.5, "em": 0.25}, "eval_job": {"job_name": "j"}},
            "sft": {"metrics": None, "eval_job": {}},
        },
    }
    page = render(report, tmp_path)
    assert "r&lt;1&gt;" in page and "AlgorithmError: boom" in page
    assert "<td>0.5000</td><td>0.2500</td>" in page
    assert page.count("data:image/png;base64,") == 1


def test_report_md_and_html_show_the_same_metric_columns(tmp_path):
    """Issue 13: report.md and report.html listed different metrics (f1_score_quasi, rougeL only in HTML)."""
    from forge_handlers.report import render_markdown

    metrics = {"accuracy": 0.5, "f1_score_quasi": 0.25, "rougeL": 0.125}
    report = {
        "run_id": "r1", "status": "SUCCEEDED", "pipeline": "forge", "run_prefix": "s3://a/runs/r1/",
        "model": {"family": "hf", "base_model": "m"},
        "stages": {"baseline": {"metrics": metrics, "eval_job": {"job_name": "j"}}},
    }
    assert "| stage | accuracy | f1_score_quasi | rougeL | eval job |" in render_markdown(report)
    assert "| baseline | 0.5000 | 0.2500 | 0.1250 | j |" in render_markdown(report)
    page = render(report, tmp_path)
    assert "<th>accuracy</th><th>f1_score_quasi</th><th>rougeL</th><th>eval job</th>" in page
