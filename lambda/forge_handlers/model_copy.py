"""The copy of a model artifact an endpoint serves, under a prefix the SageMaker role cannot write.

The SageMaker execution role is one per pipeline and every job writes its outputs under runs/, so IAM
cannot tell one run's job from another's: any job could overwrite an earlier run's model.tar.gz, including
the one an endpoint serves (SageMaker re-reads ModelDataUrl whenever it adds or replaces an instance).
Deploy therefore copies the gated weights to runs/<run-id>/deployed/ (the bucket policy denies the SageMaker
role every write under runs/*/deployed/, stacks/storage.py) and the endpoint's model points at that copy.
"""

from __future__ import annotations

from forge_handlers.aws import clients
from forge_handlers.errors import ArtifactMissingError, ConfigError, error_code, translate_client_error
from forge_handlers.naming import s3_uri, split_s3_uri
from pipeline_core.layout import deployed_model_key, is_run_key

# CopyObject copies at most 5 GiB in one request.
MAX_COPY_BYTES = 5 * 1024**3


def protected_copy(artifacts_bucket: str, run_id: str, weights: str) -> str:
    """The URI to serve ``weights`` from: a copy under deployed/ if they are a run's artifact, else as is
    (e.g. Nova checkpoints, which live in the AWS-owned escrow bucket the SageMaker role only reads)."""
    bucket, key = split_s3_uri(weights)
    if bucket != artifacts_bucket or not is_run_key(key):
        return weights
    target = deployed_model_key(run_id, key)
    s3 = clients.s3()
    try:
        size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
    except Exception as error:
        if error_code(error) in ("404", "NoSuchKey", "NotFound"):
            raise ArtifactMissingError(f"model artifact to deploy not found at {weights}") from None
        raise translate_client_error(error) from error
    if size > MAX_COPY_BYTES:
        raise ConfigError(f"model artifact {weights} is {size} bytes; Deploy copies at most {MAX_COPY_BYTES} "
                          "bytes to the served copy (one CopyObject)")
    try:
        # A fresh full-object CRC32: the source's checksum may be one of its parts (a multipart upload),
        # which a copy must not inherit (tests/handlers/test_model_copy.py).
        s3.copy_object(Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": key},
                       ChecksumAlgorithm="CRC32")
    except Exception as error:
        raise translate_client_error(error) from error
    return s3_uri(bucket, target)
