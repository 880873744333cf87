"""PipelineStack: composes the constructs and wires the grants between them."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, RemovalPolicy, Stack, Tags
from aws_cdk import aws_logs as logs
from constructs import Construct

from pipeline_core import stack_outputs
from pipeline_core.settings import Settings
from stacks.endpoint_alarms import EndpointAlarms
from stacks.endpoint_expiry import EndpointExpiryRole
from stacks.handlers import RETENTION, Handlers
from stacks.job_code_asset import JobCodeAsset
from stacks.nag import acknowledge_findings
from stacks.registry import ModelRegistry
from stacks.roles import HandlerRoles, SageMakerExecutionRole
from stacks.storage import Storage
from stacks.triggers import Notifications, Triggers
from stacks.workflow import Workflow


class PipelineStack(Stack):
    """Everything one pipeline needs, from one Settings object and one staged Lambda bundle."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, bundle_dir: Path,
                 code_dir: Path | None = None, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        for key, value in settings.tags.items():
            Tags.of(self).add(key, value)
        self.storage = Storage(self, "Storage", name=settings.name, retain=settings.retain_data)
        # The log groups have no fixed names (a retained named group breaks a redeploy after `cdk destroy`):
        # CloudFormation names them <stack name>-<logical id>-<suffix>, which this pattern matches.
        self.storage.allow_service_logs(
            f"logs.{self.region}.amazonaws.com",
            f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:{self.stack_name}-*",
        )
        # Open-weights jobs run our code from s3://<artifacts>/code/ (Nova jobs run AWS's images only).
        self.job_code = None
        if settings.model.family == "hf":
            if code_dir is None:
                raise ValueError(f"{settings.name}: family hf needs code_dir")
            self.job_code = JobCodeAsset(self, "JobCode", code_dir=code_dir,
                                         bucket=self.storage.artifacts_bucket, key=self.storage.key)
        self.notifications = Notifications(self, "Notifications", settings=settings, key=self.storage.key)
        self.sagemaker_role = SageMakerExecutionRole(self, "SageMakerRole", settings=settings,
                                                     storage=self.storage)
        self.storage.protect_served_models(self.sagemaker_role.role.role_arn)
        if settings.deploy.enabled:
            self.endpoint_alarms = EndpointAlarms(self, "EndpointAlarms", settings=settings)
            self.sagemaker_role.allow_rollback_alarms(self.endpoint_alarms.alarm_arns)
        self.expiry_role = None
        if settings.deploy.enabled and settings.deploy.ttl_hours is not None:
            self.expiry_role = EndpointExpiryRole(self, "EndpointExpiry", settings=settings)
        expiry_role = self.expiry_role.role if self.expiry_role else None
        self.registry = ModelRegistry(self, "Registry", settings=settings)
        self.handler_roles = HandlerRoles(
            self,
            "HandlerRoles",
            settings=settings,
            storage=self.storage,
            sagemaker_role=self.sagemaker_role.role,
            topic_arn=self.notifications.topic.topic_arn,
            expiry_role=expiry_role,
        )
        self.handlers = Handlers(
            self,
            "Handlers",
            settings=settings,
            bundle_dir=bundle_dir,
            storage=self.storage,
            roles=self.handler_roles.roles,
            reward_role=self.handler_roles.reward_role,
            sagemaker_role_arn=self.sagemaker_role.role.role_arn,
            topic_arn=self.notifications.topic.topic_arn,
            expiry_role_arn=expiry_role.role_arn if expiry_role else None,
        )
        self.sagemaker_role.allow_invoke(self.handlers.reward.function_arn)
        workflow_logs = logs.LogGroup(
            self,
            "WorkflowLogs",
            retention=RETENTION[settings.log_retention_days],
            encryption_key=self.storage.key,
            removal_policy=RemovalPolicy.RETAIN if settings.retain_data else RemovalPolicy.DESTROY,
        )
        self.workflow = Workflow(self, "Workflow", settings=settings, functions=self.handlers.functions,
                                 log_group=workflow_logs)
        self.triggers = Triggers(self, "Triggers", settings=settings, data_bucket=self.storage.data_bucket,
                                 state_machine=self.workflow.state_machine,
                                 on_execution_ended=self.handlers.functions["abort"])
        # Register's versions go into the group: create it first.
        self.handlers.functions["register"].node.add_dependency(self.registry.group)
        self._outputs()
        acknowledge_findings(self)

    def _outputs(self) -> None:
        """What a user (and `forge --stack`) needs to find, without reading the stack's resources."""
        values = {
            stack_outputs.STATE_MACHINE_ARN: self.workflow.state_machine.state_machine_arn,
            stack_outputs.DATA_BUCKET: self.storage.data_bucket.bucket_name,
            stack_outputs.ARTIFACTS_BUCKET: self.storage.artifacts_bucket.bucket_name,
            stack_outputs.TOPIC_ARN: self.notifications.topic.topic_arn,
            stack_outputs.PIPELINE_NAME: self.settings.resource_prefix,
        }
        for key, value in values.items():
            CfnOutput(self, key, value=value, description=stack_outputs.DESCRIPTIONS[key])
