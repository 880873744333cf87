"""Storage: the customer-managed KMS key and the data / artifacts / access-log buckets."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from pipeline_core import layout

NONCURRENT_VERSION_DAYS = 90
# Served model copies (pipeline_core.layout.deployed_model_key): the SageMaker role may not write there.
SERVED_MODELS = layout.SERVED_MODELS
SERVED_MODEL_WRITES = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectTagging",
                       "s3:RestoreObject"]


class Storage(Construct):
    """KMS key (rotation on) and three versioned, SSL-only, non-public buckets.

    Data and artifacts buckets use SSE-KMS with the key and log to the access-log bucket. The access-log
    bucket itself uses SSE-S3: S3 server access logging cannot deliver to an SSE-KMS target bucket.
    """

    def __init__(self, scope: Construct, construct_id: str, *, name: str, retain: bool) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY
        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{name}",
            description=f"{name}: data, artifacts, logs, notifications and SageMaker volumes",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        lifecycle = [
            s3.LifecycleRule(
                id="expire-noncurrent-versions",
                noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                abort_incomplete_multipart_upload_after=Duration.days(7),
            )
        ]
        common = dict(
            versioned=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=lifecycle,
            removal_policy=removal,
        )
        self.access_logs_bucket = s3.Bucket(
            self, "AccessLogsBucket", encryption=s3.BucketEncryption.S3_MANAGED, **common
        )
        # The data and artifacts buckets alike: SSE-KMS with the stack's key, logged under their own prefix.
        logged = dict(
            common,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            server_access_logs_bucket=self.access_logs_bucket,
        )
        self.data_bucket = s3.Bucket(
            self, "DataBucket", server_access_logs_prefix=layout.DATA_ACCESS_LOGS_PREFIX, **logged
        )
        # EventBridge notifications through the L1 property: `event_bridge_enabled=True` would add a
        # custom-resource Lambda (with an AWS-managed policy) just to flip this switch.
        data_cfn = self.data_bucket.node.default_child
        data_cfn.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(event_bridge_enabled=True)
        )
        self.artifacts_bucket = s3.Bucket(
            self, "ArtifactsBucket", server_access_logs_prefix=layout.ARTIFACTS_ACCESS_LOGS_PREFIX, **logged
        )

    def protect_served_models(self, sagemaker_role_arn: str) -> None:
        """Deny the SageMaker execution role every write under runs/*/deployed/, whatever its own policy says.

        One role runs every job of the pipeline, so IAM cannot keep one run's job from writing another
        run's objects under runs/ (docs/contracts.md); the models endpoints serve are copied out of there.
        """
        self.artifacts_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ServedModelsAreNotTheJobsToWrite",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=SERVED_MODEL_WRITES,
                resources=[self.artifacts_bucket.arn_for_objects(SERVED_MODELS)],
                conditions={"ArnEquals": {"aws:PrincipalArn": sagemaker_role_arn}},
            )
        )

    def allow_service_logs(self, service_principal: str, log_group_arn_pattern: str) -> None:
        """Let CloudWatch Logs encrypt a log group with the key (scoped by the encryption context)."""
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=[
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKey",
                    "kms:DescribeKey",
                ],
                principals=[iam.ServicePrincipal(service_principal)],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_group_arn_pattern}},
            )
        )
