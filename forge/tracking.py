"""MLflow on the user's machine: local mode's store under the output folder, the run's final logging and
`forge ui`.

Local mode's default store is SQLite, ``<out>/mlflow/mlflow.db``, with artifacts in
``<out>/mlflow/artifacts``: no server to start, and every run written under the same ``--out`` is one more
run of the pipeline's experiment, so runs compare side by side in ``forge ui`` (which runs
``mlflow ui --backend-store-uri sqlite:///<out>/mlflow/mlflow.db``). MLflow 3 refuses its file store
(``./mlruns``) unless ``MLFLOW_ALLOW_FILE_STORE`` is set, so SQLite it is.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from pipeline_core import layout
from pipeline_core.settings import Settings

STORE_DIR = "mlflow"
DATABASE = "mlflow.db"
REPORT_FILES = (layout.REPORT_JSON, layout.REPORT_MD, "report.html")
# Step Functions' final status -> the MLflow run status of the pipeline's parent run.
RUN_STATUS = {"SUCCEEDED": "FINISHED", "FAILED": "FAILED", "TIMED_OUT": "FAILED", "ABORTED": "KILLED"}


class TrackingError(RuntimeError):
    """The local store is missing or cannot be opened; the message says what to do."""


def store_path(out: Path) -> Path:
    return Path(out).resolve() / STORE_DIR / DATABASE


def local_store_uri(out: Path) -> str:
    """``sqlite:///<absolute out>/mlflow/mlflow.db`` (jobs run in their own directories: absolute)."""
    return f"sqlite:///{store_path(out)}"


def with_local_store(settings: Settings, out: Path) -> Settings:
    """The settings local mode runs: tracking on and pointed nowhere -> the store under ``out``."""
    tracking = settings.tracking
    if not tracking.enabled or tracking.uri is not None:
        return settings
    store_path(out).parent.mkdir(parents=True, exist_ok=True)
    filled = tracking.model_copy(update={"mlflow_uri": local_store_uri(out)})
    return settings.model_copy(update={"tracking": filled})


def synth_config(settings: Settings, config: Path, workdir: Path) -> Path:
    """The config local mode synthesizes: the user's file, or ``settings`` (the store filled in). The
    handlers read settings.json from the asset, so the jobs' requests carry the store's URI as on AWS they
    carry the managed server's. YAML, not JSON: PyYAML reads the JSON float 1e-05 as a string."""
    import shutil

    import yaml

    from pipeline_core.settings import load_settings

    if settings == load_settings(config):
        return config
    path = Path(workdir) / "config.yaml"
    dumped = settings.model_dump(mode="json")
    source = settings.reward.source_path
    if source is not None:  # reward.module is relative to the config: the copy keeps the file beside it
        shutil.copyfile(source, Path(workdir) / source.name)
        dumped["reward"]["module"] = source.name
    path.write_text(yaml.safe_dump(dumped, sort_keys=False), encoding="utf-8")
    return path


def log_run(settings: Settings, run_id: str, run_dir: Path, status: str) -> str | None:
    """The pipeline's parent run: the settings as ``settings.<field>`` params, the report files as
    artifacts, and its final status. Returns the MLflow run id (None when nothing is tracked)."""
    uri = settings.tracking.uri
    if uri is None:
        return None
    import mlflow
    from mlflow.entities import Param

    from job_code import tracking as job_tracking

    client = mlflow.MlflowClient(uri)
    experiment = job_tracking.experiment_id(client, settings.experiment_name, uri)
    parent = job_tracking.parent_run(client, experiment, run_id, settings.experiment_name)
    flat = job_tracking.flat_params(settings.model_dump(mode="json"), "settings.")
    params = [Param(key, value) for key, value in sorted(flat.items())]
    for start in range(0, len(params), 100):  # MLflow's batch limit
        client.log_batch(parent, params=params[start : start + 100])
    for name in REPORT_FILES:
        if (run_dir / name).is_file():
            client.log_artifact(parent, str(run_dir / name))
    client.set_terminated(parent, RUN_STATUS.get(status, "FAILED"))
    return parent


def parent_runs(out: Path, settings_name: str | None = None) -> list[Any]:
    """The pipeline runs in the local store under ``out`` (newest first): for tests and the CLI."""
    import mlflow

    from job_code.tracking import LEVEL_TAG

    if not store_path(out).is_file():
        return []
    client = mlflow.MlflowClient(local_store_uri(out))
    experiments = [e.experiment_id for e in client.search_experiments()
                   if settings_name is None or e.name == settings_name]
    if not experiments:
        return []
    return client.search_runs(experiments, filter_string=f"tags.`{LEVEL_TAG}` = 'pipeline'",
                              order_by=["attributes.start_time DESC"])


def ui_command(out: Path, port: int = 5000, host: str = "127.0.0.1") -> list[str]:
    """The `mlflow ui` command that opens the store under ``out``."""
    database = store_path(out)
    if not database.is_file():
        raise TrackingError(f"no MLflow store at {database}: run `forge run --local --out {out}` first "
                            "(with tracking.enabled true, the default)")
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", local_store_uri(out),
            "--host", host, "--port", str(port), "--workers", "1"]  # one user: one worker starts faster


def ui(out: Path, port: int = 5000, host: str = "127.0.0.1") -> int:
    """Serve the MLflow UI for the store under ``out`` until Ctrl-C; returns mlflow's exit code."""
    command = ui_command(out, port, host)
    print(f"MLflow UI on http://{host}:{port} (store {store_path(out)}); Ctrl-C stops it", flush=True)
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0
