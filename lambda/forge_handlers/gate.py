"""The promotion gate: compare the candidate's eval metric with the baseline's, by the settings' rule."""

from __future__ import annotations

from typing import Any

from forge_handlers import artifacts
from forge_handlers.aws import s3io
from forge_handlers.errors import ArtifactMissingError
from pipeline_core import stages as stage_table
from pipeline_core.settings import Settings


def evaluated_stages(settings: Settings) -> list[str]:
    """The enabled evaluation stages, in pipeline order."""
    return [stage for stage in settings.stages.enabled_job_stages() if stage_table.stage(stage).is_eval]


def candidate_eval_stage(settings: Settings) -> str:
    """The last evaluation in the pipeline: it measured the weights that would be deployed."""
    return evaluated_stages(settings)[-1]


def read_metric(bucket: str, run_id: str, stage: str, metric: str) -> float:
    record = artifacts.read_record(bucket, run_id, stage)
    if not record.metrics_uri:
        raise ArtifactMissingError(f"artifact record of {stage} has no metrics_uri")
    results = s3io.get_json(record.metrics_uri, what=f"eval results of {stage}")
    flat = (results.get("results") or {}).get("all") or {}
    value = flat.get(metric)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ArtifactMissingError(
            f"eval results of {stage} ({record.metrics_uri}) have no numeric '{metric}'; "
            f"present: {', '.join(sorted(flat)) or 'none'}"
        )
    return float(value)


def decide(settings: Settings, bucket: str, run_id: str) -> dict[str, Any]:
    rule = settings.gate
    candidate_stage = candidate_eval_stage(settings)
    candidate = read_metric(bucket, run_id, candidate_stage, rule.metric)
    baseline = None
    # The evaluation of the base model, if it ran and is not itself the candidate.
    base_eval = stage_table.base_eval_stage()
    if base_eval and base_eval.name in evaluated_stages(settings) and candidate_stage != base_eval.name:
        baseline = read_metric(bucket, run_id, base_eval.name, rule.metric)
    gain = None if baseline is None else candidate - baseline
    reasons = []
    if gain is not None and gain < rule.min_gain_over_baseline:
        reasons.append(f"gain {gain:+.4f} < required {rule.min_gain_over_baseline:+.4f}")
    if candidate < rule.min_value:
        reasons.append(f"{rule.metric} {candidate:.4f} < floor {rule.min_value:.4f}")
    passed = not reasons
    if passed:
        reason = f"{rule.metric} {candidate:.4f}" + (
            "" if gain is None else f", gain {gain:+.4f} over baseline"
        )
    else:
        reason = "; ".join(reasons)
    return {
        "passed": passed,
        "metric": rule.metric,
        "baseline": baseline,
        "candidate": candidate,
        "candidate_stage": candidate_stage,
        "gain": gain,
        "min_gain": rule.min_gain_over_baseline,
        "reason": reason,
    }
