"""Enforcement seams on moto: the boto3 hook for handlers, role-bound clients, the guard, Lambda invokes."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from forge.local.iam.enforce import Enforcer, denial_of
from forge.local.iam.principals import Principal, Principals
from forge.local.iam.requests import StackFacts

ACCOUNT, REGION, BUCKET = "123456789012", "us-east-1", "art"
READ_RUNS = {
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": f"arn:aws:s3:::{BUCKET}/runs/*",
        },
        {
            "Effect": "Allow",
            "Action": "sagemaker:DescribeTrainingJob",
            "Resource": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/forge-*",
        },
    ]
}
INVOKE = {
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:forge-launch",
        }
    ]
}


def principal(name: str, *policies: dict) -> Principal:
    return Principal(name, f"arn:aws:iam::{ACCOUNT}:role/{name}", tuple(policies))


@pytest.fixture
def enforcer() -> Enforcer:
    handler, machine = principal("HandlerRole", READ_RUNS), principal("MachineRole", INVOKE)
    return Enforcer(
        Principals(
            roles={p.role_arn: p for p in (handler, machine)},
            functions={"forge-fn": handler},
            state_machine=machine,
            facts=StackFacts(REGION, ACCOUNT),
        )
    )


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        for key in ("runs/r1/a.json", "code/sft.py"):
            client.put_object(Bucket=BUCKET, Key=key, Body=b"{}")
        yield client


def test_handler_calls_are_checked_against_its_role_and_the_operators_are_not(enforcer, s3):
    uninstall = (
        enforcer.install_boto_hooks()
    )  # on boto3's default session, where the handlers' clients come from
    handler_s3 = boto3.client("s3", region_name=REGION)
    try:
        with enforcer.acting_as_function("forge-fn"):
            handler_s3.get_object(Bucket=BUCKET, Key="runs/r1/a.json")
            with pytest.raises(ClientError) as denied:
                handler_s3.get_object(Bucket=BUCKET, Key="code/sft.py")
            with pytest.raises(ClientError) as head:
                handler_s3.head_object(Bucket=BUCKET, Key="code/sft.py")
        handler_s3.get_object(Bucket=BUCKET, Key="code/sft.py")  # no handler running: the operator's call
    finally:
        uninstall()
    assert str(denied.value) == (
        "An error occurred (AccessDenied) when calling the GetObject operation: User: "
        f"arn:aws:sts::{ACCOUNT}:assumed-role/HandlerRole/forge-fn is not authorized to perform: "
        f's3:GetObject on resource: "arn:aws:s3:::{BUCKET}/code/sft.py" because no identity-based policy '
        "allows the s3:GetObject action"
    )
    # A HEAD answer has no body: botocore shows only 403 Forbidden; the denial is still there to report.
    assert head.value.response["Error"] == {"Code": "403", "Message": "Forbidden"}
    assert denial_of(head.value).authorization.action == "s3:GetObject"


def test_a_role_client_acts_as_the_execution_role_even_through_s3transfer(enforcer, s3, tmp_path):
    client = enforcer.role_client(
        boto3.session.Session(region_name=REGION), f"arn:aws:iam::{ACCOUNT}:role/HandlerRole"
    )
    client.download_file(BUCKET, "runs/r1/a.json", str(tmp_path / "a.json"))
    with pytest.raises(Exception) as denied:
        client.download_file(BUCKET, "code/sft.py", str(tmp_path / "sft.py"))
    assert "assumed-role/HandlerRole/SageMaker" in denial_of(denied.value).message
    (tmp_path / "up.txt").write_text("x")
    with pytest.raises(Exception) as upload:
        client.upload_file(str(tmp_path / "up.txt"), BUCKET, "code/up.txt")
    assert denial_of(upload.value).authorization.action == "s3:PutObject"


def test_the_guard_checks_the_local_sagemaker_api_for_the_running_handler(enforcer):
    class FakeSageMaker:
        def describe_training_job(self, **params):
            return {"TrainingJobName": params["TrainingJobName"]}

    guarded = enforcer.guard("sagemaker", FakeSageMaker())
    with enforcer.acting_as_function("forge-fn"):
        assert guarded.describe_training_job(TrainingJobName="forge-sft")["TrainingJobName"] == "forge-sft"
        with pytest.raises(ClientError) as denied:
            guarded.describe_training_job(TrainingJobName="other-sft")
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert (
        "sagemaker:DescribeTrainingJob on resource: "
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/other-sft" in str(denied.value)
    )


def test_the_state_machine_role_invokes_only_what_it_may(enforcer):
    from forge.moto_lambda import run_lambdas_in_process

    with (
        mock_aws(config={"lambda": {"use_docker": False}}),
        run_lambdas_in_process(lambda name: lambda event, context: {"ok": name}, enforcer.authorize_invoke),
    ):
        client = boto3.client("lambda", region_name=REGION)
        assert client.invoke(FunctionName="forge-launch", Payload=b"{}")["StatusCode"] == 200
        with pytest.raises(ClientError) as denied:
            client.invoke(FunctionName="forge-other", Payload=b"{}")
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert (
        "assumed-role/MachineRole/StepFunctions is not authorized to perform: lambda:InvokeFunction"
        in str(denied.value)
    )


def test_a_service_invokes_only_under_the_functions_resource_policy(enforcer):
    """EventBridge's invoke of the abort handler needs an AWS::Lambda::Permission, not the machine's role."""
    from forge.moto_lambda import run_lambdas_in_process

    rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/ended"
    enforcer.invoke_permissions = [{"function": "forge-abort", "principal": "events.amazonaws.com",
                                    "action": "lambda:InvokeFunction", "source_arn": rule}]
    with (
        mock_aws(config={"lambda": {"use_docker": False}}),
        run_lambdas_in_process(lambda name: lambda event, context: {"ok": name}, enforcer.authorize_invoke),
    ):
        client = boto3.client("lambda", region_name=REGION)
        with enforcer.invoked_by_service("events.amazonaws.com", rule):
            assert client.invoke(FunctionName="forge-abort", Payload=b"{}")["StatusCode"] == 200
            with pytest.raises(ClientError) as other_function:
                client.invoke(FunctionName="forge-launch", Payload=b"{}")  # no grant for EventBridge
        with enforcer.invoked_by_service("events.amazonaws.com", rule + "-other"), pytest.raises(ClientError):
            client.invoke(FunctionName="forge-abort", Payload=b"{}")
    assert other_function.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "no resource-based policy (AWS::Lambda::Permission)" in str(other_function.value)
