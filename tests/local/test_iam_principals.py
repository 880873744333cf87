"""Principals built from a real synthesized template, and what their policies let them do."""

from __future__ import annotations

import pytest

from forge.local.cfn import Resolver
from forge.local.iam.enforce import Actor, Enforcer
from forge.local.iam.principals import offline_physicals, principals_from_template
from forge.local.iam.requests import Authorization
from tests.synth_helpers import synth

REGION, ACCOUNT = "us-east-1", "123456789012"
EXECUTIONS = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:"
OWN, OTHER = f"{EXECUTIONS}forge-hf-pipeline:", f"{EXECUTIONS}other-pipeline:"
PASSED = "iam:PassedToService"


@pytest.fixture(scope="module")
def enforcer(tmp_path_factory) -> Enforcer:
    template = synth("open-weights", tmp_path_factory.mktemp("iam-principals"))["template"]
    resolver = Resolver("Stack", REGION, offline_physicals(template, "Stack", REGION))
    return Enforcer(principals_from_template(template, resolver, REGION))


def as_function(enforcer: Enforcer, handler: str) -> Actor:
    return Actor(enforcer.principals.functions[f"forge-hf-{handler}"], f"forge-hf-{handler}")


def sagemaker_role(enforcer: Enforcer) -> str:
    (arn,) = [a for a in enforcer.principals.roles if "SageMakerRole" in a]
    return arn


def training_job(enforcer: Enforcer, name: str, role: str) -> dict:
    return {
        "TrainingJobName": name,
        "RoleArn": role,
        "ResourceConfig": {"InstanceType": "ml.g5.xlarge"},
        "Tags": [{"Key": "forge:run-id", "Value": "r1"}],
    }


def test_every_handler_and_the_state_machine_have_a_role(enforcer):
    assert {f"forge-hf-{h}" for h in ("prepare", "launch", "poll", "notify", "smoke")} <= set(
        enforcer.principals.functions
    )
    assert enforcer.principals.state_machine is not None
    assert not any(
        p.unknown_managed for n, p in enforcer.principals.functions.items() if n.startswith("forge-hf")
    )
    # SSE-KMS buckets and the encrypted topic are known, with the stack's key
    assert len(set(enforcer.facts.bucket_keys.values())) == 1 and enforcer.facts.topic_keys


def test_launch_creates_jobs_under_its_pipeline_prefix_only(enforcer):
    launch, role = as_function(enforcer, "launch"), sagemaker_role(enforcer)
    assert (
        enforcer.denial(
            launch, "sagemaker", "CreateTrainingJob", training_job(enforcer, "forge-hf--sft-1", role)
        )
        is None
    )
    denied = enforcer.denial(
        launch, "sagemaker", "CreateTrainingJob", training_job(enforcer, "other-sft-1", role)
    )
    assert denied and denied.authorization.resource.endswith(":training-job/other-sft-1")
    # A pipeline whose name starts with this one's ("forge-hf-prod") is another pipeline: denied too.
    assert enforcer.denial(
        launch, "sagemaker", "CreateTrainingJob", training_job(enforcer, "forge-hf-prod--x-sft-a1", role)
    )
    assert "is not authorized to perform: sagemaker:CreateTrainingJob" in denied.message
    assert denied.message.startswith(f"User: arn:aws:sts::{ACCOUNT}:assumed-role/Stack-HandlerRolesLaunch")


@pytest.mark.parametrize(
    ("role_of", "service", "expected"),
    [
        ("sagemaker", "sagemaker.amazonaws.com", True),
        ("sagemaker", "lambda.amazonaws.com", False),  # scoped with iam:PassedToService
        ("other", "sagemaker.amazonaws.com", False),
    ],
)
def test_pass_role_only_the_sagemaker_role_only_to_sagemaker(enforcer, role_of, service, expected):
    role = sagemaker_role(enforcer) if role_of == "sagemaker" else f"arn:aws:iam::{ACCOUNT}:role/Admin"
    needed = [Authorization("iam:PassRole", role, {PASSED: service})]
    assert (enforcer.decide(as_function(enforcer, "launch"), "iam", "PassRole", needed) is None) is expected


