"""Request -> IAM authorization mapping, as a table: the action, the resource ARN and the context keys."""

from __future__ import annotations

import pytest

from forge.local.iam.requests import (
    Authorization,
    StackFacts,
    UnmappedRequestError,
    authorizations,
    image_pull,
)

KEY = "arn:aws:kms:us-east-1:123456789012:key/k1"
TOPIC = "arn:aws:sns:us-east-1:123456789012:forge-topic"
FACTS = StackFacts("us-east-1", "123456789012", bucket_keys={"art": KEY}, topic_keys={TOPIC: KEY})
S3_KMS = {
    "kms:ViaService": "s3.us-east-1.amazonaws.com",
    "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::art",
}
SM = "arn:aws:sagemaker:us-east-1:123456789012"
ROLE = "arn:aws:iam::123456789012:role/sm"
TAGS = [{"Key": "forge:run-id", "Value": "r1"}]
TAG_CONTEXT = {"aws:RequestTag/forge:run-id": "r1", "aws:TagKeys": ["forge:run-id"]}


def A(action, resource, **context):  # noqa: N802 - reads as a table row
    return Authorization(action, resource, context)


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        (
            "s3",
            "GetObject",
            {"Bucket": "art", "Key": "runs/r1/a.json"},
            [A("s3:GetObject", "arn:aws:s3:::art/runs/r1/a.json"), Authorization("kms:Decrypt", KEY, S3_KMS)],
        ),
        # an unencrypted bucket: no key involved
        ("s3", "GetObject", {"Bucket": "plain", "Key": "k"}, [A("s3:GetObject", "arn:aws:s3:::plain/k")]),
        (
            "s3",
            "GetObject",
            {"Bucket": "plain", "Key": "k", "VersionId": "v"},
            [A("s3:GetObjectVersion", "arn:aws:s3:::plain/k")],
        ),
        # HEAD reads metadata only: s3:GetObject, no kms:Decrypt
        (
            "s3",
            "HeadObject",
            {"Bucket": "art", "Key": "code/sft.py"},
            [A("s3:GetObject", "arn:aws:s3:::art/code/sft.py")],
        ),
        (
            "s3",
            "PutObject",
            {"Bucket": "art", "Key": "runs/r1/x", "Body": b""},
            [
                A("s3:PutObject", "arn:aws:s3:::art/runs/r1/x"),
                Authorization("kms:GenerateDataKey", KEY, S3_KMS),
            ],
        ),
        (
            "s3",
            "CreateMultipartUpload",
            {"Bucket": "art", "Key": "runs/m.tar.gz"},
            [
                A("s3:PutObject", "arn:aws:s3:::art/runs/m.tar.gz"),
                Authorization("kms:GenerateDataKey", KEY, S3_KMS),
                Authorization("kms:Decrypt", KEY, S3_KMS),
            ],
        ),
        (
            "s3",
            "UploadPart",
            {"Bucket": "art", "Key": "runs/m", "UploadId": "u", "PartNumber": 1},
            [A("s3:PutObject", "arn:aws:s3:::art/runs/m")],
        ),
        (
            "s3",
            "AbortMultipartUpload",
            {"Bucket": "art", "Key": "runs/m", "UploadId": "u"},
            [A("s3:AbortMultipartUpload", "arn:aws:s3:::art/runs/m")],
        ),
        # listing is authorized on the bucket, with the prefix as a condition key
        (
            "s3",
            "ListObjectsV2",
            {"Bucket": "art", "Prefix": "code/"},
            [A("s3:ListBucket", "arn:aws:s3:::art", **{"s3:prefix": "code/"})],
        ),
        ("s3", "ListObjectsV2", {"Bucket": "art"}, [A("s3:ListBucket", "arn:aws:s3:::art")]),
        (
            "s3",
            "DeleteObject",
            {"Bucket": "art", "Key": "runs/x"},
            [A("s3:DeleteObject", "arn:aws:s3:::art/runs/x")],
        ),
        (
            "sns",
            "Publish",
            {"TopicArn": TOPIC, "Message": "m"},
            [
                A("sns:Publish", TOPIC),
                A("kms:GenerateDataKey", KEY, **{"kms:ViaService": "sns.us-east-1.amazonaws.com"}),
                A("kms:Decrypt", KEY, **{"kms:ViaService": "sns.us-east-1.amazonaws.com"}),
            ],
        ),
        # SageMaker ARNs lowercase the name
        (
            "sagemaker",
            "DescribeTrainingJob",
            {"TrainingJobName": "Forge-SFT-1"},
            [A("sagemaker:DescribeTrainingJob", f"{SM}:training-job/forge-sft-1")],
        ),
        (
            "sagemaker",
            "CreateTrainingJob",
            {
                "TrainingJobName": "forge-sft",
                "RoleArn": ROLE,
                "ResourceConfig": {"InstanceType": "ml.g5.xlarge"},
                "Tags": TAGS,
            },
            [
                A(
                    "sagemaker:CreateTrainingJob",
                    f"{SM}:training-job/forge-sft",
                    **TAG_CONTEXT,
                    **{"sagemaker:InstanceTypes": ["ml.g5.xlarge"]},
                ),
                A("sagemaker:AddTags", f"{SM}:training-job/forge-sft", **TAG_CONTEXT),
                A("iam:PassRole", ROLE, **{"iam:PassedToService": "sagemaker.amazonaws.com"}),
            ],
        ),
        (
            "sagemaker",
            "CreateModel",
            {"ModelName": "m", "ExecutionRoleArn": ROLE},
            [
                A("sagemaker:CreateModel", f"{SM}:model/m"),
                A("iam:PassRole", ROLE, **{"iam:PassedToService": "sagemaker.amazonaws.com"}),
            ],
        ),
        # CreateEndpoint / UpdateEndpoint: on the endpoint and on its config
        (
            "sagemaker",
            "CreateEndpoint",
            {"EndpointName": "e", "EndpointConfigName": "c"},
            [
                A("sagemaker:CreateEndpoint", f"{SM}:endpoint/e"),
                A("sagemaker:CreateEndpoint", f"{SM}:endpoint-config/c"),
            ],
        ),
        (
            "sagemaker",
            "UpdateEndpoint",
            {"EndpointName": "e", "EndpointConfigName": "c2"},
            [
                A("sagemaker:UpdateEndpoint", f"{SM}:endpoint/e"),
                A("sagemaker:UpdateEndpoint", f"{SM}:endpoint-config/c2"),
            ],
        ),
        (
            "sagemaker",
            "DeleteEndpointConfig",
            {"EndpointConfigName": "C"},
            [A("sagemaker:DeleteEndpointConfig", f"{SM}:endpoint-config/c")],
        ),
        (
            "sagemaker",
            "AddTags",
            {"ResourceArn": f"{SM}:model/m", "Tags": TAGS},
            [A("sagemaker:AddTags", f"{SM}:model/m", **TAG_CONTEXT)],
        ),
        ("sagemaker", "ListTrainingJobs", {}, [A("sagemaker:ListTrainingJobs", "*")]),
        (
            "sagemaker-runtime",
            "InvokeEndpoint",
            {"EndpointName": "Forge-Ep", "Body": b"{}"},
            [A("sagemaker:InvokeEndpoint", f"{SM}:endpoint/forge-ep")],
        ),
        (
            "lambda",
            "Invoke",
            {"FunctionName": "forge-hf-launch"},
            [A("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:forge-hf-launch")],
        ),
    ],
)
def test_request_mapping(service, operation, params, expected):
    assert authorizations(FACTS, service, operation, params) == expected


@pytest.mark.parametrize(
    ("service", "operation"),
    [
        ("s3", "GetBucketPolicy"),
        ("sns", "Subscribe"),
        ("sagemaker", "CreateProcessingJob"),
        ("ec2", "RunInstances"),
    ],
)
def test_an_unmapped_request_is_an_error(service, operation):
    with pytest.raises(UnmappedRequestError):
        authorizations(FACTS, service, operation, {"Bucket": "b", "Key": "k"})


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.8.0-gpu-py312",
            "arn:aws:ecr:us-east-1:763104351884:repository/pytorch-training",
        ),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/serve@sha256:abc",
            "arn:aws:ecr:eu-west-1:123456789012:repository/team/serve",
        ),
    ],
)
def test_image_pull(image, repository):
    assert image_pull(image) == [
        A("ecr:GetAuthorizationToken", "*"),
        A("ecr:BatchGetImage", repository),
        A("ecr:GetDownloadUrlForLayer", repository),
    ]


def test_a_non_ecr_image_is_an_error():
    with pytest.raises(UnmappedRequestError):
        image_pull("docker.io/library/python:3.12")
