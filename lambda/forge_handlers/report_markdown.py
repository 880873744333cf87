"""report.md: the run report (report.json) as Markdown, from the rows of pipeline_core.report_table."""

from __future__ import annotations

from typing import Any

from pipeline_core import prices, report_table


def _cell(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("–" if value is None else str(value))


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.4f}"


def metric_cell(cell: report_table.MetricCell) -> str:
    """``0.5200 [0.47, 0.57]``: the value and its 95% interval."""
    if cell.value is None:
        return "–"
    if cell.low is None:
        return _cell(cell.value)
    return f"{cell.value:.4f} [{cell.low:.3f}, {cell.high:.3f}]"


def _stage_table(stages: dict[str, Any]) -> list[str]:
    columns = report_table.metric_columns(stages)
    lines = [
        "| stage | " + " | ".join(columns) + " | eval job |",
        "|---" * (len(columns) + 2) + "|",
    ]
    rows = report_table.stage_rows(stages, columns)
    for row in rows:
        cells = [metric_cell(cell) for cell in row.cells]
        lines.append(f"| {row.section} | " + " | ".join(cells) + f" | {_cell(row.eval_job_name)} |")
    lines += ["", "Values with their 95% interval (value ± 1.96 stderr).", ""]
    if len(rows) > 1:
        lines += ["| stage | metric | vs baseline | vs previous stage |", "|---|---|---|---|"]
        for row in rows[1:]:
            for name, cell in zip(columns, row.cells, strict=True):
                if cell.vs_baseline is not None or cell.vs_previous is not None:
                    lines.append(f"| {row.section} | {name} | {_signed(cell.vs_baseline)} | "
                                 f"{_signed(cell.vs_previous)} |")
    return lines


def _stage_details(section: str, stage: dict[str, Any]) -> list[str]:
    lines = [f"### {section}", ""]
    classes = report_table.class_rows(stage)
    if classes:
        lines += ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        lines += [f"| {c.label} | {c.precision:.3f} | {c.recall:.3f} | {c.f1:.3f} | {c.support} |"
                  for c in classes]
        lines.append("")
    tokens = stage.get("answer_tokens") or {}
    if tokens:
        lines += [f"Answers: mean {tokens.get('mean', 0):.1f} tokens; {tokens.get('at_cap')} of "
                  f"{stage.get('num_samples')} reach the cap max_new_tokens={tokens.get('cap')}.", ""]
    for kind in ("right", "wrong"):
        samples = (stage.get("samples") or {}).get(kind) or []
        if samples:
            lines += [f"{kind.capitalize()} answers:", ""]
            lines += [f"- `{s['id']}` gold `{s['gold']}`, parsed `{s['parsed']}`: "
                      f"{_inline(s['answer'])}" for s in samples]
            lines.append("")
    for kind in report_table.JOB_KINDS:
        changed = (stage.get(kind) or {}).get("hyperparameters") or {}
        if changed:
            shown = ", ".join(f"`{k}`={v['value']!r} (default {v['default']!r})" for k, v in changed.items())
            lines += [f"{kind.replace('_', ' ')} hyperparameters changed: {shown}", ""]
    return lines


def _inline(text: Any) -> str:
    text = " ".join(str(text).split())
    return "`" + (text[:120] + "…" if len(text) > 120 else text).replace("`", "'") + "`"


def _jobs(report: dict[str, Any]) -> list[str]:
    rows = report_table.job_rows(report["stages"], report.get("region") or "us-east-1")
    head = "| stage | job | status | seconds | instance-hours | estimate, at most (USD) | cost (USD) | how |"
    lines = [head, "|---" * 8 + "|"]
    for job in rows:
        cost = job.cost
        hours = f"{cost.instance_hours:.3f}" if cost else "–"
        amount = f"{cost.cost:.2f}" if cost and cost.cost is not None else "–"
        bound = report_table.estimated_bound(report, job.stage)
        how = cost.note if cost else "instance type not recorded"
        lines.append(f"| {job.section} {job.kind} | `{job.job_name}` | {_cell(job.status)} | "
                     f"{_cell(job.seconds)} | {hours} | {'–' if bound is None else f'{bound:.2f}'} | "
                     f"{amount} | {how} |")
    amount, complete = report_table.cost_total(rows)
    lines += ["", f"Total: ${amount:.2f}{'' if complete else ' (incomplete: some prices unknown)'}; prices "
                  f"on demand from {prices.SOURCE_URL} ({prices.PRICES_DATE})."]
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Run {report['run_id']}: {report['status']}", ""]
    lines += [
        f"- pipeline: `{report['pipeline']}`, "
        f"model: {report['model']['family']} `{report['model']['base_model']}`"
    ]
    lines += [f"- artifacts: `{report['run_prefix']}`"]
    counts = report.get("counts") or {}
    if counts:
        lines.append("- split sizes: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    lines.append("")
    if report.get("failure_reason"):
        lines += ["## Failure", "", f"> {report['failure_reason']}", ""]
    if report.get("stopped_at"):
        lines += [f"Stopped at state `{report['stopped_at']}` ({report['status']}).", ""]
    lines += ["## Stages", "", *_stage_table(report["stages"]), ""]
    for section, stage in report_table.ordered(report["stages"]):
        lines += _stage_details(section, stage)
    gate = report.get("gate")
    lines += ["## Gate", ""]
    if gate:
        verdict = "passed" if gate.get("passed") else "rejected"
        lines.append(
            f"{verdict}: {gate.get('reason')} (metric `{gate.get('metric')}`, baseline "
            f"{_cell(gate.get('baseline'))}, candidate {_cell(gate.get('candidate'))})"
        )
        comparisons = gate.get("comparisons") or []
        if comparisons:
            lines += ["", "| against | reference | candidate | gain | required | verdict |", "|---" * 6 + "|"]
            lines += [f"| {c.get('against')} | {_cell(c.get('reference'))} | {_cell(c.get('candidate'))} | "
                      f"{_cell(c.get('gain'))} | {_cell(c.get('required_gain'))} | "
                      f"{'beats' if c.get('passed') else '**does not beat**'} |" for c in comparisons]
        lines += [f"- {note}" for note in gate.get("notes") or []]
    else:
        lines.append("not reached")
    package = report.get("registry") or {}
    if package.get("model_package_arn"):
        lines += ["", "## Registry", "",
                  f"`{package['model_package_arn']}`: {package.get('approval_status')}"]
    endpoint = report.get("endpoint")
    lines += [
        "",
        "## Endpoint",
        "",
        f"`{endpoint.get('endpoint_name')}` ({endpoint.get('action')})" if endpoint else "none",
    ]
    if report.get("smoke"):
        lines += [
            "",
            f"Smoke test answer: `{report['smoke'].get('answer')}` → label `{report['smoke'].get('label')}`",
        ]
    cleanup = report.get("cleanup") or {}
    if cleanup.get("stopped_jobs") or cleanup.get("deleted_endpoint"):
        lines += ["", "## Clean-up", ""]
        lines += [f"- stopped job `{name}`" for name in cleanup.get("stopped_jobs") or []]
        if cleanup.get("deleted_endpoint"):
            lines.append(f"- deleted the half-made endpoint `{cleanup['deleted_endpoint']}`")
    lines += ["", "## Jobs, times and cost", "", *_jobs(report)]
    return "\n".join(lines) + "\n"
