"""pipeline_core.prices: the on-demand table and job_cost."""

from __future__ import annotations

import pytest

from pipeline_core import prices


def test_a_known_type_costs_instance_hours_times_its_price() -> None:
    cost = prices.job_cost("ml.g5.2xlarge", 2, 1800)
    assert cost.instance_hours == pytest.approx(1.0)
    assert cost.cost == pytest.approx(prices.PRICES[(prices.TRAINING, "us-east-1")]["ml.g5.2xlarge"])
    assert "on demand" in cost.note and prices.PRICES_DATE in cost.note


def test_an_unknown_type_has_no_cost_and_says_why() -> None:
    for instance_type in ("ml.p5.48xlarge", "ml.nothing.large"):
        cost = prices.job_cost(instance_type, 1, 3600)
        assert cost.cost is None and cost.price_per_hour is None
        assert "price unknown" in cost.note and instance_type in cost.note
    assert prices.job_cost("ml.g5.xlarge", 1, 3600, region="eu-west-9").cost is None


def test_local_mode_costs_nothing() -> None:
    cost = prices.job_cost(prices.LOCAL_INSTANCE, 1, 120)
    assert cost.cost == 0.0 and cost.note == "local, no charge"


def test_billable_seconds_replace_the_run_time_and_spot_needs_them() -> None:
    rate = prices.price("ml.g5.xlarge")
    billed = prices.job_cost("ml.g5.xlarge", 1, 7200, billable_seconds=3600)
    assert billed.cost == pytest.approx(rate) and "BillableTimeInSeconds" in billed.note
    spot = prices.job_cost("ml.g5.xlarge", 1, 7200, billable_seconds=1800, spot=True)
    assert spot.cost == pytest.approx(rate / 2) and "spot" in spot.note
    unknown = prices.job_cost("ml.g5.xlarge", 1, 7200, spot=True)
    assert unknown.cost is None and "BillableTimeInSeconds" in unknown.note


def test_total_says_when_it_is_incomplete() -> None:
    known, unknown = prices.job_cost("ml.g5.xlarge", 1, 3600), prices.job_cost("ml.p5.48xlarge", 1, 3600)
    assert prices.total([known]) == (pytest.approx(known.cost), True)
    assert prices.total([known, unknown]) == (pytest.approx(known.cost), False)
    with pytest.raises(ValueError, match="instance count 0"):
        prices.job_cost("ml.g5.xlarge", 0, 10)


def test_every_figure_is_a_positive_price_or_none() -> None:
    for table in prices.PRICES.values():
        assert all(value is None or value > 0 for value in table.values())
