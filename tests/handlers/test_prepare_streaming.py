"""Prepare reads the dataset as a stream: downloaded to a temporary file, parsed row by row; a hostile
record fails the execution with a short message naming the object and the record."""

from __future__ import annotations

from pathlib import Path

import pytest
from forge_handlers.aws import s3io
from forge_handlers.entry import prepare
from forge_handlers.errors import ArtifactMissingError, DataValidationError

from pipeline_core.settings import load_settings
from tests.handlers.conftest import DATA_BUCKET, derive
from tests.handlers.test_prepare import CONFIG_DIR, SIZES, make_csv


def test_deeply_nested_jsonl_fails_with_the_record_named(use_settings, aws, lambda_context) -> None:
    use_settings(derive(load_settings(CONFIG_DIR / "open-weights.yaml"), **SIZES))
    good = "".join(
        f'{{"text": "question {i} about loops", "rating": "{("HQ", "LQ_EDIT", "LQ_CLOSE")[i % 3]}"}}\n'
        for i in range(40)
    )
    deep = '{"rating": "HQ", "text": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    aws.put_object(Bucket=DATA_BUCKET, Key="incoming/deep.jsonl", Body=(good + deep).encode())
    with pytest.raises(DataValidationError) as caught:
        prepare.handler({"dataset": f"s3://{DATA_BUCKET}/incoming/deep.jsonl", "execution_name": "deep-1"},
                        lambda_context)
    message = str(caught.value)
    assert f"s3://{DATA_BUCKET}/incoming/deep.jsonl" in message
    assert "row 41 [text]" in message and "nested deeper than" in message
    assert len(message) < 4096


def test_download_writes_the_object_to_a_file(aws, tmp_path: Path) -> None:
    body = make_csv(2_000)
    aws.put_object(Bucket=DATA_BUCKET, Key="incoming/so.csv", Body=body)
    target = tmp_path / "so.csv"
    assert s3io.download(f"s3://{DATA_BUCKET}/incoming/so.csv", target, what="input dataset") == target
    assert target.read_bytes() == body
    with pytest.raises(ArtifactMissingError, match="input dataset not found at s3://"):
        s3io.download(f"s3://{DATA_BUCKET}/incoming/none.csv", tmp_path / "none.csv", what="input dataset")


def test_prepare_never_holds_the_dataset_as_bytes(use_settings, aws, lambda_context, monkeypatch) -> None:
    """The old Prepare read the whole object into memory (s3io.get_bytes) before writing it to /tmp."""
    use_settings(derive(load_settings(CONFIG_DIR / "open-weights.yaml"), **SIZES))
    aws.put_object(Bucket=DATA_BUCKET, Key="incoming/so.csv", Body=make_csv(120))

    def refuse(uri: str, what: str = "object") -> bytes:
        raise AssertionError(f"Prepare read {uri} into memory")

    monkeypatch.setattr(s3io, "get_bytes", refuse)
    run = prepare.handler({"dataset": f"s3://{DATA_BUCKET}/incoming/so.csv", "execution_name": "stream-1"},
                          lambda_context)
    assert run["counts"]["sft"] == 12


def test_an_unreadable_dataset_is_named_by_its_uri_and_record(use_settings, aws, lambda_context) -> None:
    use_settings(derive(load_settings(CONFIG_DIR / "open-weights.yaml"), **SIZES))
    body = make_csv(30).replace(b"error number 7 ", b"error number \xe9 ")
    aws.put_object(Bucket=DATA_BUCKET, Key="incoming/latin1.csv", Body=body)
    with pytest.raises(DataValidationError) as caught:
        prepare.handler({"dataset": f"s3://{DATA_BUCKET}/incoming/latin1.csv", "execution_name": "enc-2"},
                        lambda_context)
    message = str(caught.value)
    assert f"s3://{DATA_BUCKET}/incoming/latin1.csv: record 8" in message and "[text]" in message
    assert "0xe9" in message and "/tmp" not in message
