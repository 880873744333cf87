"""The sections of report.html, one function each; every value comes from report.json (through
pipeline_core.report_table) or from the run directory's plots and training logs."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from pipeline_core import layout, prices, report_table
from pipeline_core import stages as stage_table


def fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "–" if value is None else html.escape(str(value))


def _signed(value: float | None) -> str:
    if value is None:
        return "–"
    css = "up" if value > 0 else "down" if value < 0 else ""
    return f"<span class='{css}'>{value:+.4f}</span>"


def table(head: list[str], rows: list[list[str]], css: str = "") -> str:
    header = "".join(f"<th>{cell}</th>" for cell in head)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table class='{css}'><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f"<img class='plot' alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def metrics_section(stages: dict[str, Any]) -> str:
    columns = report_table.metric_columns(stages)
    rows = report_table.stage_rows(stages, columns)
    values = []
    for row in rows:
        cells = []
        for cell in row.cells:
            text = fmt(cell.value)
            if cell.low is not None:
                text += f"<br><small>[{cell.low:.3f}, {cell.high:.3f}]</small>"
            cells.append(text)
        values.append([html.escape(row.section), *cells, f"<code>{fmt(row.eval_job_name)}</code>"])
    parts = [
        "<section id='metrics'><h2>Metrics</h2>",
        table(["stage", *columns, "eval job"], values, "metrics"),
        "<p class='note'>Below each value: its 95% interval (value ± 1.96 × stderr from results.json).</p>",
    ]
    changes = []
    for row in rows:
        for name, cell in zip(columns, row.cells, strict=True):
            if cell.vs_baseline is not None or cell.vs_previous is not None:
                changes.append([html.escape(row.section), name, _signed(cell.vs_baseline),
                                _signed(cell.vs_previous)])
    if changes:
        parts += ["<h3 id='changes'>Change against the baseline and the stage before</h3>",
                  table(["stage", "metric", "vs baseline", "vs previous stage"], changes, "changes")]
    return "".join(parts) + robustness_table(stages) + "</section>"


def robustness_table(stages: dict[str, Any]) -> str:
    """Each stage's accuracy beside its accuracy with line endings normalized (results.json robustness)."""
    rows = []
    for section, stage in report_table.ordered(stages):
        block = (stage.get("robustness") or {}).get("normalized_line_endings")
        if not block:
            continue
        raw = (stage.get("metrics") or {}).get("accuracy")
        normalized = block.get("accuracy")
        low, high = report_table.interval(block, "accuracy")
        cell = fmt(normalized) + (f"<br><small>[{low:.3f}, {high:.3f}]</small>" if low is not None else "")
        change = (normalized - raw) if isinstance(normalized, float) and isinstance(raw, float) else None
        changed = f"{fmt(block.get('rows_changed'))} of {fmt(block.get('n'))}"
        rows.append([html.escape(section), fmt(raw), cell, _signed(change), changed,
                     fmt(block.get("answers_changed"))])
    if not rows:
        return ""
    return ("<h3 id='robustness'>Robustness: line endings normalized</h3>"
            "<p class='note'>The same questions with <code>\\r\\n</code> → <code>\\n</code>; a drop means "
            "the model reads the line endings, not the text.</p>"
            + table(["stage", "accuracy", "normalized line endings", "change", "questions changed",
                     "answers changed"], rows, "robustness"))


def shortcuts_section(report: dict[str, Any]) -> str:
    """Prepare's shortcut warnings (job_code/core/shortcuts.py)."""
    shortcuts = report.get("shortcuts")
    head = "<section id='shortcuts'><h2>Data shortcuts</h2>"
    if shortcuts is None:
        return head + "<p>not checked (Prepare did not finish)</p></section>"
    if not shortcuts:
        return head + ("<p>No surface feature (line endings, length, line count, code share, first or last "
                       "character) predicts the label far above chance.</p></section>")
    rows = [[f"<code>{fmt(s.get('feature'))}</code>", f"<code>{fmt(s.get('label'))}</code>",
             fmt(s.get("evidence")), fmt(s.get("balanced_accuracy"), 2), fmt(s.get("chance"), 2)]
            for s in shortcuts]
    head_row = ["feature", "marks label", "evidence", "balanced accuracy", "chance"]
    return (head + table(head_row, rows, "shortcuts")
            + "<p class='note'>A model may learn these instead of the text; "
            "<code>data.normalize_line_endings: true</code> removes the line-ending one (validation.json has "
            "the details).</p></section>")


