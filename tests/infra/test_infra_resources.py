"""Fine-grained assertions on the synthesized template (Template / Match / Capture)."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Capture, Match, Template

from stacks.permissions import HANDLER_NAMES, HANDLER_PERMISSIONS


@pytest.fixture(scope="module")
def template(nova):
    return Template.from_json(nova["template"])


def test_every_bucket_is_encrypted_versioned_and_private(template, nova):
    buckets = template.find_resources("AWS::S3::Bucket")
    assert len(buckets) == 3
    template.all_resources_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "BucketEncryption": {"ServerSideEncryptionConfiguration": Match.any_value()},
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like(
                            {"NoncurrentVersionExpiration": Match.any_value(), "Status": "Enabled"}
                        )
                    ]
                )
            },
        },
    )
    kms_buckets = [
        b for b in buckets.values() if "aws:kms" in json.dumps(b["Properties"]["BucketEncryption"])
    ]
    assert len(kms_buckets) == 2  # data + artifacts; the access-log bucket must be SSE-S3 for log delivery
    for bucket in buckets.values():
        assert bucket["DeletionPolicy"] == "Retain"


def test_every_bucket_denies_insecure_transport(template):
    policies = template.find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == 3
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        )


def test_data_bucket_sends_eventbridge_notifications(template):
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {"NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}},
    )


def test_kms_key_rotates(template):
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def _statements(template):
    for policy in template.find_resources("AWS::IAM::Policy").values():
        yield from policy["Properties"]["PolicyDocument"]["Statement"]


def test_no_iam_statement_allows_every_action(template):
    for statement in _statements(template):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert "*" not in actions and not any(a.endswith(":*") for a in actions), statement


def test_passrole_only_on_the_sagemaker_role_for_sagemaker(template):
    passes = [s for s in _statements(template) if "iam:PassRole" in json.dumps(s["Action"])]
    assert len(passes) == 2  # launch, deploy
    role = Capture()
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "iam:PassRole",
                                "Effect": "Allow",
                                "Resource": role,
                                "Condition": {
                                    "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
                                },
                            }
                        )
                    ]
                )
            }
        },
    )
    sagemaker_roles = [
        logical_id
        for logical_id, r in template.find_resources("AWS::IAM::Role").items()
        if "sagemaker.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])
    ]
    assert role.as_object() == {"Fn::GetAtt": [sagemaker_roles[0], "Arn"]}
    for statement in passes:
        assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_sagemaker_actions_are_scoped_to_the_name_prefix(template):
    for statement in _statements(template):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if any(a.startswith("sagemaker:") for a in actions):
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for resource in resources:
                # "--": the separator a pipeline name cannot contain (forge-nova* matched forge-nova-prod's)
                text = json.dumps(resource)
                # ... or this pipeline's model package group and its versions (test_registry_infra.py)
                allowed = ('/forge-nova--*"]]}', '/forge-nova--models/*"]]}', '/forge-nova--models"]]}')
                assert text.endswith(allowed), resource


def test_one_role_per_handler_with_exactly_its_table_actions(template):
    functions = template.find_resources("AWS::Lambda::Function")
    roles_by_handler = {}
    for function in functions.values():
        props = function["Properties"]
        roles_by_handler[props["Handler"]] = props["Role"]["Fn::GetAtt"][0]
    assert len(set(roles_by_handler.values())) == len(HANDLER_NAMES) + 1  # + reward
    policies = template.find_resources("AWS::IAM::Policy")
    for handler in HANDLER_NAMES:
        role = roles_by_handler[f"forge_handlers.entry.{handler}.handler"]
        granted = set()
        for policy in policies.values():
            if {"Ref": role} in policy["Properties"]["Roles"]:
                for s in policy["Properties"]["PolicyDocument"]["Statement"]:
                    granted |= set(s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        extra = {
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        }
        assert granted - extra == set(HANDLER_PERMISSIONS[handler]), handler


def test_lambdas_are_traced_sized_and_on_python312(template):
    template.all_resources_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.12",
            "TracingConfig": {"Mode": "Active"},
            "Timeout": Match.any_value(),
            "MemorySize": Match.any_value(),
            "Layers": [
                Match.object_like(
                    {
                        "Fn::Join": Match.array_with(
                            [
                                Match.array_with(
                                    [
                                        Match.string_like_regexp(
                                            "017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64"
                                        )
                                    ]
                                )
                            ]
                        )
                    }
                )
            ],
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": "forge-nova-reward-SageMaker",
            "Handler": "job_code.core.reward.lambda_handler",
            "Timeout": 900,
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "forge_handlers.entry.launch.handler",
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "FORGE_SETTINGS_FILE": "/var/task/settings.json",
                        "DATA_BUCKET": Match.any_value(),
                        "ARTIFACTS_BUCKET": Match.any_value(),
                        "SAGEMAKER_ROLE_ARN": Match.any_value(),
                        "REWARD_LAMBDA_ARN": Match.any_value(),
                        "TOPIC_ARN": Match.any_value(),
                        "KMS_KEY_ARN": Match.any_value(),
                        "POWERTOOLS_SERVICE_NAME": "forge",
                    }
                )
            },
        },
    )


def test_state_machine_logs_everything_encrypted_and_traces(template):
    log_group = Capture()
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": {
                "Level": "ALL",
                "IncludeExecutionData": True,
                "Destinations": [
                    {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": [log_group, "Arn"]}}}
                ],
            },
        },
    )
    group = template.find_resources("AWS::Logs::LogGroup")[log_group.as_string()]
    assert "KmsKeyId" in group["Properties"]
    definition = json.dumps(template.find_resources("AWS::StepFunctions::StateMachine"))
    assert '\\"TimeoutSeconds\\":259200' in definition  # 72 h from settings


def test_upload_rule_matches_csv_under_incoming(template):
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {
                    "bucket": {"name": [Match.any_value()]},
                    "object": {"key": [{"wildcard": "incoming/*.csv"}, {"wildcard": "incoming/*.jsonl"}]},
                },
            },
            "Targets": [
                Match.object_like(
                    {
                        "InputTransformer": {
                            "InputPathsMap": {
                                "detail-bucket-name": "$.detail.bucket.name",
                                "detail-object-key": "$.detail.object.key",
                            },
                            "InputTemplate": '{"dataset":"s3://<detail-bucket-name>/<detail-object-key>"}',
                        }
                    }
                )
            ],
        },
    )


def test_topic_is_kms_encrypted_and_ssl_only(template):
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        )
                    ]
                )
            }
        },
    )


def test_schedule_and_email_are_optional(synthesized):
    local = Template.from_json(synthesized["local"]["template"])
    local.resource_count_is("AWS::Events::Rule", 3)  # the upload trigger, ExecutionEnded, the approval rule
    local.resource_count_is("AWS::SNS::Subscription", 0)


def test_optional_schedule_and_email_are_created_when_configured(scheduled):
    template = Template.from_json(scheduled["template"])
    template.resource_count_is("AWS::Events::Rule", 4)
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "cron(0 3 ? * MON *)",
            "Targets": [Match.object_like({"Input": '{"dataset":"s3://my-data/incoming/weekly.csv"}'})],
        },
    )
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ml-team@example.com"}
    )
