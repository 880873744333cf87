"""MLflow tracking inside a job: the stage's nested run under the pipeline run's parent run.

The launch handler sets the environment (pipeline_core/tracking.py: ``job_environment``); without
``MLFLOW_TRACKING_URI`` and ``FORGE_RUN_ID`` every function here is a no-op and mlflow is never imported
(it takes seconds to import). The parent run is found by its tag ``forge.run_id`` in the pipeline's
experiment, or created by the first job of the run (jobs of a run run one after another). Inside
``stage_run`` the trainers log their own per-step curves: ``report_to()`` is "mlflow" then, and
transformers' MLflowCallback logs into the active run (it starts none of its own when a run is active and
neither MLFLOW_NESTED_RUN nor MLFLOW_RUN_ID is set).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from pipeline_core.tracking_env import (
    ENV_EXPERIMENT,
    ENV_RUN_ID,
    ENV_STAGE,
    ENV_TRACKING_URI,
    PIPELINE_TAG,
    RUN_ID_TAG,
    STAGE_TAG,
)

LEVEL_TAG = "forge.level"  # "pipeline" on the parent run, "stage" on a nested one
# MLflow 3's limit of a param value (mlflow.utils.validation.MAX_PARAM_VAL_LENGTH).
MAX_PARAM_CHARS = 6000
_active: list[StageRun] = []  # the stage run open in this process, if any


@dataclasses.dataclass(frozen=True)
class Target:
    """Where this job logs: from the job's environment."""

    uri: str
    experiment: str
    run_id: str
    stage: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Target | None:
        env = os.environ if env is None else env
        uri, run_id = env.get(ENV_TRACKING_URI, ""), env.get(ENV_RUN_ID, "")
        if not uri or not run_id or int(env.get("RANK", "0") or 0) != 0:  # torchrun: rank 0 logs
            return None
        return cls(uri, env.get(ENV_EXPERIMENT) or "forge", run_id, env.get(ENV_STAGE) or "job")


def flat_params(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mappings as dotted keys, values as strings cut to MLflow's limit."""
    flat: dict[str, str] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flat_params(value, f"{name}."))
            continue
        text = value if isinstance(value, str) else str(value)
        flat[name] = text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 1] + "…"
    return flat


