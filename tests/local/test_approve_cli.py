"""`forge approve` without --stack: a local run's registry ended with the run, so it says so (exit 1)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from forge.cli import app

ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/forge-local--models/1"


def _run(tmp_path, status: str, registry: dict | None) -> None:
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "report.json").write_text(json.dumps({"run_id": "r1", "status": status, "registry": registry}))


def test_a_pending_local_run_cannot_be_approved_after_it_ended(tmp_path) -> None:
    _run(tmp_path, "PENDING_APPROVAL", {"model_package_arn": ARN, "approval_status": "PendingManualApproval"})
    result = CliRunner().invoke(app, ["approve", "r1", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 1
    assert ARN in result.output and "--stack" in result.output and "require_approval" in result.output


def test_only_a_pending_run_can_be_approved(tmp_path) -> None:
    _run(tmp_path, "GATE_REJECTED", {"model_package_arn": ARN, "approval_status": "Rejected"})
    result = CliRunner().invoke(app, ["approve", "r1", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 1 and "not PENDING_APPROVAL" in result.output


def test_an_unknown_local_run(tmp_path) -> None:
    result = CliRunner().invoke(app, ["approve", "nope", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 1 and "no local run 'nope'" in result.output
