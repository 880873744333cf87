"""Each job stage's hyperparameters, as the settings carry them, checked before any job starts.

Open weights: the hyperparameters a stage's job receives are the pipeline's (``pipeline_hyperparameters``:
labels, max_query_tokens, ...) overridden by the config's ``stages.<stage>.hyperparameters``; they are parsed
by the job code's own typed classes (pipeline_core/job_hyperparameters.py: ``parse_stage``), so synth
rejects exactly what the job would. Nova: ``stages.<stage>.recipe_overrides`` are checked against the
recipe's keys, types and ranges (pipeline_core/nova_recipe_base.py). The settings run
``check_stage_hyperparameters`` when they are loaded: at synth, in ``forge validate`` and in every handler.

Pure (pydantic-free, standard library): it ships in the Lambda bundle with the rest of pipeline_core.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from pipeline_core import nova_recipe_base
from pipeline_core import stages as stage_table
from pipeline_core.job_hyperparameters import STAGE_CLASSES, HyperparameterError, check_room, parse_stage
from pipeline_core.settings_task import channel_paths, is_generation

if TYPE_CHECKING:
    from pipeline_core.settings import Settings



def pipeline_hyperparameters(settings: Settings, stage: str) -> dict[str, Any]:
    """What every open-weights job needs from the settings (names of job_code's hyperparameter classes)."""
    common: dict[str, Any] = {
        # generation: no label set (the jobs then see none in the data either: Prepare writes no "label").
        "labels": "" if is_generation(settings) else json.dumps(settings.data.labels),
        "max_query_tokens": settings.data.max_query_tokens,
    }
    spec = stage_table.stage(stage)
    if spec.is_eval:
        common["stage"] = stage
        if settings.metrics.modules:  # only then: a config without them keeps its requests unchanged
            common["metrics_modules"] = json.dumps(channel_paths(settings))
    # The job type whose hyperparameters take reward weights (RFT) gets the settings' reward.
    if "reward_weights" in {field.name for field in dataclasses.fields(STAGE_CLASSES[spec.job])}:
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
    for stage in settings.enabled_job_stages():
        slot = stage_table.stage(stage).settings_key
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
        params = parse_stage(stage_table.stage(stage).job, stage_hyperparameters(settings, stage))
        # Rows with their own system prompt (data.system_column) are checked by the job, which reads them.
        labels = [] if is_generation(settings) else data.labels
        check_room(params, system_prompt=data.system_prompt, labels=labels)
    except HyperparameterError as error:
        field = f"stages.{slot}.hyperparameters" + (f".{error.field}" if error.field else "")
        raise ValueError(f"{field}: {error}") from None


def _check_nova(settings: Settings, stage: str, slot: str) -> None:
    cfg = settings.stages.for_stage(stage)
    data = settings.data
    try:
        nova_recipe_base.check_overrides(
            cfg.method or stage_table.stage(stage).default_method,
            cfg.recipe_overrides,
            system_prompt=data.system_prompt,
            max_query_tokens=data.max_query_tokens,
            labels=[] if is_generation(settings) else data.labels,
        )
    except nova_recipe_base.OverrideError as error:
        raise ValueError(f"stages.{slot}.recipe_overrides.{error.field}: {error}") from None
