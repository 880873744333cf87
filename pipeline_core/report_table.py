"""What the run report shows, read once from report.json's ``stages`` for both renderers: report.md (the
report handler) and report.html (the CLI). Each renderer only formats these rows.

Sections come in the stage table's order (pipeline_core.stages.report_sections), whatever order the dict
has: a report.json written with sorted keys still renders baseline, sft, rft.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pipeline_core import prices
from pipeline_core import stages as stage_table

# The stage table's metric columns, in this order; a column no stage has a value for is left out.
REPORT_METRICS = ("accuracy", "em", "qem", "f1", "f1_score_quasi", "rouge1", "rougeL", "bleu", "macro_f1")
JOB_KINDS = ("training_job", "eval_job")
Z_95 = 1.959964  # the normal quantile of a two-sided 95% interval


class MetricCell(NamedTuple):
    value: float | None
    low: float | None  # value -/+ 1.96 stderr, None without a stderr
    high: float | None
    vs_baseline: float | None  # value minus the base model's section, None on that row (or without it)
    vs_previous: float | None  # value minus the section before


class StageRow(NamedTuple):
    section: str
    values: list[Any]  # one per column, None where the stage lacks the metric
    eval_job_name: str | None
    cells: list[MetricCell]  # one per column: value, 95% interval, changes


class ClassRow(NamedTuple):
    label: str
    precision: float
    recall: float
    f1: float
    support: int


class JobRow(NamedTuple):
    section: str
    kind: str  # "training job" / "eval job"
    job_name: str
    status: str | None
    seconds: Any
    cost: prices.JobCost | None  # None when the report does not name the job's instance type
    stage: str | None = None  # the job stage (pipeline_core/stages.py) the row is


def ordered(stages: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(section, stage) in pipeline order; sections the table does not know keep their order, last."""
    rank = {name: index for index, name in enumerate(stage_table.report_sections())}
    items = list(stages.items())
    return sorted(items, key=lambda item: rank.get(item[0], len(rank) + items.index(item)))


def metric_columns(stages: dict[str, Any]) -> list[str]:
    """The built-in columns some stage has, then each metrics.modules metric (a stage's ``custom_metrics``:
    file -> {name: value}), in the order the stages report them."""
    columns = [name for name in REPORT_METRICS
               if any(name in (s.get("metrics") or {}) for s in stages.values())]
    for _, stage in ordered(stages):
        for values in (stage.get("custom_metrics") or {}).values():
            columns += [name for name in values if name not in columns] if isinstance(values, dict) else []
    return columns


def interval(metrics: dict[str, Any], name: str) -> tuple[float | None, float | None]:
    """The 95% normal interval of ``name`` from its ``<name>_stderr``."""
    value, stderr = metrics.get(name), metrics.get(f"{name}_stderr")
    if not isinstance(value, int | float) or not isinstance(stderr, int | float):
        return None, None
    return value - Z_95 * stderr, value + Z_95 * stderr


def _minus(value: Any, other: Any) -> float | None:
    if isinstance(value, int | float) and isinstance(other, int | float):
        return value - other
    return None


def stage_rows(stages: dict[str, Any], columns: list[str]) -> list[StageRow]:
    rows: list[StageRow] = []
    sections = ordered(stages)
    base = stage_table.base_eval_stage()
    baseline_section = base.section if base is not None else None
    baseline = (stages.get(baseline_section) or {}).get("metrics") if baseline_section in stages else None
    previous: dict[str, Any] | None = None
    champion = _champion_section()
    for section, stage in sections:
        metrics = stage.get("metrics") or {}
        # The champion is an earlier run's model: no stage of this run comes before or after it.
        before = None if section == champion else previous
        cells = []
        for name in columns:
            low, high = interval(metrics, name)
            cells.append(MetricCell(
                metrics.get(name), low, high,
                _minus(metrics.get(name), baseline.get(name))
                if baseline is not None and section != baseline_section
                else None,
                _minus(metrics.get(name), before.get(name)) if before is not None else None,
            ))
        job_name = (stage.get("eval_job") or {}).get("job_name")
        rows.append(StageRow(section, [metrics.get(name) for name in columns], job_name, cells))
        if section != champion:
            previous = metrics
    return rows


