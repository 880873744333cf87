"""Acceptance 1 (Nova): our requests equal, field by field, what the SageMaker Python SDK v3 sends.

The SDK's requests were recorded offline against a moto server by sdk_oracle/record_sdk_requests.py (the
SDK needs its own venv: sagemaker 3.27.0 requires boto3>=1.43.90, the project pins 1.43.11). This test
rebuilds our side every run and fails if our inputs drift from the recorded ones (then re-record).

Not compared, and why: the recipe channel's *location* (the SDK uploads to its default bucket under
<job>/<job>-<timestamp>/input/recipe/recipe.yaml; we write under the run prefix; the *content* is compared),
OutputDataConfig.CompressionType (the SDK sends the API default GZIP explicitly), Tags and KmsKeyId (not
given to the SDK), and the timestamp the SDK appends to job names (normalized away).
"""

from __future__ import annotations

import json
import re

import pytest

from tests.handlers.sdk_oracle.cases import FIXTURE, our_requests, sdk_inputs

RECORDED = json.loads(FIXTURE.read_text(encoding="utf-8"))["cases"]
OURS = our_requests()


def test_every_case_was_recorded_from_our_current_inputs() -> None:
    assert sorted(OURS) == sorted(RECORDED)
    for case_id, case in OURS.items():
        assert RECORDED[case_id]["inputs"] == sdk_inputs(case), (
            f"{case_id}: our request changed since the SDK oracle was recorded; re-record "
            "(see tests/handlers/sdk_oracle/record_sdk_requests.py)"
        )


def _channels(request: dict) -> dict[str, dict]:
    return {c["ChannelName"]: c for c in request["InputDataConfig"]}


@pytest.mark.parametrize("case_id", sorted(OURS))
def test_request_matches_the_sdk(case_id: str) -> None:
    ours, sdk = OURS[case_id]["request"], RECORDED[case_id]["request"]
    assert ours["AlgorithmSpecification"] == sdk["AlgorithmSpecification"]
    assert ours["HyperParameters"] == sdk["HyperParameters"]
    assert ours["RoleArn"] == sdk["RoleArn"]
    assert ours["ResourceConfig"] == sdk["ResourceConfig"]
    assert ours["StoppingCondition"] == sdk["StoppingCondition"]
    assert ours["OutputDataConfig"]["S3OutputPath"] == sdk["OutputDataConfig"]["S3OutputPath"]
    assert re.sub(r"-\d{14}$", "", sdk["TrainingJobName"]) == ours["TrainingJobName"]
    assert set(_channels(ours)) == set(_channels(sdk)) == {"train", "recipe"}
    assert _channels(ours)["train"] == _channels(sdk)["train"]
    for channel in (_channels(ours)["recipe"], _channels(sdk)["recipe"]):
        assert channel["DataSource"]["S3DataSource"]["S3DataType"] == "S3Prefix"


@pytest.mark.parametrize("case_id", sorted(OURS))
def test_recipe_matches_what_the_sdk_uploads(case_id: str) -> None:
    assert OURS[case_id]["recipe"] == RECORDED[case_id]["recipe"]


def test_the_comparison_can_fail() -> None:
    case = OURS["nova-rft"]
    broken = {
        **case["request"],
        "HyperParameters": {**case["request"]["HyperParameters"], "reward_lambda_arn": "x"},
    }
    assert broken["HyperParameters"] != RECORDED["nova-rft"]["request"]["HyperParameters"]