def _confusion(matrix: dict[str, Any]) -> str:
    shares = report_table.normalized_confusion(matrix)
    columns = ["(none)" if c is None else html.escape(str(c)) for c in matrix.get("columns") or []]
    rows = []
    names, all_counts = matrix.get("rows") or [], matrix.get("counts") or []
    for name, counts, row_shares in zip(names, all_counts, shares, strict=True):
        cells = [
            f"<td style='background:rgba(31,119,180,{share:.2f})' class='{'dark' if share > 0.5 else ''}'>"
            f"{share:.0%}<br><small>({count})</small></td>"
            for count, share in zip(counts, row_shares, strict=True)
        ]
        label = "(none)" if name is None else html.escape(str(name))
        rows.append(f"<tr><th>{label}</th>{''.join(cells)}</tr>")
    head = "<tr><th>gold \\ predicted</th>" + "".join(f"<th>{c}</th>" for c in columns) + "</tr>"
    return (f"<table class='confusion'><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
            "<p class='note'>Rows normalized: each gold row's share per predicted label, "
            "its count below.</p>")


def _samples(samples: dict[str, Any]) -> str:
    parts = []
    for kind in ("right", "wrong"):
        rows = [
            [f"<code>{fmt(s.get('id'))}</code>", f"<div class='question'>{fmt(s.get('question'))}</div>",
             f"<pre>{fmt(s.get('answer'))}</pre>", fmt(s.get("gold")), fmt(s.get("parsed"))]
            for s in samples.get(kind) or []
        ]
        if rows:
            head = ["id", "question", "answer", "gold", "parsed label"]
            parts.append(f"<h4>{kind} answers</h4>" + table(head, rows, f"samples {kind}"))
    return "".join(parts)


def _hyperparameters(stage: dict[str, Any]) -> str:
    rows = []
    for kind in report_table.JOB_KINDS:
        job = stage.get(kind) or {}
        for name, change in (job.get("hyperparameters") or {}).items():
            rows.append([kind.replace("_", " "), f"<code>{html.escape(name)}</code>",
                         fmt(change.get("value")), fmt(change.get("default"))])
    if not rows:
        return "<p>all hyperparameters at their defaults</p>"
    return table(["job", "hyperparameter", "value", "default"], rows, "hyper")


def _training_log_document(run_dir: Path, train_stage: str) -> dict[str, Any]:
    path = run_dir / layout.OUTPUTS_DIR / train_stage / layout.TRAINING_LOG_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except json.JSONDecodeError:
        return {}
    return document if isinstance(document, dict) else {}


def training_log(run_dir: Path, train_stage: str) -> list[dict[str, Any]]:
    return list(_training_log_document(run_dir, train_stage).get("log_history") or [])


def _curves(run_dir: Path, train_stage: str) -> str:
    image = run_dir / layout.OUTPUTS_DIR / train_stage / layout.TRAINING_CURVES_FILE
    document = _training_log_document(run_dir, train_stage)
    history = list(document.get("log_history") or [])
    steps = [entry for entry in history if "loss" in entry or "reward" in entry]
    if not image.exists() and not steps:
        return "<p>no training log (the job wrote no training_log.json)</p>"
    parts = [_image(image, f"{train_stage} training curves")] if image.exists() else []
    if steps:
        first, last = steps[0], steps[-1]
        shown = ("loss", "reward", "reward_std", "frac_reward_zero_std", "learning_rate")
        keys = [k for k in shown if k in last]
        summary = ", ".join(f"{k} {fmt(first.get(k))} → {fmt(last.get(k))}" for k in keys)
        parts.append(f"<p class='note'>{len(steps)} logged steps (step {first.get('step')} to "
                     f"{last.get('step')}): {summary}</p>")
    job = stage_table.stage(train_stage).job
    signal = report_table.rft_signal_lines(report_table.training_signal(document, job))
    if signal:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in signal)
        parts.append(f"<ul class='signal'>{items}</ul>")
    return "".join(parts)


