"""The model registry's names and rules: one SageMaker model package group per pipeline, one package
version per evaluated candidate, its approval status from the gate's decision (docs/contracts.md, Registry).

The stacks, the handlers, the CLI and local mode import it alike (it ships in the Lambda bundle).
"""

from __future__ import annotations

from pipeline_core.layout import run_prefix
from pipeline_core.settings import RESOURCE_SEPARATOR

APPROVED = "Approved"
REJECTED = "Rejected"
PENDING = "PendingManualApproval"
# The run status of a run whose candidate passed the gate and waits for a person's approval.
PENDING_APPROVAL = "PENDING_APPROVAL"
# EventBridge: what SageMaker emits when a package's approval status changes (stacks/triggers.py).
EVENT_SOURCE = "aws.sagemaker"
EVENT_DETAIL_TYPE = "SageMaker Model Package State Change"
# The execution input of a deploy started by an approval (stacks/workflow.py's "Approved Package?").
APPROVED_PACKAGE_KEY = "approved_model_package"
# CustomerMetadataProperties keys (values are strings of at most 256 characters, API limit).
RUN_ID = "forge:run-id"
DATASET = "forge:dataset"
CODE_VERSION = "forge:code-version"
GATE_PASSED = "forge:gate-passed"
GATE_REASON = "forge:gate-reason"
APPROVAL = "forge:approval"  # "auto" (gate only) or "manual" (gate.require_approval)
METADATA_VALUE_MAX = 256
# Relative to a run prefix: the registration and the state an approval resumes from.
REGISTRY_FILE = "registry.json"


def group_name(prefix: str) -> str:
    """One group per pipeline; '--' cannot occur in a pipeline name, so no other pipeline's group matches."""
    return f"{prefix}{RESOURCE_SEPARATOR}models"


def registry_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}{REGISTRY_FILE}"


def approval_status(passed: bool, require_approval: bool) -> str:
    """The package's ModelApprovalStatus at registration."""
    if not passed:
        return REJECTED
    return PENDING if require_approval else APPROVED


def clip(value: str) -> str:
    """A metadata value within the API's 256 characters (a long gate reason is cut, marked with '…')."""
    return value if len(value) <= METADATA_VALUE_MAX else value[: METADATA_VALUE_MAX - 1] + "…"
