"""Typed stage hand-off: each stage's artifact record, and which weights a stage starts from.

A stage never falls back to the base model when the record it needs is missing: it fails with
ArtifactMissingError naming the record.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from forge_handlers import s3io
from forge_handlers.errors import ArtifactMissingError
from forge_handlers.naming import s3_uri
from forge_handlers.training_requests import ModelSource
from pipeline_core import stages as stage_table
from pipeline_core.layout import artifact_key
from pipeline_core.settings import Settings

ArtifactKind = Literal["merged", "adapter", "checkpoint", "eval"]


@dataclasses.dataclass(frozen=True)
class ArtifactRecord:
    stage: str
    job_name: str
    model_uri: str  # training: the weights it produced; eval: the weights it evaluated
    base_model: str
    kind: ArtifactKind
    source_model_uri: str  # the weights the job started from
    metrics_uri: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> ArtifactRecord:
        fields = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(f for f in fields - {"metrics_uri"} if not data.get(f))
        if missing:
            raise ArtifactMissingError(f"artifact record {where} lacks {', '.join(missing)}")
        return cls(**{k: v for k, v in data.items() if k in fields})


def record_uri(bucket: str, run_id: str, stage: str) -> str:
    return s3_uri(bucket, artifact_key(run_id, stage))


def write_record(bucket: str, run_id: str, record: ArtifactRecord) -> str:
    return s3io.put_json(record_uri(bucket, run_id, record.stage), record.to_dict())


def read_record(bucket: str, run_id: str, stage: str) -> ArtifactRecord:
    uri = record_uri(bucket, run_id, stage)
    data = s3io.get_json(uri, what=f"artifact record of stage '{stage}'")
    return ArtifactRecord.from_dict(data, uri)


def source_stage(settings: Settings, stage: str) -> str | None:
    """The earlier stage whose weights ``stage`` starts from (None = the base model)."""
    return stage_table.source_stage(stage, settings.stages.enabled_job_stages())


def resolve_model_source(settings: Settings, bucket: str, run_id: str, stage: str) -> ModelSource:
    upstream = source_stage(settings, stage)
    if upstream is None:
        return ModelSource(uri=settings.model.base_model)
    record = read_record(bucket, run_id, upstream)
    if record.kind == "eval":
        raise ArtifactMissingError(f"stage '{stage}' needs trained weights but '{upstream}' recorded an eval")
    return ModelSource(uri=record.model_uri, from_stage=upstream)
