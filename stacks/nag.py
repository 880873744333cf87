"""cdk-nag AwsSolutions acknowledgments: each names the exact finding id and a specific reason.

IAM5 findings are acknowledged one wildcard resource at a time (cdk-nag v3 ids are
``AwsSolutions-IAM5[Resource::<resource as cdk-nag renders it>]``), with a reason chosen by what the
wildcard covers. A wildcard that matches none of the known shapes stays unacknowledged and fails the
synth: new wildcards need a new, written reason here.
"""

from __future__ import annotations

import re
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import IConstruct

from pipeline_core import layout

_RUNS, _CODE, _DEPLOYED = layout.RUNS_PREFIX, layout.CODE_S3_PREFIX, layout.DEPLOYED_DIR
_ARTIFACTS_ARN = r"^<StorageArtifactsBucket[0-9A-F]+\.Arn>/"

# Actions IAM accepts only with Resource "*" (no resource-level permissions), and why this stack uses them.
UNSCOPABLE_ACTIONS = {
    "xray:PutTraceSegments": "X-Ray tracing",
    "xray:PutTelemetryRecords": "X-Ray tracing",
    "xray:GetSamplingRules": "X-Ray tracing",
    "xray:GetSamplingTargets": "X-Ray tracing",
    "logs:CreateLogDelivery": "Step Functions log delivery",
    "logs:GetLogDelivery": "Step Functions log delivery",
    "logs:UpdateLogDelivery": "Step Functions log delivery",
    "logs:DeleteLogDelivery": "Step Functions log delivery",
    "logs:ListLogDeliveries": "Step Functions log delivery",
    "logs:PutResourcePolicy": "Step Functions log delivery",
    "logs:DescribeResourcePolicies": "Step Functions log delivery",
    "logs:DescribeLogGroups": "Step Functions log delivery",
    "ecr:GetAuthorizationToken": "pulling the training / inference images",
    "servicequotas:ListServiceQuotas": "preflight reading the account's SageMaker quotas by name",
    "servicequotas:ListAWSDefaultServiceQuotas": "preflight reading the account's SageMaker quotas by name",
}
# (pattern over the rendered resource, reason). First match wins. "*" itself is handled per policy.
WILDCARD_REASONS: list[tuple[str, str]] = [
    ("/" + re.escape(layout.RUN_OBJECTS) + "$",
     f"Objects under the artifacts bucket's {_RUNS} prefix: each run writes under {_RUNS}<run-id>/, "
     "and run ids are only known at execution time."),
    (_ARTIFACTS_ARN + re.escape(layout.SERVED_MODELS) + "$",
     f"Served model copies under {_RUNS}<run-id>/{_DEPLOYED}: Deploy writes them, endpoints read them; "
     "the run id is only known at execution time and the bucket policy denies the SageMaker role any write "
     "there."),
    (_ARTIFACTS_ARN + re.escape(layout.CODE_OBJECTS) + "$",
     f"The open-weights jobs' code channel: the SageMaker role reads the job code deployed under {_CODE}."),
    (r"^arn:<AWS::Partition>:s3:::customer-escrow-<AWS::AccountId>\*(/\*)?$",
     "Nova writes trained checkpoints to an AWS-owned escrow bucket whose name suffix AWS chooses; the "
     "SageMaker role reads them for the next stage and the endpoint (as the Nova Forge SDK's role does)."),
    (r"^<StorageDataBucket[0-9A-F]+\.Arn>/\*$", "Prepare reads whatever dataset a user uploaded to this "
                                                  "pipeline's own data bucket (key known at run time)."),
    (r":sagemaker:.*:(training-job|model|endpoint|endpoint-config)/[a-z][a-z0-9-]*\*$",
     "SageMaker resources this pipeline names at run time; scoped to the pipeline's name prefix and its "
     "'--' separator, which no other pipeline's names match."),
    (r":sagemaker:.*:model-package/[a-z][a-z0-9-]*--models/\*$",
     "The versions of this pipeline's one model package group (pipeline_core/registry.py): SageMaker numbers "
     "them at registration, so a version is only known at run time."),
    (r":states:.*:execution:[a-z][a-z0-9-]*-pipeline:\*$",
     "The abort handler reads the history of this state machine's executions, named at run time."),
    (r":log-group:/aws/sagemaker/\*$", "SageMaker writes training-job and endpoint logs to log groups it "
                                       "creates under /aws/sagemaker/."),
    (r":ecr:.*:\*:repository/[\w./-]+$", "AWS-owned training/inference images live in per-region "
                                         "AWS accounts; the repository name is fixed, the account varies."),
    (r"^<Handlers\w+\.Arn>:\*$", "Step Functions' LambdaInvoke grant covers versions/aliases of exactly "
                                 "this pipeline function."),
]
PLUGIN = "AwsSolutions"
# aws_s3_deployment.BucketDeployment's singleton handler (a construct id at stack level), which copies
# the job code to s3://<artifacts>/code/ at deploy time (stacks/job_code_asset.py). Its role and policy
# are aws-cdk-lib's, not configurable; each finding they raise is acknowledged here by exact id.
BUCKET_DEPLOYMENT_HANDLER = "Custom::CDKBucketDeployment"
_READ = "read of the asset / destination"
_DEPLOYMENT_GRANT = ("aws-cdk-lib's BucketDeployment grants {what} with this action group; its handler only "
                     f"reads the code asset and writes s3://<artifacts>/{_CODE} (prune=False).")
