"""Fixtures: the open-weights (and Nova) stacks synthesized once with test timings; a fresh moto per test."""

from __future__ import annotations

import os

import pytest
from forge_handlers import config
from forge_handlers.aws import clients
from moto import mock_aws

from tests.e2e_moto.harness import MOTO_CONFIG, Pipeline
from tests.synth_helpers import synth

FAST = {
    "poll_seconds": 0,
    "endpoint_poll_seconds": 0,
    "retry": {
        "task_interval_seconds": 1,
        "task_max_attempts": 3,
        "task_backoff_rate": 2.0,
        "task_max_delay_seconds": 4,
        "max_job_attempts": 3,
    },
    "split": {"sft": 12, "eval": 6, "rft": 6},
    # moto's CreateEndpointConfig accepts only older instance types.
    "deploy": {"instance_type": "ml.g4dn.xlarge"},
    "gate": {"min_gain_over_baseline": 0.05},
}


@pytest.fixture(scope="session")
def hf_stack(tmp_path_factory):
    serve_image = {"us-east-1": "123456789012.dkr.ecr.us-east-1.amazonaws.com/forge-serve:1"}
    return synth(
        "open-weights", tmp_path_factory.mktemp("e2e-hf"), {**FAST, "images": {"inference": serve_image}}
    )


@pytest.fixture(scope="session")
def slow_poll_stack(tmp_path_factory):
    """Waits of 2 s between polls: a test can stop an execution while it waits (moto's interpreter
    corrupts a Lambda task it is stopped in the middle of; AWS does not)."""
    serve_image = {"us-east-1": "123456789012.dkr.ecr.us-east-1.amazonaws.com/forge-serve:1"}
    return synth("open-weights", tmp_path_factory.mktemp("e2e-hf-slow"),
                 {**FAST, "poll_seconds": 2, "images": {"inference": serve_image}})


@pytest.fixture(scope="session")
def nova_stack(tmp_path_factory):
    nova_split = {"sft": 94, "eval": 6, "rft": 6}  # Nova RFT needs >= 100 rows (SFT rows are reused)
    # Nova's own endpoint type (moto gets a type it knows: tests/handlers/scripted.py).
    deploy = {"instance_type": "ml.g6.48xlarge"}
    return synth(
        "nova",
        tmp_path_factory.mktemp("e2e-nova"),
        {**FAST, "split": nova_split, "gate": {"metric": "accuracy", "min_gain_over_baseline": 0.05},
         "deploy": deploy},
    )


def _pipeline(synthesized, family: str, asset_dir=None):
    saved = dict(os.environ)
    with mock_aws(config=MOTO_CONFIG):
        yield Pipeline(synthesized, family, asset_dir)
    clients.reset()
    config.clear_cache()
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def pipeline(hf_stack):
    yield from _pipeline(hf_stack, "hf")


@pytest.fixture
def slow_pipeline(slow_poll_stack):
    yield from _pipeline(slow_poll_stack, "hf")


@pytest.fixture
def nova_pipeline(nova_stack):
    yield from _pipeline(nova_stack, "nova")
