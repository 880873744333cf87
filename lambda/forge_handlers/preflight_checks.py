"""Pre-flight checks, each a pure function over typed inputs returning one CheckResult.

What AWS would refuse hours into a run, asked before any job starts: the account's Service Quotas for the
instance types and counts the stages use, the endpoint settings against the supported tiers. The reward
Lambda and IAM checks are in preflight_reward.py and preflight_iam.py; the handler that gathers the inputs
and runs them all is preflight.py.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pipeline_core import service_limits as limits
from pipeline_core import stages as stage_table
from pipeline_core.settings import Settings

Status = Literal["ok", "problem", "skipped"]
SAGEMAKER_SERVICE_CODE = "sagemaker"


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome: ``problems`` holds one clear reason each (empty unless status is problem)."""

    check: str
    status: Status
    detail: str
    problems: tuple[str, ...] = ()

    @classmethod
    def of(cls, check: str, problems: Iterable[str], ok_detail: str) -> CheckResult:
        found = tuple(problems)
        if found:
            return cls(check, "problem", "; ".join(found), found)
        return cls(check, "ok", ok_detail)

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "detail": self.detail,
                "problems": list(self.problems)}

    def line(self) -> str:
        return f"{self.check:<9} {self.status.upper():<8} {self.detail}"


# -- service quotas -----------------------------------------------------------------------------------
def training_quota_name(instance_type: str, spot: bool) -> str:
    """SageMaker's quota names per instance type (Service Quotas, service code "sagemaker")."""
    return f"{instance_type} for {'spot ' if spot else ''}training job usage"


def endpoint_quota_name(instance_type: str) -> str:
    return f"{instance_type} for endpoint usage"


@dataclass(frozen=True)
class QuotaNeed:
    """The instances one quota must allow: the largest count of the settings fields that use it (the stages
    run one after another, so their counts do not add up)."""

    quota_name: str
    count: int
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Quota:
    name: str
    code: str
    value: float
    applied: bool  # False: the account has no applied value; this is AWS's default for the quota

    @classmethod
    def from_api(cls, record: Mapping[str, Any], applied: bool) -> Quota:
        return cls(str(record["QuotaName"]), str(record["QuotaCode"]), float(record["Value"]), applied)


def quota_needs(settings: Settings) -> list[QuotaNeed]:
    """Each quota the enabled stages and the endpoint need; ``local`` instance types need none."""
    needs: dict[str, tuple[int, list[str]]] = {}

    def add(name: str, count: int, where: str) -> None:
        most, fields = needs.get(name, (0, []))
        needs[name] = (max(most, count), [*fields, where] if where not in fields else fields)

    for stage in settings.enabled_job_stages():
        slot = stage_table.stage(stage).settings_key
        cfg = settings.stages.for_stage(stage)
        if cfg.instance_type != limits.LOCAL_INSTANCE_TYPE:
            add(training_quota_name(cfg.instance_type, cfg.use_spot), cfg.instance_count, f"stages.{slot}")
    deploy = settings.deploy
    if deploy.enabled and deploy.instance_type != limits.LOCAL_INSTANCE_TYPE:
        add(endpoint_quota_name(deploy.instance_type), deploy.instance_count, "deploy")
    return [QuotaNeed(name, count, tuple(fields)) for name, (count, fields) in needs.items()]


def _raise_hint(quota: Quota, count: int) -> str:
    return (f"raise it in the Service Quotas console (AWS services > Amazon SageMaker AI > "
            f"'{quota.name}') or with `aws service-quotas request-service-quota-increase --service-code "
            f"{SAGEMAKER_SERVICE_CODE} --quota-code {quota.code} --desired-value {count}`")


def check_quotas(needs: Collection[QuotaNeed], quotas: Mapping[str, Quota]) -> CheckResult:
    """Every need within its quota's applied value (else AWS's default value)."""
    if not needs:
        return CheckResult("quotas", "skipped", "no stage uses an AWS instance type (local instances need no "
                                                "quota)")
    problems = []
    for need in needs:
        quota = quotas.get(need.quota_name)
        fields = ", ".join(need.fields)
        if quota is None:
            problems.append(f"{fields}: no Service Quota named '{need.quota_name}' for service "
                            f"'{SAGEMAKER_SERVICE_CODE}' in this region: the instance type may not be "
                            "offered for this use here")
        elif need.count > quota.value:
            source = "applied value" if quota.applied else "default value (no applied value)"
            problems.append(f"{fields}: needs quota {quota.code} '{quota.name}' >= {need.count}, its "
                            f"{source} is {quota.value:g}; {_raise_hint(quota, need.count)}")
    checked = ", ".join(f"{n.quota_name} {n.count}/{quotas[n.quota_name].value:g}"
                        for n in needs if n.quota_name in quotas)
    return CheckResult.of("quotas", problems, f"within quota: {checked}")


# -- endpoint settings --------------------------------------------------------------------------------
@dataclass(frozen=True)
class EndpointSettings:
    family: str
    model_type: str | None
    instance_type: str
    context_length: int | None = None
    max_concurrency: int | None = None
    enabled: bool = True
    known_instance_types: frozenset[str] = field(default_factory=frozenset)  # botocore's enum (hf)

    @classmethod
    def of(cls, settings: Settings, known_instance_types: Collection[str] = ()) -> EndpointSettings:
        deploy = settings.deploy
        return cls(settings.model.family, settings.model.model_type, deploy.instance_type,
                   deploy.context_length, deploy.max_concurrency, deploy.enabled,
                   frozenset(known_instance_types))


def check_endpoint(endpoint: EndpointSettings) -> CheckResult:
    """Nova: instance, context length and concurrency fit one of the model's tiers (service_limits);
    open weights: the instance type is one SageMaker hosts (or ``local``)."""
    if not endpoint.enabled:
        return CheckResult("endpoint", "skipped", "deploy is disabled")
    try:
        if endpoint.family == "nova":
            tier = limits.endpoint_tier(endpoint.model_type, endpoint.instance_type, endpoint.context_length,
                                        endpoint.max_concurrency)
            return CheckResult("endpoint", "ok", f"{endpoint.instance_type} context/concurrency {tier} fits "
                                                 "a supported tier")
        if endpoint.instance_type == limits.LOCAL_INSTANCE_TYPE:
            return CheckResult("endpoint", "ok", "local endpoint")
        if endpoint.known_instance_types:
            limits.check_known_instance_type(endpoint.instance_type, endpoint.known_instance_types,
                                             "deploy.instance_type")
        return CheckResult("endpoint", "ok", f"{endpoint.instance_type} is a SageMaker hosting instance type")
    except limits.ServiceLimitError as error:
        return CheckResult("endpoint", "problem", str(error), (str(error),))
