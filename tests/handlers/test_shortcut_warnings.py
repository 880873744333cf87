"""Issue 17: Prepare and `forge validate` warn alike about a label shortcut in the data (line endings
marking one class); the warning reaches validation.json, the run state, report.md and the notification;
``data.normalize_line_endings`` removes it from the prepared datasets."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import yaml
from forge_handlers import notify, report
from forge_handlers.entry import prepare
from typer.testing import CliRunner

from forge.cli import app
from pipeline_core.settings import Settings, load_settings
from tests.handlers.conftest import ARTIFACTS_BUCKET, CONFIG_FILES, DATA_BUCKET, derive

CONFIG_DIR = Path(CONFIG_FILES[0]).parent
LABELS = ("HQ", "LQ_EDIT", "LQ_CLOSE")
SIZES = {"split__sft": 60, "split__eval": 30, "split__rft": 30}
WORDS = "loop array python error build null pointer list index class module query table join".split()


def artifact_csv(rows: int = 150, *, crlf: bool = True) -> bytes:
    """Distinct questions of random words over two lines; with ``crlf`` every LQ_EDIT question has \\r\\n."""
    rng = random.Random(3)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["text", "rating"])
    for index in range(rows):
        label = LABELS[index % 3]
        first = " ".join(rng.choice(WORDS) for _ in range(6))
        second = " ".join(rng.choice(WORDS) for _ in range(8))
        newline = "\r\n" if crlf and label == "LQ_EDIT" else "\n"
        writer.writerow([f"question {index}: {first}{newline}{second}", label])
    return buffer.getvalue().encode()


def _settings(**changes) -> Settings:
    return derive(load_settings(CONFIG_DIR / "open-weights.yaml"), **SIZES, **changes)


def _validate(tmp_path: Path, settings: Settings, body: bytes) -> dict:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    (tmp_path / "data.csv").write_bytes(body)
    args = ["validate", str(tmp_path / "data.csv"), "--config", str(config)]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output  # a warning, not an error
    text = CliRunner().invoke(app, args).output
    return {**json.loads(result.output), "text": text}


def _prepare(aws, lambda_context, body: bytes, run_id: str) -> tuple[dict, dict]:
    aws.put_object(Bucket=DATA_BUCKET, Key="incoming/data.csv", Body=body)
    run = prepare.handler(
        {"dataset": f"s3://{DATA_BUCKET}/incoming/data.csv", "execution_name": run_id}, lambda_context
    )
    stored = aws.get_object(Bucket=ARTIFACTS_BUCKET, Key=f"runs/{run_id}/data/validation.json")
    return run, json.loads(stored["Body"].read())


def _prepared_text(aws, run: dict) -> str:
    texts = []
    for uri in run["datasets"].values():
        key = uri.removeprefix(f"s3://{ARTIFACTS_BUCKET}/")
        for line in aws.get_object(Bucket=ARTIFACTS_BUCKET, Key=key)["Body"].read().decode().splitlines():
            texts += [m["content"] for m in json.loads(line)["messages"]]
    return "".join(texts)


def test_prepare_and_validate_give_the_same_shortcut_warning(tmp_path, use_settings, aws, lambda_context):
    settings = use_settings(_settings())
    from_cli = _validate(tmp_path, settings, artifact_csv())
    run, from_prepare = _prepare(aws, lambda_context, artifact_csv(), "r-shortcut")
    assert from_cli["problems"]["warning"].get("label_shortcut") == 1
    assert from_cli["shortcuts"] == from_prepare["shortcuts"]
    assert from_cli["problems"] == from_prepare["problems"]
    (shortcut,) = from_prepare["shortcuts"]
    assert shortcut["feature"] == "line_endings" and shortcut["label"] == "LQ_EDIT"
    assert shortcut["evidence"] == "`\\r\\n` in 100% of LQ_EDIT rows, 0% of the others"
    assert "! label predictable from line endings" in from_cli["text"]
    # The run state carries it on (for the report and the notification); the datasets keep the raw text.
    assert run["shortcuts"][0]["message"] == shortcut["message"]
    assert "\r\n" in _prepared_text(aws, run)


def test_a_file_without_the_artifact_gets_no_warning(tmp_path, use_settings, aws, lambda_context):
    settings = use_settings(_settings())
    from_cli = _validate(tmp_path, settings, artifact_csv(crlf=False))
    run, from_prepare = _prepare(aws, lambda_context, artifact_csv(crlf=False), "r-clean")
    assert from_cli["shortcuts"] == from_prepare["shortcuts"] == run["shortcuts"] == []
    assert "label_shortcut" not in from_prepare["problems"]["warning"]


def test_normalize_line_endings_leaves_no_carriage_return_and_no_warning(use_settings, aws, lambda_context):
    use_settings(_settings(data__normalize_line_endings=True))
    run, stored = _prepare(aws, lambda_context, artifact_csv(), "r-normalized")
    text = _prepared_text(aws, run)
    assert "\r" not in text and "question 1: " in text
    assert stored["shortcuts"] == [] and run["shortcuts"] == []


def test_normalize_line_endings_defaults_to_the_raw_text() -> None:
    for path in CONFIG_FILES:
        assert load_settings(path).data.normalize_line_endings is False, path.name


def test_the_report_and_the_notification_show_the_shortcut(use_settings, aws, lambda_context):
    settings = use_settings(_settings())
    run, _ = _prepare(aws, lambda_context, artifact_csv(), "r-reported")
    state = {"execution_name": "r-reported", "run": run, "jobs": {}}
    built = report.build_report(settings, ARTIFACTS_BUCKET, state, "FAILED")
    assert built["shortcuts"] == run["shortcuts"]
    markdown = report.render_markdown(built)
    section = markdown.split("## Data shortcuts", 1)[1].split("##", 1)[0]
    assert "**line_endings** → `LQ_EDIT`: `\\r\\n` in 100% of LQ_EDIT rows, 0% of the others" in section
    from forge.report_html import render

    page = render(built, Path("."))
    html_section = page.split("<h2>Data shortcuts</h2>", 1)[1].split("</section>", 1)[0]
    assert "<td><code>line_endings</code></td><td><code>LQ_EDIT</code></td>" in html_section
    assert "100% of LQ_EDIT rows" in html_section
    _, message = notify.compose(settings, {"status": "FAILED", "run": run})
    lines = [line for line in message.splitlines() if line.startswith("Data shortcut:")]
    assert len(lines) == 1 and "label predictable from line endings" in lines[0]


def test_a_run_without_prepare_says_not_checked(use_settings, aws):
    settings = use_settings(_settings())
    built = report.build_report(settings, ARTIFACTS_BUCKET, {"execution_name": "r-early"}, "FAILED")
    assert "not checked (Prepare did not finish)" in report.render_markdown(built)
    _, message = notify.compose(settings, {"status": "FAILED", "execution_name": "r-early"})
    assert "Data shortcut" not in message


def test_the_robustness_figure_sits_beside_the_accuracy_in_report_md_and_html(aws, use_settings, tmp_path):
    from forge.report_html import render
    from pipeline_core.layout import eval_results_key
    from tests.handlers.conftest import put_json
    from tests.handlers.test_report import a_state, results_document

    settings = use_settings(load_settings(CONFIG_DIR / "local.yaml"))
    put_json(aws, ARTIFACTS_BUCKET, eval_results_key("run-1", "eval_sft"), results_document(0.75))
    built = report.build_report(settings, ARTIFACTS_BUCKET, a_state(), "SUCCEEDED")
    assert built["stages"]["sft"]["robustness"]["normalized_line_endings"]["accuracy"] == 0.5
    markdown = report.render_markdown(built)
    assert "| sft | 0.7500 | 0.5000 [0.402, 0.598] | -0.2500 | 3 of 8 | 2 |" in markdown
    page = render(built, tmp_path)
    robustness = page.split("id='robustness'", 1)[1].split("</table>", 1)[0]
    assert "<td>sft</td><td>0.7500</td><td>0.5000<br><small>[0.402, 0.598]</small></td>" in robustness
    assert "<td>3 of 8</td><td>2</td>" in robustness
    assert "<h2>Data shortcuts</h2><p>not checked" in page  # a_state's run has no shortcuts record
