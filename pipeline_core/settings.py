"""The one typed settings model of a pipeline, loaded from a YAML config and validated once.

This module imports only pydantic and the rest of pipeline_core (PyYAML inside ``load_settings``): it ships
inside the Lambda bundle too, so the handlers read the very settings the stack was synthesized from
(``settings.json`` in the bundle).
"""

from __future__ import annotations

import json
import re
import reprlib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from pipeline_core import polling, reward_module
from pipeline_core import service_limits as limits
from pipeline_core import stages as stage_table
from pipeline_core.hyperparameters import check_stage_hyperparameters
from pipeline_core.nova_keywords import reserved_keywords_in
from pipeline_core.settings_task import MetricsSettings, TaskSettings, check_task, is_generation
from pipeline_core.tracking import TrackingSettings

# The published case study's system prompt, verbatim: part of the experiment's definition.
CASE_STUDY_SYSTEM_PROMPT = (
    "This is a stack overflow question from 2016-2020 and it can be classified into three categories:\n"
    "* HQ: High-quality posts without a single edit.\n"
    "* LQ_EDIT: Low-quality posts with a negative score, and multiple community edits. "
    "However, they remain open after those changes.\n"
    "* LQ_CLOSE: Low-quality posts that were closed by the community without a single edit.\n"
    "You are a technical assistant who will classify the question from users into any of above three "
    "categories. Respond with only the category name: HQ, LQ_EDIT, or LQ_CLOSE.\n"
    "**Do not add any explanation, just give the category as output**."
)
CASE_STUDY_LABELS = ["HQ", "LQ_EDIT", "LQ_CLOSE"]

HyperValue = str | int | float | bool


class ConfigError(ValueError):
    """A config file is missing, unreadable or invalid; the message names the field. It is cut to 3,000
    characters: a hostile config must not make a huge error (nor a failed execution's huge Cause)."""

    def __init__(self, message: object = "") -> None:
        text = str(message)
        super().__init__(text if len(text) <= 3000 else f"{text[:2960]}\n  … ({len(text):,} chars in all)")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSettings(_Strict):
    """How the user's CSV/JSONL maps onto the task."""

    query_column: str = "text"
    label_column: str = "rating"
    id_column: str | None = None
    system_column: str | None = None
    labels: Annotated[list[str], Field(min_length=2)] = list(CASE_STUDY_LABELS)
    system_prompt: str = CASE_STUDY_SYSTEM_PROMPT
    # Rows over this are rejected as garbage. Long but real questions (the case study has a few of
    # 30k+ characters) pass and are cut by max_query_tokens in the job code instead.
    max_query_chars: Annotated[int, Field(gt=0)] = 60_000
    # Truncation policy for job code: questions are cut to this many tokens before training/eval.
    max_query_tokens: Annotated[int, Field(gt=0)] = 512
    # Prepare rewrites \r\n and \r to \n in the questions before the split, removing the line-ending
    # shortcut (job_code/core/shortcuts.py). Off by default: the published case study used the raw text.
    normalize_line_endings: bool = False

    @field_validator("labels")
    @classmethod
    def _labels_unique(cls, labels: list[str]) -> list[str]:
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels must be unique, got {labels}")
        if any(not label.strip() for label in labels):
            raise ValueError("labels must be non-empty strings")
        return labels


class SplitSettings(_Strict):
    """Deterministic stratified split. Defaults are the case study's preset."""

    sft: Annotated[int, Field(ge=0)] = 3500
    eval: Annotated[int, Field(gt=0)] = 500
    rft: Annotated[int, Field(ge=0)] = 700
    reuse_sft_for_rft: bool = True
    seed: int = 42


