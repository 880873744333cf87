"""report.html: the run report (report.json) as one self-contained page with the stages' plots embedded
(sections in forge/report_sections.py), laid out for a desktop browser: full-width plots, 18 px text."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from forge import report_sections as sections
from forge.report_sections import fmt
from pipeline_core import report_table

STYLE = """
body{font-family:system-ui,sans-serif;font-size:18px;line-height:1.45;max-width:1440px;margin:1.5em auto;
padding:0 2em;color:#1a1a1a}
h1{font-size:2em}h2{font-size:1.5em;border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
h3{font-size:1.2em;margin-top:1.4em}
table{border-collapse:collapse;margin:.8em 0;font-size:17px}td,th{border:1px solid #ccc;padding:.35em .7em;
text-align:right;vertical-align:top}th{background:#f3f3f3}
th:first-child,td:first-child{text-align:left}.status{font-weight:bold}.FAILED,.ABORTED{color:#b00}
.SUCCEEDED{color:#070}.GATE_REJECTED{color:#a60}img.plot{display:block;width:100%;height:auto;margin:.8em 0}
.up{color:#070}.down{color:#b00}.note{color:#555;font-size:16px}.confusion td{min-width:6em;text-align:center}
.confusion td.dark{color:#fff}table.samples{width:100%}table.samples td,table.samples th{text-align:left}
table.samples pre{white-space:pre-wrap;margin:0;font-size:15px;max-width:40em}.question{max-width:40em}
blockquote{background:#fee;border-left:4px solid #b00;margin:1em 0;padding:.5em 1em}
section.stage{margin-top:2.5em}
"""


def render(report: dict[str, Any], run_dir: Path) -> str:
    status = str(report.get("status"))
    stages = report.get("stages") or {}
    gate, endpoint, smoke = report.get("gate"), report.get("endpoint"), report.get("smoke")
    model = report.get("model") or {}
    body = [
        f"<h1>Run {fmt(report.get('run_id'))}: "
        f"<span class='status {html.escape(status)}'>{html.escape(status)}</span></h1>",
        f"<p>pipeline <code>{fmt(report.get('pipeline'))}</code>, model {fmt(model.get('family'))} "
        f"<code>{fmt(model.get('base_model'))}</code>, "
        f"dataset <code>{fmt(report.get('dataset'))}</code></p>",
    ]
    if report.get("failure_reason"):
        body.append(f"<h2>Failure</h2><blockquote>{fmt(report['failure_reason'])}</blockquote>")
    if report.get("stopped_at"):
        body.append(f"<p>Stopped at state <code>{fmt(report['stopped_at'])}</code>.</p>")
    body.append(sections.metrics_section(stages) if stages else "<h2>Metrics</h2><p>no stage evaluated</p>")
    body.append(sections.splits_section(report.get("counts")))
    body.append(sections.shortcuts_section(report))
    # Pipeline order from the stage table, whatever order report.json's keys have.
    body += [sections.stage_section(run_dir, name, stage) for name, stage in report_table.ordered(stages)]
    body.append("<section id='gate'><h2>Gate</h2>")
    if gate:
        verdict = "passed" if gate.get("passed") else "rejected"
        body.append(
            f"<p>{verdict}: {fmt(gate.get('reason'))} (metric <code>{fmt(gate.get('metric'))}</code>, "
            f"baseline {fmt(gate.get('baseline'))}, candidate {fmt(gate.get('candidate'))})</p>"
        )
        rows = [[fmt(c.get("against")), fmt(c.get("reference")), fmt(c.get("candidate")), fmt(c.get("gain")),
                 fmt(c.get("required_gain")), "beats" if c.get("passed") else "<b>does not beat</b>"]
                for c in gate.get("comparisons") or []]
        if rows:
            body.append(sections.table(["against", "reference", "candidate", "gain", "required", "verdict"],
                                       rows, "gate"))
        body += [f"<p>{fmt(note)}</p>" for note in gate.get("notes") or []]
    else:
        body.append("<p>not reached</p>")
    champion = report_table.champion_line(report)
    if champion:
        body.append(f"<p id='champion'>{fmt(champion)}</p>")
    body.append("</section><section id='endpoint'><h2>Endpoint</h2>")
    body.append(
        f"<p><code>{fmt(endpoint.get('endpoint_name'))}</code> ({fmt(endpoint.get('action'))})</p>"
        if endpoint
        else "<p>none</p>"
    )
    if endpoint and endpoint.get("expires_at"):
        body.append(f"<p>Expires at {fmt(endpoint['expires_at'])} (deploy.ttl_hours): a schedule deletes it "
                    "then.</p>")
    if smoke and smoke.get("label") is None:  # task.kind generation: no label to parse
        body.append(f"<p>Smoke test: <code>{fmt(smoke.get('answer'))}</code> (reference "
                    f"<code>{fmt(smoke.get('expected'))}</code>)</p>")
    elif smoke:
        body.append(
            f"<p>Smoke test: <code>{fmt(smoke.get('answer'))}</code> → label "
            f"<code>{fmt(smoke.get('label'))}</code> (expected {fmt(smoke.get('expected'))})</p>"
        )
    rolled_back = (report.get("cleanup") or {}).get("rolled_back_to")
    if rolled_back:
        body.append(f"<p>Rolled back to the previous endpoint config <code>{fmt(rolled_back)}</code>.</p>")
    body += ["</section>", sections.jobs_section(report)]
    title = f"forge run {fmt(report.get('run_id'))}"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<meta name='viewport' content='width=device-width'><style>{STYLE}</style>"
        f"</head><body>{''.join(body)}</body></html>\n"
    )
