"""EndpointExpiryRole: the role the endpoint's TTL schedule runs as (deploy.ttl_hours).

EventBridge Scheduler assumes it to call SageMaker DeleteEndpoint on this pipeline's endpoint, and nothing
else; Deploy creates the schedule (forge_handlers/endpoint_expiry.py) and passes this role to it.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from pipeline_core import endpoint_guardrails
from pipeline_core.settings import Settings


def schedule_arn(stack: Stack, settings: Settings) -> str:
    """The ARN of the endpoint's one TTL schedule (schedule/<group>/<name>)."""
    name = endpoint_guardrails.expiry_schedule_name(settings.resource_prefix)
    return stack.format_arn(service="scheduler", resource="schedule",
                            resource_name=f"{endpoint_guardrails.SCHEDULE_GROUP}/{name}")


class EndpointExpiryRole(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # Only schedules of this account may assume it (confused-deputy guard, Scheduler User Guide).
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                endpoint_guardrails.SCHEDULER_SERVICE,
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
            description=f"{settings.name}: the endpoint's TTL schedule deletes the endpoint",
        )
        endpoint = stack.format_arn(service="sagemaker", resource="endpoint",
                                    resource_name=endpoint_guardrails.endpoint_name(settings.resource_prefix))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="DeleteEndpoint", actions=["sagemaker:DeleteEndpoint"], resources=[endpoint]))
