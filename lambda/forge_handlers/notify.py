"""The SNS message at the end of a run: status, key numbers, where the report is, why it failed."""

from __future__ import annotations

from typing import Any

from forge_handlers import report
from forge_handlers.aws import clients, s3io
from forge_handlers.errors import ArtifactMissingError, ConfigError, translate_client_error
from pipeline_core.settings import Settings


def compose(settings: Settings, event: dict[str, Any]) -> tuple[str, str]:
    status = event.get("status") or "UNKNOWN"
    report_ref = event.get("report") or {}
    stored: dict[str, Any] = {}
    if report_ref.get("report_uri"):
        try:
            stored = s3io.get_json(report_ref["report_uri"], "report")
        except ArtifactMissingError:
            stored = {}
    run_id = (
        (event.get("run") or {}).get("run_id") or stored.get("run_id") or event.get("execution_name") or "?"
    )
    lines = [f"Pipeline {settings.resource_prefix}, run {run_id}: {status}"]
    reason = (
        report_ref.get("failure_reason")
        or stored.get("failure_reason")
        or (report.failure_reason(event) if status not in ("SUCCEEDED", "PENDING_APPROVAL") else None)
    )
    if reason:
        lines.append(f"Failure reason: {reason}")
    gate = event.get("gate") or stored.get("gate")
    if gate:
        lines.append(
            f"Gate {'passed' if gate.get('passed') else 'rejected'} on {gate.get('metric')}: baseline "
            f"{gate.get('baseline')}, candidate {gate.get('candidate')} ({gate.get('candidate_stage')}), "
            f"gain {gate.get('gain')}: {gate.get('reason')}"
        )
    for name, stage in (stored.get("stages") or {}).items():
        metrics = stage.get("metrics") or {}
        numbers = ", ".join(f"{m}={metrics[m]:.4f}" for m in ("accuracy", "em", "macro_f1") if m in metrics)
        if numbers:
            lines.append(f"{name}: {numbers}")
    shortcuts = stored.get("shortcuts") or (event.get("run") or {}).get("shortcuts") or []
    if shortcuts:  # one line: the strongest; the report has them all
        more = f" (+{len(shortcuts) - 1} more in the report)" if len(shortcuts) > 1 else ""
        lines.append(f"Data shortcut: {shortcuts[0].get('message')}{more}")
    lines += cost_lines(stored.get("cost") or {})
    package = event.get("registry") or stored.get("registry") or {}
    if package.get("model_package_arn"):
        lines.append(f"Model package: {package['model_package_arn']} ({package.get('approval_status')})")
        if status == "PENDING_APPROVAL":
            lines.append(f"Approve to deploy: forge approve {run_id} --stack <stack>")
    endpoint = (event.get("endpoint") or stored.get("endpoint") or {}).get("endpoint_name")
    if endpoint:
        lines.append(f"Endpoint: {endpoint}")
    if report_ref.get("report_uri"):
        lines.append(f"Report: {report_ref['report_uri']} ({report_ref.get('markdown_uri', '')})")
    subject = f"[{settings.resource_prefix}] run {run_id}: {status}"[:100]
    return subject, "\n".join(lines)


def _usd(value: Any) -> str:
    return f"${value:,.2f}" if isinstance(value, int | float) else "unknown"


def cost_lines(cost: dict[str, Any]) -> list[str]:
    """Per stage: the estimate made before the run (its bound) and the actual cost, then the totals."""
    estimate, actual = cost.get("estimate") or {}, cost.get("actual") or {}
    per_stage = actual.get("per_stage") or {}
    rows = [f"  {row['stage']}: estimated at most {_usd(row.get('bound_cost'))}, actual "
            f"{_usd(per_stage.get(row['stage'])) if row['stage'] in per_stage else 'not run'}"
            for row in estimate.get("stages") or []]
    if not rows:
        return []
    total = _usd(actual.get("total")) + ("" if actual.get("complete", True) else " (some prices unknown)")
    bound = _usd(estimate.get("training_bound_total")) + (
        "" if estimate.get("training_bound_complete", True) else " + unknown")
    lines = ["Cost per stage:", *rows, f"  total: estimated at most {bound}, actual {total}"]
    per_hour = (estimate.get("endpoint") or {}).get("per_hour")
    if (estimate.get("endpoint") or {}).get("instance_type"):
        lines.append(f"  endpoint: {_usd(per_hour)} per hour while it runs")
    return lines


def notify(settings: Settings, topic_arn: str, event: dict[str, Any]) -> dict[str, Any]:
    if not topic_arn:
        raise ConfigError("notify: TOPIC_ARN is not set")
    subject, message = compose(settings, event)
    try:
        response = clients.sns().publish(TopicArn=topic_arn, Subject=subject, Message=message)
    except Exception as error:
        raise translate_client_error(error) from error
    return {"message_id": response["MessageId"], "subject": subject}