class JobStageSettings(_Strict):
    """One SageMaker training-job stage (an eval is a training job too, as Nova's gen_qa is)."""

    enabled: bool = True
    instance_type: str = "ml.g5.12xlarge"
    instance_count: Annotated[int, Field(ge=1, le=64)] = 1
    max_runtime_seconds: Annotated[int, Field(ge=60, le=28 * 24 * 3600)] = 86_400
    use_spot: bool = False
    max_wait_seconds: Annotated[int, Field(ge=60)] | None = None
    volume_size_gb: Annotated[int, Field(ge=1, le=16_384)] = 100
    # nova: the recipe method; hf: ignored (the stage decides the entry point).
    method: Literal["SFT_LORA", "SFT_FULL", "RFT_LORA", "EVAL_GEN_QA"] | None = None
    # hf: job-code hyperparameters (sent as strings). nova: recipe overrides (dotted keys).
    hyperparameters: dict[str, HyperValue] = Field(default_factory=dict)
    recipe_overrides: dict[str, HyperValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _spot_wait(self) -> JobStageSettings:
        too_short = self.max_wait_seconds is not None and self.max_wait_seconds < self.max_runtime_seconds
        if self.use_spot and too_short:
            raise ValueError("max_wait_seconds must be >= max_runtime_seconds when use_spot is true")
        return self


class StagesSettings(_Strict):
    baseline_eval: JobStageSettings = JobStageSettings(method="EVAL_GEN_QA")
    sft: JobStageSettings = JobStageSettings(method="SFT_LORA")
    rft: JobStageSettings = JobStageSettings(method="RFT_LORA")
    # Settings of the evaluations after SFT and after RFT; they run iff their training stage runs.
    eval: JobStageSettings = JobStageSettings(method="EVAL_GEN_QA")

    def enabled_job_stages(self, *, deploy: bool) -> list[str]:
        """Job stages in pipeline order (pipeline_core.stages), disabled ones left out. The champion's
        evaluation runs (when there is a champion) only in a pipeline that deploys (``deploy``) something
        it trained: no other pipeline has a model on its endpoint to beat. Settings.enabled_job_stages
        passes deploy.enabled."""
        own = {name for name in stage_table.names()
               if stage_table.runs_with(name) != stage_table.CHAMPION
               and self.for_stage(stage_table.runs_with(name)).enabled}
        trains = any(not stage_table.stage(name).is_eval for name in own)
        return [name for name in stage_table.names()
                if name in own or (stage_table.runs_with(name) == stage_table.CHAMPION and deploy and trains)]

    def for_stage(self, stage: str) -> JobStageSettings:
        """The settings slot a job stage reads (the table's settings_key); KeyError for an unknown stage."""
        return getattr(self, stage_table.stage(stage).settings_key)


class ModelSettings(_Strict):
    family: Literal["nova", "hf"]
    # nova: recipe model_name_or_path (e.g. "nova-lite-2/prod"); hf: hub id, local dir or s3:// URI.
    base_model: str
    # nova only: the recipe's model_type.
    model_type: str | None = None


class ImageSettings(_Strict):
    """Container images per region. Empty maps use the documented defaults of the launch logic."""

    training: dict[str, str] = Field(default_factory=dict)
    inference: dict[str, str] = Field(default_factory=dict)


class GateSettings(_Strict):
    # A built-in (settings_task.GATE_BUILTIN_METRICS) or a metrics.modules metric (checked at gate time).
    metric: str = "accuracy"
    min_gain_over_baseline: float = 0.0
    # ... and beat the model deployed on the pipeline's endpoint as the run began, scored on the same eval
    # set (champion/challenger), by this margin; a run with nothing deployed has no champion to beat.
    min_gain_over_champion: float = 0.0
    # For label metrics, the candidate must also beat guessing a label uniformly at random and always
    # answering the eval set's most frequent label, by these margins (pipeline_core/gate_rules.py).
    min_gain_over_chance: float = 0.01
    min_gain_over_majority: float = 0.01
    # The candidate is the last evaluated stage; it must also reach this absolute floor.
    min_value: Annotated[float, Field(ge=0.0)] = 0.0
    # A candidate that passes is registered PendingManualApproval and the run ends before deploying;
    # approving its model package (forge approve, or the registry) deploys it (pipeline_core/registry.py).
    require_approval: bool = False


class DeploySettings(_Strict):
    enabled: bool = True
    # nova: omitted = the first endpoint type of service_limits (ml.g6.48xlarge for Nova Lite 2).
    instance_type: str = "ml.g5.xlarge"
    instance_count: Annotated[int, Field(ge=1, le=16)] = 1
    smoke_test: bool = True
    # Updates of a live endpoint go blue/green under two CloudWatch alarms (5XX errors, model latency above
    # max_model_latency_ms), watched for bake_seconds before the old fleet goes (endpoint_guardrails.py).
    rollback_alarms: bool = True
    max_model_latency_ms: Annotated[int, Field(gt=0)] = 10_000
    bake_seconds: Annotated[int, Field(ge=0, le=3600)] = 300  # WaitIntervalInSeconds: 0-3600 (API)
    # nova only: the inference container's CONTEXT_LENGTH / MAX_CONCURRENCY, which must fit one of the
    # instance type's tiers (service_limits). An omitted one comes from the first tier, by context
    # length, that admits the other (both omitted: the first tier, e.g. 8000/8 on ml.g6.48xlarge).
    context_length: Annotated[int, Field(gt=0)] | None = None
    max_concurrency: Annotated[int, Field(gt=0)] | None = None
    # Lifetime of the endpoint from each deploy: an EventBridge Scheduler one-time schedule deletes it
    # (endpoint_guardrails.py). None: no expiry. From 15 minutes (less than an endpoint takes to come up)
    # to a year.
    ttl_hours: Annotated[float, Field(ge=0.25, le=8760)] | None = None


class RewardSettings(_Strict):
    """Weights of the built-in label reward (job_code.core.reward), or a custom reward module.

    ``module``: a Python file (path relative to the config file) with ``score(completion, reference, row)``
    (contract: job_code/core/custom_reward.py, docs/custom-reward.md). Loaded from a file, it is checked to
    exist, to be a ``.py`` file with an importable name and to lie inside the config's repository tree;
    ``source_path`` is then its absolute path (not serialized: settings.json keeps the relative path).
    ``requirements``: its pinned ``name==version`` requirements; empty means the standard library only.
    Both are left out of the dump when unset, so a config without them synthesizes as before.
    """

    correct_label: float = 1.0
    exact_format: float = 0.5
    verbosity_penalty: float = 0.5
    # Answers longer than this many characters earn the full verbosity penalty.
    verbose_chars: Annotated[int, Field(gt=0)] = 64
    module: str | None = None
    requirements: list[str] = Field(default_factory=list)
    _source_path: Path | None = PrivateAttr(default=None)

    @field_validator("requirements")
    @classmethod
    def _pinned(cls, value: list[str]) -> list[str]:
        for requirement in value:
            if not isinstance(requirement, str) or not reward_module.PINNED.fullmatch(requirement.strip()):
                raise ValueError(f"reward.requirements: {requirement!r} is not pinned as name==version")
        return [requirement.strip() for requirement in value]

    @model_validator(mode="after")
    def _resolve_module(self, info: ValidationInfo) -> RewardSettings:
        if self.module is None:
            return self
        if not self.module.strip():
            raise ValueError("reward.module is empty; leave it out to use the built-in label reward")
        config_dir = (info.context or {}).get("config_dir")
        if config_dir is not None:  # loaded from a file: resolve and check it (settings.json: already done)
            self._source_path = reward_module.checked_module(self.module, Path(config_dir))
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        if self.module is None:
            data.pop("module", None)
        if not self.requirements:
            data.pop("requirements", None)
        return data

    @property
    def source_path(self) -> Path | None:
        """The module's absolute path when the settings were loaded from a config file."""
        return self._source_path

    def weights(self) -> dict[str, Any]:
        """The built-in reward's weights only."""
        return self.model_dump(exclude={"module", "requirements"})


class RetrySettings(_Strict):
    # A job that failed for lack of capacity is relaunched under a new attempt name, up to this many tries.
    max_job_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    # Step Functions Retry of a Lambda task on throttling / resource limits / Lambda service errors
    # (exponential backoff with full jitter). Tests use 1 s so a retried task costs about a second.
    task_interval_seconds: Annotated[int, Field(ge=1, le=300)] = 5
    task_max_attempts: Annotated[int, Field(ge=1, le=10)] = 5
    task_backoff_rate: Annotated[float, Field(ge=1.0, le=10.0)] = 2.0
    task_max_delay_seconds: Annotated[int, Field(ge=1, le=3600)] = 120


class ScheduleSettings(_Strict):
    expression: str  # an EventBridge schedule expression, e.g. "cron(0 3 ? * MON *)"
    dataset: str  # s3:// URI of the CSV to run on

    @field_validator("expression")
    @classmethod
    def _expression(cls, value: str) -> str:
        if not re.fullmatch(r"(cron|rate)\(.+\)", value):
            raise ValueError(f"schedule expression must be cron(...) or rate(...), got {value!r}")
        return value


# A pipeline name: lowercase, single hyphens between letters/digits (see Settings.name). Every SageMaker
# name is "<name>--<run>-...": the name cannot contain "--", so the first "--" ends it unambiguously.
NAME_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
RESOURCE_SEPARATOR = "--"


class Settings(_Strict):
    """Everything one pipeline stack is built from."""

    # IAM scopes SageMaker resources to "<name>--*" (stacks/roles.py), which no other pipeline's names match.
    name: Annotated[str, Field(pattern=NAME_PATTERN, min_length=2, max_length=21)] = "forge"
    region: str | None = None
    account: str | None = None
    model: ModelSettings
    task: TaskSettings = TaskSettings()  # classification (the default) or generation (settings_task.py)
    metrics: MetricsSettings = MetricsSettings()  # the user's metric files, run by the eval job
    data: DataSettings = DataSettings()
    split: SplitSettings = SplitSettings()
    stages: StagesSettings = StagesSettings()
    images: ImageSettings = ImageSettings()
    gate: GateSettings = GateSettings()
    deploy: DeploySettings = DeploySettings()
    reward: RewardSettings = RewardSettings()
    retry: RetrySettings = RetrySettings()
    tracking: TrackingSettings = TrackingSettings()  # MLflow (pipeline_core/tracking.py)
    # Waits between two polls (polling.py): a tenth of the job's / endpoint's age, at least these
    # minimums (tests use 0), at most max_poll_seconds, so the execution history stays bounded.
    poll_seconds: Annotated[int, Field(ge=0, le=3600)] = 60
    endpoint_poll_seconds: Annotated[int, Field(ge=0, le=3600)] = 30
    poll_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    max_poll_seconds: Annotated[int, Field(ge=1, le=3600)] = 600
    pipeline_timeout_hours: Annotated[int, Field(ge=1, le=24 * 30)] = 72
    notification_email: str | None = None
    schedule: ScheduleSettings | None = None
    # Names of images' ECR repositories the SageMaker role may pull from (beyond AWS's own accounts).
    image_repositories: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    # Infrastructure knobs (stacks/): Lambda sizing, the public AWS-managed Powertools v3 layer, retention.
    handler_memory_mb: Annotated[int, Field(ge=128, le=10_240)] = 512
    handler_timeout_seconds: Annotated[int, Field(ge=3, le=900)] = 120
    # Nova RFT calls the reward Lambda synchronously; Lambda allows up to 15 minutes.
    reward_timeout_minutes: Annotated[int, Field(ge=1, le=15)] = 15
    reward_memory_mb: Annotated[int, Field(ge=128, le=10_240)] = 1024
    powertools_layer_version: Annotated[int, Field(ge=1)] = 27
    log_retention_days: Literal[30, 90, 180, 365, 731, 1827, 3653] = 365
    # Buckets and the key outlive `cdk destroy` unless this is false (demo / test stacks only).
    retain_data: bool = True

    @model_validator(mode="before")
    @classmethod
    def _family_defaults(cls, raw: Any) -> Any:
        return _nova_defaults(raw)

    @model_validator(mode="after")
    def _family_rules(self) -> Settings:
        if self.model.family == "nova" and not self.model.model_type:
            raise ValueError("model.model_type is required when model.family is 'nova'")
        if not self.enabled_job_stages():
            raise ValueError("stages: at least one job stage must be enabled")
        check_task(self)
        if self.model.family == "nova":
            _check_nova_texts(self)
        try:
            _check_service_limits(self)
        except limits.ServiceLimitError as error:
            raise ValueError(str(error)) from None
        polling.check_history_quota(self)
        check_stage_hyperparameters(self)  # hyperparameters.py: what each stage's job would reject
        return self

    def enabled_job_stages(self) -> list[str]:
        """The job stages this pipeline runs, in pipeline order (StagesSettings.enabled_job_stages)."""
        return self.stages.enabled_job_stages(deploy=self.deploy.enabled)

    @property
    def resource_prefix(self) -> str:
        """Prefix of every SageMaker resource name this pipeline creates (IAM is scoped to it)."""
        return self.name

    @property
    def experiment_name(self) -> str:
        """The MLflow experiment every run of this pipeline is tracked in."""
        return self.tracking.experiment or self.resource_prefix

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True)


