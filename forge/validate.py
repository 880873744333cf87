"""``forge validate``: the validation the Prepare step runs, on a local file, without running anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stacks.settings import Settings


def validate_dataset(path: Path, settings: Settings) -> Any:
    """The job_code ValidationReport for ``path`` under the config's rules, plus a split-size check."""
    from forge_handlers.preparation import validation_rules  # the Prepare step's own rules, not a copy

    from job_code.validation import Issue, validate_file

    report, examples = validate_file(path, validation_rules(settings))
    stages = settings.stages
    needed = (
        settings.split.eval
        + (settings.split.sft if stages.sft.enabled else 0)
        + (settings.split.rft if stages.rft.enabled else 0)
    )
    if report.ok and len(examples) < needed:
        report.add(
            Issue(
                "too_few_rows_for_split",
                f"{len(examples)} usable rows; the config's split needs {needed} "
                f"(sft {settings.split.sft} + eval {settings.split.eval} + rft {settings.split.rft})",
            )
        )
    return report
