"""The e-mail stand-in of local mode: an SQS queue subscribed to the pipeline topic, saved as
notifications.json at the end of the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def subscribe(session: Any, topic_arn: str) -> str:
    """A queue subscribed to ``topic_arn``; returns its URL."""
    sqs = session.client("sqs")
    queue = sqs.create_queue(QueueName="forge-local-notifications")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    queue_arn = attributes["QueueArn"]
    session.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return queue


def save(session: Any, queue: str, path: Path) -> None:
    """Every message the topic delivered so far, as ``[{"subject", "message"}]``."""
    sqs = session.client("sqs")
    messages = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            break
        for message in batch:
            envelope = json.loads(message["Body"])
            messages.append({"subject": envelope.get("Subject"), "message": envelope.get("Message")})
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    path.write_text(json.dumps(messages, indent=1))
