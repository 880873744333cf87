"""Response shapes of the APIs moto 5.2.5 does not answer, for the preflight tests (botocore Stubber).

moto's service-quotas backend knows only ServiceCode "vpc", and moto's IAM has no SimulatePrincipalPolicy.
These are written from the AWS API references' documented response syntax (Service Quotas
ListServiceQuotas / ListAWSDefaultServiceQuotas: ``{"Quotas": [ServiceQuota], "NextToken"}``; IAM
SimulatePrincipalPolicy: ``{"EvaluationResults": [{"EvalActionName", "EvalResourceName", "EvalDecision",
"MatchedStatements", "MissingContextValues"}], "IsTruncated"}``). The quota names follow SageMaker's
"<type> for training job usage" / "... for spot training job usage" / "... for endpoint usage"; the quota
codes are illustrative (each type has its own ``L-`` code), not copied from an account. Stubber checks each
response against botocore's service model, so a field in the wrong place fails the test.
"""

from __future__ import annotations

from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"


def quota(name: str, code: str, value: float) -> dict[str, Any]:
    return {
        "ServiceCode": "sagemaker",
        "ServiceName": "Amazon SageMaker",
        "QuotaArn": f"arn:aws:servicequotas:{REGION}:{ACCOUNT}:sagemaker/{code}",
        "QuotaCode": code,
        "QuotaName": name,
        "Value": value,
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
        "UsageMetric": {
            "MetricNamespace": "AWS/Usage",
            "MetricName": "ResourceCount",
            "MetricDimensions": {"Class": "None", "Resource": name, "Service": "SageMaker",
                                 "Type": "Resource"},
            "MetricStatisticRecommendation": "Maximum",
        },
        "QuotaAppliedAtLevel": "ACCOUNT",
    }


# The open-weights config's instance types (config/open-weights.yaml), as an account might have them.
APPLIED = [
    quota("ml.g5.2xlarge for training job usage", "L-A1B2C3D4", 2.0),
    quota("ml.g5.2xlarge for spot training job usage", "L-B2C3D4E5", 1.0),
    quota("ml.g5.12xlarge for training job usage", "L-C3D4E5F6", 1.0),
    quota("ml.g5.xlarge for endpoint usage", "L-D4E5F6A7", 1.0),
    quota("ml.p5.48xlarge for training job usage", "L-E5F6A7B8", 0.0),
]
DEFAULTS = [
    quota("ml.g5.12xlarge for training job usage", "L-C3D4E5F6", 0.0),
    quota("ml.g6.48xlarge for endpoint usage", "L-F6A7B8C9", 0.0),
]


def evaluation(action: str, resource: str, decision: str) -> dict[str, Any]:
    return {"EvalActionName": action, "EvalResourceName": resource, "EvalDecision": decision,
            "MatchedStatements": [], "MissingContextValues": []}
