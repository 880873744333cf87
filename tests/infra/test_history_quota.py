"""Issue 11, defect 8: a Standard execution dies at 25,000 history events; polling must stay bounded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pipeline_core import polling
from pipeline_core.settings import ConfigError, load_settings, parse_settings
from tests.synth_helpers import CONFIG_DIR

HF = {"family": "hf", "base_model": "x"}
FOUR_WEEKS = 28 * 24 * 3600


@pytest.mark.parametrize(
    ("age", "minimum", "expected"),
    [
        (0, 60, 60),  # a new job: the configured minimum
        (300, 60, 60),  # a tenth of 5 min is below the minimum
        (1800, 60, 180),  # a tenth of the age
        (7200, 60, 600),  # capped at max_poll_seconds
        (10**7, 60, 600),
        (5, 0, 0),  # tests' 0 s minimum
        (100, 0, 10),
    ],
)
def test_wait_grows_with_age_between_the_bounds(age: float, minimum: int, expected: int) -> None:
    assert polling.wait_seconds(age, minimum=minimum, fraction=0.1, maximum=600) == expected


def test_polls_are_bounded_by_the_cap_not_by_the_interval() -> None:
    fixed = FOUR_WEEKS // 60  # what a fixed 60 s interval would cost: 40,320 polls
    grown = polling.polls_until(FOUR_WEEKS, minimum=60, fraction=0.1, maximum=3600)
    assert grown < fixed / 50
    assert polling.polls_until(FOUR_WEEKS, minimum=0, fraction=0.1, maximum=3600) < 1000  # even from 0 s


def test_age_of_iso_and_datetime() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert polling.age_seconds((now - timedelta(minutes=5)).isoformat(), now) == 300
    assert polling.age_seconds(now - timedelta(seconds=7), now) == 7
    assert polling.age_seconds(None, now) == 0 and polling.age_seconds("not a time", now) == 0


def test_a_config_that_can_pass_the_quota_is_a_config_error() -> None:
    """Four-week jobs polled every minute: the old stack accepted this and its execution would die."""
    long_stages = {stage: {"max_runtime_seconds": FOUR_WEEKS}
                   for stage in ("baseline_eval", "sft", "rft", "eval")}
    raw = {"model": HF, "stages": long_stages, "pipeline_timeout_hours": 24 * 30, "max_poll_seconds": 60}
    with pytest.raises(ConfigError, match=r"history reaches [\d,]+ events.*max_poll_seconds \(now 60\)"):
        parse_settings(raw)
    # Polling at most hourly, in an execution capped at a week, fits.
    parse_settings({**raw, "max_poll_seconds": 3600, "pipeline_timeout_hours": 24 * 7})


@pytest.mark.parametrize("config", ["nova", "open-weights", "local", "local-demo"])
def test_shipped_configs_fit_the_quota(config: str) -> None:
    settings = load_settings(CONFIG_DIR / f"{config}.yaml")
    polling.check_history_quota(settings)  # raises if not


def test_every_poll_wait_takes_its_length_from_the_handler(synthesized) -> None:
    """The Waits read $.jobs.<stage>.wait_seconds / $.endpoint.wait_seconds: no fixed interval is left."""
    from tests.template_readers import state_machine_definition

    states = json.loads(state_machine_definition(synthesized["open-weights"]["template"]))["States"]
    waits = {name: state for name, state in states.items() if state["Type"] == "Wait"}
    assert len(waits) >= 6  # five job stages and the endpoint
    assert all("SecondsPath" in w and "Seconds" not in w for w in waits.values()), waits


def test_poll_reports_a_longer_wait_for_an_older_job() -> None:
    from pipeline_core.polling import next_wait

    settings = parse_settings({"model": HF})  # poll_seconds 60, fraction 0.1, max 600
    now = datetime.now(UTC)
    assert next_wait(settings, settings.poll_seconds, now - timedelta(minutes=1)) == 60
    assert next_wait(settings, settings.poll_seconds, now - timedelta(minutes=30)) in (179, 180)
    assert next_wait(settings, settings.poll_seconds, now - timedelta(hours=5)) == 600


def test_the_jobs_and_the_endpoint_share_the_executions_timeout() -> None:
    """They run one after another: together at most the timeout, each at most its limit, the timeout shared
    as evenly as the limits allow (the most poll cycles: the poll rate falls with age)."""
    assert polling.split_timeout([100, 100, 100], 90) == [30, 30, 30]
    assert polling.split_timeout([10, 1000, 1000], 90) == [10, 40, 40]  # a short job leaves its share
    assert polling.split_timeout([5, 5], 90) == [5, 5]  # nothing takes longer than its own limit
    assert polling.split_timeout([200, 20], 90) == [70, 20]
    assert sum(polling.split_timeout([3600] * 7, 3600)) == pytest.approx(3600)


def test_the_demo_with_the_champions_evaluation_fits_without_raising_a_limit() -> None:
    """Regression: one more eval stage (eval_champion) took the demo over the budget when every job and
    the endpoint were each allowed the whole execution timeout."""
    settings = load_settings(CONFIG_DIR / "local-demo.yaml")
    assert "eval_champion" in settings.enabled_job_stages()
    timeout = settings.pipeline_timeout_hours * 3600

    def events(durations, endpoint) -> int:
        return polling.worst_case_history_events(
            durations, attempts=settings.retry.max_job_attempts, endpoint_seconds=endpoint,
            job_minimum=settings.poll_seconds, endpoint_minimum=settings.endpoint_poll_seconds,
            fraction=settings.poll_fraction, maximum=settings.max_poll_seconds)

    limits = [min(settings.stages.for_stage(stage).max_runtime_seconds, timeout)
              for stage in settings.enabled_job_stages()]
    assert events(limits, timeout) > polling.history_budget()  # each the whole timeout: over
    *shared, endpoint = polling.split_timeout([*limits, timeout], timeout)
    assert events(shared, endpoint) <= polling.history_budget()
    polling.check_history_quota(settings)
