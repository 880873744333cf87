"""report.html: the run report (report.json) as one self-contained page with the stages' plots embedded."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from pipeline_core import report_table
from pipeline_core import stages as stage_table

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}.status{font-weight:bold}.FAILED,.ABORTED{color:#b00}
.SUCCEEDED{color:#070}.GATE_REJECTED{color:#a60}.plots img{max-width:48%;margin:.5%}
blockquote{background:#fee;border-left:4px solid #b00;margin:1em 0;padding:.5em 1em}
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "–" if value is None else html.escape(str(value))


def _stage_table(stages: dict[str, Any]) -> str:
    columns = report_table.metric_columns(stages)
    rows = ["<tr><th>stage</th>" + "".join(f"<th>{m}</th>" for m in columns) + "<th>eval job</th></tr>"]
    for row in report_table.stage_rows(stages, columns):
        cells = "".join(f"<td>{_fmt(value)}</td>" for value in row.values)
        rows.append(f"<tr><td>{html.escape(row.section)}</td>{cells}<td>{_fmt(row.eval_job_name)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _plots(run_dir: Path, stages: dict[str, Any]) -> str:
    parts = []
    # Report section -> the eval job stage whose outputs (plots) belong to it.
    eval_stage = {section: evaluation for section, (_, evaluation) in stage_table.report_sections().items()}
    for name in stages:
        folder = run_dir / "eval" / eval_stage.get(name, name)
        images = sorted(folder.rglob("*.png")) if folder.exists() else []
        if not images:
            continue
        tags = "".join(
            f'<img alt="{html.escape(image.stem)}" src="data:image/png;base64,'
            f'{base64.b64encode(image.read_bytes()).decode()}">'
            for image in images
        )
        parts.append(f"<h3>{html.escape(name)}</h3><div class='plots'>{tags}</div>")
    return "".join(parts) or "<p>no plots (no evaluation finished)</p>"


def _timings(stages: dict[str, Any]) -> str:
    items = [
        f"<li>{html.escape(job.section)} {job.kind} <code>{_fmt(job.job_name)}</code>: "
        f"{_fmt(job.status)}, {_fmt(job.seconds)} s</li>"
        for job in report_table.job_rows(stages)
    ]
    return "<ul>" + "".join(items) + "</ul>" if items else "<p>no jobs ran</p>"


def render(report: dict[str, Any], run_dir: Path) -> str:
    status = str(report.get("status"))
    stages = report.get("stages") or {}
    gate, endpoint, smoke = report.get("gate"), report.get("endpoint"), report.get("smoke")
    model = report.get("model") or {}
    body = [
        f"<h1>Run {_fmt(report.get('run_id'))}: "
        f"<span class='status {html.escape(status)}'>{html.escape(status)}</span></h1>",
        f"<p>pipeline <code>{_fmt(report.get('pipeline'))}</code>, model {_fmt(model.get('family'))} "
        f"<code>{_fmt(model.get('base_model'))}</code>, "
        f"dataset <code>{_fmt(report.get('dataset'))}</code></p>",
    ]
    if report.get("failure_reason"):
        body.append(f"<h2>Failure</h2><blockquote>{_fmt(report['failure_reason'])}</blockquote>")
    if report.get("stopped_at"):
        body.append(f"<p>Stopped at state <code>{_fmt(report['stopped_at'])}</code>.</p>")
    body += ["<h2>Stages</h2>", _stage_table(stages) if stages else "<p>no stage evaluated</p>"]
    body.append("<h2>Gate</h2>")
    if gate:
        verdict = "passed" if gate.get("passed") else "rejected"
        body.append(
            f"<p>{verdict}: {_fmt(gate.get('reason'))} (metric <code>{_fmt(gate.get('metric'))}</code>, "
            f"baseline {_fmt(gate.get('baseline'))}, candidate {_fmt(gate.get('candidate'))})</p>"
        )
    else:
        body.append("<p>not reached</p>")
    body.append("<h2>Endpoint</h2>")
    body.append(
        f"<p><code>{_fmt(endpoint.get('endpoint_name'))}</code> ({_fmt(endpoint.get('action'))})</p>"
        if endpoint
        else "<p>none</p>"
    )
    if smoke:
        body.append(
            f"<p>Smoke test: <code>{_fmt(smoke.get('answer'))}</code> → label "
            f"<code>{_fmt(smoke.get('label'))}</code> (expected {_fmt(smoke.get('expected'))})</p>"
        )
    body += ["<h2>Plots</h2>", _plots(run_dir, stages), "<h2>Jobs</h2>", _timings(stages)]
    title = f"forge run {_fmt(report.get('run_id'))}"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{STYLE}</style>"
        f"</head><body>{''.join(body)}</body></html>\n"
    )
