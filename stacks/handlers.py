"""The Lambda functions: one per handler module, plus the Nova RFT reward function, from one asset."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from pipeline_core.settings import Settings
from stacks import lambda_runtime
from stacks.permissions import HANDLER_NAMES, REWARD_HANDLER
from stacks.storage import Storage

# lambda_runtime.RUNTIME_NAME: the runtime whose import surface stacks/lambda_runtime.py writes down (and
# local mode enforces); tests/infra/test_lambda_runtime.py pins that the two agree.
RUNTIME = lambda_.Runtime.PYTHON_3_12
TASK_ROOT = "/var/task"  # where Lambda unpacks the asset
SETTINGS_PATH_IN_LAMBDA = f"{TASK_ROOT}/settings.json"
CODE_VERSION_ENV = "FORGE_CODE_VERSION"  # read by forge_handlers.register (the same name)
# settings.log_retention_days -> the CDK enum (same set of values the settings model allows).
RETENTION = {
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def function_name(settings: Settings, handler: str) -> str:
    return f"{settings.name}-{handler.replace('_', '-')}"


def reward_function_name(settings: Settings) -> str:
    # Nova RFT only invokes reward functions whose name contains "SageMaker".
    return f"{settings.name}-reward-SageMaker"


def reward_environment(settings: Settings) -> dict[str, str]:
    """What the reward Lambda scores with: the config's labels and reward block (job_code.core.reward).

    With reward.module, also where the bundle holds its file (stacks/bundle.py, one name from
    job_code.core.custom_reward.asset_path); local mode maps the task root onto the asset directory.
    """
    from job_code.core.custom_reward import asset_path
    from job_code.core.reward import LABELS_ENV, MODULE_FILE_ENV, WEIGHTS_ENV

    environment = {
        LABELS_ENV: json.dumps(settings.data.labels),
        WEIGHTS_ENV: json.dumps(settings.reward.weights(), sort_keys=True),
    }
    if settings.reward.module is not None:  # absent otherwise: today's configs synthesize as before
        environment[MODULE_FILE_ENV] = f"{TASK_ROOT}/{asset_path(settings.reward.module)}"
    return environment


def bundle_digest(bundle_dir: Path) -> str:
    """sha256 (first 16 hex digits) over the bundle's relative paths and contents: the code version."""
    digest = hashlib.sha256()
    files = (p for p in Path(bundle_dir).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in sorted(files):
        digest.update(path.relative_to(bundle_dir).as_posix().encode() + b"\0" + path.read_bytes())
    return f"sha256:{digest.hexdigest()[:16]}"


def powertools_layer_arn(settings: Settings) -> str:
    """The pinned public layer; a version without a known import surface fails the synth."""
    return lambda_runtime.powertools_layer_arn(Aws.PARTITION, Aws.REGION, settings.powertools_layer_version)


class Handlers(Construct):
    """Functions named ``<name>-<handler>`` with explicit timeout/memory, X-Ray and JSON logs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        bundle_dir: Path,
        storage: Storage,
        roles: dict[str, iam.IRole],
        reward_role: iam.IRole,
        sagemaker_role_arn: str,
        topic_arn: str,
        expiry_role_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bundle_dir = bundle_dir  # local mode imports the handlers from here
        code = lambda_.Code.from_asset(str(bundle_dir))
        powertools = lambda_.LayerVersion.from_layer_version_arn(
            self, "Powertools", powertools_layer_arn(settings)
        )
        self._settings = settings
        self._storage = storage
        self.reward = self._function(
            "Reward",
            name=reward_function_name(settings),
            handler=REWARD_HANDLER,
            code=code,
            layers=[powertools],
            role=reward_role,
            timeout=Duration.minutes(settings.reward_timeout_minutes),
            memory=settings.reward_memory_mb,
            environment=reward_environment(settings),
        )
        environment = {
            "DATA_BUCKET": storage.data_bucket.bucket_name,
            "ARTIFACTS_BUCKET": storage.artifacts_bucket.bucket_name,
            "SAGEMAKER_ROLE_ARN": sagemaker_role_arn,
            "REWARD_LAMBDA_ARN": self.reward.function_arn,
            "TOPIC_ARN": topic_arn,
            "KMS_KEY_ARN": storage.key.key_arn,
        }
        self.functions: dict[str, lambda_.Function] = {}
        for handler in HANDLER_NAMES:
            self.functions[handler] = self._function(
                "".join(part.capitalize() for part in handler.split("_")),
                name=function_name(settings, handler),
                handler=f"forge_handlers.entry.{handler}.handler",
                code=code,
                layers=[powertools],
                role=roles[handler],
                timeout=Duration.seconds(settings.handler_timeout_seconds),
                memory=settings.handler_memory_mb,
                environment=environment,
            )
        if expiry_role_arn:  # deploy.ttl_hours: Deploy passes it to the endpoint's TTL schedule
            self.functions["deploy"].add_environment("SCHEDULER_ROLE_ARN", expiry_role_arn)
        # The registered packages name the code they came from: a digest of the bundle's files.
        self.functions["register"].add_environment(CODE_VERSION_ENV, bundle_digest(bundle_dir))
        # Preflight simulates the roles the run acts as (forge_handlers/preflight_iam.py).
        role_arns = {handler: role.role_arn for handler, role in roles.items() if handler != "preflight"}
        self.functions["preflight"].add_environment("FORGE_ROLE_ARNS",
                                                    Stack.of(self).to_json_string(role_arns))

    def _function(self, construct_id: str, *, name: str, handler: str, code: lambda_.Code,
                  layers: list[lambda_.ILayerVersion], role: iam.IRole, timeout: Duration, memory: int,
                  environment: dict[str, str]) -> lambda_.Function:
        # No fixed name: a retained log group with a fixed name makes the next deploy after `cdk destroy`
        # fail with "already exists". CloudFormation names it; the function's LoggingConfig points at it.
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            retention=RETENTION[self._settings.log_retention_days],
            encryption_key=self._storage.key,
            removal_policy=RemovalPolicy.RETAIN if self._settings.retain_data else RemovalPolicy.DESTROY,
        )
        log_group.grant_write(role)
        return lambda_.Function(
            self,
            construct_id,
            function_name=name,
            runtime=RUNTIME,
            handler=handler,
            code=code,
            layers=layers,
            role=role,
            timeout=timeout,
            memory_size=memory,
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=log_group,
            environment={
                "FORGE_SETTINGS_FILE": SETTINGS_PATH_IN_LAMBDA,
                "POWERTOOLS_SERVICE_NAME": "forge",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **environment,
            },
        )
