"""deploy.ttl_hours: Deploy schedules the endpoint's deletion (EventBridge Scheduler, in moto), replaces the
schedule on a later deploy, and sets none without a ttl (removing one an earlier config left)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from forge_handlers import config
from forge_handlers.aws import clients
from forge_handlers.entry import deploy
from forge_handlers.errors import ConfigError

from pipeline_core import endpoint_guardrails
from pipeline_core.settings import load_settings
from tests.handlers.conftest import ACCOUNT, REGION, a_run, derive
from tests.handlers.scripted import ScriptedSageMaker
from tests.handlers.test_stages import CONFIG_DIR, SERVE_IMAGE, record_evals

EXPIRY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/forge-expiry"
SCHEDULE = "forge-hf--endpoint-ttl"


class Recording:
    """The real (moto) scheduler client, keeping each request the handler sent."""

    def __init__(self, real: Any) -> None:
        self._real, self.calls = real, []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._real, name)

        def call(**params: Any) -> Any:
            self.calls.append((name, params))
            return method(**params)

        return call


def hf_settings(use_settings, **changes: Any):
    base = load_settings(CONFIG_DIR / "open-weights.yaml")
    return use_settings(derive(base, deploy__instance_type="ml.g4dn.xlarge",
                               images__inference={REGION: SERVE_IMAGE}, **changes))


@pytest.fixture
def scheduler(aws, monkeypatch):
    clients.override("sagemaker", ScriptedSageMaker(boto3.client("sagemaker", region_name=REGION), aws))
    monkeypatch.setenv("SCHEDULER_ROLE_ARN", EXPIRY_ROLE)
    recording = Recording(boto3.client("scheduler", region_name=REGION))
    clients.override("scheduler", recording)
    return recording


def at_time(expression: str) -> datetime:
    assert expression.startswith("at(") and expression.endswith(")"), expression
    return datetime.strptime(expression[3:-1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def test_deploy_with_a_ttl_schedules_the_endpoints_deletion(use_settings, aws, scheduler, lambda_context):
    hf_settings(use_settings, deploy__ttl_hours=2)
    record_evals(aws, "run-1", {"baseline_eval": 0.3, "eval_sft": 0.5, "eval_rft": 0.8})
    before = datetime.now(UTC).replace(microsecond=0)
    endpoint = deploy.handler({"run": a_run()}, lambda_context)
    after = datetime.now(UTC)
    schedule = boto3.client("scheduler", region_name=REGION).get_schedule(Name=SCHEDULE)
    target = schedule["Target"]
    assert target["Arn"] == "arn:aws:scheduler:::aws-sdk:sagemaker:deleteEndpoint"
    assert json.loads(target["Input"]) == {"EndpointName": "forge-hf--endpoint"}
    assert target["RoleArn"] == EXPIRY_ROLE
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    when = at_time(schedule["ScheduleExpression"])
    assert before + timedelta(hours=2) <= when <= after + timedelta(hours=2)
    assert endpoint["expires_at"] == when.isoformat()
    assert [op for op, _ in scheduler.calls] == ["get_schedule", "create_schedule"]


def test_a_later_deploy_replaces_the_schedule(use_settings, aws, scheduler, lambda_context, monkeypatch):
    hf_settings(use_settings, deploy__ttl_hours=1)
    record_evals(aws, "run-1", {"baseline_eval": 0.3, "eval_sft": 0.5, "eval_rft": 0.8})
    first = deploy.handler({"run": a_run()}, lambda_context)
    # The second deploy an hour later: its clock starts then.
    later = datetime.now(UTC) + timedelta(hours=1)
    clock = type("Later", (), {"now": staticmethod(lambda tz: later)})
    monkeypatch.setattr("forge_handlers.deploy.datetime", clock)
    record_evals(aws, "run-2", {"baseline_eval": 0.3, "eval_sft": 0.5, "eval_rft": 0.8})
    second = deploy.handler({"run": a_run("run-2")}, lambda_context)
    assert second["action"] == "update"
    listed = boto3.client("scheduler", region_name=REGION).list_schedules()["Schedules"]
    assert [s["Name"] for s in listed] == [SCHEDULE]  # one schedule per endpoint, replaced
    schedule = boto3.client("scheduler", region_name=REGION).get_schedule(Name=SCHEDULE)
    assert at_time(schedule["ScheduleExpression"]) == later.replace(microsecond=0) + timedelta(hours=1)
    assert second["expires_at"] > first["expires_at"]
    (update,) = [params for op, params in scheduler.calls if op == "update_schedule"]
    # UpdateSchedule replaces every field: what it omits is reset, so it sends all of them (moto keeps them).
    assert update["ActionAfterCompletion"] == "DELETE" and update["Target"]["RoleArn"] == EXPIRY_ROLE
    assert update == endpoint_guardrails.expiry_schedule_request(
        config.load(), EXPIRY_ROLE, at_time(update["ScheduleExpression"]))


def test_no_schedule_without_a_ttl(use_settings, aws, scheduler, lambda_context):
    hf_settings(use_settings)
    record_evals(aws, "run-1", {"baseline_eval": 0.3, "eval_sft": 0.5, "eval_rft": 0.8})
    endpoint = deploy.handler({"run": a_run()}, lambda_context)
    assert endpoint["expires_at"] is None
    assert boto3.client("scheduler", region_name=REGION).list_schedules()["Schedules"] == []
    assert not [op for op, _ in scheduler.calls if op in ("create_schedule", "update_schedule")]


def test_a_deploy_without_a_ttl_removes_an_earlier_configs_schedule(use_settings, aws, scheduler,
                                                                     lambda_context):
    """Otherwise the schedule an earlier ttl left would delete the endpoint this run now serves."""
    hf_settings(use_settings, deploy__ttl_hours=1)
    record_evals(aws, "run-1", {"baseline_eval": 0.3, "eval_sft": 0.5, "eval_rft": 0.8})
    deploy.handler({"run": a_run()}, lambda_context)
    hf_settings(use_settings)
    record_evals(aws, "run-2", {"baseline_eval": 0.3, "eval_sft": 0.5, "eval_rft": 0.8})
    assert deploy.handler({"run": a_run("run-2")}, lambda_context)["expires_at"] is None
    assert boto3.client("scheduler", region_name=REGION).list_schedules()["Schedules"] == []


def test_a_ttl_without_the_scheduler_role_is_a_config_error(use_settings, aws, scheduler, lambda_context,
                                                            monkeypatch):
    monkeypatch.delenv("SCHEDULER_ROLE_ARN")
    hf_settings(use_settings, deploy__ttl_hours=1)
    record_evals(aws, "run-1", {"baseline_eval": 0.3, "eval_sft": 0.5, "eval_rft": 0.8})
    with pytest.raises(ConfigError, match="SCHEDULER_ROLE_ARN"):
        deploy.handler({"run": a_run()}, lambda_context)


@pytest.mark.parametrize("hours", [0, -1, 0.1, 8761])
def test_ttl_hours_is_bounded(hours) -> None:
    base = load_settings(CONFIG_DIR / "open-weights.yaml")
    with pytest.raises(Exception, match="ttl_hours"):
        derive(base, deploy__ttl_hours=hours)


@pytest.mark.parametrize("expires", ["2030-01-01T02:00:00+00:00", None])
def test_the_reports_endpoint_section_shows_the_expiry(tmp_path, expires) -> None:
    from forge_handlers.report_markdown import render_markdown

    from forge.report_html import render
    from tests.local.test_report_page import full_report

    report = {**full_report(), "pipeline": "forge-hf", "model": {"family": "hf", "base_model": "b"},
              "run_prefix": "runs/run-1/",
              "endpoint": {"endpoint_name": "forge-hf--endpoint", "action": "create", "expires_at": expires}}
    markdown, page = render_markdown(report), render(report, tmp_path)
    endpoint_md = markdown.split("## Endpoint", 1)[1].split("##", 1)[0]
    endpoint_html = page.split("<h2>Endpoint</h2>", 1)[1].split("</section>", 1)[0]
    if expires:
        assert f"Expires at {expires}" in endpoint_md and f"Expires at {expires}" in endpoint_html
    else:
        assert "Expires" not in markdown and "Expires" not in page


@pytest.mark.parametrize(("smoke", "shown"), [
    ({"answer": "LQ_CLOSE", "label": "LQ_CLOSE", "expected": "HQ"}, "label `LQ_CLOSE`"),
    # task.kind generation parses no label: the row's reference stands beside the answer, not "label None".
    ({"answer": "Omar has 12 books.", "label": None, "expected": "Omar has 28 books."},
     "reference `Omar has 28 books.`"),
])
def test_the_reports_endpoint_section_shows_the_smoke_answer(tmp_path, smoke, shown) -> None:
    from forge_handlers.report_markdown import render_markdown

    from forge.report_html import render
    from tests.local.test_report_page import full_report

    report = {**full_report(), "pipeline": "forge-hf", "model": {"family": "hf", "base_model": "b"},
              "run_prefix": "runs/run-1/", "smoke": smoke,
              "endpoint": {"endpoint_name": "forge-hf--endpoint", "action": "create"}}
    markdown, page = render_markdown(report), render(report, tmp_path)
    endpoint_md = markdown.split("## Endpoint", 1)[1].split("##", 1)[0]
    endpoint_html = page.split("<h2>Endpoint</h2>", 1)[1].split("</section>", 1)[0]
    assert f"Smoke test answer: `{smoke['answer']}` → {shown}" in endpoint_md
    assert "None" not in endpoint_md and "None" not in endpoint_html
    assert smoke["expected"] in endpoint_html or smoke["label"] in endpoint_html
