"""IAM: the SageMaker execution role and one least-privilege role per Lambda handler.

Handler roles come from the declared table in permissions.py. Every action is scoped here to the
narrowest resource it can name; an action this module does not know how to scope fails the synth.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from pipeline_core import endpoint_guardrails, layout, registry
from pipeline_core.settings import RESOURCE_SEPARATOR, Settings
from stacks.endpoint_expiry import schedule_arn
from stacks.handlers import reward_function_name
from stacks.permissions import DATA_BUCKET_READERS, HANDLER_NAMES, HANDLER_PERMISSIONS
from stacks.storage import Storage
from stacks.workflow import state_machine_name

SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"
# ECR repositories of AWS's own images the jobs and endpoints pull, per model family. Configured
# `image_repositories` and the repositories of `images.*` URIs are added to these.
DEFAULT_IMAGE_REPOSITORIES = {
    "hf": [
        "pytorch-training",
        "pytorch-inference",
        "huggingface-pytorch-training",
        "huggingface-pytorch-inference",
    ],
    "nova": ["nova-fine-tune-repo", "nova-evaluation-repo", "nova-inference-repo"],
}
# Nova training jobs write the trained checkpoint to an AWS-owned escrow bucket in the customer's account;
# later stages and the endpoint read it there (the Nova Forge SDK's execution-role helper grants the same).
NOVA_ESCROW_BUCKET_PATTERN = "customer-escrow-{account}*"
# What the jobs call on a SageMaker managed MLflow server (tracking.mlflow_arn): job_code/tracking.py,
# transformers' MLflowCallback, and the Nova containers' own logging. Names: the Service Authorization
# Reference for "Amazon SageMaker with MLflow" (prefix sagemaker-mlflow). No UI, registry or delete actions.
MLFLOW_JOB_ACTIONS = tuple(f"sagemaker-mlflow:{action}" for action in (
    "CreateExperiment", "GetExperiment", "GetExperimentByName", "SearchExperiments",
    "CreateRun", "GetRun", "UpdateRun", "SearchRuns", "SetTag",
    "LogMetric", "LogBatch", "LogInputs", "GetMetricHistory", "ListArtifacts",
))


class UnscopedActionError(ValueError):
    """permissions.py lists an action roles.py has no narrow resource for."""


def image_repositories(settings: Settings) -> list[str]:
    """Repository names the SageMaker role may pull from (defaults + configured + from image URIs)."""
    names = set(DEFAULT_IMAGE_REPOSITORIES[settings.model.family]) | set(settings.image_repositories)
    for uri in [*settings.images.training.values(), *settings.images.inference.values()]:
        # <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> or @sha256:...
        path = uri.split("/", 1)[1] if "/" in uri else uri
        names.add(path.split("@")[0].split(":")[0])
    return sorted(names)


class SageMakerExecutionRole(Construct):
    """The role SageMaker training jobs and endpoints assume."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, storage: Storage) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(SAGEMAKER_SERVICE),
            description=f"{settings.name}: SageMaker training jobs and endpoints",
        )
        artifacts = storage.artifacts_bucket
        hf = settings.model.family == "hf"
        # The layout's job prefixes: read and written (the runs), read only (hf: the `code` channel).
        reads = layout.job_reads(code_channel=hf)
        self._add("RunObjects", ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                  [artifacts.arn_for_objects(pattern) for pattern in layout.JOB_WRITES])
        self._add("RunListing", ["s3:ListBucket"], [artifacts.bucket_arn],
                  conditions={"StringLike": {"s3:prefix": list(reads)}})
        read_only = [pattern for pattern in reads if pattern not in layout.JOB_WRITES]
        if read_only:
            self._add("CodeChannel", ["s3:GetObject"], [artifacts.arn_for_objects(p) for p in read_only])
        if not hf:
            escrow = NOVA_ESCROW_BUCKET_PATTERN.format(account=stack.account)
            self._add("NovaEscrowRead", ["s3:GetObject", "s3:ListBucket"],
                      [f"arn:{stack.partition}:s3:::{escrow}", f"arn:{stack.partition}:s3:::{escrow}/*"])
        # kms:Encrypt: with OutputDataConfig.KmsKeyId set, SageMaker requires it of the execution role.
        self._add("Key", ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:CreateGrant",
                          "kms:DescribeKey"], [storage.key.key_arn])
        log_groups = stack.format_arn(service="logs", resource="log-group", resource_name="/aws/sagemaker/*",
                                      arn_format=ArnFormat.COLON_RESOURCE_NAME)
        self._add("Logs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                           "logs:DescribeLogStreams"], [log_groups])
        repositories = [
            stack.format_arn(service="ecr", account="*", resource="repository", resource_name=name)
            for name in image_repositories(settings)
        ]
        self._add("ImagePull", ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                                "ecr:BatchCheckLayerAvailability"], repositories)
        # GetAuthorizationToken has no resource type: IAM accepts only "*" for it.
        self._add("EcrAuth", ["ecr:GetAuthorizationToken"], ["*"])
        if settings.tracking.enabled and settings.tracking.mlflow_arn:
            self._add("MlflowTracking", list(MLFLOW_JOB_ACTIONS), [settings.tracking.mlflow_arn])

    def _add(self, sid: str, actions: list[str], resources: list[str],
             conditions: dict | None = None) -> None:
        self.role.add_to_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources,
                                                    conditions=conditions))

    def allow_rollback_alarms(self, alarm_arns: list[str]) -> None:
        """Deployment guardrails: SageMaker reads the rollback alarms as the endpoint's execution role."""
        if alarm_arns:
            self._add("RollbackAlarms", ["cloudwatch:DescribeAlarms"], alarm_arns)

    def allow_invoke(self, function_arn: str) -> None:
        """Nova RFT: the training job calls the reward Lambda (exact function ARN, no versions)."""
        self._add("RewardLambda", ["lambda:InvokeFunction"], [function_arn])