def stage_section(run_dir: Path, section: str, stage: dict[str, Any]) -> str:
    train_stage, eval_stage = stage_table.report_sections().get(section, (None, section))
    folder = run_dir / layout.EVAL_DIR / eval_stage
    name = html.escape(section)
    parts = [f"<section id='stage-{name}' class='stage'><h2>Stage {name}</h2>"]
    classes = report_table.class_rows(stage)
    if classes:
        rows = [[html.escape(c.label), f"{c.precision:.3f}", f"{c.recall:.3f}", f"{c.f1:.3f}", str(c.support)]
                for c in classes]
        parts += ["<h3>Per-class precision, recall, F1</h3>",
                  table(["class", "precision", "recall", "F1", "support"], rows, "classes")]
    if stage.get("confusion_matrix"):
        parts += ["<h3>Confusion matrix</h3>", _confusion(stage["confusion_matrix"])]
    if (folder / "confusion_matrix.png").exists():
        parts.append(_image(folder / "confusion_matrix.png", f"{section} confusion matrix"))
    parts.append("<h3>Answer lengths</h3>")
    tokens = stage.get("answer_tokens") or {}
    if tokens:
        parts.append(f"<p>Mean {fmt(tokens.get('mean'), 1)} tokens, longest {fmt(tokens.get('max'))}; "
                     f"{fmt(tokens.get('at_cap'))} of {fmt(stage.get('num_samples'))} answers reach the "
                     f"generation cap <code>max_new_tokens={fmt(tokens.get('cap'))}</code> "
                     "(lengths in tokens).</p>")
    if (folder / "response_lengths.png").exists():
        parts.append(_image(folder / "response_lengths.png", f"{section} answer lengths"))
    if train_stage:
        parts += ["<h3>Training curves</h3>", _curves(run_dir, train_stage)]
    parts += ["<h3>Hyperparameters that differ from the defaults</h3>", _hyperparameters(stage)]
    if stage.get("samples"):
        parts += ["<h3>Sample answers</h3>", _samples(stage["samples"])]
    return "".join(parts) + "</section>"


def splits_section(counts: dict[str, Any] | None) -> str:
    if not counts:
        return "<section id='splits'><h2>Split sizes</h2><p>not recorded</p></section>"
    rows = [[html.escape(str(name)), fmt(value)] for name, value in counts.items()]
    return f"<section id='splits'><h2>Split sizes</h2>{table(['split', 'rows'], rows, 'splits')}</section>"


def jobs_section(report: dict[str, Any]) -> str:
    rows = report_table.job_rows(report.get("stages") or {}, report.get("region") or "us-east-1")
    if not rows:
        return "<section id='jobs'><h2>Jobs, times and cost</h2><p>no jobs ran</p></section>"
    table_rows = []
    for job in rows:
        cost = job.cost
        bound = report_table.estimated_bound(report, job.stage)
        table_rows.append([
            f"{html.escape(job.section)} {job.kind}", f"<code>{fmt(job.job_name)}</code>", fmt(job.status),
            fmt(job.seconds), f"{cost.instance_hours:.3f}" if cost else "–",
            "–" if bound is None else f"${bound:.2f}",
            f"${cost.cost:.2f}" if cost and cost.cost is not None else "–",
            html.escape(cost.note) if cost else "instance type not recorded",
        ])
    amount, complete = report_table.cost_total(rows)
    total = f"${amount:.2f}" + ("" if complete else " (incomplete: some prices unknown)")
    return (
        "<section id='jobs'><h2>Jobs, times and cost</h2>"
        + table(["stage", "job", "status", "seconds", "instance-hours", "estimate (at most)", "cost", "how"],
                 table_rows, "jobs")
        + f"<p><b>Total: {total}</b>. On-demand prices from <a href='{prices.SOURCE_URL}'>"
        f"{prices.SOURCE_URL}</a> as of {prices.PRICES_DATE} (pipeline_core/prices.py).</p></section>"
    )
