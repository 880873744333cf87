"""The promotion gate: compare the candidate's eval metric with the baseline's, the champion's (the model
deployed when the run began), chance, majority and a floor, by the settings' rules."""

from __future__ import annotations

from typing import Any

from forge_handlers import artifacts
from forge_handlers import champion as champion_module
from forge_handlers.aws import s3io
from forge_handlers.errors import ArtifactMissingError
from pipeline_core import gate_rules
from pipeline_core import stages as stage_table
from pipeline_core.settings import Settings
from pipeline_core.settings_task import GATE_BUILTIN_METRICS, is_generation


def evaluated_stages(settings: Settings) -> list[str]:
    """The enabled evaluation stages, in pipeline order."""
    return [stage for stage in settings.enabled_job_stages() if stage_table.stage(stage).is_eval]


def candidate_eval_stage(settings: Settings) -> str:
    """The last evaluation of this run's weights: it measured the weights that would be deployed (the
    champion's evaluation measures an earlier run's)."""
    own = [stage for stage in evaluated_stages(settings) if not stage_table.stage(stage).measures_champion]
    return own[-1]


def read_results(bucket: str, run_id: str, stage: str) -> dict[str, Any]:
    record = artifacts.read_record(bucket, run_id, stage)
    if not record.metrics_uri:
        raise ArtifactMissingError(f"artifact record of {stage} has no metrics_uri")
    results = s3io.get_json(record.metrics_uri, what=f"eval results of {stage}")
    return {"uri": record.metrics_uri, **(results if isinstance(results, dict) else {})}


def metric_of(results: dict[str, Any], stage: str, metric: str) -> float:
    flat = (results.get("results") or {}).get("all") or {}
    value = flat.get(metric)
    if not isinstance(value, int | float) or isinstance(value, bool):
        # A custom gate.metric can only be checked here: its names are known once its module ran.
        hint = "" if metric in GATE_BUILTIN_METRICS else " (gate.metric names no built-in metric: does a " \
            "metrics.modules file return it?)"
        raise ArtifactMissingError(
            f"eval results of {stage} ({results.get('uri')}) have no numeric '{metric}'{hint}; "
            f"present: {', '.join(sorted(flat)) or 'none'}"
        )
    return float(value)


def read_metric(bucket: str, run_id: str, stage: str, metric: str) -> float:
    return metric_of(read_results(bucket, run_id, stage), stage, metric)


def decide(settings: Settings, bucket: str, run_id: str) -> dict[str, Any]:
    rule = settings.gate
    candidate_stage = candidate_eval_stage(settings)
    results = read_results(bucket, run_id, candidate_stage)
    candidate = metric_of(results, candidate_stage, rule.metric)
    comparisons: list[gate_rules.Comparison] = []
    notes: list[str] = []
    baseline = None
    # The evaluation of the base model, if it ran and is not itself the candidate.
    base_eval = stage_table.base_eval_stage()
    if base_eval and base_eval.name in evaluated_stages(settings) and candidate_stage != base_eval.name:
        baseline = read_metric(bucket, run_id, base_eval.name, rule.metric)
        margin = rule.min_gain_over_baseline
        comparisons.append(gate_rules.Comparison("baseline", baseline, candidate, margin))
    # The model deployed on the endpoint as the run began, scored on the same eval set (champion/challenger).
    champion, champion_record = champion_comparison(settings, bucket, run_id, candidate, notes)
    if champion is not None:
        comparisons.append(champion)
    # The rates of answering without reading, from the gold labels of the same eval set.
    # generation has no label set, so no such rates: the skip is recorded in the notes.
    per_class = None if is_generation(settings) else results.get("per_class")
    rates = gate_rules.reference_rates(rule.metric, gate_rules.class_counts(per_class))
    margins = {"chance": rule.min_gain_over_chance, "majority": rule.min_gain_over_majority}
    for against, reference in rates.items():
        comparisons.append(gate_rules.Comparison(against, reference, candidate, margins[against]))
    if not rates:
        why = (
            "task.kind generation has no label set" if is_generation(settings)
            else f"the eval results of {candidate_stage} carry no per-class label counts"
            if rule.metric in gate_rules.RATE_METRICS
            else "not a label metric"
        )
        notes.append(f"no chance or majority rate for {rule.metric} ({why}): compared with the baseline "
                     "and the floor only")
    comparisons.append(gate_rules.Comparison("floor", rule.min_value, candidate, 0.0))
    failed = [c for c in comparisons if not c.passed]
    gain = None if baseline is None else candidate - baseline
    if failed:
        reason = "; ".join(c.describe(rule.metric) for c in failed)
    else:
        beaten = ", ".join(f"{c.against} {c.reference:.4f}" for c in comparisons if c.against != "floor")
        reason = f"{rule.metric} {candidate:.4f}" + (f" beats {beaten}" if beaten else "")
    return {
        "passed": not failed,
        "metric": rule.metric,
        "baseline": baseline,
        "candidate": candidate,
        "candidate_stage": candidate_stage,
        "gain": gain,
        "min_gain": rule.min_gain_over_baseline,
        "reason": reason,
        "comparisons": [c.to_record(rule.metric) for c in comparisons],
        "notes": notes,
        # The champion record (forge_handlers.champion) and its score; None when the pipeline has no deploy.
        "champion": champion_record,
    }


def champion_comparison(settings: Settings, bucket: str, run_id: str, candidate: float, notes: list[str]
                        ) -> tuple[gate_rules.Comparison | None, dict[str, Any] | None]:
    """The candidate against the champion's score when the run evaluated one (else None and a note), and
    the decision's champion record: what Champion found, its score and stage (None: deploy disabled)."""
    stage = stage_table.champion_stage()
    if stage is None or stage.name not in evaluated_stages(settings):
        return None, None  # deploy disabled: no endpoint, no champion
    found = champion_module.read(bucket, run_id)
    if found is None:
        raise ArtifactMissingError(f"run {run_id} has no champion record (the Champion state writes it)")
    record = {**found, "stage": stage.name, "score": None}
    if not found.get("present"):
        notes.append(f"no champion ({found.get('reason') or 'nothing deployed'}): compared without one")
        return None, record
    record["score"] = read_metric(bucket, run_id, stage.name, settings.gate.metric)
    margin = settings.gate.min_gain_over_champion
    return gate_rules.Comparison("champion", record["score"], candidate, margin), record
