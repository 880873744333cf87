"""Prepare: validate, split and format the run's CSV with job_code; bad data never reaches a job."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from forge_handlers.entry import prepare
from forge_handlers.errors import ConfigError, DataValidationError

from pipeline_core.settings import load_settings
from tests.handlers.conftest import ARTIFACTS_BUCKET, CONFIG_FILES, DATA_BUCKET, derive

CONFIG_DIR = Path(CONFIG_FILES[0]).parent
LABELS = ["HQ", "LQ_EDIT", "LQ_CLOSE"]
SIZES = {"split__sft": 12, "split__eval": 6, "split__rft": 6}
NOVA_SIZES = {"split__sft": 94, "split__eval": 6, "split__rft": 6}  # Nova RFT needs >= 100 rows


def make_csv(rows: int, *, bad_rows: dict[int, tuple[str, str]] | None = None) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["text", "rating"])
    for index in range(rows):
        text, label = (bad_rows or {}).get(
            index, (f"How do I fix error number {index} in my build?", LABELS[index % 3])
        )
        writer.writerow([text, label])
    return buffer.getvalue().encode()


def _objects(s3, prefix: str) -> list[str]:
    return sorted(
        o["Key"] for o in s3.list_objects_v2(Bucket=ARTIFACTS_BUCKET, Prefix=prefix).get("Contents", [])
    )


@pytest.mark.parametrize("config_name", ["open-weights", "nova"])
def test_prepare_writes_formatted_splits_under_the_run_prefix(
    use_settings, aws, lambda_context, config_name
) -> None:
    sizes = SIZES if config_name == "open-weights" else NOVA_SIZES
    settings = use_settings(derive(load_settings(CONFIG_DIR / f"{config_name}.yaml"), **sizes))
    aws.put_object(Bucket=DATA_BUCKET, Key="incoming/so.csv", Body=make_csv(120))
    run = prepare.handler(
        {"dataset": f"s3://{DATA_BUCKET}/incoming/so.csv", "execution_name": "exec-7"}, lambda_context
    )
    assert run["run_id"] == "exec-7" and run["run_prefix"] == "runs/exec-7/"
    sft = sizes["split__sft"]
    assert run["counts"]["sft"] == sft and run["counts"]["eval"] == 6 and run["counts"]["rft"] == sft + 6
    eval_name = "gen_qa.jsonl" if settings.model.family == "nova" else "eval.jsonl"
    assert run["datasets"]["eval"] == f"s3://{ARTIFACTS_BUCKET}/runs/exec-7/data/eval/{eval_name}"
    assert _objects(aws, "runs/exec-7/") == sorted(
        [
            "runs/exec-7/data/validation.json",
            f"runs/exec-7/data/eval/{eval_name}",
            "runs/exec-7/data/sft/sft.jsonl",
            "runs/exec-7/data/rft/rft.jsonl",
        ]
    )
    first = json.loads(
        aws.get_object(Bucket=ARTIFACTS_BUCKET, Key=f"runs/exec-7/data/eval/{eval_name}")["Body"]
        .read()
        .decode()
        .splitlines()[0]
    )
    if settings.model.family == "nova":
        assert set(first) == {"query", "response", "system"} and first["response"] in LABELS
    else:
        assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]


def test_bad_csv_is_rejected_with_a_row_level_summary(use_settings, aws, lambda_context) -> None:
    use_settings(derive(load_settings(CONFIG_DIR / "open-weights.yaml"), **SIZES))
    bad = {3: ("a fine question about loops", "MAYBE"), 8: ("", "HQ")}
    aws.put_object(Bucket=DATA_BUCKET, Key="incoming/bad.csv", Body=make_csv(30, bad_rows=bad))
    with pytest.raises(DataValidationError) as caught:
        prepare.handler(
            {"dataset": f"s3://{DATA_BUCKET}/incoming/bad.csv", "execution_name": "r-bad"}, lambda_context
        )
    message = str(caught.value)
    assert "INVALID" in message and "MAYBE" in message and "row 4" in message
    report = json.loads(
        aws.get_object(Bucket=ARTIFACTS_BUCKET, Key="runs/r-bad/data/validation.json")["Body"].read()
    )
    assert report["ok"] is False and report["errors"] >= 2
    assert _objects(aws, "runs/r-bad/data/") == ["runs/r-bad/data/validation.json"]


def test_nova_rft_below_its_documented_minimum_is_rejected(use_settings, aws, lambda_context) -> None:
    use_settings(derive(load_settings(CONFIG_DIR / "nova.yaml"), **SIZES))
    aws.put_object(Bucket=DATA_BUCKET, Key="incoming/so.csv", Body=make_csv(30))
    with pytest.raises(DataValidationError, match="at least 100"):
        prepare.handler(
            {"dataset": f"s3://{DATA_BUCKET}/incoming/so.csv", "execution_name": "r-nova"}, lambda_context
        )


def test_too_little_data_says_what_each_split_needs(use_settings, aws, lambda_context) -> None:
    use_settings(derive(load_settings(CONFIG_DIR / "open-weights.yaml"), **SIZES))
    aws.put_object(Bucket=DATA_BUCKET, Key="incoming/small.csv", Body=make_csv(9))
    with pytest.raises(DataValidationError, match="sft needs 12"):
        prepare.handler(
            {"dataset": f"s3://{DATA_BUCKET}/incoming/small.csv", "execution_name": "r-small"}, lambda_context
        )


def test_separate_eval_file_becomes_the_eval_split(use_settings, aws, lambda_context) -> None:
    use_settings(derive(load_settings(CONFIG_DIR / "open-weights.yaml"), **SIZES))
    aws.put_object(Bucket=DATA_BUCKET, Key="incoming/train.csv", Body=make_csv(18))
    held_out = make_csv(4).decode().replace("How do I fix", "Why does")
    aws.put_object(Bucket=DATA_BUCKET, Key="incoming/eval.csv", Body=held_out.encode())
    run = prepare.handler(
        {
            "dataset": f"s3://{DATA_BUCKET}/incoming/train.csv",
            "eval_dataset": f"s3://{DATA_BUCKET}/incoming/eval.csv",
            "execution_name": "r-ev",
        },
        lambda_context,
    )
    assert run["counts"]["eval"] == 4
    body = (
        aws.get_object(Bucket=ARTIFACTS_BUCKET, Key="runs/r-ev/data/eval/eval.jsonl")["Body"].read().decode()
    )
    assert all("Why does" in json.loads(line)["messages"][1]["content"] for line in body.splitlines())


def test_an_unsafe_run_id_is_a_config_error(use_settings, aws, lambda_context) -> None:
    use_settings(load_settings(CONFIG_DIR / "open-weights.yaml"))
    with pytest.raises(ConfigError, match="run_id"):
        prepare.handler({"dataset": f"s3://{DATA_BUCKET}/x.csv", "execution_name": "../other-run"},
                        lambda_context)


@pytest.mark.parametrize(
    ("stored_key", "event_key"),
    [
        ("incoming/my data.csv", "incoming/my+data.csv"),  # S3 event notifications' form-encoding
        ("incoming/my data.csv", "incoming/my%20data.csv"),
        ("incoming/résumé+v2.csv", "incoming/r%C3%A9sum%C3%A9%2Bv2.csv"),
        ("incoming/a+b.csv", "incoming/a+b.csv"),  # a literal "+" in an unencoded key still works
        ("incoming/plain.csv", "incoming/plain.csv"),
    ],
)
def test_prepare_reads_the_object_whatever_the_events_key_encoding(
    use_settings, aws, lambda_context, stored_key: str, event_key: str
) -> None:
    """Issue 11, defect 11: an S3 event may carry the key URL-encoded; Prepare must read the real object."""
    use_settings(derive(load_settings(CONFIG_DIR / "open-weights.yaml"), **SIZES))
    aws.put_object(Bucket=DATA_BUCKET, Key=stored_key, Body=make_csv(120))
    run = prepare.handler({"dataset": f"s3://{DATA_BUCKET}/{event_key}", "execution_name": "enc-1"},
                          lambda_context)
    assert run["counts"]["sft"] == 12


def test_prepare_cuts_nova_questions_to_max_query_tokens(use_settings, aws, lambda_context) -> None:
    """Issue 11, defect 9: Nova questions were never cut; the RFT recipe's max_length is 8,192 tokens."""
    use_settings(derive(load_settings(CONFIG_DIR / "nova.yaml"), **NOVA_SIZES, data__max_query_tokens=100))
    long_rows = {i: (f"question {i} " + "longword " * 1200, LABELS[i % 3]) for i in range(120)}
    aws.put_object(Bucket=DATA_BUCKET, Key="incoming/long.csv", Body=make_csv(120, bad_rows=long_rows))
    run = prepare.handler({"dataset": f"s3://{DATA_BUCKET}/incoming/long.csv", "execution_name": "cut-1"},
                          lambda_context)
    for uri in run["datasets"].values():
        key = uri.split("/", 3)[3]
        for line in aws.get_object(Bucket=ARTIFACTS_BUCKET, Key=key)["Body"].read().decode().split("\n"):
            if line:
                # 100 tokens x 4 characters per token (the validator's estimate) = 400 characters kept
                assert 40 <= line.count("longword") <= 45, line[:200]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        # An input run_id naming an earlier run used to write into runs/<that id>/ and adopt its jobs.
        ({"run_id": "earlier-run", "execution_name": "new-exec"}, "differs from the execution name"),
        ({"run_id": "r-1"}, "no execution_name"),
    ],
)
def test_the_run_id_is_the_execution_name(use_settings, aws, lambda_context, event, message) -> None:
    use_settings(load_settings(CONFIG_DIR / "open-weights.yaml"))
    aws.put_object(Bucket=DATA_BUCKET, Key="incoming/so.csv", Body=make_csv(30))
    with pytest.raises(ConfigError, match=message):
        prepare.handler({"dataset": f"s3://{DATA_BUCKET}/incoming/so.csv", **event}, lambda_context)
    assert "Contents" not in aws.list_objects_v2(Bucket=ARTIFACTS_BUCKET, Prefix="runs/earlier-run/")


def test_a_matching_run_id_is_accepted(use_settings, aws, lambda_context) -> None:
    use_settings(derive(load_settings(CONFIG_DIR / "open-weights.yaml"), **SIZES))
    aws.put_object(Bucket=DATA_BUCKET, Key="incoming/so.csv", Body=make_csv(120))
    event = {"dataset": f"s3://{DATA_BUCKET}/incoming/so.csv", "run_id": "same", "execution_name": "same"}
    assert prepare.handler(event, lambda_context)["run_id"] == "same"
