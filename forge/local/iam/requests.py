"""What IAM authorizes for one API request: (service, operation, params) -> [(action, resource, context)].

Sources: the Service Authorization Reference (actions, resource types, condition keys) and the S3 / SNS /
SageMaker guides. Facts this encodes, and why:
- S3 objects are ``arn:aws:s3:::bucket/key`` and listing is ``s3:ListBucket`` on the *bucket* with the
  ``s3:prefix`` key (absent when the request has no Prefix, so ``StringLike`` on it fails, as in AWS).
  HeadObject needs ``s3:GetObject``. Multipart parts are ``s3:PutObject``; Abort has its own action.
- SSE-KMS (the bucket's default encryption in the template): GetObject also needs ``kms:Decrypt`` and
  PutObject ``kms:GenerateDataKey`` on the bucket's key; a multipart upload needs both (S3 decrypts the
  data key for each part). HeadObject and ListBucket need no key access. S3 Bucket Keys do not change who
  needs the permissions, only how often S3 calls KMS.
- SNS Publish to a topic encrypted with a customer key needs ``kms:GenerateDataKey`` + ``kms:Decrypt``.
- SageMaker resources are ``arn:aws:sagemaker:<region>:<account>:<type>/<lowercased name>``. CreateEndpoint
  and UpdateEndpoint are authorized on the endpoint *and* the endpoint config. A create with ``Tags``
  also needs ``sagemaker:AddTags`` on the new resource. CreateTrainingJob / CreateModel need
  ``iam:PassRole`` on the role with ``iam:PassedToService=sagemaker.amazonaws.com``.
- EventBridge Scheduler schedules are ``arn:aws:scheduler:<region>:<account>:schedule/<group>/<name>``; a
  CreateSchedule / UpdateSchedule with a target role needs ``iam:PassRole`` on it, passed to
  ``scheduler.amazonaws.com``.
- ECR pulls: ``ecr:GetAuthorizationToken`` (resource ``*``), then ``ecr:BatchGetImage`` and
  ``ecr:GetDownloadUrlForLayer`` on ``arn:aws:ecr:<region>:<registry account>:repository/<name>``.
An operation not listed here raises UnmappedRequestError: a new call must get a mapping, never a pass.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"


class UnmappedRequestError(LookupError):
    """A request local mode has no IAM mapping for; add one in forge/local/iam/requests.py."""


@dataclass(frozen=True)
class Authorization:
    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StackFacts:
    """What the mapping needs to know about the stack (from the synthesized template)."""

    region: str
    account: str
    bucket_keys: Mapping[str, str] = field(default_factory=dict)  # bucket -> KMS key ARN (SSE-KMS)
    topic_keys: Mapping[str, str] = field(default_factory=dict)  # topic ARN -> KMS key ARN


def _object(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _kms(facts: StackFacts, bucket: str, *actions: str) -> list[Authorization]:
    key = facts.bucket_keys.get(bucket)
    if not key:
        return []
    context = {
        "kms:ViaService": f"s3.{facts.region}.amazonaws.com",
        "kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{bucket}",
    }
    return [Authorization(action, key, context) for action in actions]


def _s3(facts: StackFacts, operation: str, params: Mapping[str, Any]) -> list[Authorization]:
    bucket = params["Bucket"]
    if operation in ("ListObjectsV2", "ListObjects", "ListObjectVersions"):
        context = {
            k: str(params[p])
            for k, p in (("s3:prefix", "Prefix"), ("s3:delimiter", "Delimiter"), ("s3:max-keys", "MaxKeys"))
            if p in params
        }
        action = "s3:ListBucketVersions" if operation == "ListObjectVersions" else "s3:ListBucket"
        return [Authorization(action, f"arn:aws:s3:::{bucket}", context)]
    key = params["Key"]
    versioned = "VersionId" in params
    if operation == "HeadObject":
        return [Authorization("s3:GetObjectVersion" if versioned else "s3:GetObject", _object(bucket, key))]
    if operation == "GetObject":
        action = "s3:GetObjectVersion" if versioned else "s3:GetObject"
        return [Authorization(action, _object(bucket, key)), *_kms(facts, bucket, "kms:Decrypt")]
    if operation in ("PutObject", "CopyObject"):
        context = (
            {"s3:x-amz-server-side-encryption": params["ServerSideEncryption"]}
            if ("ServerSideEncryption" in params)
            else {}
        )
        needed = [
            Authorization("s3:PutObject", _object(bucket, key), context),
            *_kms(facts, bucket, "kms:GenerateDataKey"),
        ]
        if operation == "CopyObject":
            source = params["CopySource"]
            if isinstance(source, str):
                source_bucket, _, source_key = source.lstrip("/").partition("/")
            else:
                source_bucket, source_key = source["Bucket"], source["Key"]
            needed += [
                Authorization("s3:GetObject", _object(source_bucket, source_key)),
                *_kms(facts, source_bucket, "kms:Decrypt"),
            ]
        return needed
    if operation == "CreateMultipartUpload":
        return [
            Authorization("s3:PutObject", _object(bucket, key)),
            *_kms(facts, bucket, "kms:GenerateDataKey", "kms:Decrypt"),
        ]
    if operation in ("UploadPart", "CompleteMultipartUpload"):
        return [Authorization("s3:PutObject", _object(bucket, key))]
    if operation == "AbortMultipartUpload":
        return [Authorization("s3:AbortMultipartUpload", _object(bucket, key))]
    if operation == "DeleteObject":
        return [
            Authorization("s3:DeleteObjectVersion" if versioned else "s3:DeleteObject", _object(bucket, key))
        ]
    raise UnmappedRequestError(f"s3 {operation}")


def _sns(facts: StackFacts, operation: str, params: Mapping[str, Any]) -> list[Authorization]:
    if operation != "Publish":
        raise UnmappedRequestError(f"sns {operation}")
    topic = params.get("TopicArn") or params.get("TargetArn")
    needed = [Authorization("sns:Publish", topic)]
    key = facts.topic_keys.get(topic)
    if key:
        context = {"kms:ViaService": f"sns.{facts.region}.amazonaws.com"}
        needed += [
            Authorization("kms:GenerateDataKey", key, context),
            Authorization("kms:Decrypt", key, context),
        ]
    return needed


# SageMaker operation -> (resource type, request parameter naming it); None: the action has no resource.
_SAGEMAKER: dict[str, tuple[str, str] | None] = {
    "CreateTrainingJob": ("training-job", "TrainingJobName"),
    "DescribeTrainingJob": ("training-job", "TrainingJobName"),
    "StopTrainingJob": ("training-job", "TrainingJobName"),
    "CreateModel": ("model", "ModelName"),
    "DescribeModel": ("model", "ModelName"),
    "DeleteModel": ("model", "ModelName"),
    "CreateEndpointConfig": ("endpoint-config", "EndpointConfigName"),
    "DescribeEndpointConfig": ("endpoint-config", "EndpointConfigName"),
    "DeleteEndpointConfig": ("endpoint-config", "EndpointConfigName"),
    "CreateEndpoint": ("endpoint", "EndpointName"),
    "UpdateEndpoint": ("endpoint", "EndpointName"),
    "DescribeEndpoint": ("endpoint", "EndpointName"),
    "DeleteEndpoint": ("endpoint", "EndpointName"),
    # Versions are model-package/<group>/<version>; creating one is authorized on the group.
    "CreateModelPackage": ("model-package-group", "ModelPackageGroupName"),
    "ListModelPackages": None,
    "ListTrainingJobs": None,
    "ListEndpoints": None,
}


def sagemaker_arn(facts: StackFacts, kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{facts.region}:{facts.account}:{kind}/{name.lower()}"


def _tag_context(tags: list[Mapping[str, str]]) -> dict[str, Any]:
    context: dict[str, Any] = {f"aws:RequestTag/{t['Key']}": t["Value"] for t in tags}
    context["aws:TagKeys"] = [t["Key"] for t in tags]
    return context


def _sagemaker(facts: StackFacts, operation: str, params: Mapping[str, Any]) -> list[Authorization]:
    if operation in ("AddTags", "ListTags"):
        context = _tag_context(params.get("Tags", [])) if operation == "AddTags" else {}
        return [Authorization(f"sagemaker:{operation}", params["ResourceArn"], context)]
    if operation in ("DescribeModelPackage", "UpdateModelPackage"):
        name = params.get("ModelPackageName") or params["ModelPackageArn"]
        arn = name if name.startswith("arn:") else sagemaker_arn(facts, "model-package", name)
        return [Authorization(f"sagemaker:{operation}", arn)]
    if operation not in _SAGEMAKER:
        raise UnmappedRequestError(f"sagemaker {operation}")
    scope = _SAGEMAKER[operation]
    if scope is None:
        return [Authorization(f"sagemaker:{operation}", "*")]
    kind, name_param = scope
    resource = sagemaker_arn(facts, kind, params[name_param])
    tags = params.get("Tags") or []
    context: dict[str, Any] = _tag_context(tags) if tags else {}
    if operation == "CreateTrainingJob":
        context["sagemaker:InstanceTypes"] = [params["ResourceConfig"]["InstanceType"]]
    needed = [Authorization(f"sagemaker:{operation}", resource, context)]
    if operation in ("CreateEndpoint", "UpdateEndpoint"):
        config = sagemaker_arn(facts, "endpoint-config", params["EndpointConfigName"])
        needed.append(Authorization(f"sagemaker:{operation}", config, context))
    if tags:
        needed.append(Authorization("sagemaker:AddTags", resource, _tag_context(tags)))
    role = (
        params.get("RoleArn")
        if operation == "CreateTrainingJob"
        else (params.get("ExecutionRoleArn") if operation == "CreateModel" else None)
    )
    if role:
        needed.append(Authorization("iam:PassRole", role, {"iam:PassedToService": SAGEMAKER_SERVICE}))
    return needed


def _sagemaker_runtime(facts: StackFacts, operation: str, params: Mapping[str, Any]) -> list[Authorization]:
    if operation != "InvokeEndpoint":
        raise UnmappedRequestError(f"sagemaker-runtime {operation}")
    return [
        Authorization("sagemaker:InvokeEndpoint", sagemaker_arn(facts, "endpoint", params["EndpointName"]))
    ]


def _lambda(facts: StackFacts, operation: str, params: Mapping[str, Any]) -> list[Authorization]:
    if operation != "Invoke":
        raise UnmappedRequestError(f"lambda {operation}")
    name = params["FunctionName"]
    arn = (
        name if name.startswith("arn:") else f"arn:aws:lambda:{facts.region}:{facts.account}:function:{name}"
    )
    return [Authorization("lambda:InvokeFunction", arn)]


def _stepfunctions(facts: StackFacts, operation: str, params: Mapping[str, Any]) -> list[Authorization]:
    # The abort handler reads an execution's history: authorized on the execution ARN.
    if operation not in ("GetExecutionHistory", "DescribeExecution"):
        raise UnmappedRequestError(f"stepfunctions {operation}")
    return [Authorization(f"states:{operation}", params["executionArn"])]


def _iam(facts: StackFacts, operation: str, params: Mapping[str, Any]) -> list[Authorization]:
    # Preflight simulates a role: authorized on the role it names (Service Authorization Reference).
    if operation != "SimulatePrincipalPolicy":
        raise UnmappedRequestError(f"iam {operation}")
    return [Authorization("iam:SimulatePrincipalPolicy", params["PolicySourceArn"])]


def _servicequotas(facts: StackFacts, operation: str, params: Mapping[str, Any]) -> list[Authorization]:
    # The List actions have no resource type: IAM authorizes them on "*".
    if operation not in ("ListServiceQuotas", "ListAWSDefaultServiceQuotas"):
        raise UnmappedRequestError(f"service-quotas {operation}")
    return [Authorization(f"servicequotas:{operation}", "*")]


SCHEDULER_SERVICE = "scheduler.amazonaws.com"


def _scheduler(facts: StackFacts, operation: str, params: Mapping[str, Any]) -> list[Authorization]:
    # Authorized on schedule/<group>/<name>; a create or update passes the target's role to Scheduler.
    if operation not in ("GetSchedule", "CreateSchedule", "UpdateSchedule", "DeleteSchedule"):
        raise UnmappedRequestError(f"scheduler {operation}")
    group = params.get("GroupName") or "default"
    arn = f"arn:aws:scheduler:{facts.region}:{facts.account}:schedule/{group}/{params['Name']}"
    needed = [Authorization(f"scheduler:{operation}", arn)]
    role = (params.get("Target") or {}).get("RoleArn")
    if operation in ("CreateSchedule", "UpdateSchedule") and role:
        needed.append(Authorization("iam:PassRole", role, {"iam:PassedToService": SCHEDULER_SERVICE}))
    return needed


_SERVICES = {
    "s3": _s3,
    "scheduler": _scheduler,
    "iam": _iam,
    "service-quotas": _servicequotas,
    "sns": _sns,
    "sagemaker": _sagemaker,
    "sagemaker-runtime": _sagemaker_runtime,
    "lambda": _lambda,
    "stepfunctions": _stepfunctions,
}


def authorizations(
    facts: StackFacts, service: str, operation: str, params: Mapping[str, Any]
) -> list[Authorization]:
    """Every (action, resource, context) the request needs; all of them must be allowed."""
    mapper = _SERVICES.get(service)
    if mapper is None:
        raise UnmappedRequestError(f"{service} {operation}: no IAM mapping for the service")
    return mapper(facts, operation, params)


_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[^:@]+)(?:[:@].*)?$"
)


def image_pull(image: str) -> list[Authorization]:
    """What pulling an ECR image needs from the role pulling it (SageMaker uses the execution role)."""
    match = _ECR_IMAGE.match(image)
    if not match:
        raise UnmappedRequestError(
            f"image {image!r} is not an ECR image URI; local mode cannot tell its pull IAM"
        )
    repository = f"arn:aws:ecr:{match['region']}:{match['account']}:repository/{match['repository']}"
    return [
        Authorization("ecr:GetAuthorizationToken", "*"),
        Authorization("ecr:BatchGetImage", repository),
        Authorization("ecr:GetDownloadUrlForLayer", repository),
    ]


def alarm_reads(facts: StackFacts, alarm_names: list[str]) -> list[Authorization]:
    """Deployment guardrails: SageMaker reads an update's rollback alarms as the endpoint's execution role."""
    prefix = f"arn:aws:cloudwatch:{facts.region}:{facts.account}:alarm"
    return [Authorization("cloudwatch:DescribeAlarms", f"{prefix}:{name}") for name in alarm_names]
