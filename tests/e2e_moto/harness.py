"""Run the synthesized state machine in moto with the real handlers in-process.

moto provides S3, SNS(+SQS to read the notifications), Step Functions (execute_state_machine) and
SageMaker; tests/handlers/scripted.py drives the training jobs' status transitions and emulates what moto
lacks (StopTrainingJob, UpdateEndpoint). The endpoint's runtime is a small fake answering like serve.py.
Preflight's Service Quotas and IAM simulator are tests/e2e_moto/account.py (moto has neither).
"""

from __future__ import annotations

import importlib
import io
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from forge_handlers import config
from forge_handlers.aws import clients

from forge.lambda_surface import LambdaRuntime
from forge.local.execution_events import Delivery, emit_final_status, install_rules
from forge.moto_lambda import run_lambdas_in_process
from tests.e2e_moto.account import ScriptedQuotas, TemplateAccount
from tests.handlers.scripted import ScriptedSageMaker
from tests.template_readers import lambda_functions, state_machine_definition

REGION = "us-east-1"
DATA_BUCKET, ARTIFACTS_BUCKET = "e2e-data", "e2e-artifacts"
ROLE_ARN = "arn:aws:iam::123456789012:role/e2e-sagemaker"
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


class EndpointRuntime:
    """sagemaker-runtime stand-in: answers {"text", "label"} as job_code/serve.py does (hf), or a chat
    completion as Nova's inference container does (nova)."""

    def __init__(self, family: str, answer: str = "HQ") -> None:
        self.family, self.answer, self.requests = family, answer, []

    def invoke_endpoint(self, **params: Any) -> dict[str, Any]:
        self.requests.append(params)
        if self.family == "nova":
            payload: dict[str, Any] = {
                "choices": [{"message": {"role": "assistant", "content": self.answer}}]
            }
        else:
            payload = {"text": self.answer, "label": self.answer}
        return {"Body": io.BytesIO(json.dumps(payload).encode())}


@dataclass
class Result:
    status: str
    output: dict[str, Any]
    error: str | None
    cause: str | None
    states: list[str]
    history: list[dict[str, Any]] = field(repr=False)


class _TemplateRefs:
    """Resolves a rule's references: the state machine's Ref, a function's Arn (from its fixed name)."""

    def __init__(self, template: dict[str, Any], machine_arn: str) -> None:
        self._machine = next(logical for logical, r in template["Resources"].items()
                             if r["Type"] == "AWS::StepFunctions::StateMachine")
        self._machine_arn = machine_arn
        self._functions = {logical: f["name"] for logical, f in lambda_functions(template).items()}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(item) for item in value]
        if not isinstance(value, dict):
            return value
        if value.get("Ref") == self._machine:
            return self._machine_arn
        if "Fn::GetAtt" in value and value["Fn::GetAtt"][0] in self._functions:
            return f"arn:aws:lambda:{REGION}:123456789012:function:{self._functions[value['Fn::GetAtt'][0]]}"
        if len(value) == 1 and next(iter(value)).startswith(("Ref", "Fn::")):
            raise ValueError(f"cannot resolve {value!r} in a rule of the template")
        return {key: self(item) for key, item in value.items()}


