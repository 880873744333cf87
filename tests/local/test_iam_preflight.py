"""Local IAM knows Preflight's actions (iam:SimulatePrincipalPolicy, servicequotas:List*) and refuses them
when the calling handler's policy lacks them; the local simulator answers from the target role's policies
in the API's documented shape."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from botocore.session import get_session
from botocore.validate import validate_parameters
from forge_handlers.aws.preflight_calls import QuotasUnavailable

from forge.local.iam.enforce import Enforcer
from forge.local.iam.principals import Principal, Principals
from forge.local.iam.requests import StackFacts, UnmappedRequestError, authorizations
from forge.local.iam.simulate import LocalPolicySimulator
from forge.local.service_quotas import NoAccountQuotas

ACCOUNT, REGION = "123456789012", "us-east-1"
LAUNCH_ARN = f"arn:aws:iam::{ACCOUNT}:role/launch"
SAGEMAKER_ARN = f"arn:aws:iam::{ACCOUNT}:role/sagemaker"
JOB = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/forge-run-1-sft-a1"


def _allow(action: str, resource: str, condition: dict | None = None) -> dict:
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    return {"Statement": [dict(statement, Condition=condition) if condition else statement]}


PREFLIGHT = Principal("preflight", f"arn:aws:iam::{ACCOUNT}:role/preflight", (
    _allow("iam:SimulatePrincipalPolicy", LAUNCH_ARN),
    _allow("servicequotas:ListServiceQuotas", "*"),
))
LAUNCH = Principal("launch", LAUNCH_ARN, (
    _allow("sagemaker:CreateTrainingJob", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/forge-*"),
    _allow("iam:PassRole", SAGEMAKER_ARN,
           {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}),
))
SAGEMAKER = Principal("sagemaker", SAGEMAKER_ARN, ())


@pytest.fixture
def enforcer() -> Enforcer:
    roles = {p.role_arn: p for p in (PREFLIGHT, LAUNCH, SAGEMAKER)}
    return Enforcer(Principals(roles=roles, functions={"forge-preflight": PREFLIGHT}, state_machine=None,
                               facts=StackFacts(REGION, ACCOUNT)))


def _simulate(guarded, role: str, action: str, resources: list[str], context=None) -> dict:
    entries = [{"ContextKeyName": k, "ContextKeyValues": [v], "ContextKeyType": "string"}
               for k, v in (context or {}).items()]
    return guarded.simulate_principal_policy(PolicySourceArn=role, ActionNames=[action],
                                             ResourceArns=resources,
                                             **({"ContextEntries": entries} if entries else {}))


def test_simulate_is_authorized_on_the_role_it_names(enforcer) -> None:
    guarded = enforcer.guard("iam", LocalPolicySimulator(enforcer.principals))
    with enforcer.acting_as_function("forge-preflight"):
        _simulate(guarded, LAUNCH_ARN, "sagemaker:CreateTrainingJob", [JOB])
        with pytest.raises(ClientError) as denied:
            _simulate(guarded, SAGEMAKER_ARN, "s3:GetObject", ["arn:aws:s3:::b/k"])
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert f"iam:SimulatePrincipalPolicy on resource: {SAGEMAKER_ARN}" in str(denied.value)


def test_service_quotas_are_refused_without_the_action_and_unavailable_with_it(enforcer) -> None:
    guarded = enforcer.guard("service-quotas", NoAccountQuotas())
    with enforcer.acting_as_function("forge-preflight"):
        with pytest.raises(QuotasUnavailable, match="local mode has no AWS account"):
            guarded.list_service_quotas(ServiceCode="sagemaker")
        with pytest.raises(ClientError) as denied:  # the role has only ListServiceQuotas
            guarded.list_aws_default_service_quotas(ServiceCode="sagemaker")
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "servicequotas:ListAWSDefaultServiceQuotas on resource: *" in str(denied.value)


def test_the_simulator_answers_from_the_target_roles_policies_in_the_documented_shape(enforcer) -> None:
    simulator = LocalPolicySimulator(enforcer.principals)
    other = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/other-sft"
    answer = _simulate(simulator, LAUNCH_ARN, "sagemaker:CreateTrainingJob", [JOB, other])
    output = get_session().get_service_model("iam").operation_model("SimulatePrincipalPolicy").output_shape
    validate_parameters(answer, output)
    assert [(r["EvalResourceName"], r["EvalDecision"]) for r in answer["EvaluationResults"]] == [
        (JOB, "allowed"), (other, "implicitDeny")]
    passed = {"iam:PassedToService": "sagemaker.amazonaws.com"}
    assert _simulate(simulator, LAUNCH_ARN, "iam:PassRole", [SAGEMAKER_ARN], passed)[
        "EvaluationResults"][0]["EvalDecision"] == "allowed"
    assert _simulate(simulator, LAUNCH_ARN, "iam:PassRole", [SAGEMAKER_ARN])[
        "EvaluationResults"][0]["EvalDecision"] == "implicitDeny"  # the condition is not met


def test_iam_and_service_quotas_operations_preflight_does_not_call_are_unmapped() -> None:
    facts = StackFacts(REGION, ACCOUNT)
    assert authorizations(facts, "service-quotas", "ListServiceQuotas", {"ServiceCode": "sagemaker"})[
        0].action == "servicequotas:ListServiceQuotas"
    with pytest.raises(UnmappedRequestError):
        authorizations(facts, "iam", "CreateRole", {"RoleName": "x"})
    with pytest.raises(UnmappedRequestError):
        authorizations(facts, "service-quotas", "RequestServiceQuotaIncrease", {})