@pytest.mark.parametrize(
    ("handler", "service", "operation", "params", "allowed"),
    [
        ("prepare", "s3", "GetObject", {"Bucket": "DATA", "Key": "incoming/r1/x.csv"}, True),
        (
            "launch",
            "s3",
            "GetObject",
            {"Bucket": "DATA", "Key": "incoming/r1/x.csv"},
            False,
        ),  # data readers only
        ("poll", "s3", "PutObject", {"Bucket": "ART", "Key": "runs/r1/artifacts/sft.json"}, True),
        ("gate", "s3", "PutObject", {"Bucket": "ART", "Key": "runs/r1/x"}, False),
        ("poll", "s3", "PutObject", {"Bucket": "ART", "Key": "code/sft.py"}, False),  # outside runs/
        ("notify", "sns", "Publish", {"TopicArn": "TOPIC", "Message": "m"}, True),  # incl. the topic's key
        ("report", "sns", "Publish", {"TopicArn": "TOPIC", "Message": "m"}, False),
        ("smoke", "sagemaker-runtime", "InvokeEndpoint", {"EndpointName": "forge-hf--endpoint"}, True),
        (
            "deploy",
            "sagemaker",
            "CreateEndpoint",
            {"EndpointName": "forge-hf--ep", "EndpointConfigName": "forge-hf--c"},
            True,
        ),
        (
            "deploy",
            "sagemaker",
            "CreateEndpoint",
            {"EndpointName": "forge-hf--ep", "EndpointConfigName": "other-c"},
            False,
        ),  # the config is a resource of the request too
        ("endpoint_status", "sagemaker", "DeleteEndpoint", {"EndpointName": "forge-hf--ep"}, False),
        ("cleanup", "sagemaker", "StopTrainingJob", {"TrainingJobName": "forge-hf--sft"}, True),
        # The abort handler: this machine's execution histories, this pipeline's jobs.
        ("abort", "stepfunctions", "GetExecutionHistory", {"executionArn": f"{OWN}r1"}, True),
        ("abort", "stepfunctions", "GetExecutionHistory", {"executionArn": f"{OTHER}r1"}, False),
        ("cleanup", "stepfunctions", "GetExecutionHistory", {"executionArn": f"{OWN}r1"}, False),
        ("abort", "sagemaker", "StopTrainingJob", {"TrainingJobName": "forge-hf--r1-sft-a1"}, True),
        ("abort", "sagemaker", "StopTrainingJob", {"TrainingJobName": "forge-hf-prod--r1-sft-a1"}, False),
        # Deploy writes the served model copy only.
        ("deploy", "s3", "PutObject", {"Bucket": "ART", "Key": "runs/r1/deployed/model.tar.gz"}, True),
        ("deploy", "s3", "PutObject", {"Bucket": "ART", "Key": "runs/r1/artifacts/sft.json"}, False),
    ],
)
def test_handler_grants(enforcer, handler, service, operation, params, allowed):
    buckets = {("data" if "databucket" in b else "art"): b for b in enforcer.facts.bucket_keys}
    params = {**params}
    if "Bucket" in params:
        params["Bucket"] = buckets[params["Bucket"].lower()]
    if params.get("TopicArn") == "TOPIC":
        (params["TopicArn"],) = enforcer.facts.topic_keys
    actor = as_function(enforcer, handler.replace("_", "-"))
    assert (enforcer.denial(actor, service, operation, params) is None) is allowed


@pytest.mark.parametrize(
    ("function", "allowed"),
    [("forge-hf-launch", True), ("forge-hf-poll", True), ("someone-elses-function", False)],
)
def test_the_state_machine_invokes_its_own_functions(enforcer, function, allowed):
    actor = Actor(enforcer.principals.state_machine, "StepFunctions")
    assert (enforcer.denial(actor, "lambda", "Invoke", {"FunctionName": function}) is None) is allowed


@pytest.mark.parametrize(
    ("operation", "params", "allowed"),
    [
        ("ListObjectsV2", {"Prefix": "code/"}, True),  # the code channel (stacks/roles.py CodeChannel)
        ("GetObject", {"Key": "code/sft.py"}, True),
        ("ListObjectsV2", {"Prefix": "runs/r1/data/eval/"}, True),
        ("PutObject", {"Key": "runs/r1/jobs/sft/output/model.tar.gz"}, True),
        ("ListObjectsV2", {"Prefix": "incoming/"}, False),
        ("ListObjectsV2", {}, False),  # no prefix: the StringLike on s3:prefix fails
        ("PutObject", {"Key": "code/sft.py"}, False),  # jobs never write their own code
    ],
)
def test_the_sagemaker_role_on_the_artifacts_bucket(enforcer, operation, params, allowed):
    (artifacts,) = [b for b in enforcer.facts.bucket_keys if "artifacts" in b]
    actor = enforcer.execution_actor(sagemaker_role(enforcer))
    assert (enforcer.denial(actor, "s3", operation, {"Bucket": artifacts, **params}) is None) is allowed


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.8.0-gpu-py312-cu129-ubuntu22.04",
            True,
        ),
        ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-gpu-py312", True),
        ("763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.16", False),
        ("763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.8.0", False),  # another region
    ],
)
def test_the_sagemaker_role_pulls_only_its_images(enforcer, image, allowed):
    assert (enforcer.image_denial(sagemaker_role(enforcer), image) is None) is allowed
