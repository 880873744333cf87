"""``forge validate``: the checks the Prepare step runs, on local files, without running anything.

Both call job_code.core.dataset_checks.check_dataset with the config's rules and plan, so a file one rejects
the other rejects too, with the same issue codes. The config's hyperparameters were already checked when the
settings were loaded (pipeline_core/hyperparameters.py). A custom reward module (reward.module) is then
called on sample rollouts of the RFT split (forge/reward_check.py): RewardModuleError, a ConfigError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline_core import stages as stage_table
from pipeline_core.settings import Settings


def validate_dataset(path: Path, settings: Settings, eval_path: Path | None = None,
                     config_dir: Path | None = None) -> Any:
    """The job_code ValidationReport of ``path`` (and of the separate eval file ``eval_path``); with
    ``config_dir`` (where the config is), the metrics.modules run on sample rows too."""
    # The Prepare step's own rules and plan, not copies.
    from forge_handlers.prepare import dataset_plan, validation_rules

    from job_code.core.dataset_checks import check_dataset
    from job_code.core.validation import validate_file

    rules = validation_rules(settings)
    checked = check_dataset(
        str(path),
        dataset_plan(settings),
        lambda source: validate_file(source, rules),
        eval_dataset=str(eval_path) if eval_path is not None else None,
    )
    if checked.report.ok and checked.splits is not None and settings.reward.module is not None:
        check_reward_module_on(checked, settings)
    if config_dir is not None and settings.metrics.modules:
        check_metric_modules(checked, settings, config_dir)
    return checked.report


def check_reward_module_on(checked: Any, settings: Settings) -> None:
    """The custom reward module's check on the RFT split of a dataset that passed (RewardModuleError); the
    SFT split's rows with RFT disabled (an empty RFT split): the last training stage's rows that exist."""
    from forge.reward_check import check_reward_module

    sets = checked.sets()
    order = [s.dataset for s in (*reversed(stage_table.train_stages()), *stage_table.eval_stages())]
    check_reward_module(settings, next((sets[d] for d in order if sets.get(d)), []))


def check_metric_modules(checked: Any, settings: Settings, config_dir: Path) -> None:
    """The config's metric files, imported and called on a few eval rows (job_code.core.custom_metrics)."""
    from job_code.core.custom_metrics import check_modules_on_samples
    from job_code.core.validation_report import Issue
    from pipeline_core.settings_task import module_sources

    try:
        paths = list(module_sources(settings, config_dir).values())
    except ValueError as error:
        checked.report.add(Issue("metric_module", str(error), field="metrics.modules"))
        return
    examples = checked.sets()["eval"] if checked.splits is not None else []
    checked.report.extend(check_modules_on_samples(paths, examples))
