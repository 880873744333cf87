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


def _robustness_rows(stages: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """(section, raw accuracy, the normalized-line-endings block) of each stage that measured it."""
    rows = []
    for section, stage in report_table.ordered(stages):
        block = (stage.get("robustness") or {}).get("normalized_line_endings")
        if block:
            rows.append((section, (stage.get("metrics") or {}).get("accuracy"), block))
    return rows


def _robustness(stages: dict[str, Any]) -> list[str]:
    rows = _robustness_rows(stages)
    if not rows:
        return []
    lines = ["Robustness: the same questions with line endings normalized (`\\r\\n` → `\\n`); a drop "
             "means the model reads the line endings, not the text.", "",
             "| stage | accuracy | normalized line endings | change | questions changed | answers changed |",
             "|---" * 6 + "|"]
    for section, raw, block in rows:
        normalized = block.get("accuracy")
        low, high = report_table.interval(block, "accuracy")
        cell = metric_cell(report_table.MetricCell(normalized, low, high, None, None))
        lines.append(f"| {section} | {_cell(raw)} | {cell} | {_signed(_minus(normalized, raw))} | "
                     f"{block.get('rows_changed')} of {block.get('n')} | {block.get('answers_changed')} |")
    return [*lines, ""]


def _minus(value: Any, other: Any) -> float | None:
    return value - other if isinstance(value, int | float) and isinstance(other, int | float) else None


def shortcut_lines(report: dict[str, Any]) -> list[str]:
    """The "Data shortcuts" section: Prepare's warnings (job_code/core/shortcuts.py), or that none."""
    shortcuts = report.get("shortcuts")
    lines = ["## Data shortcuts", ""]
    if shortcuts is None:
        return [*lines, "not checked (Prepare did not finish)", ""]
    if not shortcuts:
        return [*lines, "No surface feature (line endings, length, line count, code share, first or last "
                        "character) predicts the label far above chance.", ""]
    lines += [f"- **{s.get('feature')}** → `{s.get('label')}`: {s.get('evidence')} (balanced accuracy "
              f"{_cell(s.get('balanced_accuracy'))} from it alone, chance {_cell(s.get('chance'))})"
              for s in shortcuts]
    return [*lines, "", "A model may learn these instead of the text; `data.normalize_line_endings: true` "
                        "removes the line-ending one (validation.json has the details).", ""]


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
    curve = (stage.get("training_job") or {}).get("curve") or {}
    trends = [f"{key} {points[0][1]:.4g} → {points[-1][1]:.4g}" for key, points in curve.items()
              if key in ("loss", "reward")]
    if trends:
        steps = max(len(points) for points in curve.values())
        lines += [f"Training ({steps} logged steps): " + ", ".join(trends), ""]
    signal = report_table.rft_signal_lines((stage.get("training_job") or {}).get("signal"))
    if signal:
        lines += [f"- {line}" for line in signal] + [""]
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
    lines += ["## Stages", "", *_stage_table(report["stages"]), "", *_robustness(report["stages"])]
    for section, stage in report_table.ordered(report["stages"]):
        lines += _stage_details(section, stage)
    lines += shortcut_lines(report)
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
    champion = report_table.champion_line(report)
    if champion:
        lines += ["", champion]
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
    if endpoint and endpoint.get("expires_at"):
        lines += ["", f"Expires at {endpoint['expires_at']} (deploy.ttl_hours): a schedule deletes it then."]
    if report.get("smoke"):
        smoke = report["smoke"]
        # task.kind generation parses no label: the answer is shown beside the row's reference instead.
        parsed = (f"label `{smoke.get('label')}`" if smoke.get("label") is not None
                  else f"reference `{smoke.get('expected')}`")
        lines += ["", f"Smoke test answer: `{smoke.get('answer')}` → {parsed}"]
    cleanup = report.get("cleanup") or {}
    if cleanup.get("stopped_jobs") or cleanup.get("deleted_endpoint") or cleanup.get("rolled_back_to"):
        lines += ["", "## Clean-up", ""]
        lines += [f"- stopped job `{name}`" for name in cleanup.get("stopped_jobs") or []]
        if cleanup.get("deleted_endpoint"):
            lines.append(f"- deleted the half-made endpoint `{cleanup['deleted_endpoint']}`")
        if cleanup.get("rolled_back_to"):
            lines.append(f"- rolled the endpoint back to its previous config `{cleanup['rolled_back_to']}`")
    lines += ["", "## Jobs, times and cost", "", *_jobs(report)]
    return "\n".join(lines) + "\n"
