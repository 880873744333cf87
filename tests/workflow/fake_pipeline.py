"""Small fake handlers that emulate job progress, and a runner for the synthesized ASL in moto."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field

import boto3

from forge.moto_lambda import run_lambdas_in_process
from tests.template_readers import lambda_functions, state_machine_definition

# Errors are matched by class name (Lambda errorType), exactly as the real handlers' errors are.


class ThrottlingError(Exception):
    pass


class DataValidationError(Exception):
    pass


class PreflightError(Exception):
    pass


@dataclass
class Scenario:
    """How the fakes behave. Each job polls InProgress twice, then ends with its final status."""

    final_status: dict[str, str] = field(default_factory=dict)  # stage -> Completed|Failed|Stopped
    failure_reason: dict[str, str | None] = field(default_factory=dict)
    throttled_launches: dict[str, int] = field(default_factory=dict)  # stage -> launch attempts that throttle
    reject_data: bool = False
    capacity_retries: dict[str, int] = field(default_factory=dict)  # stage -> attempts that end Retry
    endpoint_status: str = "InService"
    gate_passed: bool = True
    preflight_problem: str | None = None  # Preflight fails with this reason
    champion_present: bool = False  # the Champion state finds a model on the endpoint


class FakeHandlers:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.polls: dict[str, int] = defaultdict(int)
        self.launches: dict[str, int] = defaultdict(int)
        self.events: dict[str, list] = defaultdict(list)

    def __call__(self, handler: str):
        def run(event, context):
            self.events[handler].append(event)
            return getattr(self, handler)(event)

        return run

    def prepare(self, event):
        if self.scenario.reject_data:
            raise DataValidationError("row 3, field rating: 'MAYBE' is not one of HQ, LQ_EDIT, LQ_CLOSE")
        run_id = event["execution_name"]
        return {
            "run_id": run_id,
            "run_prefix": f"runs/{run_id}/",
            "datasets": {},
            "counts": {},
            "report_uri": f"s3://artifacts/runs/{run_id}/data/validation.json",
        }

    def preflight(self, event):
        if self.scenario.preflight_problem:
            raise PreflightError(f"preflight failed: {self.scenario.preflight_problem}")
        return {"passed": True, "checks": []}

    def champion(self, event):
        if self.scenario.champion_present:
            return {"present": True, "endpoint_name": "forge-local--endpoint", "model_name": "m",
                    "endpoint_config_name": "c", "model_data_uri": "s3://artifacts/m.tar.gz", "run_id": "r0"}
        return {"present": False, "endpoint_name": "forge-local--endpoint", "reason": "no endpoint"}

    def launch(self, event):
        stage = event["stage"]
        self.launches[stage] += 1
        if self.launches[stage] <= self.scenario.throttled_launches.get(stage, 0):
            raise ThrottlingError(f"Rate exceeded launching {stage}")
        return {
            "stage": stage,
            "job_name": f"forge-{stage}-{event['attempt']}",
            "attempt": event["attempt"],
            "status": "InProgress",
            "wait_seconds": 0,  # the Wait's SecondsPath (pipeline_core/polling.py)
        }

    def poll(self, event):
        stage, job = event["stage"], event["job"]
        self.polls[stage] += 1
        status = "InProgress"
        if self.polls[stage] % 3 == 0:  # every job: InProgress, InProgress, then its end
            status = self.scenario.final_status.get(stage, "Completed")
            if job["attempt"] <= self.scenario.capacity_retries.get(stage, 0):
                status = "Retry"
        reason = self.scenario.failure_reason.get(stage) if status in ("Failed", "Stopped") else None
        return {
            **job,
            "status": status,
            "secondary_status": status,
            "failure_reason": reason,
            "log_stream": None,
            "artifact": None,
            "metrics": {},
        }

    def gate(self, event):
        return {
            "passed": self.scenario.gate_passed,
            "metric": "accuracy",
            "baseline": 0.1,
            "candidate": 0.8,
            "candidate_stage": "eval_rft",
            "gain": 0.7,
            "reason": "fake",
        }

    def register(self, event):
        status = "Approved" if event["gate"]["passed"] else "Rejected"
        return {"registered": True, "approval_status": status, "model_package_arn": "arn:fake/1"}

    def deploy(self, event):
        return {"endpoint_name": "forge-local-ep", "action": "create", "status": "Creating",
                "wait_seconds": 0}

    def endpoint_status(self, event):
        status = self.scenario.endpoint_status
        reason = "CapacityError: no ml.g5 capacity" if status == "Failed" else None
        return {"endpoint_name": "forge-local-ep", "status": status, "failure_reason": reason,
                "wait_seconds": 0}

    def smoke(self, event):
        return {"question": "q", "answer": "HQ", "label": "HQ"}

    def cleanup(self, event):
        return {"stopped_jobs": [], "deleted_endpoint": None}

    def report(self, event):
        return {
            "report_uri": "s3://artifacts/report.json",
            "markdown_uri": "s3://artifacts/report.md",
            "status": event.get("status"),
        }

    def notify(self, event):
        return {"message_id": "m-1"}


@dataclass
class ExecutionResult:
    status: str
    states: list[str]
    output: dict | None
    error: str | None
    cause: str | None
    fakes: FakeHandlers


def run_pipeline(
    synthesized: dict, scenario: Scenario, execution_input: dict | None = None, timeout_s: float = 90.0
) -> ExecutionResult:
    """Create the synthesized state machine in moto and run one execution to its end (inside mock_aws)."""
    template = synthesized["template"]
    settings = synthesized["stack"].settings
    names = {spec["name"]: spec["handler"] for spec in lambda_functions(template).values()}
    fakes = FakeHandlers(scenario)

    def resolve(function_name: str):
        handler = names[function_name]  # "forge_handlers.entry.<module>.handler"
        return fakes(handler.split(".")[-2])

    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    machine = sfn.create_state_machine(
        name=f"{settings.name}-pipeline",
        definition=state_machine_definition(template),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )
    with run_lambdas_in_process(resolve):
        execution = sfn.start_execution(
            stateMachineArn=machine["stateMachineArn"],
            name="run-1",
            input=json.dumps(execution_input or {"dataset": "s3://data/incoming/x.csv"}),
        )
        deadline = time.monotonic() + timeout_s
        while True:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if described["status"] != "RUNNING":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution still RUNNING after {timeout_s} s")
            time.sleep(0.05)
    history = sfn.get_paginator("get_execution_history").paginate(executionArn=execution["executionArn"])
    states = [
        event["stateEnteredEventDetails"]["name"]
        for page in history
        for event in page["events"]
        if "stateEnteredEventDetails" in event
    ]
    output = json.loads(described["output"]) if described.get("output") else None
    return ExecutionResult(
        described["status"], states, output, described.get("error"), described.get("cause"), fakes
    )
