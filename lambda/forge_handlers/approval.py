"""Resume a run whose candidate waited for approval: an execution started by the registry's approval event
(stacks/triggers.py) with ``{"approved_model_package": <arn>}`` gets back the run's state as far as the gate
(runs/<run>/registry.json, written by Register), then deploys what the package points at.
"""

from __future__ import annotations

from typing import Any

from forge_handlers import register
from forge_handlers.aws import s3io
from forge_handlers.config import Environment
from forge_handlers.errors import ConfigError
from forge_handlers.naming import s3_uri
from pipeline_core import registry
from pipeline_core.settings import Settings

# The parts of the state document an approval restores (the state machine's "Restore Run" copies them).
RESTORED = ("run", "jobs", "gate", "dataset", "registry")


def resume(settings: Settings, env: Environment, package_arn: str) -> dict[str, Any]:
    described = register.approved_package(settings, package_arn)
    metadata = described.get("CustomerMetadataProperties") or {}
    if metadata.get(registry.APPROVAL) != "manual":
        # Registered Approved by the gate itself: its own run deployed it (the event fires on create too).
        return {"deploy": False, "reason": f"{package_arn} was approved by the gate; its run deployed it"}
    if metadata.get(registry.GATE_PASSED) != "true":
        raise ConfigError(f"model package {package_arn} was rejected by the gate "
                          f"({metadata.get(registry.GATE_REASON)}): a rejected candidate is never deployed")
    run_id = metadata.get(registry.RUN_ID)
    if not run_id:
        raise ConfigError(f"model package {package_arn} has no {registry.RUN_ID} metadata")
    saved = s3io.get_json(s3_uri(env.artifacts_bucket, registry.registry_key(run_id)), what="registry record")
    if not isinstance(saved, dict) or not isinstance(saved.get("run"), dict):
        raise ConfigError(f"registry record of run {run_id} has no run")
    record = saved.get("registry") or {}
    if record.get("model_package_arn") != package_arn:
        raise ConfigError(f"run {run_id} registered {record.get('model_package_arn')}, not {package_arn}")
    restored = {key: saved.get(key) for key in RESTORED}
    restored["registry"] = {**record, "approval_status": registry.APPROVED}
    return {"deploy": True, **restored}
