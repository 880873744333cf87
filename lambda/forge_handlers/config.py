"""Settings and environment of the handlers, loaded once per container.

Settings come from ``settings.json`` in the bundle (``FORGE_SETTINGS_FILE``), parsed into the one model
``pipeline_core.settings.Settings``. The environment (bucket names, role and topic ARNs) is a validated model
too.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline_core.settings import ConfigError, Settings, parse_settings

_DEFAULT_SETTINGS_FILE = Path(__file__).resolve().parent.parent / "settings.json"


class Environment(BaseModel):
    """The Lambda environment the handlers construct sets (docs/contracts.md)."""

    model_config = ConfigDict(frozen=True)

    data_bucket: str
    artifacts_bucket: str
    sagemaker_role_arn: str
    reward_lambda_arn: str = ""
    topic_arn: str = ""
    kms_key_arn: str = ""
    scheduler_role_arn: str = ""  # Deploy only: the role the endpoint's TTL schedule runs as
    region: str = "us-east-1"


def settings_path() -> Path:
    return Path(os.environ.get("FORGE_SETTINGS_FILE") or _DEFAULT_SETTINGS_FILE)


@functools.lru_cache(maxsize=1)
def _load_cached(path: str) -> Settings:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read settings file {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"settings file {path} is not valid JSON: {error}") from None
    return parse_settings(raw, path)


def load() -> Settings:
    """The pipeline settings (cached per file path, so tests can point at another file)."""
    return _load_cached(str(settings_path()))


def environment() -> Environment:
    """The handler environment; a missing variable is a ConfigError naming it."""
    names = {
        "data_bucket": "DATA_BUCKET",
        "artifacts_bucket": "ARTIFACTS_BUCKET",
        "sagemaker_role_arn": "SAGEMAKER_ROLE_ARN",
        "reward_lambda_arn": "REWARD_LAMBDA_ARN",
        "topic_arn": "TOPIC_ARN",
        "kms_key_arn": "KMS_KEY_ARN",
        "scheduler_role_arn": "SCHEDULER_ROLE_ARN",
    }
    values = {field: os.environ[var] for field, var in names.items() if os.environ.get(var)}
    values["region"] = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    try:
        return Environment(**values)
    except ValidationError as error:
        missing = [names[str(item["loc"][0])] for item in error.errors() if item["loc"]]
        raise ConfigError(f"handler environment is missing {', '.join(missing)}") from None


def clear_cache() -> None:
    _load_cached.cache_clear()
