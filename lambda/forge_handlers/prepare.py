"""Prepare: read the run's CSV from S3, validate, split and format it with job_code, write the datasets.

CSV and JSONL (column or chat form) are read here; a Parquet file fails validation with a clear message
(the Lambda runtime has no pyarrow: job_code/core/parquet_reader.py), so convert it to JSONL first.

Bad data fails here, before any GPU job: DataValidationError's message is the report's summary (counts and
the first rows with errors); the full row-level report is written to runs/<run-id>/data/validation.json.
"""

from __future__ import annotations

import dataclasses
import tempfile
import urllib.parse
from pathlib import Path, PurePosixPath
from typing import Any

from forge_handlers.aws import s3io
from forge_handlers.config import Environment
from forge_handlers.errors import ArtifactMissingError, ConfigError, DataValidationError
from forge_handlers.naming import check_run_id, s3_uri, split_s3_uri
from pipeline_core import layout
from pipeline_core import stages as stage_table
from pipeline_core.settings import Settings
from pipeline_core.settings_task import is_generation


def validation_rules(settings: Settings) -> Any:
    """The job_code ValidationRules of this config (also used by `forge validate`)."""
    from job_code.core.formats import ColumnMapping
    from job_code.core.validation import ValidationRules

    data = settings.data
    generation = is_generation(settings)
    return ValidationRules(
        labels=() if generation else tuple(data.labels),
        task=settings.task.kind,
        mapping=ColumnMapping(
            query=data.query_column, label=data.label_column, system=data.system_column, id=data.id_column
        ),
        family=settings.model.family,
        system_prompt=data.system_prompt,
        max_query_chars=data.max_query_chars,
        max_query_tokens=data.max_query_tokens,
    )


_rules = validation_rules  # the name forge/validate.py imports

# What the run state carries of each shortcut warning (the full records are in validation.json).
SHORTCUT_FIELDS = ("feature", "label", "balanced_accuracy", "chance", "evidence", "message")
MAX_SHORTCUTS = 6


def dataset_plan(settings: Settings) -> Any:
    """The job_code DatasetPlan of this config: what check_dataset holds the data to."""
    from job_code.core.dataset_checks import DatasetPlan

    stages = settings.stages
    return DatasetPlan(
        labels=() if is_generation(settings) else tuple(settings.data.labels),
        task=settings.task.kind,
        **_sizes(settings, separate_eval=False),
        reuse_sft_for_rft=settings.split.reuse_sft_for_rft,
        seed=settings.split.seed,
        family=settings.model.family,
        sft_method=stages.sft.method,
        rft_method=stages.rft.method,
        label_field=settings.data.label_column,
        normalize_line_endings=settings.data.normalize_line_endings,
    )


def _validate(uri: str, rules: Any) -> tuple[Any, list[Any]]:
    """Download ``uri`` to /tmp and run the job_code validator on it (it never raises on bad data).

    The object is streamed to a file and the validator reads it row by row, keeping only the Examples:
    a 60 MB CSV stays far below the 512 MB Lambda (benchmarks/validate_bench.py measures it).
    """
    from job_code.core.validation import validate_file

    _, key = split_s3_uri(uri)
    suffix = PurePosixPath(key).suffix.lower()  # check_dataset refused any but DATASET_SUFFIXES already
    with tempfile.TemporaryDirectory() as scratch:
        path = read_dataset(uri, Path(scratch) / f"input{suffix}")
        report, examples = validate_file(path, rules, source=uri)
    return report, examples


def nova_truncated(examples: list[Any], rules: Any) -> list[Any]:
    """Nova questions cut to ``data.max_query_tokens``, estimated as the validator does (its warning
    "will be cut to N" names the same rows).

    The open-weights jobs cut with the model's tokenizer; Nova's tokenizer is not public, so Prepare cuts by
    characters (``max_query_tokens`` x the validator's characters per token). Uncut, the longest case-study
    question (about 8.6k tokens) alone overruns the RFT recipe's 8,192-token max_length.
    """
    limit = int(rules.max_query_tokens * rules.chars_per_token) if rules.max_query_tokens else 0
    if not limit:
        return examples
    return [dataclasses.replace(e, query=e.query[:limit]) if len(e.query) > limit else e for e in examples]


