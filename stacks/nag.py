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

# (pattern over the rendered resource, reason). First match wins.
WILDCARD_REASONS: list[tuple[str, str]] = [
    (r"^\*$", "Only actions without resource-level permissions get '*': X-Ray PutTraceSegments/"
              "PutTelemetryRecords (tracing), CloudWatch Logs delivery APIs of the state machine, and "
              "ecr:GetAuthorizationToken. Every other action in this stack names its resources."),
    (r"/runs/\*$", "Objects under the artifacts bucket's runs/ prefix: each run writes under runs/<run-id>/, "
                   "and run ids are only known at execution time."),
    (r"^<StorageDataBucket[0-9A-F]+\.Arn>/\*$", "Prepare reads whatever dataset a user uploaded to this "
                                                  "pipeline's own data bucket (key known at run time)."),
    (r":sagemaker:.*:(training-job|model|endpoint|endpoint-config)/[a-z][a-z0-9-]*\*$",
     "SageMaker resources this pipeline names at run time; scoped to the pipeline's name prefix."),
    (r":log-group:/aws/sagemaker/\*$", "SageMaker writes training-job and endpoint logs to log groups it "
                                       "creates under /aws/sagemaker/."),
    (r":ecr:.*:\*:repository/[\w./-]+$", "AWS-owned training/inference images live in per-region "
                                         "AWS accounts; the repository name is fixed, the account varies."),
    (r"^<Handlers\w+\.Arn>:\*$", "Step Functions' LambdaInvoke grant covers versions/aliases of exactly "
                                 "this pipeline function."),
]
PLUGIN = "AwsSolutions"
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
    raise UnexplainedWildcardError(f"cannot render IAM resource {value!r} for a cdk-nag acknowledgment")


def _reason_for(resource: str) -> str | None:
    for pattern, reason in WILDCARD_REASONS:
        if re.search(pattern, resource):
            return reason
    return None


def _policy_resources(stack: Stack, policy: iam.CfnPolicy) -> list[str]:
    document = stack.resolve(policy.policy_document)
    resources: list[str] = []
    for statement in document.get("Statement", []):
        listed = statement.get("Resource", [])
        for resource in listed if isinstance(listed, list) else [listed]:
            resources.append(render(resource))
    return resources


def acknowledge_findings(stack: Stack) -> list[str]:
    """Acknowledge the stack's accepted findings; return the ids acknowledged (for tests and review)."""
    acknowledged: list[str] = []
    for node in stack.node.find_all():
        if isinstance(node, iam.CfnPolicy):
            for resource in sorted(set(_policy_resources(stack, node))):
                if "*" not in resource:
                    continue
                reason = _reason_for(resource)
                if reason is None:
                    raise UnexplainedWildcardError(
                        f"{node.node.path}: wildcard resource {resource!r} has no reason in stacks/nag.py"
                    )
                finding = f"AwsSolutions-IAM5[Resource::{resource}]"
                _acknowledge(node, finding, reason)
                acknowledged.append(f"{node.node.path}: {finding}")
        elif isinstance(node, lambda_.CfnFunction) and node.runtime == lambda_.Runtime.PYTHON_3_12.name:
            _acknowledge(node, "AwsSolutions-L1", RUNTIME_REASON)
            acknowledged.append(f"{node.node.path}: AwsSolutions-L1")
    return acknowledged


def _acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    # Validations ids carry the plugin name: "<plugin>::<rule id>".
    Validations.of(construct).acknowledge(Acknowledgment(id=f"{PLUGIN}::{finding}", reason=reason))
