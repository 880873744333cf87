"""What a local run leaves on disk besides the S3 copy: logs, job outputs, endpoint record, report."""

from __future__ import annotations

import contextlib
import importlib
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

from forge.local.sagemaker import LocalSageMaker
from pipeline_core import layout, registry
from pipeline_core.settings import Settings


def copy_logs(sagemaker: LocalSageMaker, run_dir: Path) -> None:
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for job in sagemaker.jobs.values():
        if job.log_path.exists():
            shutil.copyfile(job.log_path, logs / f"{job.name}.log")
    for endpoint in sagemaker.endpoints.values():
        if endpoint.server and endpoint.server.log_path.exists():
            shutil.copyfile(endpoint.server.log_path, logs / f"endpoint-{endpoint.name}.log")


def record_endpoint(sagemaker: LocalSageMaker, run_dir: Path, run_uri_prefix: str) -> None:
    """endpoint.json: what ``forge invoke``/``forge serve`` need to bring the endpoint back later."""
    for endpoint in sagemaker.endpoints.values():
        config = sagemaker.endpoint_configs.get(endpoint.config_name, {})
        model_name = config.get("ProductionVariants", [{}])[0].get("ModelName")
        container = sagemaker.models.get(model_name, {}).get("PrimaryContainer", {})
        url = container.get("ModelDataUrl", "")
        record = {
            "endpoint_name": endpoint.name,
            "status": endpoint.status,
            "model_name": model_name,
            "model_data_url": url,
            # The artifact is inside this run's directory (runs/<run-id>/jobs/...), copied from S3.
            "model_archive": url[len(run_uri_prefix) :] if url.startswith(run_uri_prefix) else None,
            "environment": container.get("Environment", {}),
        }
        (run_dir / "endpoint.json").write_text(json.dumps(record, indent=1))


def record_model_packages(sagemaker: LocalSageMaker, run_dir: Path, group: str, run_id: str) -> None:
    """model_packages.json: this run's versions in the registry, which lives in moto for the run only."""
    client = sagemaker.api.client
    summaries = client.list_model_packages(ModelPackageGroupName=group).get("ModelPackageSummaryList") or []
    described = [client.describe_model_package(ModelPackageName=s["ModelPackageArn"]) for s in summaries]
    ours = [d for d in described
            if (d.get("CustomerMetadataProperties") or {}).get(registry.RUN_ID) == run_id]
    if ours:
        (run_dir / "model_packages.json").write_text(json.dumps(ours, indent=1, default=str))


def extract_job_outputs(run_dir: Path, eval_stages: tuple[str, ...]) -> None:
    """Each job's output.tar.gz → eval/<stage>/ (results, inference outputs, plots) or outputs/<stage>/."""
    for archive in run_dir.glob(layout.JOB_OUTPUT_ARCHIVES):
        stage = archive.parents[2].name
        # Beside the eval results the jobs handler copied there (layout.eval_results_path).
        target = run_dir / (layout.EVAL_DIR if stage in eval_stages else layout.OUTPUTS_DIR) / stage
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")


def last_state_document(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The newest state document the history shows (a state's output, else the execution input)."""
    for event in reversed(events):
        for key in ("stateExitedEventDetails", "executionStartedEventDetails"):
            details = event.get(key)
            raw = details and (details.get("output") or details.get("input"))
            if raw:
                with contextlib.suppress(json.JSONDecodeError):
                    document = json.loads(raw)
                    if isinstance(document, dict):
                        return document
    return {}


def read_or_build_report(
    run_dir: Path,
    settings: Settings,
    bucket: str,
    status: str,
    state: str | None,
    events: list[dict[str, Any]],
) -> dict[str, Any]:
    """The report the run wrote (the Report step's, or the abort handler's for a stopped or timed-out run);
    if neither ran (the abort handler failed), one built the same way from the execution history."""
    path = run_dir / layout.REPORT_JSON
    if path.exists():
        return json.loads(path.read_text())
    report_logic = importlib.import_module("forge_handlers.report")  # the Report handler's own logic
    document = last_state_document(events)
    document.setdefault("run_id", run_dir.name)
    report_status = "ABORTED" if status == "ABORTED" else "FAILED"
    report = report_logic.build_report(settings, bucket, document, report_status)
    report["stopped_at"] = state
    report["failure_reason"] = report.get("failure_reason") or f"execution {status} in state {state}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, default=str))
    (run_dir / layout.REPORT_MD).write_text(report_logic.render_markdown(report))
    return report