def numeric_metrics(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of a (nested) mapping as dotted metric names; booleans, text, NaN left out."""
    metrics: dict[str, float] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            metrics.update(numeric_metrics(value, f"{name}."))
        elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            metrics[name] = float(value)
    return metrics


def default_artifact_location(uri: str) -> str | None:
    """A local SQLite store keeps its artifacts beside the database (``<dir>/artifacts``); MLflow would use
    ``./mlruns`` of whatever directory the job runs in. Other stores choose their own (None)."""
    parsed = urlparse(uri)
    if parsed.scheme != "sqlite" or not parsed.path or parsed.path in ("/", "/:memory:"):
        return None
    database = Path(unquote(parsed.path[1:] if parsed.path.startswith("//") else parsed.path))
    return (database.parent / "artifacts").as_uri()


def experiment_id(client: Any, name: str, uri: str) -> str:
    """The experiment's id, created (with its artifact location) when missing."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=default_artifact_location(uri))
    except MlflowException:  # created meanwhile by another process
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def find_parent_run(client: Any, experiment: str, run_id: str) -> str | None:
    quoted = run_id.replace("'", "")
    runs = client.search_runs(
        [experiment],
        filter_string=f"tags.`{RUN_ID_TAG}` = '{quoted}' and tags.`{LEVEL_TAG}` = 'pipeline'",
        max_results=1,
        order_by=["attributes.start_time ASC"],
    )
    return runs[0].info.run_id if runs else None


def parent_run(client: Any, experiment: str, run_id: str, pipeline: str) -> str:
    """The pipeline run's MLflow run id: found by tag, else created (named after the run id)."""
    existing = find_parent_run(client, experiment, run_id)
    if existing:
        return existing
    tags = {RUN_ID_TAG: run_id, LEVEL_TAG: "pipeline", PIPELINE_TAG: pipeline}
    parent = client.create_run(experiment, run_name=run_id, tags=tags).info.run_id
    log_channel_settings(client, parent)
    return parent


# The pipeline settings the stack ships beside the job code (stacks/bundle.py stage_code_channel).
CHANNEL_SETTINGS = Path(__file__).resolve().parents[1] / "settings.json"


def log_channel_settings(client: Any, parent: str, path: Path | None = None) -> int:
    """The settings as the parent run's ``settings.<field>`` params (what the local runner logs too, with
    the same values); none when the channel has no settings.json. Returns how many were logged."""
    import json

    path = path or CHANNEL_SETTINGS
    if not path.is_file():
        return 0
    from mlflow.entities import Param

    flat = flat_params(json.loads(path.read_text(encoding="utf-8")), "settings.")
    params = [Param(key, value) for key, value in flat.items()]
    for start in range(0, len(params), 100):  # MLflow's log_batch takes at most 100 params
        client.log_batch(parent, params=params[start:start + 100])
    return len(params)


@dataclasses.dataclass
class StageRun:
    """The open nested run of one stage, and its parent."""

    client: Any
    run_id: str
    parent_id: str
    stage: str

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        """Into the stage's run, and into the parent as ``<stage>.<name>``: runs compare side by side."""
        if not metrics:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        own = [Metric(key, float(value), now, 0) for key, value in metrics.items()]
        parent = [Metric(f"{self.stage}.{key}", float(value), now, 0) for key, value in metrics.items()]
        self.client.log_batch(self.run_id, metrics=own)
        self.client.log_batch(self.parent_id, metrics=parent)

    def log_params(self, params: Mapping[str, Any], prefix: str = "hp.") -> None:
        from mlflow.entities import Param

        items = [Param(key, value) for key, value in flat_params(params, prefix).items()]
        for start in range(0, len(items), 100):  # MLflow's batch limit
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def log_artifacts(self, paths: list[Path], artifact_path: str | None = None) -> list[str]:
        """Log the files that exist; returns their names. A store that refuses a file (e.g. no write access
        to a managed server's artifact bucket) costs a warning in the job log, not the trained model."""
        logged = []
        for path in paths:
            if not path.is_file():
                continue
            try:
                self.client.log_artifact(self.run_id, str(path), artifact_path)
            except Exception as error:  # any store error: the job's real outputs are saved anyway
                print(f"tracking: could not log artifact {path.name}: {error}", flush=True)
                continue
            logged.append(path.name)
        return logged


@contextlib.contextmanager
def stage_run(params: Mapping[str, Any] | None = None, *, target: Target | None = None,
              env: Mapping[str, str] | None = None) -> Iterator[StageRun | None]:
    """The stage's nested run (None when nothing is tracked), with ``params`` logged as ``hp.<name>``.

    The run ends FAILED when the body raises; the parent is RUNNING while a stage runs and FINISHED (or
    FAILED) after it, so a run on AWS, where no process outlives its jobs, still ends in a final status.
    """
    target = target or Target.from_env(env)
    if target is None:
        yield None
        return
    started = time.monotonic()
    import mlflow

    mlflow.set_tracking_uri(target.uri)
    client = mlflow.MlflowClient(target.uri)
    experiment = experiment_id(client, target.experiment, target.uri)
    parent = parent_run(client, experiment, target.run_id, target.experiment)
    client.update_run(parent, status="RUNNING")
    tags = {RUN_ID_TAG: target.run_id, STAGE_TAG: target.stage, LEVEL_TAG: "stage"}
    status = "FAILED"
    with mlflow.start_run(experiment_id=experiment, run_name=target.stage, parent_run_id=parent, nested=True,
                          tags=tags) as opened:
        run = StageRun(client, opened.info.run_id, parent, target.stage)
        run.log_params(params or {})
        print(f"tracking: {target.stage} logs to MLflow run {run.run_id} in experiment {target.experiment!r} "
              f"(set-up {time.monotonic() - started:.1f} s)", flush=True)
        _active.append(run)
        try:
            yield run
            status = "FINISHED"
        finally:
            _active.remove(run)
            mlflow.flush_async_logging()  # the trainer's callback logs asynchronously
            mlflow.end_run(status)
            client.set_terminated(parent, status)


def active() -> StageRun | None:
    return _active[-1] if _active else None


def report_to() -> str:
    """The trainers' ``report_to``: "mlflow" inside a stage run, else "none"."""
    return "mlflow" if _active else "none"


def hyperparameters_of(params: Any) -> dict[str, Any]:
    """A job's typed hyperparameters (a dataclass) as a plain mapping."""
    return dataclasses.asdict(params) if dataclasses.is_dataclass(params) else dict(params)