def _champion_section() -> str | None:
    stage = stage_table.champion_stage()
    return stage.section if stage is not None else None


def champion_line(report: dict[str, Any]) -> str | None:
    """The report's sentence on the champion (the model the endpoint served as the run began), the same in
    report.md and report.html; None when the pipeline does not deploy (it has no champion)."""
    found = (report.get("gate") or {}).get("champion") or report.get("champion")
    if not found:
        return None
    if not found.get("present"):
        return f"Champion: none ({found.get('reason') or 'nothing deployed'})."
    origin = f"run {found['run_id']}" if found.get("run_id") else "a model no run of this pipeline tagged"
    line = (f"Champion: {origin}'s model {found.get('model_name')} on {found.get('endpoint_name')} "
            f"(endpoint config {found.get('endpoint_config_name')})")
    score = found.get("score")
    metric = (report.get("gate") or {}).get("metric")
    if _is_number(score) and metric:
        return f"{line}, {metric} {score:.4f} on this run's eval set."
    return f"{line}; not scored (the gate was not reached)."


def class_rows(stage: dict[str, Any]) -> list[ClassRow]:
    """Per-class precision / recall / F1 / support of one stage (results.json's ``per_class``)."""
    per_class = stage.get("per_class") or {}
    return [
        ClassRow(label, float(s.get("precision", 0)), float(s.get("recall", 0)), float(s.get("f1", 0)),
                 int(s.get("support", 0)))
        for label, s in per_class.items()
    ]


def normalized_confusion(matrix: dict[str, Any]) -> list[list[float]]:
    """Each gold row of a confusion matrix as shares of its total; an empty row stays zero."""
    return [[count / sum(row) if sum(row) else 0.0 for count in row] for row in matrix.get("counts") or []]


def job_rows(stages: dict[str, Any], region: str = "us-east-1") -> list[JobRow]:
    """Every job that ran, per report section: training job first, then its eval job, with its cost."""
    rows = []
    sections = stage_table.report_sections()
    for section, stage in ordered(stages):
        train_stage, eval_stage = sections.get(section, (None, None))
        for kind in JOB_KINDS:
            job = stage.get(kind) or {}
            if not job.get("job_name"):
                continue
            timings = job.get("timings") or {}
            seconds = timings.get("TrainingTimeInSeconds")
            cost = None
            if job.get("instance_type"):
                cost = prices.job_cost(
                    job["instance_type"], int(job.get("instance_count") or 1), seconds,
                    timings.get("BillableTimeInSeconds"), bool(job.get("use_spot")), region=region,
                )
            label = kind.replace("_", " ")
            job_stage = train_stage if kind == "training_job" else eval_stage
            rows.append(JobRow(section, label, job["job_name"], job.get("status"), seconds, cost, job_stage))
    return rows


def cost_total(rows: list[JobRow]) -> tuple[float, bool]:
    """The run's total of the known job costs and whether every job had one."""
    costs = [row.cost for row in rows]
    known = [cost for cost in costs if cost is not None]
    amount, complete = prices.total(known)
    return amount, complete and len(known) == len(costs)


