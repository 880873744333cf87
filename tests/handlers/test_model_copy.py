"""Deploy's served copy of a model stays readable in one GET, as local endpoints and `forge invoke` read it.

A model over 8 MB is uploaded in parts; its checksum is then a checksum of the parts. moto's CopyObject
keeps that value but drops its type, so the copy failed botocore's full-object check on a single GET
("Expected checksum … did not match calculated checksum", seen on `make demo`). Asking S3 for a fresh CRC32
of the copy is valid on AWS and makes the copy's checksum a full-object one everywhere.
"""

from __future__ import annotations

import os

import boto3
from boto3.s3.transfer import TransferConfig
from forge_handlers.model_copy import protected_copy

from tests.handlers.conftest import ARTIFACTS_BUCKET, REGION

SINGLE_GET = TransferConfig(multipart_threshold=1 << 40)


def test_a_multipart_model_copy_downloads_in_one_get(aws, tmp_path) -> None:
    kms = boto3.client("kms", region_name=REGION)
    key = kms.create_key()["KeyMetadata"]["Arn"]
    aws.put_bucket_encryption(Bucket=ARTIFACTS_BUCKET, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]})
    aws.put_bucket_versioning(Bucket=ARTIFACTS_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    model = tmp_path / "model.tar.gz"
    model.write_bytes(os.urandom(9 * 1024 * 1024))  # over boto3's 8 MB multipart threshold
    source = "runs/run-1/jobs/rft/job-1/output/model.tar.gz"
    aws.upload_file(str(model), ARTIFACTS_BUCKET, source)

    served = protected_copy(ARTIFACTS_BUCKET, "run-1", f"s3://{ARTIFACTS_BUCKET}/{source}")

    target = served.removeprefix(f"s3://{ARTIFACTS_BUCKET}/")
    assert target != source and "/deployed/" in target
    aws.download_file(ARTIFACTS_BUCKET, target, str(tmp_path / "served.tar.gz"), Config=SINGLE_GET)
    assert (tmp_path / "served.tar.gz").read_bytes() == model.read_bytes()
