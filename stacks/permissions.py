"""What each Lambda handler may call: a declared table, the one source of the handler roles.

roles.py turns every action into a statement on the narrowest resources it can name (run prefixes,
SageMaker resources under the pipeline's name prefix, the topic, the key). An action roles.py cannot
scope is a synth-time error, so this table can never grant something unscoped. The issue-4 tests check
the handler code against this table; add an action here when a handler starts calling a new API.
"""

from __future__ import annotations

# Handler entry points (lambda/forge_handlers/entry/<name>.py, handler "forge_handlers.entry.<name>.handler"),
# each over the logic module of the same name (lambda/forge_handlers/<name>.py).
HANDLER_NAMES = (
    "prepare",
    "preflight",
    "champion",
    "launch",
    "poll",
    "gate",
    "register",
    "approval",
    "deploy",
    "endpoint_status",
    "smoke",
    "cleanup",
    "report",
    "notify",
    "abort",
)
REWARD_HANDLER = "job_code.core.reward.lambda_handler"

_READ_RUN = ["s3:GetObject", "s3:ListBucket"]
_WRITE_RUN = ["s3:PutObject"]
_KMS_DATA = ["kms:Decrypt", "kms:GenerateDataKey"]

HANDLER_PERMISSIONS: dict[str, list[str]] = {
    # Reads the user's CSV from the data bucket, writes formatted splits + validation.json under runs/<id>/.
    "prepare": [*_READ_RUN, *_WRITE_RUN, *_KMS_DATA],
    # Reads the account's SageMaker quotas, simulates the stack's roles for the run's actions, calls the
    # reward Lambda on sample rollouts built from the prepared RFT data (forge_handlers/preflight.py).
    "preflight": [
        "servicequotas:ListServiceQuotas",
        "servicequotas:ListAWSDefaultServiceQuotas",
        "iam:SimulatePrincipalPolicy",
        "lambda:InvokeFunction",
        *_READ_RUN,  # ListBucket too: a missing RFT file is then NoSuchKey, not AccessDenied
        "kms:Decrypt",
    ],
    # The model the pipeline's endpoint serves (roles.py: that endpoint, this pipeline's configs and models):
    # endpoint -> its config -> the variant's model -> its model data and forge:run-id tag; writes
    # runs/<id>/champion.json (forge_handlers/champion.py).
    "champion": [
        "sagemaker:DescribeEndpoint",
        "sagemaker:DescribeEndpointConfig",
        "sagemaker:DescribeModel",
        "sagemaker:ListTags",
        *_READ_RUN,
        *_WRITE_RUN,
        *_KMS_DATA,
    ],
    # Writes the resolved recipe / hyperparameters under the run prefix, then creates the job.
    # Describes first: a repeated or timed-out launch finds its job instead of creating a second one.
    "launch": [
        "sagemaker:DescribeTrainingJob",
        "sagemaker:CreateTrainingJob",
        "sagemaker:AddTags",
        "iam:PassRole",
        *_READ_RUN,
        *_WRITE_RUN,
        *_KMS_DATA,
    ],
    # Describes the job; on Completed writes runs/<id>/artifacts/<stage>.json.
    "poll": ["sagemaker:DescribeTrainingJob", *_READ_RUN, *_WRITE_RUN, *_KMS_DATA],
    "gate": [*_READ_RUN, *_KMS_DATA],
    # Creates the candidate's package version in the pipeline's group (roles.py: that group only), writes
    # runs/<id>/registry.json (what an approval resumes from; read back by a retried Register).
    "register": ["sagemaker:CreateModelPackage", *_READ_RUN, *_WRITE_RUN, *_KMS_DATA],
    # An execution started by an approval: reads the package and the run's registry.json.
    "approval": ["sagemaker:DescribeModelPackage", *_READ_RUN, *_KMS_DATA],
    "deploy": [
        "sagemaker:DescribeModelPackage",  # serves what the Approved package points at
        "sagemaker:CreateModel",
        "sagemaker:CreateEndpointConfig",
        "sagemaker:CreateEndpoint",
        "sagemaker:UpdateEndpoint",
        "sagemaker:DescribeEndpoint",
        # A retried Deploy reads the config its update replaced from the config's tag.
        "sagemaker:DescribeEndpointConfig",
        "sagemaker:ListTags",
        "sagemaker:AddTags",
        # The SageMaker role to CreateModel; with deploy.ttl_hours, the expiry role to the TTL schedule.
        "iam:PassRole",
        # The endpoint's one TTL schedule (roles.py): set or replaced on each deploy, removed without a ttl.
        "scheduler:GetSchedule",
        "scheduler:CreateSchedule",
        "scheduler:UpdateSchedule",
        "scheduler:DeleteSchedule",
        *_READ_RUN,
        # Only under runs/*/deployed/ (roles.py): the served model copy, out of the SageMaker role's reach.
        *_WRITE_RUN,
        *_KMS_DATA,
    ],
    "endpoint_status": ["sagemaker:DescribeEndpoint"],
    "smoke": ["sagemaker:InvokeEndpoint", *_READ_RUN, *_KMS_DATA],
    "cleanup": [
        "sagemaker:DescribeTrainingJob",
        "sagemaker:StopTrainingJob",
        "sagemaker:DescribeEndpoint",
        "sagemaker:DeleteEndpoint",
        "sagemaker:UpdateEndpoint",  # back to the previous config after a failed run's update
        "sagemaker:DeleteEndpointConfig",
        "sagemaker:DeleteModel",
        *_READ_RUN,
        *_KMS_DATA,
    ],
    "report": [*_READ_RUN, *_WRITE_RUN, *_KMS_DATA],
    # SNS topics encrypted with a customer key need the publisher to use the key.
    "notify": ["sns:Publish", *_READ_RUN, *_KMS_DATA],
    # EventBridge: an execution of this state machine ended ABORTED / TIMED_OUT / FAILED. Reads how far it
    # got from the execution history, stops the run's jobs (as cleanup), writes the report.
    "abort": [
        "states:GetExecutionHistory",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:StopTrainingJob",
        "sagemaker:DescribeEndpoint",
        "sagemaker:DeleteEndpoint",
        "sagemaker:UpdateEndpoint",
        *_READ_RUN,
        *_WRITE_RUN,
        *_KMS_DATA,
    ],
}

# Handlers whose S3 reads also reach the data bucket (the user's uploaded CSVs); all others see only
# the artifacts bucket's runs/ prefix.
DATA_BUCKET_READERS = frozenset({"prepare"})
