"""Typed stage hand-off: each stage's artifact record, and which weights a stage starts from.

A stage never falls back to the base model when the record it needs is missing: it fails with
ArtifactMissingError naming the record.
"""

from __future__ import annotations

from typing import Any

from forge_handlers.aws import s3io
from forge_handlers.errors import ArtifactMissingError
from forge_handlers.naming import s3_uri
from forge_handlers.training_requests import ModelSource
from pipeline_core import stages as stage_table
from pipeline_core import state
from pipeline_core.layout import artifact_key, champion_key
from pipeline_core.settings import Settings
from pipeline_core.state import ArtifactRecord  # the typed record (jobs.py builds it from here)


def parse_record(data: Any, where: str) -> ArtifactRecord:
    """A stored artifact record, or ArtifactMissingError naming the record and its missing field."""
    try:
        return state.parse(ArtifactRecord, data, f"artifact record {where}")
    except state.StateDocumentError as error:
        raise ArtifactMissingError(str(error)) from None


def record_uri(bucket: str, run_id: str, stage: str) -> str:
    return s3_uri(bucket, artifact_key(run_id, stage))


def write_record(bucket: str, run_id: str, record: ArtifactRecord) -> str:
    return s3io.put_json(record_uri(bucket, run_id, record.stage), record.to_dict())


def read_record(bucket: str, run_id: str, stage: str) -> ArtifactRecord:
    uri = record_uri(bucket, run_id, stage)
    data = s3io.get_json(uri, what=f"artifact record of stage '{stage}'")
    return parse_record(data, uri)


def source_stage(settings: Settings, stage: str) -> str | None:
    """The earlier stage whose weights ``stage`` starts from (None = the base model)."""
    return stage_table.source_stage(stage, settings.enabled_job_stages())


def resolve_model_source(settings: Settings, bucket: str, run_id: str, stage: str) -> ModelSource:
    upstream = source_stage(settings, stage)
    if upstream is None:
        return ModelSource(uri=settings.model.base_model)
    if upstream == stage_table.CHAMPION:  # the deployed model, as the run's Champion state recorded it
        return champion_source(bucket, run_id, stage)
    record = read_record(bucket, run_id, upstream)
    if record.kind == "eval":
        raise ArtifactMissingError(f"stage '{stage}' needs trained weights but '{upstream}' recorded an eval")
    return ModelSource(uri=record.model_uri, from_stage=upstream)


def champion_source(bucket: str, run_id: str, stage: str) -> ModelSource:
    """The weights on the pipeline's endpoint, from runs/<run>/champion.json (never the base model: a stage
    that measures the champion without one fails, naming the record)."""
    from forge_handlers import champion

    found = champion.read(bucket, run_id)
    if not found or not found.get("present") or not found.get("model_data_uri"):
        raise ArtifactMissingError(
            f"stage '{stage}' evaluates the deployed model, but run {run_id} has no champion with model data "
            f"({s3_uri(bucket, champion_key(run_id))}: {found})"
        )
    return ModelSource(uri=found["model_data_uri"], from_stage=stage_table.CHAMPION)
