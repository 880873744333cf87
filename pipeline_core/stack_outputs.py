"""The pipeline stack's CloudFormation outputs: the stack exports them, ``forge --stack`` reads them."""

from __future__ import annotations

STATE_MACHINE_ARN = "StateMachineArn"
DATA_BUCKET = "DataBucketName"
ARTIFACTS_BUCKET = "ArtifactsBucketName"
TOPIC_ARN = "TopicArn"
PIPELINE_NAME = "PipelineName"

DESCRIPTIONS = {
    STATE_MACHINE_ARN: "The pipeline's state machine (aws stepfunctions start-execution --state-machine-arn)",
    DATA_BUCKET: "Input data; a CSV under incoming/ starts a run",
    ARTIFACTS_BUCKET: "Runs: runs/<run-id>/ holds the splits, models, results and report",
    TOPIC_ARN: "Run notifications (subscribe to hear when a run ends)",
    PIPELINE_NAME: "Prefix of the SageMaker resources the runs create (forge teardown deletes them)",
}