class Pipeline:
    """One synthesized stack, deployed into moto, ready to run executions."""

    def __init__(self, synthesized: dict[str, Any], family: str, asset_dir: Path | None = None) -> None:
        """``asset_dir``: the Lambda asset the functions run from (default: the synthesized one)."""
        self.template = synthesized["template"]
        staged = next(Path(synthesized["assembly_dir"]).glob("lambda-bundle/*/settings.json")).parent
        self.asset_dir = Path(asset_dir or staged)
        settings_file = self.asset_dir / "settings.json"
        os.environ.update(
            {
                "FORGE_SETTINGS_FILE": str(settings_file),
                "DATA_BUCKET": DATA_BUCKET,
                "ARTIFACTS_BUCKET": ARTIFACTS_BUCKET,
                "SAGEMAKER_ROLE_ARN": ROLE_ARN,
                "KMS_KEY_ARN": "",
                "AWS_DEFAULT_REGION": REGION,
            }
        )
        # The template's roles answer Preflight's IAM simulation; its reward function is the reward ARN.
        self.account = TemplateAccount(self.template, region=REGION, data_bucket=DATA_BUCKET,
                                       artifacts_bucket=ARTIFACTS_BUCKET, sagemaker_role_arn=ROLE_ARN)
        os.environ.update(self.account.preflight_env)
        self.quotas = ScriptedQuotas()
        config.clear_cache()
        self.s3 = boto3.client("s3", region_name=REGION)
        for bucket in (DATA_BUCKET, ARTIFACTS_BUCKET):
            self.s3.create_bucket(Bucket=bucket)
        # Versioned like the real buckets: a test can tell whether an object was ever overwritten.
        self.s3.put_bucket_versioning(Bucket=ARTIFACTS_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        self.sagemaker = ScriptedSageMaker(
            boto3.client("sagemaker", region_name=REGION), self.s3, family=family
        )
        for resource in self.template["Resources"].values():  # the registry's group, as the stack makes it
            if resource["Type"] == "AWS::SageMaker::ModelPackageGroup":
                self.sagemaker._real.create_model_package_group(
                    ModelPackageGroupName=resource["Properties"]["ModelPackageGroupName"])
        self.runtime = EndpointRuntime(family)
        clients.reset()
        clients.override("sagemaker", self.sagemaker)
        clients.override("sagemaker-runtime", self.runtime)
        clients.override("service-quotas", self.quotas)
        clients.override("iam", self.account.simulator)
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name="e2e-topic")["TopicArn"]
        os.environ["TOPIC_ARN"] = topic
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.queue = self.sqs.create_queue(QueueName="e2e-notifications")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.deliveries: dict[str, list[Delivery]] = {}  # execution ARN -> its status event's deliveries
        self.machine = self.create_machine()
        functions = lambda_functions(self.template).values()
        self._handlers = {f["name"]: f["handler"] for f in functions}
        # Every function runs within Lambda's import surface for the asset (forge/lambda_surface.py).
        self.lambda_runtime = LambdaRuntime({f["name"]: (self.asset_dir, f["handler"]) for f in functions})

    def create_machine(self, timeout_seconds: int | None = None) -> str:
        """The synthesized machine (optionally with a shorter execution timeout), and the template's
        rules on its status-change events pointed at it (moto emits none: forge.local.execution_events)."""
        definition = json.loads(state_machine_definition(self.template))
        if timeout_seconds is not None:
            definition["TimeoutSeconds"] = timeout_seconds
        suffix = "" if timeout_seconds is None else f"-t{timeout_seconds}"
        machine = self.sfn.create_state_machine(
            name=f"e2e-pipeline{suffix}",
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/e2e-sfn",
        )["stateMachineArn"]
        events = boto3.client("events", region_name=REGION)
        for rule in events.list_rules().get("Rules", []):  # a new machine replaces the old one's rules
            targets = events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", [])
            events.remove_targets(Rule=rule["Name"], Ids=[t["Id"] for t in targets])
            events.delete_rule(Name=rule["Name"])
        self.rules = install_rules(boto3.session.Session(region_name=REGION), self.template,
                                   _TemplateRefs(self.template, machine))
        return machine

    def resolve(self, function_name: str):
        module, attribute = self._handlers[function_name].rsplit(".", 1)
        return getattr(importlib.import_module(module), attribute)

    def upload(self, key: str, body: bytes) -> str:
        self.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body)
        return f"s3://{DATA_BUCKET}/{key}"

    def run(
        self,
        *inputs: dict[str, Any],
        timeout: float = 120,
        stop_when: Callable[[], bool] | None = None,
        resolve: Any = None,
        timeouts: dict[str, float] | None = None,
    ) -> list[Result]:
        """Start one execution per input at once; wait for all of them.

        ``stop_when``: checked while they run; once true, every running execution is stopped
        (StopExecution, as `aws stepfunctions stop-execution` does). Every execution that ends sends its
        status-change event to the template's rules, as on AWS (forge.local.execution_events).
        ``resolve`` replaces the handler lookup (to inject faults); ``timeouts`` are function Timeouts in
        seconds (forge/moto_lambda.py).
        """
        session = boto3.session.Session(region_name=REGION)
        with run_lambdas_in_process(resolve or self.resolve, runtime=self.lambda_runtime, timeouts=timeouts):
            arns = [
                self.sfn.start_execution(
                    stateMachineArn=self.machine, name=item.get("run_id", f"x{i}"), input=json.dumps(item)
                )["executionArn"]
                for i, item in enumerate(inputs)
            ]
            deadline = time.monotonic() + timeout
            described: dict[str, dict[str, Any]] = {}
            while len(described) < len(arns):
                if stop_when is not None and stop_when():
                    for arn in set(arns) - set(described):
                        self.sfn.stop_execution(executionArn=arn, cause="stopped by the test")
                    stop_when = None
                for arn in arns:
                    if arn not in described:
                        state = self.sfn.describe_execution(executionArn=arn)
                        if state["status"] != "RUNNING":
                            described[arn] = state
                            self.deliveries[arn] = emit_final_status(session, arn)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"executions still running after {timeout}s")
                time.sleep(0.05)
        return [self._result(arn, described[arn]) for arn in arns]

    def _result(self, arn: str, described: dict[str, Any]) -> Result:
        pages = self.sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
        history = [event for page in pages for event in page["events"]]
        states = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
        return Result(
            status=described["status"],
            output=json.loads(described.get("output") or "{}"),
            error=described.get("error"),
            cause=described.get("cause"),
            states=states,
            history=history,
        )

    def notifications(self) -> list[str]:
        messages = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return messages
            for message in batch:
                messages.append(json.loads(message["Body"])["Message"])
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])

    def training_jobs(self) -> list[str]:
        listed = self.sagemaker._real.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]
        return sorted(job["TrainingJobName"] for job in listed)

    def artifact_keys(self, prefix: str = "runs/") -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=ARTIFACTS_BUCKET, Prefix=prefix).get("Contents", [])
        return sorted(o["Key"] for o in listed)

    def read_json(self, key: str) -> Any:
        return json.loads(self.s3.get_object(Bucket=ARTIFACTS_BUCKET, Key=key)["Body"].read())
