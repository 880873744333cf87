"""The open-weights jobs' code on S3: the staged code channel deployed to s3://<artifacts>/code/."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from pipeline_core.layout import CODE_S3_PREFIX


class JobCodeAsset(Construct):
    """A BucketDeployment of the staged code channel (stacks.bundle.stage_code_channel).

    prune=False and retain_on_delete: an update adds and overwrites files but never deletes any, and the
    versioned bucket keeps the earlier versions, so a job that started before a deploy keeps its code.
    """

    def __init__(self, scope: Construct, construct_id: str, *, code_dir: Path, bucket: s3.IBucket,
                 key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.destination_prefix = CODE_S3_PREFIX
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Deployment",
            sources=[s3deploy.Source.asset(str(code_dir))],
            destination_bucket=bucket,
            destination_key_prefix=CODE_S3_PREFIX,
            prune=False,
            retain_on_delete=True,
            server_side_encryption=s3deploy.ServerSideEncryption.AWS_KMS,
            server_side_encryption_aws_kms_key_id=key.key_id,
        )
