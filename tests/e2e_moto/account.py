"""The account the e2e harness's Preflight asks: Service Quotas and IAM's policy simulator.

moto 5.2.5 answers neither (its Service Quotas knows only ServiceCode "vpc"; its IAM has no
SimulatePrincipalPolicy). ``ScriptedQuotas`` holds a quota for every SageMaker training, spot training and
endpoint instance type (the API model's enums), plenty by default and settable per test, answered in the
documented response shape (tests/handlers/preflight_shapes.py) with NextToken paging; requests and
responses are checked against botocore's service model, as Stubber does. SimulatePrincipalPolicy is
answered from the synthesized template's role policies by local mode's own evaluator
(forge/local/iam/simulate.py), so a role the template leaves short fails Preflight here as on AWS.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from botocore.session import get_session
from botocore.validate import validate_parameters

from forge.local.cfn import Physical, Resolver
from forge.local.iam.principals import offline_physicals, principals_from_template
from forge.local.iam.simulate import LocalPolicySimulator
from tests.handlers.preflight_shapes import quota

PLENTY = 8.0  # instances per quota unless a test says otherwise
PAGE_SIZE = 100  # ListServiceQuotas' largest MaxResults
PREFLIGHT_ENV = ("FORGE_ROLE_ARNS", "REWARD_LAMBDA_ARN")  # what the harness takes from the template


def _code(name: str) -> str:
    return "L-" + hashlib.sha1(name.encode()).hexdigest()[:8].upper()


def sagemaker_quota_names() -> list[str]:
    """The quota names an account has for SageMaker instances (training, spot training, endpoints)."""
    model = get_session().get_service_model("sagemaker")
    training = model.shape_for("TrainingInstanceType").enum
    hosting = model.shape_for("ProductionVariantInstanceType").enum
    names = [f"{t} for training job usage" for t in training]
    names += [f"{t} for spot training job usage" for t in training]
    return names + [f"{t} for endpoint usage" for t in hosting]


class ScriptedQuotas:
    """``service-quotas`` stand-in: ``applied`` (name -> value) is what ListServiceQuotas returns,
    ``defaults`` what ListAWSDefaultServiceQuotas returns; ``calls`` records each request."""

    def __init__(self, value: float = PLENTY) -> None:
        names = sagemaker_quota_names()
        self.applied: dict[str, float] = dict.fromkeys(names, value)
        self.defaults: dict[str, float] = dict.fromkeys(names, 0.0)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._model = get_session().get_service_model("service-quotas")

    def set(self, name: str, value: float | None) -> None:
        """The account's applied value for quota ``name`` (None: no applied value, AWS's default holds)."""
        if name not in self.defaults:
            raise KeyError(f"no SageMaker quota named {name!r}")
        if value is None:
            self.applied.pop(name, None)
        else:
            self.applied[name] = float(value)

    def _answer(self, operation: str, values: Mapping[str, float], params: dict[str, Any]) -> dict[str, Any]:
        shape = self._model.operation_model(operation)
        validate_parameters(params, shape.input_shape)
        self.calls.append((operation, params))
        names = sorted(values) if params["ServiceCode"] == "sagemaker" else []
        start = int(params.get("NextToken", 0))
        end = start + min(params.get("MaxResults", PAGE_SIZE), PAGE_SIZE)
        response: dict[str, Any] = {"Quotas": [quota(n, _code(n), values[n]) for n in names[start:end]]}
        if end < len(names):
            response["NextToken"] = str(end)
        validate_parameters(response, shape.output_shape)
        return response

    def list_service_quotas(self, **params: Any) -> dict[str, Any]:
        return self._answer("ListServiceQuotas", self.applied, params)

    def list_aws_default_service_quotas(self, **params: Any) -> dict[str, Any]:
        return self._answer("ListAWSDefaultServiceQuotas", self.defaults, params)


def _logical(value: Any) -> str:
    """The logical id a ``Ref`` / ``Fn::GetAtt`` points at."""
    if "Ref" in value:
        return value["Ref"]
    return value["Fn::GetAtt"][0]


class TemplateAccount:
    """The synthesized stack as an account: its roles' policies answer SimulatePrincipalPolicy, and the
    preflight function's environment (FORGE_ROLE_ARNS, REWARD_LAMBDA_ARN) is the template's, resolved
    against the harness's buckets and execution role."""

    def __init__(self, template: dict[str, Any], *, region: str, data_bucket: str, artifacts_bucket: str,
                 sagemaker_role_arn: str, stack_name: str = "e2e") -> None:
        env = self._preflight_env(template)
        physicals = offline_physicals(template, stack_name, region)
        for variable, bucket in (("DATA_BUCKET", data_bucket), ("ARTIFACTS_BUCKET", artifacts_bucket)):
            physicals[_logical(env[variable])] = Physical(bucket, {"Arn": f"arn:aws:s3:::{bucket}"})
        physicals[_logical(env["SAGEMAKER_ROLE_ARN"])] = Physical(sagemaker_role_arn.rsplit("/", 1)[1],
                                                                   {"Arn": sagemaker_role_arn})
        resolve = Resolver(stack_name, region, physicals)
        self.principals = principals_from_template(template, resolve, region)
        self.simulator = LocalPolicySimulator(self.principals)
        self.preflight_env = {name: str(resolve(env[name])) for name in PREFLIGHT_ENV}

    @staticmethod
    def _preflight_env(template: Mapping[str, Any]) -> dict[str, Any]:
        for resource in template["Resources"].values():
            variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
            if resource["Type"] == "AWS::Lambda::Function" and "FORGE_ROLE_ARNS" in variables:
                return variables
        raise LookupError("no Lambda function in the template has FORGE_ROLE_ARNS (the preflight function)")