BUCKET_DEPLOYMENT_FINDINGS = {
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]":
        "The BucketDeployment handler's role (created by aws-cdk-lib) only writes its own CloudWatch logs "
        "with the AWS-managed basic execution policy; it runs once per deploy.",
    "AwsSolutions-IAM5[Action::s3:GetObject*]": _DEPLOYMENT_GRANT.format(what=_READ),
    "AwsSolutions-IAM5[Action::s3:GetBucket*]": _DEPLOYMENT_GRANT.format(what=_READ),
    "AwsSolutions-IAM5[Action::s3:List*]": _DEPLOYMENT_GRANT.format(what=_READ),
    "AwsSolutions-IAM5[Action::s3:DeleteObject*]": _DEPLOYMENT_GRANT.format(what="write to the destination"),
    "AwsSolutions-IAM5[Action::s3:Abort*]": _DEPLOYMENT_GRANT.format(what="write to the destination"),
    "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": _DEPLOYMENT_GRANT.format(what="use of the bucket's KMS key"),
    "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": _DEPLOYMENT_GRANT.format(
        what="use of the bucket's KMS key"),
    "AwsSolutions-L1": "The BucketDeployment handler's runtime is set by aws-cdk-lib (not configurable); it "
                       "moves with the pinned aws-cdk-lib version.",
}
# Wildcard resources of the BucketDeployment policy, as cdk-nag renders them, and why.
BUCKET_DEPLOYMENT_RESOURCES: list[tuple[str, str]] = [
    (r"^arn:<AWS::Partition>:s3:::cdk-[a-z0-9]+-assets-<AWS::AccountId>-<AWS::Region>/\*$",
     "CDK's bootstrap asset bucket: the handler reads the code-channel zip CDK uploaded there (key = asset "
     "hash, known only after synthesis)."),
    (r"^<StorageArtifactsBucket[0-9A-F]+\.Arn>/\*$",
     "BucketDeployment grants on the destination bucket's objects (no prefix-scoped grant); it writes "
     f"only under {_CODE} (destination_key_prefix)."),
]
RUNTIME_REASON = ("python3.12 is pinned on purpose: the AWS-managed Powertools v3 layer used here is the "
                  "python312 build, and the job code is tested on the same minor version.")


class UnexplainedWildcardError(ValueError):
    """An IAM statement has a wildcard resource no reason in WILDCARD_REASONS covers."""


