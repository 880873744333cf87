"""`forge approve RUN`: set a run's pending model package Approved; the registry's approval event
(stacks/triggers.py) then starts the execution that deploys it.

AWS (``--stack``): the run's report.json names its package; the update keeps every metadata key (moto
replaces the whole map on update, AWS merges it: passing it whole is right for both) and records who approved.
Local runs: the registry lives in moto for the length of ``forge run --local`` only, so a local run that
ended PENDING_APPROVAL cannot be approved afterwards; ``approve_local`` says so and how to deploy locally.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_core import layout, registry


class ApprovalError(RuntimeError):
    """The run cannot be approved (not pending, no package, unknown run); the message says why."""


@dataclass(frozen=True)
class Approved:
    run_id: str
    model_package_arn: str
    previous_status: str


def package_of(report: dict[str, Any], where: str) -> str:
    """The pending package a run's report names, or ApprovalError saying what the run is instead."""
    status = report.get("status")
    arn = (report.get("registry") or {}).get("model_package_arn")
    if status != registry.PENDING_APPROVAL:
        raise ApprovalError(f"run {report.get('run_id')} is {status}, not {registry.PENDING_APPROVAL} "
                            f"({where}): only a run that waits for approval can be approved")
    if not arn:
        raise ApprovalError(f"{where} names no model package (registry.model_package_arn)")
    return arn


def approve_package(sagemaker: Any, arn: str, run_id: str, approver: str | None = None) -> Approved:
    """UpdateModelPackage to Approved, keeping the package's metadata and naming the approver."""
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    status = described.get("ModelApprovalStatus")
    if status == registry.REJECTED:
        raise ApprovalError(f"{arn} was rejected by the gate: a rejected candidate is never deployed")
    if status != registry.PENDING:
        raise ApprovalError(f"{arn} is {status}, not {registry.PENDING}")
    metadata = dict(described.get("CustomerMetadataProperties") or {})
    who = approver or getpass.getuser()
    sagemaker.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus=registry.APPROVED,
        ApprovalDescription=f"approved with forge approve by {who}"[:1024],
        CustomerMetadataProperties=metadata,
    )
    return Approved(run_id, arn, status)


def approve_aws(stack_name: str, run_id: str, session: Any | None = None) -> Approved:
    from forge import aws_mode

    session = session or aws_mode._session(None)
    stack = aws_mode.find_stack(stack_name, session)
    key = layout.report_key(run_id)
    report = json.loads(aws_mode._read(session, stack.artifacts_bucket, key))
    arn = package_of(report, f"s3://{stack.artifacts_bucket}/{key}")
    return approve_package(aws_mode.client(session, "sagemaker"), arn, run_id)


def approve_local(out: Path, run_id: str) -> str:
    """A local run cannot be approved after it ended; the message names the run's package and what to do."""
    path = out / run_id / layout.REPORT_JSON
    if not path.is_file():
        raise ApprovalError(f"no local run {run_id!r}: {path} does not exist")
    arn = package_of(json.loads(path.read_text(encoding="utf-8")), str(path))
    raise ApprovalError(
        f"run {run_id} registered {arn} in the local registry, which lived in moto for the length of the "
        "run only: a local run cannot be approved afterwards. Deploy locally with gate.require_approval "
        "false, or approve on AWS with --stack NAME"
    )