def changed_hyperparameters(values: dict[str, Any], defaults: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """name -> {"value", "default"} for each value that differs from its default (a name with no default is
    listed with default None)."""
    return {
        name: {"value": value, "default": defaults.get(name)}
        for name, value in sorted(values.items())
        if name not in defaults or defaults[name] != value
    }


def estimated_bound(report: dict[str, Any], stage: str | None) -> float | None:
    """The pre-run bound of a job stage's cost (report["cost"]["estimate"], pipeline_core/cost_estimate)."""
    for row in ((report.get("cost") or {}).get("estimate") or {}).get("stages") or []:
        if row.get("stage") == stage:
            return row.get("bound_cost")
    return None


def actual_costs(report: dict[str, Any]) -> dict[str, Any]:
    """Per job stage, what its job cost (None: unknown), and the run's total."""
    rows = job_rows(report.get("stages") or {}, report.get("region") or "us-east-1")
    amount, complete = cost_total(rows)
    per_stage = {row.stage: (row.cost.cost if row.cost else None) for row in rows if row.stage}
    return {"per_stage": per_stage, "total": amount, "complete": complete}


# frac_reward_zero_std: TRL GRPO's share of prompt groups whose completions all got the same reward.
CURVE_KEYS = ("loss", "learning_rate", "reward", "reward_std", "frac_reward_zero_std")
MAX_CURVE_POINTS = 200


def training_curve(log_history: list[dict[str, Any]]) -> dict[str, list[list[float]]]:
    """Per logged series (loss, learning rate, reward, reward std, zero-std share), ``[step, value]`` points,
    evenly thinned to at most MAX_CURVE_POINTS (the first and last kept): report.json stays small on long
    runs."""
    curve: dict[str, list[list[float]]] = {}
    for key in CURVE_KEYS:
        points = [[float(e["step"]), float(e[key])] for e in log_history
                  if isinstance(e.get(key), int | float) and isinstance(e.get("step"), int | float)]
        if len(points) > MAX_CURVE_POINTS:
            stride = (len(points) - 1) / (MAX_CURVE_POINTS - 1)
            points = [points[round(i * stride)] for i in range(MAX_CURVE_POINTS)]
        if points:
            curve[key] = points
    return curve


# What training_log.json's "rft" object (job_code.rft) may hold, with the type each value must have.
RFT_SIGNAL_NUMBERS = ("prompts_seen", "prompts_available", "groups", "zero_variance_groups",
                      "zero_variance_share", "reward_std_mean")
RFT_SELECTION_NUMBERS = ("pool", "kept", "pool_entropy_mean", "kept_entropy_mean", "kept_entropy_min",
                         "max_entropy", "seconds")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def training_signal(training_log: dict[str, Any], job: str) -> dict[str, Any] | None:
    """An RFT job's signal facts from its training_log.json, kept under the job type's key (numbers only;
    None for SFT or an older job)."""
    facts = training_log.get(job) if isinstance(training_log, dict) else None
    if not isinstance(facts, dict):
        return None
    signal: dict[str, Any] = {key: facts[key] for key in RFT_SIGNAL_NUMBERS if _is_number(facts.get(key))}
    if isinstance(facts.get("prompt_selection"), str):
        signal["prompt_selection"] = facts["prompt_selection"]
    selection = facts.get("selection")
    if isinstance(selection, dict):
        signal["selection"] = {k: selection[k] for k in RFT_SELECTION_NUMBERS if _is_number(selection.get(k))}
    return signal or None


def _three(value: Any) -> str:
    return f"{value:.3f}" if _is_number(value) else "–"


def rft_signal_lines(signal: dict[str, Any] | None) -> list[str]:
    """The report's sentences about an RFT run's signal, the same in report.md and report.html."""
    if not signal:
        return []
    lines = []
    if _is_number(signal.get("prompts_seen")) and _is_number(signal.get("prompts_available")):
        seen, available = int(signal["prompts_seen"]), int(signal["prompts_available"])
        lines.append(f"RFT prompts seen: {seen:,} of {available:,}")
    if _is_number(signal.get("zero_variance_share")) and _is_number(signal.get("groups")):
        line = (f"zero-variance groups (every completion rewarded alike: no gradient): "
                f"{signal['zero_variance_share']:.0%} of {int(signal['groups']):,}")
        if _is_number(signal.get("reward_std_mean")):
            line += f"; mean reward std {signal['reward_std_mean']:.3f}"
        lines.append(line)
    selection = signal.get("selection") or {}
    if _is_number(selection.get("kept")) and _is_number(selection.get("pool")):
        lines.append(
            f"prompts selected by uncertainty: {int(selection['kept']):,} of a pool of "
            f"{int(selection['pool']):,}, label entropy {_three(selection.get('kept_entropy_mean'))} (pool "
            f"{_three(selection.get('pool_entropy_mean'))}, at most {_three(selection.get('max_entropy'))})"
        )
    return lines
