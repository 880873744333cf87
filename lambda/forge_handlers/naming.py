"""Deterministic resource names of a run (its S3 keys: pipeline_core/layout.py).

SageMaker names must match ``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``. Every name is
``<pipeline>--<run>-<suffix>``: the pipeline name cannot contain "--" (pipeline_core/settings.py), so the
first "--" ends it, and IAM's ``<pipeline>--*`` (stacks/roles.py) matches this pipeline's names only. The run
part is the run id itself when it is already a name-safe lowercase slug; any other id (upper case, '_', "--",
too long) is cut and suffixed with a hash of the full id, so two run ids never share a name. A retried
create of the same stage and attempt finds its own job.
"""

from __future__ import annotations

import hashlib
import re

from forge_handlers.errors import ConfigError
from pipeline_core import service_limits
from pipeline_core import stages as stage_table
from pipeline_core.endpoint_guardrails import endpoint_name  # noqa: F401 - re-exported: one per pipeline
from pipeline_core.settings import RESOURCE_SEPARATOR

MAX_NAME = service_limits.MAX_NAME_CHARS
NAME_PATTERN = re.compile(service_limits.NAME_PATTERN + "$")
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")
# A run id used as it is in names: lowercase letters/digits with single inner hyphens.
_SAFE_RUN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_DIGEST_CHARS = 8


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise ConfigError(
            f"run_id {run_id!r} is invalid: use 1-80 letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return run_id


def _slug(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", text.lower())).strip("-")


def _run_part(run_id: str, room: int) -> str:
    """The run id as it is if name-safe and short enough, else a cut slug plus a hash of the full id."""
    if _SAFE_RUN.match(run_id) and len(run_id) <= room:
        return run_id
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:_DIGEST_CHARS]
    cut = _slug(run_id)[: max(room - _DIGEST_CHARS - 1, 0)].rstrip("-")
    return f"{cut}-{digest}" if cut else digest


def resource_name(prefix: str, run_id: str, suffix: str) -> str:
    head = f"{prefix}{RESOURCE_SEPARATOR}"
    room = MAX_NAME - len(head) - len(suffix) - 1
    name = f"{head}{_run_part(run_id, room)}-{suffix}"
    if not NAME_PATTERN.match(name) or len(name) > MAX_NAME:
        raise ConfigError(f"cannot derive a valid SageMaker name from prefix={prefix!r} run_id={run_id!r}")
    return name


def scope_pattern(prefix: str) -> str:
    """The IAM resource-name pattern matching every name this pipeline creates, and no other's."""
    return f"{prefix}{RESOURCE_SEPARATOR}*"


def job_name(prefix: str, run_id: str, stage: str, attempt: int) -> str:
    if stage not in stage_table.names():
        raise ConfigError(f"unknown job stage {stage!r}; expected one of {sorted(stage_table.names())}")
    if attempt < 1:
        raise ConfigError(f"attempt must be >= 1, got {attempt}")
    return resource_name(prefix, run_id, f"{stage_table.stage(stage).token}-a{attempt}")




def model_name(prefix: str, run_id: str) -> str:
    return resource_name(prefix, run_id, "model")


def endpoint_config_name(prefix: str, run_id: str) -> str:
    return resource_name(prefix, run_id, "epc")


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    match = re.match(r"^s3://([^/]+)/(.*)$", uri or "")
    if not match:
        raise ConfigError(f"not an s3:// URI: {uri!r}")
    return match.group(1), match.group(2)