class HandlerRoles(Construct):
    """One role per handler, each with only the actions permissions.py lists, narrowly scoped."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        storage: Storage,
        sagemaker_role: iam.IRole,
        topic_arn: str,
        expiry_role: iam.IRole | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._stack = Stack.of(self)
        self._settings = settings
        self._expiry_role = expiry_role
        self._prefix = settings.resource_prefix
        self._machine = state_machine_name(settings)
        self._storage = storage
        self._sagemaker_role = sagemaker_role
        self._topic_arn = topic_arn
        self._reward_function = reward_function_name(settings)
        # All roles first: preflight's statements name the others (the roles it simulates).
        self.roles: dict[str, iam.Role] = {
            handler: iam.Role(self, _pascal(handler), assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                              description=f"{settings.name}: Lambda handler {handler}")
            for handler in HANDLER_NAMES
        }
        for handler, role in self.roles.items():
            for statement in self.statements_for(handler, HANDLER_PERMISSIONS[handler]):
                role.add_to_policy(statement)
        self.reward_role = iam.Role(self, "Reward", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                                    description=f"{settings.name}: Nova RFT reward Lambda (scoring only)")

    def statements_for(self, handler: str, actions: Iterable[str]) -> list[iam.PolicyStatement]:
        """Group the handler's actions by the resources they are scoped to: one statement per group."""
        grouped: dict[tuple[str, ...], list[str]] = {}
        for action in sorted(set(actions) - {"iam:PassRole"}):
            grouped.setdefault(tuple(self._scope(handler, action)), []).append(action)
        statements = [iam.PolicyStatement(actions=grouped_actions, resources=list(resources))
                      for resources, grouped_actions in grouped.items()]
        if "iam:PassRole" in actions:
            # One statement per role passed, each only to the service that uses it.
            statements += [
                iam.PolicyStatement(actions=["iam:PassRole"], resources=[role_arn],
                                    conditions={"StringEquals": {"iam:PassedToService": service}})
                for role_arn, service in self._passed_roles(handler)
            ]
        return statements

    def _passed_roles(self, handler: str) -> list[tuple[str, str]]:
        passed = [(self._sagemaker_role.role_arn, SAGEMAKER_SERVICE)]
        if handler == "deploy" and self._expiry_role is not None:
            passed.append((self._expiry_role.role_arn, endpoint_guardrails.SCHEDULER_SERVICE))
        return passed

    def _sagemaker(self, resource: str) -> str:
        # "<prefix>--*": the separator the pipeline name cannot contain, so no other pipeline's names match.
        return self._stack.format_arn(service="sagemaker", resource=resource,
                                      resource_name=f"{self._prefix}{RESOURCE_SEPARATOR}*")

    def _scope(self, handler: str, action: str) -> list[str]:
        artifacts, data = self._storage.artifacts_bucket, self._storage.data_bucket
        reads_data = handler in DATA_BUCKET_READERS
        training_jobs = [self._sagemaker("training-job")]
        endpoints = [self._sagemaker("endpoint")]
        endpoint_configs = [self._sagemaker("endpoint-config")]
        models = [self._sagemaker("model")]
        group = registry.group_name(self._prefix)
        # Versions are model-package/<group>/<version>; CreateModelPackage is also authorized on the group.
        packages = [self._stack.format_arn(service="sagemaker", resource="model-package",
                                           resource_name=f"{group}/*")]
        package_group = [self._stack.format_arn(service="sagemaker", resource="model-package-group",
                                                resource_name=group)]
        writes = layout.DEPLOY_WRITES if handler == "deploy" else layout.HANDLER_WRITES
        scopes: dict[str, list[str]] = {
            "s3:GetObject": [artifacts.arn_for_objects(p) for p in layout.HANDLER_READS]
            + ([data.arn_for_objects(layout.DATA_OBJECTS)] if reads_data else []),
            # Deploy writes only the served model copies; every other writer only under runs/.
            "s3:PutObject": [artifacts.arn_for_objects(p) for p in writes],
            "s3:ListBucket": [artifacts.bucket_arn] + ([data.bucket_arn] if reads_data else []),
            "kms:Decrypt": [self._storage.key.key_arn],
            "kms:GenerateDataKey": [self._storage.key.key_arn],
            "sagemaker:CreateTrainingJob": training_jobs,
            "sagemaker:DescribeTrainingJob": training_jobs,
            "sagemaker:StopTrainingJob": training_jobs,
            "sagemaker:CreateModel": models,
            "sagemaker:DeleteModel": models,
            "sagemaker:CreateEndpointConfig": endpoint_configs,
            "sagemaker:DeleteEndpointConfig": endpoint_configs,
            # Creating / updating an endpoint is authorized on the endpoint and on its config.
            "sagemaker:CreateEndpoint": endpoints + endpoint_configs,
            "sagemaker:UpdateEndpoint": endpoints + endpoint_configs,
            "sagemaker:DescribeEndpoint": endpoints,
            "sagemaker:DescribeEndpointConfig": endpoint_configs,
            "sagemaker:DescribeModel": models,
            # Deploy reads an endpoint config's tags (its rollback target), Champion a model's (its run).
            "sagemaker:ListTags": models if handler == "champion" else endpoint_configs,
            "sagemaker:DeleteEndpoint": endpoints,
            "sagemaker:InvokeEndpoint": endpoints,
            "sagemaker:CreateModelPackage": package_group + packages,
            "sagemaker:DescribeModelPackage": packages,
            "sagemaker:AddTags": training_jobs + models + endpoint_configs + endpoints,
            "scheduler:GetSchedule": [schedule_arn(self._stack, self._settings)],
            "scheduler:CreateSchedule": [schedule_arn(self._stack, self._settings)],
            "scheduler:UpdateSchedule": [schedule_arn(self._stack, self._settings)],
            "scheduler:DeleteSchedule": [schedule_arn(self._stack, self._settings)],
            "sns:Publish": [self._topic_arn],
            # This pipeline's executions only (built from the machine's fixed name: no reference cycle).
            "states:GetExecutionHistory": [self._stack.format_arn(
                service="states", resource="execution", resource_name=f"{self._machine}:*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME)],
            # Preflight: these two List actions have no resource type (IAM accepts only "*" for them).
            "servicequotas:ListServiceQuotas": ["*"],
            "servicequotas:ListAWSDefaultServiceQuotas": ["*"],
            # ... simulates only this stack's roles (the ones the run acts as), and calls only the reward.
            "iam:SimulatePrincipalPolicy": [self._sagemaker_role.role_arn] + [
                role.role_arn for name, role in self.roles.items() if name != handler],
            "lambda:InvokeFunction": [self._stack.format_arn(
                service="lambda", resource="function", resource_name=self._reward_function,
                arn_format=ArnFormat.COLON_RESOURCE_NAME)],
        }
        if action not in scopes:
            raise UnscopedActionError(
                f"handler {handler!r}: action {action!r} in stacks/permissions.py has no resource scope in "
                "stacks/roles.py; add one there (never '*')"
            )
        return scopes[action]


def _pascal(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))
