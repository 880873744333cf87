"""task.kind generation through the handlers: Prepare (chat-form JSONL in, label-free records out, no
label-set check), Parquet's clear error in the Lambda, the smoke test and Deploy's label set."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from forge_handlers.aws import clients
from forge_handlers.entry import prepare, smoke
from forge_handlers.errors import DataValidationError, SmokeTestError

from pipeline_core.settings import load_settings, parse_settings
from tests.handlers.conftest import ARTIFACTS_BUCKET, CONFIG_FILES, DATA_BUCKET, a_run

CONFIG_DIR = Path(CONFIG_FILES[0]).parent


def generation_settings():
    raw = load_settings(CONFIG_DIR / "open-weights.yaml").model_dump(mode="json")
    raw["data"].pop("labels")
    raw.update(task={"kind": "generation"}, split={"sft": 12, "eval": 6, "rft": 0})
    raw["stages"]["rft"]["enabled"] = False
    raw["gate"]["metric"] = "f1"
    return parse_settings(raw, "test")


def chat_jsonl(count: int) -> bytes:
    rows = [{"messages": [{"role": "user", "content": f"What is {i} times three?"},
                          {"role": "assistant", "content": f"{i} times three is {3 * i}."}]}
            for i in range(count)]
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def _lines(s3, uri: str) -> list[dict]:
    bucket, key = uri[5:].split("/", 1)
    return [json.loads(line) for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()]


def test_prepare_takes_chat_jsonl_free_text_answers(use_settings, aws, lambda_context):
    use_settings(generation_settings())
    aws.put_object(Bucket=DATA_BUCKET, Key="incoming/chat.jsonl", Body=chat_jsonl(30))
    run = prepare.handler({"dataset": f"s3://{DATA_BUCKET}/incoming/chat.jsonl", "execution_name": "g-1"},
                          lambda_context)
    assert run["counts"]["sft"] == 12 and run["counts"]["eval"] == 6
    assert run["shortcuts"] == []
    rows = _lines(aws, run["datasets"]["eval"])
    assert all("label" not in row for row in rows)  # no label set: the jobs see none
    assert rows[0]["messages"][-1]["content"].endswith(".") and rows[0]["messages"][0]["role"] == "system"


def test_prepare_rejects_a_bad_chat_row_naming_row_and_field(use_settings, aws, lambda_context):
    use_settings(generation_settings())
    body = chat_jsonl(30) + b'{"messages": [{"role": "user", "content": "No answer?"}]}\n'
    aws.put_object(Bucket=DATA_BUCKET, Key="incoming/chat.jsonl", Body=body)
    with pytest.raises(DataValidationError, match=r"missing_assistant_turn"):
        prepare.handler({"dataset": f"s3://{DATA_BUCKET}/incoming/chat.jsonl", "execution_name": "g-2"},
                        lambda_context)
    report = json.loads(aws.get_object(Bucket=ARTIFACTS_BUCKET, Key="runs/g-2/data/validation.json")["Body"]
                        .read())
    (issue,) = [i for i in report["issues"] if i["problem"] == "missing_assistant_turn"]
    assert (issue["row"], issue["field"]) == (31, "messages")


def test_parquet_in_the_prepare_lambda_says_to_convert(use_settings, aws, lambda_context, monkeypatch):
    """The Lambda runtime has no pyarrow: Prepare names the file and the way out."""
    use_settings(generation_settings())
    aws.put_object(Bucket=DATA_BUCKET, Key="incoming/data.parquet", Body=b"PAR1 not read")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(DataValidationError, match="reading Parquet needs pyarrow"):
        prepare.handler({"dataset": f"s3://{DATA_BUCKET}/incoming/data.parquet", "execution_name": "g-3"},
                        lambda_context)


class FakeRuntime:
    def __init__(self, answer: dict) -> None:
        self.answer = answer

    def invoke_endpoint(self, **params):
        return {"Body": io.BytesIO(json.dumps(self.answer).encode())}


def _put_eval_row(s3) -> None:
    row = {"id": "r", "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q?"},
                                   {"role": "assistant", "content": "A long free answer."}]}
    bucket, key = a_run()["datasets"]["eval"][5:].split("/", 1)
    s3.put_object(Bucket=bucket, Key=key, Body=(json.dumps(row) + "\n").encode())


def test_smoke_accepts_any_non_empty_answer_for_generation(use_settings, aws, lambda_context):
    use_settings(generation_settings())
    _put_eval_row(aws)
    clients.override("sagemaker-runtime", FakeRuntime({"text": "Some free text", "label": None}))
    result = smoke.handler({"run": a_run(), "endpoint": {"endpoint_name": "e"}}, lambda_context)
    assert result["answer"] == "Some free text" and result["label"] is None
    assert result["expected"] == "A long free answer."  # the row's reference: the report shows it beside
    clients.override("sagemaker-runtime", FakeRuntime({"text": "  ", "label": None}))
    with pytest.raises(SmokeTestError, match="answered an empty text"):
        smoke.handler({"run": a_run(), "endpoint": {"endpoint_name": "e"}}, lambda_context)


def test_deploy_gives_the_server_no_label_set_for_generation():
    from forge_handlers import deploy
    from forge_handlers.config import Environment

    env = Environment(data_bucket=DATA_BUCKET, artifacts_bucket=ARTIFACTS_BUCKET,
                      sagemaker_role_arn="arn:aws:iam::123456789012:role/sm")
    settings = generation_settings()
    images = {"inference": {"us-east-1": "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1"}}
    settings = parse_settings({**settings.model_dump(mode="json"), "images": images}, "test")
    request = deploy.model_request(settings, env, "run-1", "s3://b/m.tar.gz")
    assert json.loads(request["PrimaryContainer"]["Environment"]["FORGE_LABELS"]) == []
