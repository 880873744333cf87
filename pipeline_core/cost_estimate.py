"""What a run may cost before it starts: per enabled job stage, the bound (instance price x count x the
stage's max runtime, which SageMaker enforces), and the live endpoint's price per hour.

An estimate is only as good as the price table (pipeline_core/prices.py): a type it has no figure for gives
"price unknown", never a guess. Spot jobs bill at most the on-demand bound (their discount varies).
Standard library only: `forge validate`, the pre-flight, the report handler and the notification share it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pipeline_core import prices
from pipeline_core.settings import Settings

DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class StageEstimate:
    stage: str
    instance_type: str
    count: int
    bound_seconds: int  # MaxRuntimeInSeconds: SageMaker stops the job there
    bound_cost: float | None  # None: no price for this type and region
    spot: bool
    note: str

    def to_record(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunEstimate:
    region: str
    stages: list[StageEstimate]
    endpoint_instance_type: str | None  # None: deploy disabled
    endpoint_count: int
    endpoint_per_hour: float | None

    @property
    def bound_total(self) -> tuple[float, bool]:
        """The sum of the known stage bounds and whether every stage had a price."""
        known = [s.bound_cost for s in self.stages if s.bound_cost is not None]
        return sum(known), len(known) == len(self.stages)

    def to_record(self) -> dict[str, Any]:
        amount, complete = self.bound_total
        return {
            "region": self.region,
            "prices_date": prices.PRICES_DATE,
            "prices_source": prices.SOURCE_URL,
            "stages": [s.to_record() for s in self.stages],
            "training_bound_total": amount,
            "training_bound_complete": complete,
            "endpoint": {"instance_type": self.endpoint_instance_type, "count": self.endpoint_count,
                         "per_hour": self.endpoint_per_hour},
        }

    def lines(self) -> list[str]:
        """Human-readable, one line per stage, then the total and the endpoint."""
        out = [f"cost estimate ({self.region}, on-demand prices of {prices.PRICES_DATE}, "
               f"{prices.SOURCE_URL}):"]
        for stage in self.stages:
            bound = "price unknown" if stage.bound_cost is None else f"at most ${stage.bound_cost:,.2f}"
            out.append(f"  {stage.stage}: {stage.count} x {stage.instance_type}, {bound} ({stage.note})")
        amount, complete = self.bound_total
        known = any(s.bound_cost is not None for s in self.stages)
        total = (f"at most ${amount:,.2f}" if complete
                 else f"at most ${amount:,.2f} + the unknown stages" if known else "unknown")
        out.append(f"  training total: {total}")
        if self.endpoint_instance_type:
            rate = ("price unknown" if self.endpoint_per_hour is None
                    else f"${self.endpoint_per_hour:,.2f} per hour while it runs")
            out.append(f"  endpoint: {self.endpoint_count} x {self.endpoint_instance_type}, {rate}")
        return out


def _stage_estimate(stage: str, instance_type: str, count: int, seconds: int, spot: bool,
                    region: str) -> StageEstimate:
    if instance_type == prices.LOCAL_INSTANCE:
        return StageEstimate(stage, instance_type, count, seconds, 0.0, spot, "local, no charge")
    rate = prices.price(instance_type, region, prices.TRAINING)
    hours = seconds / 3600
    if rate is None:
        return StageEstimate(stage, instance_type, count, seconds, None, spot,
                             f"no price for {instance_type} in pipeline_core/prices.py")
    spot_note = "; spot bills less" if spot else ""
    note = f"max runtime {hours:g} h x ${rate}/h{spot_note}"
    return StageEstimate(stage, instance_type, count, seconds, rate * count * hours, spot, note)


def estimate(settings: Settings, region: str | None = None) -> RunEstimate:
    region = region or settings.region or DEFAULT_REGION
    stages = [
        _stage_estimate(name, job.instance_type, job.instance_count, job.max_runtime_seconds, job.use_spot,
                        region)
        for name in settings.enabled_job_stages()
        for job in [settings.stages.for_stage(name)]
    ]
    deploy = settings.deploy
    if not deploy.enabled:
        return RunEstimate(region, stages, None, 0, None)
    rate = prices.price(deploy.instance_type, region, prices.HOSTING)
    per_hour = None if rate is None else rate * deploy.instance_count
    return RunEstimate(region, stages, deploy.instance_type, deploy.instance_count, per_hour)
