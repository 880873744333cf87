"""Session fixtures: the local config synthesized once with test timings (0 s waits, 1 s retries)."""

from __future__ import annotations

import pytest

from tests.synth_helpers import synth

FAST = {
    "poll_seconds": 0,
    "endpoint_poll_seconds": 0,
    "retry": {
        "task_interval_seconds": 1,
        "task_max_attempts": 3,
        "task_backoff_rate": 1.0,
        "task_max_delay_seconds": 1,
    },
}


@pytest.fixture(scope="session")
def full_pipeline(tmp_path_factory):
    return synth("local", tmp_path_factory.mktemp("wf-full"), FAST)


@pytest.fixture(scope="session")
def no_rft_pipeline(tmp_path_factory):
    overrides = {**FAST, "stages": {"rft": {"enabled": False}}}
    return synth("local", tmp_path_factory.mktemp("wf-no-rft"), overrides)


@pytest.fixture(scope="session")
def lean_pipeline(tmp_path_factory):
    """No baseline eval, no RFT, no deployment: SFT + eval, then gate and report."""
    overrides = {
        **FAST,
        "stages": {"baseline_eval": {"enabled": False}, "rft": {"enabled": False}},
        "deploy": {"enabled": False},
    }
    return synth("local", tmp_path_factory.mktemp("wf-lean"), overrides)
