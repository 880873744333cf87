"""Pre-flight IAM: the exact (role, action, resource) triples the run will need, and the check of the
deployed roles' answers to them (iam:SimulatePrincipalPolicy on AWS; local mode's own evaluator locally).

The resources come from the names the handlers will use (naming.py) and the S3 layout (layout.py), for
this run's id and the enabled stages: what is asked is what the run touches, not a second list of ARNs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from forge_handlers import naming
from forge_handlers.preflight_checks import CheckResult
from forge_handlers.training_requests import calls_reward_lambda
from pipeline_core import layout
from pipeline_core import stages as stage_table
from pipeline_core.settings import Settings

SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"
SAGEMAKER_ROLE = "sagemaker"  # the execution role's label beside the handler names
# iam:PassRole is only allowed when passed to SageMaker (stacks/roles.py): simulate with that context.
PASS_TO_SAGEMAKER = (("iam:PassedToService", SAGEMAKER_SERVICE),)


@dataclass(frozen=True)
class Deployment:
    """What the stack deployed, as the preflight function's environment names it."""

    region: str
    artifacts_bucket: str
    sagemaker_role_arn: str
    reward_lambda_arn: str = ""
    kms_key_arn: str = ""
    role_arns: Mapping[str, str] = field(default_factory=dict)  # handler name -> its role ARN

    @property
    def partition(self) -> str:
        return self.sagemaker_role_arn.split(":")[1]

    @property
    def account(self) -> str:
        return self.sagemaker_role_arn.split(":")[4]

    def role_arn(self, role: str) -> str:
        return self.sagemaker_role_arn if role == SAGEMAKER_ROLE else self.role_arns.get(role, "")


@dataclass(frozen=True)
class Need:
    role: str  # a handler name or "sagemaker"
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


class _Needs:
    def __init__(self, settings: Settings, deployment: Deployment, run_id: str):
        self.settings, self.deployment, self.run_id = settings, deployment, run_id
        self.items: list[Need] = []

    def add(self, role: str, actions: Sequence[str], resource: str,
            context: tuple[tuple[str, str], ...] = ()) -> None:
        for action in actions:
            need = Need(role, action, resource, context)
            if need not in self.items:
                self.items.append(need)

    def sagemaker(self, kind: str, name: str) -> str:
        d = self.deployment
        return f"arn:{d.partition}:sagemaker:{d.region}:{d.account}:{kind}/{name.lower()}"

    def object(self, key: str) -> str:
        return f"arn:{self.deployment.partition}:s3:::{self.deployment.artifacts_bucket}/{key}"


def iam_needs(settings: Settings, deployment: Deployment, run_id: str,
              datasets: Mapping[str, str]) -> list[Need]:
    """Every (role, action, resource) this run's first attempt of each enabled stage, the deploy, the smoke
    call and the report will need."""
    needs = _Needs(settings, deployment, run_id)
    prefix = settings.resource_prefix
    for stage in settings.enabled_job_stages():
        job = naming.job_name(prefix, run_id, stage, 1)
        job_arn = needs.sagemaker("training-job", job)
        needs.add("launch", ["sagemaker:DescribeTrainingJob", "sagemaker:CreateTrainingJob",
                             "sagemaker:AddTags"], job_arn)
        needs.add("launch", ["iam:PassRole"], deployment.sagemaker_role_arn, PASS_TO_SAGEMAKER)
        needs.add("poll", ["sagemaker:DescribeTrainingJob"], job_arn)
        needs.add("poll", ["s3:PutObject"], needs.object(layout.artifact_key(run_id, stage)))
        dataset = datasets.get(stage_table.stage(stage).dataset)
        if dataset and dataset.startswith(f"s3://{deployment.artifacts_bucket}/"):
            needs.add(SAGEMAKER_ROLE, ["s3:GetObject"], needs.object(naming.split_s3_uri(dataset)[1]))
        output = f"{layout.job_output_prefix(run_id, stage)}{job}/output/model.tar.gz"
        needs.add(SAGEMAKER_ROLE, ["s3:PutObject"], needs.object(output))
        if calls_reward_lambda(settings, stage):
            needs.add(SAGEMAKER_ROLE, ["lambda:InvokeFunction"], deployment.reward_lambda_arn)
    if deployment.kms_key_arn:
        needs.add(SAGEMAKER_ROLE, ["kms:Decrypt", "kms:GenerateDataKey"], deployment.kms_key_arn)
    if settings.deploy.enabled:
        endpoint = needs.sagemaker("endpoint", naming.endpoint_name(prefix))
        config = needs.sagemaker("endpoint-config", naming.endpoint_config_name(prefix, run_id))
        model = needs.sagemaker("model", naming.model_name(prefix, run_id))
        needs.add("deploy", ["sagemaker:CreateModel"], model)
        needs.add("deploy", ["sagemaker:CreateEndpointConfig"], config)
        for resource in (endpoint, config):  # authorized on both (forge/local/iam/requests.py)
            needs.add("deploy", ["sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"], resource)
        needs.add("deploy", ["sagemaker:DescribeEndpoint"], endpoint)
        needs.add("deploy", ["iam:PassRole"], deployment.sagemaker_role_arn, PASS_TO_SAGEMAKER)
        if any(stage_table.stage(stage).measures_champion for stage in settings.enabled_job_stages()):
            # What it describes after the endpoint (config, model, tags) is named by an earlier run.
            needs.add("champion", ["sagemaker:DescribeEndpoint"], endpoint)
            needs.add("champion", ["s3:PutObject"], needs.object(layout.champion_key(run_id)))
        if settings.deploy.smoke_test:
            needs.add("smoke", ["sagemaker:InvokeEndpoint"], endpoint)
    needs.add("report", ["s3:PutObject"], needs.object(layout.report_key(run_id)))
    return needs.items


def role_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


Decisions = Mapping[tuple[str, str, str], str]  # (role ARN, action, resource) -> allowed | implicitDeny | …


def check_iam(needs: Sequence[Need], deployment: Deployment, decisions: Decisions) -> CheckResult:
    """A problem for each needed action the role's policies do not allow, naming action, resource, role."""
    problems = []
    for need in needs:
        arn = deployment.role_arn(need.role)
        if not arn:
            problems.append(f"{need.action} on {need.resource}: the {need.role} role's ARN is not in the "
                            "preflight function's environment (FORGE_ROLE_ARNS)")
            continue
        decision = decisions.get((arn, need.action, need.resource), "not evaluated")
        if decision != "allowed":
            problems.append(f"{need.action} on {need.resource} is not allowed for role {role_name(arn)} "
                            f"({need.role}): {decision}")
    roles = sorted({need.role for need in needs})
    return CheckResult.of("iam", problems, f"{len(needs)} actions allowed for the {', '.join(roles)} roles")
