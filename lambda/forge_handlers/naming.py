"""Deterministic resource names and S3 locations of a run.

SageMaker names must match ``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``. A job name is derived from the pipeline
prefix, the run id, the stage and the attempt, so a retried create finds its own job and two runs never
collide (a long run id is cut and suffixed with a hash of the full id).
"""

from __future__ import annotations

import hashlib
import re

from forge_handlers.errors import ConfigError
from stacks import service_limits

MAX_NAME = service_limits.MAX_NAME_CHARS
NAME_PATTERN = re.compile(service_limits.NAME_PATTERN + "$")
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")
STAGE_TOKENS = {
    "baseline_eval": "base",
    "sft": "sft",
    "eval_sft": "evsft",
    "rft": "rft",
    "eval_rft": "evrft",
}


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise ConfigError(
            f"run_id {run_id!r} is invalid: use 1-80 letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return run_id


def _slug(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-zA-Z0-9]", "-", text)).strip("-")


def _fit(parts: list[str], run_id: str) -> str:
    """Join parts; if too long, cut the run part and add a hash of the full run id to stay unique."""
    name = "-".join(parts)
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    fixed = len(name) - len(parts[1])
    room = MAX_NAME - fixed - len(digest) - 1
    parts = [parts[0], f"{parts[1][: max(room, 1)].rstrip('-')}-{digest}", *parts[2:]]
    return "-".join(parts)


def resource_name(prefix: str, run_id: str, suffix: str) -> str:
    name = _fit([_slug(prefix), _slug(run_id) or "run", suffix], run_id)
    if not NAME_PATTERN.match(name):
        raise ConfigError(f"cannot derive a valid SageMaker name from prefix={prefix!r} run_id={run_id!r}")
    return name


def job_name(prefix: str, run_id: str, stage: str, attempt: int) -> str:
    if stage not in STAGE_TOKENS:
        raise ConfigError(f"unknown job stage {stage!r}; expected one of {sorted(STAGE_TOKENS)}")
    if attempt < 1:
        raise ConfigError(f"attempt must be >= 1, got {attempt}")
    return resource_name(prefix, run_id, f"{STAGE_TOKENS[stage]}-a{attempt}")


def endpoint_name(prefix: str) -> str:
    """One endpoint per pipeline: later runs update it in place."""
    return f"{_slug(prefix)}-endpoint"


def model_name(prefix: str, run_id: str) -> str:
    return resource_name(prefix, run_id, "model")


def endpoint_config_name(prefix: str, run_id: str) -> str:
    return resource_name(prefix, run_id, "epc")


def run_prefix(run_id: str) -> str:
    return f"runs/{run_id}/"


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    match = re.match(r"^s3://([^/]+)/(.*)$", uri or "")
    if not match:
        raise ConfigError(f"not an s3:// URI: {uri!r}")
    return match.group(1), match.group(2)


def artifact_key(run_id: str, stage: str) -> str:
    return f"{run_prefix(run_id)}artifacts/{stage}.json"


def eval_results_key(run_id: str, stage: str) -> str:
    return f"{run_prefix(run_id)}eval/{stage}/results.json"


def job_output_prefix(run_id: str, stage: str) -> str:
    return f"{run_prefix(run_id)}jobs/{stage}/"
