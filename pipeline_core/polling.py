"""How long the state machine waits between two polls, and the execution-history worst case it implies.

A Standard execution dies at 25,000 history events, and every Wait → Lambda task → Choice poll cycle adds
about 9. Polling a 28-day job every 60 s would need ~360,000. So the wait grows with the age of what is
polled (a job or an endpoint): ``poll_fraction`` of its age, at least the configured minimum and at most
``max_poll_seconds``. A job finishing in minutes is still seen within seconds, and a long one costs a
bounded number of cycles.

The handlers (Launch / Poll, Deploy / Endpoint Status) compute each wait with ``wait_seconds``; settings
reject at synth a config whose worst case could exceed the quota (``worst_case_history_events``, with
the execution's timeout shared among the jobs and the endpoint: ``split_timeout``). Pure standard library:
this module ships in the Lambda bundle.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

# Step Functions quotas: "Maximum execution history size: 25,000 events" (Standard workflows).
HISTORY_EVENT_QUOTA = 25_000
# Kept free for what this model does not count exactly (task retries, relaunches' extra states).
HISTORY_HEADROOM = 0.85
# One poll cycle: Wait (entered, exited) + Lambda task (entered, scheduled, started, succeeded, exited) +
# Choice (entered, exited).
EVENTS_PER_POLL_CYCLE = 9
# Every state outside the poll loops, with retries of its Lambda task: a generous upper bound.
FIXED_EVENTS = 600
# A poll cycle takes at least this long even with a 0 s wait (the poll Lambda's own round trip).
MIN_CYCLE_SECONDS = 1
# A launch that ends in a capacity error (and is relaunched) is assumed to fail within this time.
CAPACITY_FAILURE_SECONDS = 3600


def wait_seconds(age_seconds: float, *, minimum: int, fraction: float, maximum: int) -> int:
    """Seconds to wait before the next poll of something ``age_seconds`` old."""
    return int(min(maximum, max(minimum, math.floor(max(age_seconds, 0.0) * fraction))))


def age_seconds(since: Any, now: datetime | None = None) -> float:
    """Seconds since ``since`` (a datetime or an ISO 8601 string; naive means UTC); 0 when unknown."""
    if isinstance(since, str):
        try:
            since = datetime.fromisoformat(since)
        except ValueError:
            return 0.0
    if not isinstance(since, datetime):
        return 0.0
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    return max(0.0, ((now or datetime.now(UTC)) - since).total_seconds())


def next_wait(settings: Any, minimum: int, since: Any) -> int:
    """The wait before the next poll of something that started at ``since``, with this config's schedule
    (``settings`` is a pipeline_core.settings.Settings; ``minimum`` is the job's or the endpoint's
    minimum)."""
    return wait_seconds(age_seconds(since), minimum=minimum, fraction=settings.poll_fraction,
                        maximum=settings.max_poll_seconds)


def polls_until(duration_seconds: float, *, minimum: int, fraction: float, maximum: int) -> int:
    """Poll cycles the schedule makes before something ``duration_seconds`` long is done (worst case)."""
    age, polls = 0.0, 0
    while age < duration_seconds:
        age += wait_seconds(age, minimum=minimum, fraction=fraction, maximum=maximum) + MIN_CYCLE_SECONDS
        polls += 1
    return polls


def worst_case_history_events(
    job_durations: Iterable[float],
    *,
    attempts: int,
    endpoint_seconds: float | None,
    job_minimum: int,
    endpoint_minimum: int,
    fraction: float,
    maximum: int,
) -> int:
    """History events of an execution whose every job runs to its limit and whose endpoint takes
    ``endpoint_seconds`` to settle (None: no deploy)."""
    def polls(duration: float, minimum: int) -> int:
        return polls_until(duration, minimum=minimum, fraction=fraction, maximum=maximum)

    cycles = 0
    for duration in job_durations:
        cycles += polls(duration, job_minimum)
        cycles += (attempts - 1) * polls(min(duration, CAPACITY_FAILURE_SECONDS), job_minimum)
    if endpoint_seconds is not None:
        cycles += polls(endpoint_seconds, endpoint_minimum)
    return FIXED_EVENTS + EVENTS_PER_POLL_CYCLE * cycles


def split_timeout(limits: Iterable[float], timeout: float) -> list[float]:
    """The longest each polled thing (a job, the endpoint) can take in one execution, in the given order.

    They run one after another inside the execution's timeout, so together they take at most ``timeout``;
    each at most its own limit. Polls per second fall as a thing ages (the wait grows with its age), so the
    most poll cycles come from the timeout shared as evenly as the limits allow: those below an even share
    take their limit, the others share the rest.
    """
    limits = [min(limit, timeout) for limit in limits]
    durations = [0.0] * len(limits)
    remaining = float(timeout)
    order = sorted(range(len(limits)), key=lambda index: limits[index])
    for position, index in enumerate(order):
        durations[index] = min(limits[index], remaining / (len(order) - position))
        remaining -= durations[index]
    return durations


def history_budget() -> int:
    return int(HISTORY_EVENT_QUOTA * HISTORY_HEADROOM)


def check_history_quota(settings) -> None:
    """Raise ValueError when this config's worst case can pass the history quota (called by Settings).

    ``settings`` is a pipeline_core.settings.Settings (not imported: that module imports this one).
    """
    timeout = settings.pipeline_timeout_hours * 3600
    limits = []
    for stage in settings.enabled_job_stages():
        cfg = settings.stages.for_stage(stage)
        limits.append((cfg.max_wait_seconds or cfg.max_runtime_seconds) if cfg.use_spot
                      else cfg.max_runtime_seconds)
    if settings.deploy.enabled:
        limits.append(timeout)  # the endpoint: polled until it settles, at most the whole execution
    # Nothing outlives the execution's own timeout, and the jobs and the endpoint share it.
    durations = split_timeout(limits, timeout)
    endpoint = durations.pop() if settings.deploy.enabled else None
    events = worst_case_history_events(
        durations,
        attempts=settings.retry.max_job_attempts,
        endpoint_seconds=endpoint,
        job_minimum=settings.poll_seconds,
        endpoint_minimum=settings.endpoint_poll_seconds,
        fraction=settings.poll_fraction,
        maximum=settings.max_poll_seconds,
    )
    if events > history_budget():
        raise ValueError(
            f"polling: in the worst case this pipeline's execution history reaches {events:,} events, over "
            f"the {history_budget():,} it may use of Step Functions' {HISTORY_EVENT_QUOTA:,} (the execution "
            f"would fail); raise max_poll_seconds (now {settings.max_poll_seconds}) or poll_fraction (now "
            f"{settings.poll_fraction}), or lower the stages' max_runtime_seconds / max_wait_seconds, "
            f"retry.max_job_attempts or pipeline_timeout_hours"
        )
