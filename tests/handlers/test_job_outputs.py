"""Reading finished jobs' outputs: eval results (ours and Nova's) and Nova's checkpoint manifest."""

from __future__ import annotations

import json

import pytest
from forge_handlers import job_outputs
from forge_handlers.errors import ArtifactMissingError

from tests.handlers.conftest import ARTIFACTS_BUCKET
from tests.handlers.scripted import tarball

URI = f"s3://{ARTIFACTS_BUCKET}/runs/r/jobs/eval_sft/j/output/output.tar.gz"
LABELS = ["HQ", "LQ_EDIT", "LQ_CLOSE"]


def _put(s3, files: dict[str, bytes]) -> None:
    s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=URI.split("/", 3)[3], Body=tarball(files))


def test_nova_eval_output_gets_label_accuracy_from_its_inference_output(aws) -> None:
    rows = [
        {"prompt": "q1", "inference": ["HQ"], "gold": "HQ"},
        {"prompt": "q2", "inference": ["It is LQ_EDIT, since the post was edited."], "gold": "LQ_EDIT"},
        {"prompt": "q3", "inference": ["HQ"], "gold": "LQ_CLOSE"},
        {"prompt": "q4", "inference": ["no idea"], "gold": "HQ"},
    ]
    _put(
        aws,
        {
            "j/eval_results/results_2026-11-25.json": json.dumps({"results": {"all": {"em": 0.25}}}).encode(),
            "j/eval_results/inference_output.jsonl": "\n".join(json.dumps(r) for r in rows).encode(),
        },
    )
    results = job_outputs.read_eval_results(URI, LABELS)
    flat = results["results"]["all"]
    assert flat["em"] == 0.25  # Nova's own number is kept
    assert flat["accuracy"] == pytest.approx(0.5)  # permissive parse: rows 1 and 2 are right
    assert "confusion_matrix" in results


def test_our_results_json_is_taken_as_is(aws) -> None:
    _put(aws, {"results.json": json.dumps({"results": {"all": {"accuracy": 0.9, "em": 0.8}}}).encode()})
    assert job_outputs.read_eval_results(URI, LABELS)["results"]["all"] == {"accuracy": 0.9, "em": 0.8}


@pytest.mark.parametrize("files", [{}, {"results.json": b"{not json"}, {"results.json": b'{"results": {}}'}])
def test_missing_or_broken_results_fail_loudly(aws, files) -> None:
    _put(aws, files or {"other.txt": b"x"})
    with pytest.raises(ArtifactMissingError):
        job_outputs.read_eval_results(URI, LABELS)


def test_missing_archive_is_artifact_missing(aws) -> None:
    with pytest.raises(ArtifactMissingError, match="not found"):
        job_outputs.read_eval_results(URI, LABELS)


def test_nova_manifest_names_the_checkpoint(aws) -> None:
    _put(aws, {"manifest.json": json.dumps({"checkpoint_s3_bucket": "s3://escrow/ckpt/"}).encode()})
    assert job_outputs.read_nova_checkpoint(URI) == "s3://escrow/ckpt/"
    _put(aws, {"other.json": b"{}"})
    assert job_outputs.read_nova_checkpoint(URI) is None
