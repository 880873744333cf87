"""What a pipeline leaves in its (local) account between runs: the endpoint and what it serves.

On AWS a run's endpoint outlives the execution, and the next run's Champion state finds it. Each local run
starts a fresh moto and a fresh local SageMaker, so local mode keeps the account itself, per pipeline, in
``<out>/.account/<pipeline name>/``:

    account.json        the endpoint (name, config, tags), its endpoint config and its model (the requests
                        they were created with, and their tags)
    objects/<n>         the S3 objects the model's data URI names (the deployed weights), listed by URI in
                        account.json

``save`` runs when a run is collected: it waits for an endpoint still creating or updating (a clean-up's
rollback) to settle, then writes what the endpoint serves; with no endpoint nothing is kept (an older save
is removed), and a failed one leaves the older save as it was. ``restore`` runs at set-up, before the
execution starts: it puts the objects back into the new moto's buckets (same stack, same bucket names), the
config and model into the local SageMaker, and restarts the endpoint's model server on the restored model
(read as its execution role, as SageMaker would). Both only for a pipeline that deploys. ``forget``
(``forge teardown``) deletes the saved account. The model registry is not kept: it lives in moto for one
run (docs/contracts.md, "Registry").
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from forge.local import s3io
from forge.local.endpoints import LocalEndpoint
from forge.local.sagemaker import LocalSageMaker
from pipeline_core.endpoint_guardrails import endpoint_name

ACCOUNT_DIR = ".account"
ACCOUNT_FILE = "account.json"
OBJECTS_DIR = "objects"
PENDING = ("Creating", "Updating")
SETTLE_SECONDS = 300  # as long as EndpointRunner gives a model server to answer /ping


def account_dir(out: Path, pipeline: str) -> Path:
    return Path(out) / ACCOUNT_DIR / pipeline


def settle(sagemaker: LocalSageMaker, name: str, timeout: float = SETTLE_SECONDS) -> str | None:
    """The endpoint's status once it is neither creating nor updating (None: no such endpoint)."""
    deadline = time.monotonic() + timeout
    while True:
        endpoint = sagemaker.endpoints.get(name)
        if endpoint is None or endpoint.status not in PENDING or time.monotonic() > deadline:
            return endpoint.status if endpoint else None
        time.sleep(0.2)


def _model_data(model: dict[str, Any]) -> str | None:
    container = model.get("PrimaryContainer") or next(iter(model.get("Containers") or []), {})
    return container.get("ModelDataUrl") or (
        (container.get("ModelDataSource") or {}).get("S3DataSource") or {}).get("S3Uri")


def save(sagemaker: LocalSageMaker, s3: Any, directory: Path, prefix: str) -> dict[str, Any] | None:
    """Keep the pipeline's endpoint in service, its config, model and weights; returns account.json's
    document (None: nothing in service, nothing kept)."""
    name = endpoint_name(prefix)
    status = settle(sagemaker, name)
    if status not in (None, "InService"):
        # Failed (or stuck): on AWS a failed update leaves the old model serving, and a restored endpoint
        # whose server did not come back is a local failure; either way the last save stays as it was.
        return None
    shutil.rmtree(directory, ignore_errors=True)
    if status is None:  # deleted (a run's half-made endpoint, cleaned up), or never made
        return None
    endpoint = sagemaker.endpoints[name]
    config = sagemaker.endpoint_configs[endpoint.config_name]
    model_name = config["ProductionVariants"][0]["ModelName"]
    model = sagemaker.models[model_name]
    objects_dir = directory / OBJECTS_DIR
    objects_dir.mkdir(parents=True)
    objects = []
    data = _model_data(model)
    if data:
        bucket, key = s3io.split_s3_uri(data)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            for item in page.get("Contents", []):
                local = objects_dir / str(len(objects))
                s3.download_file(bucket, item["Key"], str(local), Config=s3io.SINGLE_GET)
                objects.append({"uri": f"s3://{bucket}/{item['Key']}", "file": local.name})
    arns = (endpoint.arn, config["EndpointConfigArn"], model["ModelArn"])
    document = {
        "endpoint": {"name": name, "arn": endpoint.arn, "config_name": endpoint.config_name,
                     "created": endpoint.created.isoformat()},
        "endpoint_config": config,
        "model": model,
        "tags": {arn: sagemaker.tags.get(arn, []) for arn in arns},
        "objects": objects,
    }
    (directory / ACCOUNT_FILE).write_text(json.dumps(document, indent=1, default=str))
    return document


def restore(sagemaker: LocalSageMaker, s3: Any, directory: Path) -> dict[str, Any] | None:
    """Put a saved account back and start its endpoint's model server (``settle`` waits for it); returns
    the saved document (None: nothing saved)."""
    path = directory / ACCOUNT_FILE
    if not path.is_file():
        return None
    document = json.loads(path.read_text())
    for item in document["objects"]:
        bucket, key = s3io.split_s3_uri(item["uri"])
        s3.upload_file(str(directory / OBJECTS_DIR / item["file"]), bucket, key)
    config, model = document["endpoint_config"], document["model"]
    sagemaker.endpoint_configs[config["EndpointConfigName"]] = config
    sagemaker.models[model["ModelName"]] = model
    sagemaker.tags.update(document["tags"])
    saved = document["endpoint"]
    endpoint = LocalEndpoint(name=saved["name"], arn=saved["arn"], config_name=saved["config_name"],
                             created=datetime.fromisoformat(saved["created"]))
    sagemaker.endpoints[endpoint.name] = endpoint
    sagemaker.endpoint_runner.deploy(endpoint, model, endpoint.config_name)
    return document


def forget(directory: Path) -> str | None:
    """Delete a saved account; the endpoint it held, or None when there was none."""
    path = directory / ACCOUNT_FILE
    if not path.is_file():
        return None
    name = json.loads(path.read_text()).get("endpoint", {}).get("name")
    shutil.rmtree(directory)
    return name or directory.name
