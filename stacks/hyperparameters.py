"""Each job stage's hyperparameters, as the settings carry them, checked before any job starts.

Open weights: the hyperparameters a stage's job receives are the pipeline's (``pipeline_hyperparameters``:
labels, max_query_tokens, ...) overridden by the config's ``stages.<stage>.hyperparameters``; they are parsed
by the job code's own typed classes (job_code.hyperparameters.parse_stage), so synth rejects exactly what the
job would. Nova: ``stages.<stage>.recipe_overrides`` are checked against the recipe's keys, types and ranges
(stacks/nova_recipe_base.py). The settings run ``check_stage_hyperparameters`` when they are loaded: at synth,
in ``forge validate`` and in every handler.

Pure (pydantic-free, standard library + job_code): it ships in the Lambda bundle beside stacks/settings.py.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from job_code.hyperparameters import check_room, parse_stage
from job_code.sm_contract import HyperparameterError
from stacks import nova_recipe_base

if TYPE_CHECKING:
    from stacks.settings import Settings

# The job kind of each pipeline stage (the eval after SFT and after RFT share the `eval` settings slot).
STAGE_KINDS = {"baseline_eval": "eval", "sft": "sft", "eval_sft": "eval", "rft": "rft", "eval_rft": "eval"}
# The settings slot (stages.<slot>) of each pipeline stage, and the Nova method it runs when none is set.
STAGE_SLOTS = {
    "baseline_eval": "baseline_eval", "sft": "sft", "eval_sft": "eval", "rft": "rft", "eval_rft": "eval",
}
DEFAULT_METHODS = {"eval": "EVAL_GEN_QA", "sft": "SFT_LORA", "rft": "RFT_LORA"}


def pipeline_hyperparameters(settings: Settings, stage: str) -> dict[str, Any]:
    """What every open-weights job needs from the settings (names of job_code's hyperparameter classes)."""
    common: dict[str, Any] = {
        "labels": json.dumps(settings.data.labels),
        "max_query_tokens": settings.data.max_query_tokens,
    }
    if STAGE_KINDS[stage] == "eval":
        common["stage"] = stage
    if stage == "rft":
        weights = settings.reward.model_dump()
        common["reward_weights"] = json.dumps(weights, sort_keys=True)
    return common


def hyper_string(value: Any) -> str:
    """A hyperparameter value as SageMaker passes it to the job (a string; booleans in lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def stage_hyperparameters(settings: Settings, stage: str) -> dict[str, str]:
    """The hyperparameters the stage's job gets from the settings: the pipeline's, then the config's own
    (they win), as strings."""
    hyper = {key: hyper_string(value) for key, value in pipeline_hyperparameters(settings, stage).items()}
    own = settings.stages.for_stage(stage).hyperparameters
    hyper.update({key: hyper_string(value) for key, value in sorted(own.items())})
    return hyper


def check_stage_hyperparameters(settings: Settings) -> None:
    """Raise ValueError naming ``stages.<slot>.hyperparameters.<field>`` (or ``recipe_overrides.<key>``)
    for the first value a stage's job would reject."""
    checked: set[str] = set()
    for stage in settings.stages.enabled_job_stages():
        slot = STAGE_SLOTS[stage]
        if slot in checked:
            continue
        checked.add(slot)
        if settings.model.family == "hf":
            _check_hf(settings, stage, slot)
        else:
            _check_nova(settings, stage, slot)


def _check_hf(settings: Settings, stage: str, slot: str) -> None:
    data = settings.data
    try:
        params = parse_stage(STAGE_KINDS[stage], stage_hyperparameters(settings, stage))
        # Rows with their own system prompt (data.system_column) are checked by the job, which reads them.
        check_room(params, system_prompt=data.system_prompt, labels=data.labels)
    except HyperparameterError as error:
        field = f"stages.{slot}.hyperparameters" + (f".{error.field}" if error.field else "")
        raise ValueError(f"{field}: {error}") from None


def _check_nova(settings: Settings, stage: str, slot: str) -> None:
    cfg = settings.stages.for_stage(stage)
    data = settings.data
    try:
        nova_recipe_base.check_overrides(
            cfg.method or DEFAULT_METHODS[STAGE_KINDS[stage]],
            cfg.recipe_overrides,
            system_prompt=data.system_prompt,
            max_query_tokens=data.max_query_tokens,
            labels=data.labels,
        )
    except nova_recipe_base.OverrideError as error:
        raise ValueError(f"stages.{slot}.recipe_overrides.{error.field}: {error}") from None