def _check_nova_texts(settings: Settings) -> None:
    """Texts every Nova record carries must pass Nova's dataset rules, or every job would fail."""
    data = settings.data
    if found := reserved_keywords_in(data.system_prompt):
        raise ValueError(f"data.system_prompt contains Nova reserved keyword(s) {found}: every SFT and "
                         "RFT record would be invalid (Nova matches them case-sensitively)")
    for label in [] if is_generation(settings) else data.labels:
        if found := reserved_keywords_in(label):
            raise ValueError(f"data.labels: {label!r} contains Nova reserved keyword(s) {found}")
    if settings.stages.rft.enabled and not data.system_prompt.strip():
        raise ValueError("data.system_prompt is empty: Nova RFT rejects records with an empty message "
                         "(set a system prompt or disable stages.rft)")


# --- service limits (pipeline_core.service_limits) ------------------------------------------------------
def _slots() -> dict[str, stage_table.Stage]:
    """Each settings slot of a job stage -> the first stage that reads it (job type, default method)."""
    slots: dict[str, stage_table.Stage] = {}
    for stage in stage_table.job_stages():
        slots.setdefault(stage.settings_key, stage)
    return slots


def _nova_defaults(raw: Any) -> Any:
    """Nova: an omitted instance type / count / endpoint tier is the first the table allows (hf keeps the
    field defaults). Runs on the raw dict so settings.json records the values the jobs will use."""
    model = raw.get("model") if isinstance(raw, dict) else None
    nova = isinstance(model, dict) and model.get("family") == "nova"
    if not nova or model.get("model_type") not in limits.NOVA_MODELS:
        return raw  # the validators report what is wrong
    table = limits.NOVA_MODELS[model["model_type"]]
    raw, stages = dict(raw), dict(raw.get("stages") or {})
    for slot, first in _slots().items():
        default_method = first.default_method
        stage = stages.get(slot, {"method": default_method})
        if not isinstance(stage, dict):
            continue
        stage, rule = dict(stage), table.jobs.get(stage.get("method") or default_method)
        if rule:
            stage.setdefault("instance_type", rule.instance_types[0])
            if rule.instance_counts:
                stage.setdefault("instance_count", rule.instance_counts[0])
        stages[slot] = stage
    raw["stages"] = stages
    deploy = raw.get("deploy", {})
    if isinstance(deploy, dict):
        deploy = {"instance_type": next(iter(table.endpoint)), **deploy}
        context, concurrency = deploy.get("context_length"), deploy.get("max_concurrency")
        given = all(value is None or isinstance(value, int) for value in (context, concurrency))
        instance_type = deploy["instance_type"]
        if given and instance_type in table.endpoint:
            try:
                tier = limits.endpoint_tier(model["model_type"], instance_type, context, concurrency)
                deploy.update(context_length=tier.context_length, max_concurrency=tier.max_concurrency)
            except limits.ServiceLimitError:
                pass  # reported by _check_service_limits, naming the field
        raw["deploy"] = deploy
    return raw


