"""Notifications (the SNS topic), the triggers that start executions (S3 upload, schedule), and the rule
that cleans up after an execution that ended without its own failure path (stopped, timed out)."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from pipeline_core import registry
from pipeline_core.layout import INCOMING_PREFIX
from pipeline_core.settings import Settings

# The formats Prepare reads (job_code.core.formats); an upload of any of them starts a run.
DATASET_SUFFIXES = (".csv", ".jsonl")
# The execution ends the abort handler cleans up after (forge_handlers.abort: the same values; a test
# pins that). Catch never runs on StopExecution or the execution's timeout; FAILED covers unhandled errors.
EXECUTION_EVENT_SOURCE = "aws.states"
EXECUTION_EVENT_DETAIL_TYPE = "Step Functions Execution Status Change"
ENDED_STATUSES = ("ABORTED", "TIMED_OUT", "FAILED")


class Notifications(Construct):
    """KMS-encrypted, SSL-only SNS topic; an optional e-mail subscription from settings."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=f"{settings.name} pipeline",
            master_key=key,
            enforce_ssl=True,
        )
        if settings.notification_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(settings.notification_email))


class Triggers(Construct):
    """EventBridge: a CSV under incoming/ in the data bucket starts a run; optionally a schedule too."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        data_bucket: s3.IBucket,
        state_machine: sfn.IStateMachine,
        on_execution_ended: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.ended_rule = events.Rule(
            self,
            "ExecutionEnded",
            description=f"{settings.name}: stop the jobs of, and report on, an execution that ended "
            + "/".join(ENDED_STATUSES),
            event_pattern=events.EventPattern(
                source=[EXECUTION_EVENT_SOURCE],
                detail_type=[EXECUTION_EVENT_DETAIL_TYPE],
                detail={"status": list(ENDED_STATUSES), "stateMachineArn": [state_machine.state_machine_arn]},
            ),
        )
        # EventBridge retries a failed asynchronous invoke; Lambda itself retries twice more.
        self.ended_rule.add_target(targets.LambdaFunction(on_execution_ended, retry_attempts=4))
        self.upload_rule = events.Rule(
            self,
            "DatasetUploaded",
            description=f"{settings.name}: start a run when a CSV or JSONL lands under {INCOMING_PREFIX}",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [data_bucket.bucket_name]},
                    # One wildcard encodes prefix and suffix ("*" also matches "/": nested keys count).
                    "object": {"key": [{"wildcard": f"{INCOMING_PREFIX}*{suffix}"}
                                       for suffix in DATASET_SUFFIXES]},
                },
            ),
        )
        dataset = events.EventField.from_path("$.detail.object.key")
        bucket = events.EventField.from_path("$.detail.bucket.name")
        self.upload_rule.add_target(
            targets.SfnStateMachine(
                state_machine,
                input=events.RuleTargetInput.from_object({"dataset": f"s3://{bucket}/{dataset}"}),
            )
        )
        self.approval_rule: events.Rule | None = None
        if settings.deploy.enabled:
            # A package of this pipeline's group set Approved (forge approve, the console) starts an execution
            # that deploys it (stacks/workflow.py "Approved Package?"); packages the gate approved itself end
            # there at once (forge_handlers/approval.py), since SageMaker emits the event on create too.
            self.approval_rule = events.Rule(
                self,
                "ModelPackageApproved",
                description=f"{settings.name}: deploy a model package approved in "
                + registry.group_name(settings.resource_prefix),
                event_pattern=events.EventPattern(
                    source=[registry.EVENT_SOURCE],
                    detail_type=[registry.EVENT_DETAIL_TYPE],
                    detail={"ModelPackageGroupName": [registry.group_name(settings.resource_prefix)],
                            "ModelApprovalStatus": [registry.APPROVED]},
                ),
            )
            package = events.EventField.from_path("$.detail.ModelPackageArn")
            approved = events.RuleTargetInput.from_object({registry.APPROVED_PACKAGE_KEY: package})
            self.approval_rule.add_target(targets.SfnStateMachine(state_machine, input=approved))
        self.schedule_rule: events.Rule | None = None
        if settings.schedule is not None:
            self.schedule_rule = events.Rule(
                self,
                "Schedule",
                description=f"{settings.name}: scheduled run on {settings.schedule.dataset}",
                schedule=events.Schedule.expression(settings.schedule.expression),
            )
            self.schedule_rule.add_target(
                targets.SfnStateMachine(
                    state_machine,
                    input=events.RuleTargetInput.from_object({"dataset": settings.schedule.dataset}),
                )
            )
