"""Acceptance 1 (Nova): our requests equal, field by field, what the SageMaker Python SDK v3 sends.

The SDK (sagemaker==3.27.0, installed by the `oracle` extra) runs live, once per module, against a moto
server on a free loopback port: ModelTrainer.from_recipe(<local recipe .yaml>).train(wait=False) for every
Nova case in sdk_oracle/cases.py, with the CreateTrainingJob body captured by a botocore
before-call.sagemaker.CreateTrainingJob hook (sdk_oracle/sdk_run.py). Both sides get the same resolved
recipe, image, instances, data channel, output path, role and max runtime.

Compared: AlgorithmSpecification (image, input mode), HyperParameters (base model / checkpoint, reward
Lambda, recipe path), RoleArn, ResourceConfig (instance type/count, volume), StoppingCondition,
OutputDataConfig.S3OutputPath, the job name without the SDK's timestamp, the channel names, the train
channel exactly, and the recipe content the SDK uploads against the recipe we write.

Not compared, and why: the recipe channel's *location* (the SDK uploads to its default bucket under
<job>/<job>-<timestamp>/input/recipe/recipe.yaml; we write under the run prefix; the *content* is compared),
OutputDataConfig.CompressionType (the SDK sends the API default GZIP explicitly), Tags and KmsKeyId (not
given to the SDK), and the timestamp the SDK appends to job names (normalized away). Everything the SDK
needs ran offline, so nothing was left out for lack of a network.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from tests.handlers.sdk_oracle.cases import our_requests, sdk_inputs
from tests.handlers.sdk_oracle.sdk_run import SdkRecorder, offline_environment

OURS = our_requests()
# The SDK's recipe loader registers OmegaConf resolvers the deprecated way; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:register_new_resolver:UserWarning")


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """case id -> {"request", "recipe"} as the SDK sent them; one moto server for the module."""
    scratch = Path(tmp_path_factory.mktemp("sdk-oracle"))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        with pytest.MonkeyPatch.context() as env:
            for name, value in offline_environment(scratch, endpoint).items():
                env.setenv(name, value)
            recorder = SdkRecorder()
            sent = {case_id: recorder.run(sdk_inputs(case), scratch) for case_id, case in OURS.items()}
    finally:
        # The server shares moto's in-process backends with mock_aws tests: leave them empty.
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
        server.stop()
    yield sent


def _channels(request: dict) -> dict[str, dict]:
    return {c["ChannelName"]: c for c in request["InputDataConfig"]}


def _assert_matches(ours: dict, sdk: dict) -> None:
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
def test_request_matches_the_sdk(case_id: str, sdk: dict[str, dict[str, Any]]) -> None:
    _assert_matches(OURS[case_id]["request"], sdk[case_id]["request"])


@pytest.mark.parametrize("case_id", sorted(OURS))
def test_recipe_matches_what_the_sdk_uploads(case_id: str, sdk: dict[str, dict[str, Any]]) -> None:
    assert OURS[case_id]["recipe"] == sdk[case_id]["recipe"]


def test_the_comparison_can_fail(sdk: dict[str, dict[str, Any]]) -> None:
    request = OURS["nova-rft"]["request"]
    broken = {**request, "HyperParameters": {**request["HyperParameters"], "reward_lambda_arn": "x"}}
    with pytest.raises(AssertionError):
        _assert_matches(broken, sdk["nova-rft"]["request"])