def _slot_runs(settings: Settings, slot: str) -> bool:
    enabled = settings.enabled_job_stages()
    return any(stage.settings_key == slot and stage.name in enabled for stage in stage_table.job_stages())


def _check_service_limits(settings: Settings) -> None:
    """What AWS would reject at CreateTrainingJob / CreateEndpointConfig, named by settings field."""
    family, model_type = settings.model.family, settings.model.model_type
    for slot, first in _slots().items():
        if not _slot_runs(settings, slot):
            continue
        cfg = settings.stages.for_stage(first.name)
        field = f"stages.{slot}"
        method = cfg.method or first.default_method
        kind = first.job
        if family == "nova" and method not in first.methods:
            raise limits.ServiceLimitError(f"{field}.method: {method} does not run a {kind} stage; use one "
                                           f"of {', '.join(first.methods)}")
        limits.check_job_instance(family, model_type, method, cfg.instance_type, cfg.instance_count,
                                  f"{field}.instance_type")
        # The stage's own hyperparameters (hf) plus the pipeline's; pipeline values not known at synth count
        # as empty strings (training_requests checks the request it builds).
        hyper: dict[str, object] = dict.fromkeys(limits.PIPELINE_HYPERPARAMETER_KEYS[family], "")
        hyper["base_model"] = settings.model.base_model
        if family == "hf":
            hyper["labels"] = json.dumps(settings.data.labels)
            hyper.update(cfg.hyperparameters)
        limits.check_hyperparameters(hyper, f"{field}.hyperparameters")
    deploy = settings.deploy
    if family == "nova" and deploy.enabled:
        limits.endpoint_tier(model_type, deploy.instance_type, deploy.context_length, deploy.max_concurrency)
    elif family == "hf" and (deploy.context_length or deploy.max_concurrency):
        raise limits.ServiceLimitError(
            "deploy.context_length / deploy.max_concurrency configure the Nova inference container only; "
            "the open-weights endpoint runs our own serving code"
        )


