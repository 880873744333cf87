"""``forge validate``'s check of a custom reward module (reward.module), before anything is spent.

On sample rollouts built as the Nova preflight builds them (forge_handlers.preflight_reward.sample_rollouts)
from the RFT split of the data file, formatted as Prepare writes Nova RFT records:

- the file imports, defines ``score`` and answers every sample within the contract
  (job_code.core.custom_reward: an exception, a string or a non-finite number is named with the file);
- its rewards are not all the same (a constant reward teaches RFT nothing);
- every module it imports (by ``ast``, lazy imports included) is the standard library of the Lambda
  runtime's Python or declared in ``reward.requirements`` (by distribution name, ``-`` read as ``_``):
  the reward Lambda has nothing else, and local mode's import guard only sees the imports a run executes.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline_core import stages as stage_table
from pipeline_core.settings import ConfigError, Settings


class RewardModuleError(ConfigError):
    """The custom reward module fails a check; the message names the file and each problem."""


def undeclared_imports(path: Path, requirements: Sequence[str]) -> list[str]:
    """The imports of ``path`` that are neither the runtime's standard library nor a declared requirement."""
    from stacks import lambda_runtime

    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return []  # loading the file reports it, with the exception text
    declared = {name.partition("==")[0].strip().lower().replace("-", "_") for name in requirements}
    allowed = lambda_runtime.stdlib_names() | declared
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            problems.append(f"{path.name}: line {node.lineno} imports a sibling module (relative import); "
                            "only this one file is packaged")
            continue
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
            [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
        for name in names:
            top = name.partition(".")[0]
            if top not in allowed:
                shown = ", ".join(requirements) or "none"
                problems.append(f"{path.name}: line {node.lineno} imports {top!r}, which is neither the "
                                f"standard library nor in reward.requirements ({shown}); the reward Lambda "
                                f"would fail with No module named '{top}'")
    return problems


def rft_sample_records(rft_rows: Sequence[Any], settings: Settings) -> list[dict[str, Any]]:
    """The RFT rows as the Prepare step writes Nova RFT records ({id, messages, reference_answer})."""
    from job_code.core.formats import format_records

    job = stage_table.rewarded_stage().job
    return list(format_records(rft_rows, "nova", job, settings.data.system_prompt))


def reward_module_problems(settings: Settings, records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every problem of settings.reward.module on sample rollouts of ``records`` (empty: it passes)."""
    from forge_handlers.preflight_reward import sample_rollouts

    from job_code.core import custom_reward

    path = settings.reward.source_path
    if path is None:
        return [f"reward.module {settings.reward.module!r} was not resolved against a config file"]
    problems = undeclared_imports(path, settings.reward.requirements)
    try:
        reward = custom_reward.load(path)
    except custom_reward.CustomRewardError as error:
        return [*problems, str(error)]
    return problems + custom_reward.check_on_samples(reward, sample_rollouts(records, settings.data.labels))


def check_reward_module(settings: Settings, rft_rows: Sequence[Any]) -> None:
    """Raise RewardModuleError naming the file and the problems; nothing without reward.module."""
    if settings.reward.module is None:
        return
    problems = reward_module_problems(settings, rft_sample_records(rft_rows, settings))
    if problems:
        raise RewardModuleError(f"reward.module {settings.reward.module} fails its check: "
                                + "; ".join(problems))
