"""EndpointAlarms: the CloudWatch alarms an endpoint update rolls back on (endpoint_guardrails.py)."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from pipeline_core import endpoint_guardrails
from pipeline_core.settings import Settings


class EndpointAlarms(Construct):
    """One alarm per guardrail, on the pipeline endpoint's variant; the names are fixed so Deploy can pass
    them to UpdateEndpoint without a lookup."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.alarm_arns: list[str] = []
        for spec in endpoint_guardrails.rollback_alarms(settings):
            metric = cloudwatch.Metric(
                namespace=endpoint_guardrails.NAMESPACE,
                metric_name=spec.metric,
                dimensions_map=spec.dimensions(settings.resource_prefix),
                statistic=spec.statistic,
                period=Duration.seconds(spec.period_seconds),
            )
            metric.create_alarm(
                self,
                spec.metric,
                alarm_name=spec.name,
                alarm_description=f"{settings.name}: an endpoint update rolls back when this fires",
                threshold=spec.threshold,
                evaluation_periods=spec.evaluation_periods,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                # No traffic is not an error: an endpoint nobody calls must not roll back its own update.
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            self.alarm_arns.append(stack.format_arn(service="cloudwatch", resource="alarm",
                                                    resource_name=spec.name,
                                                    arn_format=ArnFormat.COLON_RESOURCE_NAME))