# A bad value is shown cut (reprlib): a huge string, list or mapping must not make a huge error.
_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother = 2, 60, 60


def _format_error(error: ValidationError, source: str) -> str:
    lines = [f"invalid config {source}:"]
    for item in error.errors():
        if not item["loc"] and item["msg"].startswith("Value error, "):
            lines.append(f"  {item['msg'].removeprefix('Value error, ')}")  # a model rule names its field
            continue
        field = ".".join(str(part) for part in item["loc"])[:100] or "(top level)"
        value = item.get("input")
        shown = "" if isinstance(value, dict) else f" (got {_SHOWN.repr(value)})"
        lines.append(f"  {field}: {item['msg']}{shown}")
    return "\n".join(lines)


def parse_settings(raw: dict[str, Any], source: str = "<dict>", config_dir: Path | None = None) -> Settings:
    """``config_dir``: where paths in the config (reward.module) are relative to; None checks no file."""
    try:
        return Settings.model_validate(raw, context={"config_dir": config_dir} if config_dir else None)
    except ValidationError as error:
        raise ConfigError(_format_error(error, source)) from None


def load_settings(path: str | Path) -> Settings:
    """Load and validate a YAML (or JSON) config. Raises ConfigError naming the file and the bad field.
    Encodings, size and alias limits: pipeline_core/config_files.py."""
    # Imported here: it needs PyYAML, which the Lambda runtime lacks (handlers only read settings.json).
    from pipeline_core.config_files import read_config

    return parse_settings(read_config(path), str(path), Path(path).resolve().parent)