def render(value: Any) -> str:
    """Render a resolved CloudFormation value the way cdk-nag prints it in finding ids."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (function, args), = value.items()
        if function == "Ref":
            return f"<{args}>"
        if function == "Fn::GetAtt":
            return f"<{args[0]}.{args[1]}>"
        if function == "Fn::Join":
            delimiter, parts = args
            return delimiter.join(render(part) for part in parts)
        if function == "Fn::Sub" and isinstance(args, str):
            return re.sub(r"\$\{([^}]+)\}", r"<\1>", args)
    raise UnexplainedWildcardError(f"cannot render IAM resource {value!r} for a cdk-nag acknowledgment")


def _star_reason(path: str, actions: set[str]) -> str:
    unknown = sorted(actions - set(UNSCOPABLE_ACTIONS))
    if unknown:
        raise UnexplainedWildcardError(f"{path}: actions {unknown} are granted on '*'; scope them instead")
    purposes = sorted({UNSCOPABLE_ACTIONS[action] for action in actions})
    return (f"Only {', '.join(sorted(actions))} use '*': IAM has no resource-level permissions for them "
            f"({'; '.join(purposes)}). Every other action of this policy names its resources.")


def _reason_for(path: str, resource: str, reasons: list[tuple[str, str]]) -> str:
    """The reason of the first (pattern, reason) that matches a wildcard resource; none is an error."""
    for pattern, reason in reasons:
        if re.search(pattern, resource):
            return reason
    raise UnexplainedWildcardError(f"{path}: wildcard resource {resource!r} has no reason in stacks/nag.py")


def _policy_resources(stack: Stack, policy: iam.CfnPolicy) -> dict[str, set[str]]:
    """Rendered resource -> the actions granted on it, over the policy's statements."""
    document = stack.resolve(policy.policy_document)
    resources: dict[str, set[str]] = {}
    for statement in document.get("Statement", []):
        listed, actions = statement.get("Resource", []), statement.get("Action", [])
        actions = set(actions if isinstance(actions, list) else [actions])
        for resource in listed if isinstance(listed, list) else [listed]:
            resources.setdefault(render(resource), set()).update(actions)
    return resources


def acknowledge_findings(stack: Stack) -> list[str]:
    """Acknowledge the stack's accepted findings; return the ids acknowledged (for tests and review)."""
    acknowledged: list[str] = []
    for node in stack.node.find_all():
        if _is_bucket_deployment_handler(node):
            acknowledged += _acknowledge_bucket_deployment(stack, node)
            continue
        if isinstance(node, iam.CfnPolicy):
            for resource, actions in sorted(_policy_resources(stack, node).items()):
                if "*" not in resource:
                    continue
                reason = (_star_reason(node.node.path, actions) if resource == "*"
                          else _reason_for(node.node.path, resource, WILDCARD_REASONS))
                finding = f"AwsSolutions-IAM5[Resource::{resource}]"
                _acknowledge(node, finding, reason)
                acknowledged.append(f"{node.node.path}: {finding}")
        elif isinstance(node, lambda_.CfnFunction) and node.runtime == lambda_.Runtime.PYTHON_3_12.name:
            _acknowledge(node, "AwsSolutions-L1", RUNTIME_REASON)
            acknowledged.append(f"{node.node.path}: AwsSolutions-L1")
    return acknowledged


def _is_bucket_deployment_handler(node: IConstruct) -> bool:
    return any(part.startswith(BUCKET_DEPLOYMENT_HANDLER) for part in node.node.path.split("/"))


def _acknowledge_bucket_deployment(stack: Stack, node: IConstruct) -> list[str]:
    """The BucketDeployment handler's findings: its role, policy and function, each by exact id."""
    findings: dict[str, str] = {}
    if isinstance(node, iam.CfnRole):
        findings = {k: v for k, v in BUCKET_DEPLOYMENT_FINDINGS.items() if k.startswith("AwsSolutions-IAM4")}
    elif isinstance(node, lambda_.CfnFunction):
        findings = {"AwsSolutions-L1": BUCKET_DEPLOYMENT_FINDINGS["AwsSolutions-L1"]}
    elif isinstance(node, iam.CfnPolicy):
        findings = {k: v for k, v in BUCKET_DEPLOYMENT_FINDINGS.items() if k.startswith("AwsSolutions-IAM5")}
        for resource in _policy_resources(stack, node):
            if "*" not in resource:
                continue
            findings[f"AwsSolutions-IAM5[Resource::{resource}]"] = _reason_for(
                node.node.path, resource, BUCKET_DEPLOYMENT_RESOURCES
            )
    for finding, reason in sorted(findings.items()):
        _acknowledge(node, finding, reason)
    return [f"{node.node.path}: {finding}" for finding in sorted(findings)]


def _acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    # Validations ids carry the plugin name: "<plugin>::<rule id>".
    Validations.of(construct).acknowledge(Acknowledgment(id=f"{PLUGIN}::{finding}", reason=reason))
