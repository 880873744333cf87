"""On-demand SageMaker prices ($ per instance-hour) and what a job cost.

A table, not a guess: a price is a figure some source gave, and every other one is None ("price unknown"),
never an estimate. The AWS pricing page (SOURCE_URL) is rendered by JavaScript and was not readable here;
the figures below are the on-demand us-east-1 rates that public code quotes from that page or from the AWS
Price List API (usage type ``USE1-Train:<type>``), kept only where the quotes agree. Check them against
SOURCE_URL before relying on a total, and add a region or a type by adding a row.

Standard library only: the report handler (Lambda) and the CLI's estimates (issue 15) import it alike.
"""

from __future__ import annotations

from typing import NamedTuple

SOURCE_URL = "https://aws.amazon.com/sagemaker-ai/pricing/"
PRICES_DATE = "2026-08-20"  # the newest dated quote the figures come from
CURRENCY = "USD"
TRAINING = "training"
HOSTING = "hosting"
# The SageMaker SDK's local-mode instance type (local mode's jobs run on this machine).
LOCAL_INSTANCE = "local"

# (usage, region) -> instance type -> $ per instance-hour, None where no source gave a figure.
# Sources (public code quoting the pricing page / Price List API, us-east-1):
#   [PL]  a retraining pipeline's comment "aws pricing get-products --service-code AmazonSageMaker
#         --filters usagetype=USE1-Train:ml.g5.2xlarge, us-east-1, 2026-08-20": 1.515
#   [Q]   the figure most public cost tables quote (three or more agree, an outlier differs):
#         g5.xlarge 1.408, g5.12xlarge 7.09, p4d.24xlarge 37.688.
# ml.g6.*, ml.p5.48xlarge and ml.p5en.48xlarge: the quotes disagree (p5: 113.07 vs 98.32, before and after
# AWS's 2025 P5 price cut), so they stay None rather than pick one.
PRICES: dict[tuple[str, str], dict[str, float | None]] = {
    (TRAINING, "us-east-1"): {
        "ml.g5.xlarge": 1.408,  # [Q]
        "ml.g5.2xlarge": 1.515,  # [PL]
        "ml.g5.12xlarge": 7.09,  # [Q]
        "ml.g5.48xlarge": None,
        "ml.g6.xlarge": None,
        "ml.g6.12xlarge": None,
        "ml.g6.48xlarge": None,
        "ml.p4d.24xlarge": 37.688,  # [Q]
        "ml.p5.48xlarge": None,
        "ml.p5en.48xlarge": None,
        "ml.m5.xlarge": None,
    },
    (HOSTING, "us-east-1"): {
        "ml.g5.xlarge": 1.408,  # [Q]: an endpoint cost table quoting the hosting rate
        "ml.g5.2xlarge": None,
        "ml.g6.48xlarge": None,
        "ml.p5.48xlarge": None,
    },
}


class JobCost(NamedTuple):
    instance_type: str
    count: int
    seconds: float  # the seconds charged for: the billable seconds when known, else the run time
    instance_hours: float
    price_per_hour: float | None
    cost: float | None  # None: no price for this type and region, or a spot job without billable seconds
    note: str  # how the figure was made, shown beside it


def price(instance_type: str, region: str = "us-east-1", usage: str = TRAINING) -> float | None:
    """$ per instance-hour on demand; 0.0 for local mode; None when the table has no figure."""
    if instance_type == LOCAL_INSTANCE:
        return 0.0
    return PRICES.get((usage, region), {}).get(instance_type)


def job_cost(
    instance_type: str,
    count: int,
    seconds: float | None,
    billable_seconds: float | None = None,
    spot: bool = False,
    *,
    region: str = "us-east-1",
    usage: str = TRAINING,
) -> JobCost:
    """What a job cost: instance-hours x the on-demand price.

    SageMaker's BillableTimeInSeconds, when given, is what is charged for (for managed spot training it is
    already the discounted time: AWS states the saving as 1 - billable / training seconds), so it replaces
    ``seconds``. A spot job without it has no known cost: spot prices vary by the hour.
    """
    if count < 1:
        raise ValueError(f"job_cost: instance count {count} must be >= 1")
    charged = billable_seconds if billable_seconds is not None else seconds
    hours = (charged or 0) * count / 3600
    where = "BillableTimeInSeconds" if billable_seconds is not None else "run time"
    if instance_type == LOCAL_INSTANCE:
        return JobCost(instance_type, count, charged or 0, hours, 0.0, 0.0, "local, no charge")
    rate = price(instance_type, region, usage)
    if rate is None:
        note = f"price unknown for {instance_type} ({usage}, {region}): not in pipeline_core/prices.py"
        return JobCost(instance_type, count, charged or 0, hours, None, None, note)
    if charged is None:
        return JobCost(instance_type, count, 0, 0.0, rate, None, "no run time recorded")
    if spot and billable_seconds is None:
        note = "spot: cost unknown without SageMaker's BillableTimeInSeconds"
        return JobCost(instance_type, count, charged, hours, rate, None, note)
    spot_note = ", spot (billable seconds)" if spot else ""
    note = f"{count} x {instance_type} at ${rate}/h on demand ({region}, {PRICES_DATE}), {where}{spot_note}"
    return JobCost(instance_type, count, charged, hours, rate, hours * rate, note)


def total(costs: list[JobCost]) -> tuple[float, bool]:
    """The sum of the known costs and whether it is complete (every job had a cost)."""
    known = [c.cost for c in costs if c.cost is not None]
    return sum(known), len(known) == len(costs)
