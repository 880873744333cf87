"""Session fixtures: every config in config/ synthesized once (with cdk-nag validation on)."""

from __future__ import annotations

import pytest

from tests.synth_helpers import CONFIG_DIR, synth

CONFIG_NAMES = sorted(path.stem for path in CONFIG_DIR.glob("*.yaml"))


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory):
    """config name -> synth result; each config is synthesized once per session."""
    return {name: synth(name, tmp_path_factory.mktemp(f"infra-{name}")) for name in CONFIG_NAMES}


@pytest.fixture(scope="session")
def nova(synthesized):
    return synthesized["nova"]


@pytest.fixture(scope="session")
def scheduled(tmp_path_factory):
    """The local config plus the optional parts: a schedule and an e-mail subscription."""
    overrides = {
        "schedule": {"expression": "cron(0 3 ? * MON *)", "dataset": "s3://my-data/incoming/weekly.csv"},
        "notification_email": "ml-team@example.com",
    }
    return synth("local", tmp_path_factory.mktemp("infra-scheduled"), overrides)