def read_dataset(uri: str, path: Path) -> Path:
    """Download the dataset to ``path``. An S3 event may carry the key URL-encoded ("my data.csv" as
    "my+data.csv" or "my%20data.csv"); the key as given is tried first, then its decoded form, so either
    encoding works."""
    try:
        return s3io.download(uri, path, what="input dataset")
    except ArtifactMissingError:
        bucket, key = split_s3_uri(uri)
        decoded = urllib.parse.unquote_plus(key)
        if decoded == key:
            raise
        return s3io.download(s3_uri(bucket, decoded), path, what="input dataset")


def _sizes(settings: Settings, separate_eval: bool) -> dict[str, int]:
    """The split sizes: each training stage's dataset (settings.split.<dataset>; 0 when the stage is off)
    and the held-out eval set."""
    enabled = settings.enabled_job_stages()
    sizes = {stage.dataset: getattr(settings.split, stage.dataset) if stage.name in enabled else 0
             for stage in stage_table.train_stages()}
    sizes["eval"] = 0 if separate_eval else settings.split.eval
    return sizes


def run_id_of(event: dict[str, Any]) -> str:
    """The run id is the execution's name (``$$.Execution.Name``, unique per state machine), never a free
    input field: an input ``run_id`` could name another run's prefix and jobs. One that differs is an error
    (start the execution under that name instead); local mode names its executions after their run ids."""
    name = event.get("execution_name")
    if not name:
        raise ConfigError("prepare: the event has no execution_name (the state machine adds it)")
    given = event.get("run_id")
    if given is not None and str(given) != str(name):
        raise ConfigError(
            f"prepare: the execution input's run_id {given!r} differs from the execution name {name!r}; "
            f"the run id is the execution name: start the execution with name {given!r}, or leave run_id out"
        )
    return check_run_id(str(name))


def prepare(settings: Settings, env: Environment, event: dict[str, Any]) -> dict[str, Any]:
    from job_code.core.dataset_checks import check_dataset
    from job_code.core.formats import dataset_filename, dumps_jsonl, format_records

    run_id = run_id_of(event)
    if not event.get("dataset"):
        raise ConfigError("prepare: the execution input has no 'dataset' (s3:// URI of the CSV)")
    report_uri = s3_uri(env.artifacts_bucket, layout.validation_report_key(run_id))
    rules = validation_rules(settings)
    # The same checks as `forge validate` (job_code.core.dataset_checks.check_dataset), on the S3 objects.
    checked = check_dataset(
        event["dataset"],
        dataset_plan(settings),
        lambda uri: _validate(uri, rules),
        eval_dataset=event.get("eval_dataset") or None,
    )
    report = checked.report
    s3io.put_json(report_uri, report.to_dict())
    if not report.ok or checked.splits is None:
        raise DataValidationError(report.summary())
    splits, sets = checked.splits, checked.sets()
    if settings.model.family == "nova":
        sets = {kind: nova_truncated(rows, rules) for kind, rows in sets.items()}
    datasets = {}
    for kind, rows in sets.items():
        if not rows:
            continue
        key = layout.dataset_key(run_id, kind, dataset_filename(settings.model.family, kind))
        records = format_records(rows, settings.model.family, kind, settings.data.system_prompt,
                                 labelled=not is_generation(settings))
        datasets[kind] = s3io.put_text(
            s3_uri(env.artifacts_bucket, key), dumps_jsonl(records), "application/jsonl"
        )
    counts = {**splits.counts(), "eval": len(sets["eval"])}
    return {
        "run_id": run_id,
        "run_prefix": layout.run_prefix(run_id),
        "datasets": datasets,
        "counts": counts,
        "report_uri": report_uri,
        # For the run report and the notification: a few short records, far below the state size limit.
        "shortcuts": [{k: s[k] for k in SHORTCUT_FIELDS} for s in report.shortcuts[:MAX_SHORTCUTS]],
    }
