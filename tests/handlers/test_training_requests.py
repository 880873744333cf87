"""Every CreateTrainingJob request, for every config x stage, passes botocore's own validation."""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import pytest
from botocore.validate import ParamValidator
from forge_handlers import nova_recipes
from forge_handlers.config import Environment
from forge_handlers.errors import ConfigError
from forge_handlers.naming import NAME_PATTERN, job_name
from forge_handlers.training_requests import ModelSource, build_training_job, hf_training_image

from pipeline_core import stages as stage_table
from pipeline_core.settings import ConfigError as SettingsConfigError
from pipeline_core.settings import Settings, load_settings
from tests.handlers.conftest import (
    ARTIFACTS_BUCKET,
    CONFIG_FILES,
    DATA_BUCKET,
    KMS_ARN,
    REWARD_ARN,
    ROLE_ARN,
    a_run,
    derive,
)

SERVICE_MODEL = botocore.session.get_session().get_service_model("sagemaker")
CREATE_JOB = SERVICE_MODEL.operation_model("CreateTrainingJob").input_shape
INSTANCE_TYPES = set(SERVICE_MODEL.shape_for("TrainingInstanceType").enum)
ENV = Environment(
    data_bucket=DATA_BUCKET,
    artifacts_bucket=ARTIFACTS_BUCKET,
    sagemaker_role_arn=ROLE_ARN,
    reward_lambda_arn=REWARD_ARN,
    kms_key_arn=KMS_ARN,
    region="us-east-1",
)
UPSTREAM = {"eval_sft": "sft", "eval_rft": "rft", "rft": "sft"}


def _variants() -> list[tuple[str, Settings]]:
    """Every config file, plus the methods / options the files do not exercise."""
    variants = [(path.stem, load_settings(path)) for path in CONFIG_FILES]
    nova = load_settings(Path(CONFIG_FILES[0]).parent / "nova.yaml")
    hf = load_settings(Path(CONFIG_FILES[0]).parent / "open-weights.yaml")
    variants.append(
        ("nova-sft-full", derive(nova, stages__sft__method="SFT_FULL", stages__sft__recipe_overrides={}))
    )
    variants.append(("nova-rft-only", derive(nova, stages__sft__enabled=False)))
    variants.append(
        ("hf-multinode-spot", derive(hf, stages__rft__instance_count=2, stages__rft__use_spot=True))
    )
    return variants


VARIANTS = _variants()
CASES = [
    pytest.param(settings, stage, id=f"{name}-{stage}")
    for name, settings in VARIANTS
    for stage in settings.enabled_job_stages()
]


def _source(settings: Settings, stage: str) -> ModelSource:
    if stage_table.stage(stage).measures_champion:  # the weights an earlier run deployed
        uri = ("s3://customer-escrow-123/rft-job/checkpoint/" if settings.model.family == "nova"
               else f"s3://{ARTIFACTS_BUCKET}/runs/run-0/deployed/model.tar.gz")
        return ModelSource(uri=uri, from_stage=stage_table.CHAMPION)
    upstream = UPSTREAM.get(stage)
    if upstream is None or (stage == "rft" and not settings.stages.sft.enabled):
        return ModelSource(uri=settings.model.base_model)
    if settings.model.family == "nova":
        return ModelSource(uri=f"s3://customer-escrow-123/{upstream}-job/checkpoint/", from_stage=upstream)
    return ModelSource(
        uri=f"s3://{ARTIFACTS_BUCKET}/runs/run-1/jobs/{upstream}/j/output/model.tar.gz", from_stage=upstream
    )


@pytest.mark.parametrize(("settings", "stage"), CASES)
def test_request_passes_botocore_validation(settings: Settings, stage: str) -> None:
    name = job_name(settings.resource_prefix, "run-1", stage, 1)
    built = build_training_job(
        settings, ENV, a_run(family=settings.model.family), stage, name, _source(settings, stage)
    )
    report = ParamValidator().validate(built.request, CREATE_JOB)
    assert not report.has_errors(), report.generate_report()
    # botocore checks types, required members and lengths; names and enums are checked here.
    assert NAME_PATTERN.match(built.request["TrainingJobName"])
    instance = built.request["ResourceConfig"]["InstanceType"]
    assert instance in INSTANCE_TYPES or instance == "local"  # "local" = local mode's runtime
    for value in built.request.get("HyperParameters", {}).values():
        assert isinstance(value, str)


def test_validator_rejects_a_broken_request() -> None:
    """The check above can fail: a request with a wrong type is reported."""
    settings = VARIANTS[0][1]
    stage = settings.enabled_job_stages()[0]
    built = build_training_job(
        settings, ENV, a_run(family=settings.model.family), stage, "j-1", _source(settings, stage)
    )
    broken = {**built.request, "ResourceConfig": {**built.request["ResourceConfig"], "InstanceCount": "4"}}
    assert ParamValidator().validate(broken, CREATE_JOB).has_errors()


def _nova(**changes) -> Settings:
    base = load_settings(Path(CONFIG_FILES[0]).parent / "nova.yaml")
    return derive(base, **changes) if changes else base


def _recipe(built) -> dict:
    (body,) = built.uploads.values()
    return json.loads(body)


def test_nova_sft_counts_steps_and_sets_lr_in_optim_config() -> None:
    settings = _nova()
    built = build_training_job(
        settings,
        ENV,
        a_run(family="nova"),
        "sft",
        "forge-nova--run-1-sft-a1",
        ModelSource(uri="nova-lite-2/prod"),
    )
    recipe = _recipe(built)
    assert recipe["training_config"]["max_steps"] == 200
    assert recipe["training_config"]["save_steps"] == 200
    assert recipe["training_config"]["optim_config"]["lr"] == 1.0e-5
    assert recipe["training_config"]["peft"]["peft_scheme"] == "lora"
    assert "epochs" not in json.dumps(recipe)
    assert recipe["run"] == {
        **recipe["run"],
        "name": "forge-nova--run-1-sft-a1",
        "replicas": 4,
        "model_name_or_path": "nova-lite-2/prod",
        "model_type": "amazon.nova-2-lite-v1:0:256k",
    }
    request = built.request
    assert request["AlgorithmSpecification"]["TrainingImage"] == (
        "708977205387.dkr.ecr.us-east-1.amazonaws.com/nova-fine-tune-repo:SM-TJ-SFT-V2-latest"
    )
    assert request["HyperParameters"] == {
        "base_model": "nova-lite-2/prod",
        "sagemaker_recipe_local_path": "/opt/ml/input/data/recipe/recipe.yaml",
    }
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in request["InputDataConfig"]
    }
    assert channels["train"] == f"s3://{ARTIFACTS_BUCKET}/runs/run-1/data/sft/"
    assert channels["recipe"] == next(iter(built.uploads)).rsplit("/", 1)[0] + "/"
    assert request["ResourceConfig"]["InstanceCount"] == 4


def test_unknown_recipe_override_is_rejected_with_the_allowed_keys() -> None:
    # Rejected when the settings load (at synth, issue 12), and again when the launch resolves the recipe.
    with pytest.raises(SettingsConfigError) as at_synth:
        _nova(stages__sft__recipe_overrides={"training_config.epochs": 3})
    with pytest.raises(ConfigError) as at_launch:
        nova_recipes.resolve_recipe(
            "SFT_LORA", job_name="j", model_type="m", model_name_or_path="x", replicas=1,
            overrides={"training_config.epochs": 3},
        )
    for message in (str(at_synth.value), str(at_launch.value)):
        assert "training_config.epochs" in message
        assert "training_config.max_steps" in message and "training_config.optim_config.lr" in message


def test_pipeline_owned_recipe_keys_cannot_be_overridden() -> None:
    with pytest.raises(ConfigError, match="run.model_name_or_path"):
        nova_recipes.resolve_recipe(
            "SFT_LORA",
            job_name="j",
            model_type="m",
            model_name_or_path="x",
            replicas=1,
            overrides={"run.model_name_or_path": "s3://elsewhere/"},
        )


def test_nova_rft_passes_the_reward_lambda_and_starts_from_the_sft_checkpoint() -> None:
    settings = _nova()
    checkpoint = "s3://customer-escrow-123/sft-job/step-200/"
    built = build_training_job(
        settings, ENV, a_run(family="nova"), "rft", "j", ModelSource(uri=checkpoint, from_stage="sft")
    )
    recipe = _recipe(built)
    assert recipe["run"]["reward_lambda_arn"] == REWARD_ARN
    assert recipe["training_config"]["rollout"]["rewards"]["api_endpoint"]["lambda_arn"] == REWARD_ARN
    assert recipe["run"]["model_name_or_path"] == checkpoint
    hyper = built.request["HyperParameters"]
    assert hyper["reward_lambda_arn"] == REWARD_ARN
    assert hyper["base_model_location"] == checkpoint and "base_model" not in hyper
    assert built.request["AlgorithmSpecification"]["TrainingImage"].endswith(
        "nova-fine-tune-repo:SM-TJ-RFT-V2-latest"
    )


def test_nova_rft_without_reward_lambda_is_a_config_error() -> None:
    env = ENV.model_copy(update={"reward_lambda_arn": ""})
    with pytest.raises(ConfigError, match="reward Lambda"):
        build_training_job(
            _nova(), env, a_run(family="nova"), "rft", "j", ModelSource(uri="nova-lite-2/prod")
        )


def test_nova_eval_reads_gen_qa_and_uses_the_eval_image() -> None:
    built = build_training_job(
        _nova(),
        ENV,
        a_run(family="nova"),
        "eval_sft",
        "j",
        ModelSource(uri="s3://escrow/sft/", from_stage="sft"),
    )
    recipe = _recipe(built)
    assert recipe["evaluation"] == {"task": "gen_qa", "strategy": "gen_qa", "metric": "all"}
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in built.request["InputDataConfig"]
    }
    assert channels["train"] == f"s3://{ARTIFACTS_BUCKET}/runs/run-1/data/eval/"
    assert a_run(family="nova")["datasets"]["eval"].endswith("/eval/gen_qa.jsonl")
    assert built.request["AlgorithmSpecification"]["TrainingImage"].endswith(
        "nova-evaluation-repo:SM-TJ-Eval-V2-latest"
    )


def test_nova_in_an_undocumented_region_needs_an_image_override() -> None:
    env = ENV.model_copy(update={"region": "ap-south-1"})
    with pytest.raises(ConfigError, match="images.training"):
        build_training_job(
            _nova(), env, a_run(family="nova"), "sft", "j", ModelSource(uri="nova-lite-2/prod")
        )
    custom = _nova(images__training={"SFT_LORA:ap-south-1": "111.dkr.ecr.ap-south-1.amazonaws.com/nova:1"})
    built = build_training_job(
        custom, env, a_run(family="nova"), "sft", "j", ModelSource(uri="nova-lite-2/prod")
    )
    assert (
        built.request["AlgorithmSpecification"]["TrainingImage"]
        == "111.dkr.ecr.ap-south-1.amazonaws.com/nova:1"
    )


def _hf() -> Settings:
    return load_settings(Path(CONFIG_FILES[0]).parent / "open-weights.yaml")


def test_hf_sft_request_follows_the_training_toolkit_contract() -> None:
    settings = _hf()
    built = build_training_job(
        settings, ENV, a_run(), "sft", "forge-hf--run-1-sft-a1", ModelSource(uri=settings.model.base_model)
    )
    request = built.request
    hyper = request["HyperParameters"]
    assert hyper["sagemaker_program"] == "sft.py"
    assert hyper["sagemaker_submit_directory"] == "/opt/ml/input/data/code"
    assert hyper["learning_rate"] == "0.0002" and hyper["use_lora"] == "true" and hyper["epochs"] == "1"
    assert hyper["base_model"] == "HuggingFaceTB/SmolLM2-1.7B-Instruct"
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in request["InputDataConfig"]
    }
    assert channels == {
        "code": f"s3://{ARTIFACTS_BUCKET}/code/",
        "train": f"s3://{ARTIFACTS_BUCKET}/runs/run-1/data/sft/",
    }
    assert request["OutputDataConfig"] == {
        "S3OutputPath": f"s3://{ARTIFACTS_BUCKET}/runs/run-1/jobs/sft/",
        "KmsKeyId": KMS_ARN,
    }
    assert request["CheckpointConfig"]["S3Uri"] == f"s3://{ARTIFACTS_BUCKET}/runs/run-1/jobs/sft/checkpoints/"
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 43200, "MaxWaitTimeInSeconds": 86400}
    assert request["AlgorithmSpecification"]["TrainingImage"] == (
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.8.0-gpu-py312-cu129-ubuntu22.04-sagemaker"
    )
    assert request["RoleArn"] == ROLE_ARN
    assert "sagemaker_torch_distributed_enabled" not in hyper


def test_hf_eval_of_a_trained_stage_gets_the_model_channel_not_the_base_model() -> None:
    model = f"s3://{ARTIFACTS_BUCKET}/runs/run-1/jobs/sft/j/output/model.tar.gz"
    built = build_training_job(_hf(), ENV, a_run(), "eval_sft", "j", ModelSource(uri=model, from_stage="sft"))
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in built.request["InputDataConfig"]
    }
    assert channels["model"] == model and channels["eval"].endswith("/data/eval/")
    assert "base_model" not in built.request["HyperParameters"]
    assert built.request["HyperParameters"]["sagemaker_program"] == "evaluate.py"
    assert "CheckpointConfig" not in built.request


def test_hf_multi_node_enables_torch_distributed() -> None:
    settings = derive(_hf(), stages__rft__instance_count=2)
    built = build_training_job(
        settings, ENV, a_run(), "rft", "j", ModelSource(uri="s3://b/m.tar.gz", from_stage="sft")
    )
    assert built.request["HyperParameters"]["sagemaker_torch_distributed_enabled"] == "true"
    assert built.request["ResourceConfig"]["InstanceCount"] == 2
    assert built.request["EnableInterContainerTrafficEncryption"] is True


def test_hf_image_default_map_and_override() -> None:
    assert hf_training_image("af-south-1", {}).startswith("626614931356.dkr.ecr.af-south-1.amazonaws.com/")
    assert hf_training_image("eu-west-1", {"eu-west-1": "mine:1"}) == "mine:1"


@pytest.mark.parametrize("stage", stage_table.names())
def test_missing_dataset_is_a_config_error(stage: str) -> None:
    run = {**a_run(), "datasets": {}}
    with pytest.raises(ConfigError, match="dataset"):
        build_training_job(_hf(), ENV, run, stage, "j", ModelSource(uri="base"))


HF_HYPERPARAMETER_CLASSES = {
    "evaluate.py": ("job_code.evaluate", "EvalHyperparameters"),
    "sft.py": ("job_code.sft", "SftHyperparameters"),
    "rft.py": ("job_code.rft", "RftHyperparameters"),
}
HF_CASES = [case for case in CASES if case.values[0].model.family == "hf"]


@pytest.mark.parametrize(("settings", "stage"), HF_CASES)
def test_hf_hyperparameters_parse_in_the_job_code(
    settings: Settings, stage: str, tmp_path, monkeypatch
) -> None:
    """The job scripts reject unknown hyperparameters: every one we send must parse there."""
    import importlib

    from job_code.sm_contract import job_paths, parse_hyperparameters

    built = build_training_job(settings, ENV, a_run(), stage, "j", _source(settings, stage))
    hyper = built.request["HyperParameters"]
    (tmp_path / "input" / "config").mkdir(parents=True)
    (tmp_path / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyper))
    monkeypatch.setenv("SM_BASE_DIR", str(tmp_path))
    module, name = HF_HYPERPARAMETER_CLASSES[hyper["sagemaker_program"]]
    parsed = parse_hyperparameters(getattr(importlib.import_module(module), name), [], job_paths())
    assert json.loads(parsed.labels) == settings.data.labels
    assert parsed.max_query_tokens == settings.data.max_query_tokens
    if stage == "rft":
        assert json.loads(parsed.reward_weights) == settings.reward.model_dump()
    if hyper["sagemaker_program"] == "evaluate.py":
        assert parsed.stage == stage


DEPLOY_CASES = [pytest.param(settings, id=name) for name, settings in VARIANTS]


@pytest.mark.parametrize("settings", DEPLOY_CASES)
def test_deploy_requests_pass_botocore_validation(settings: Settings) -> None:
    """CreateModel / CreateEndpointConfig of every config, validated like CreateTrainingJob."""
    from forge_handlers import deploy

    if settings.model.family == "hf" and settings.deploy.instance_type != "local":
        settings = derive(
            settings, images__inference={"us-east-1": "123456789012.dkr.ecr.us-east-1.amazonaws.com/s:1"}
        )
    weights = (
        "s3://escrow/ckpt/" if settings.model.family == "nova" else f"s3://{ARTIFACTS_BUCKET}/m/model.tar.gz"
    )
    requests = {
        "CreateModel": deploy.model_request(settings, ENV, "run-1", weights),
        "CreateEndpointConfig": deploy.endpoint_config_request(settings, "run-1"),
    }
    for operation, request in requests.items():
        shape = SERVICE_MODEL.operation_model(operation).input_shape
        report = ParamValidator().validate(request, shape)
        assert not report.has_errors(), report.generate_report()
    assert NAME_PATTERN.match(requests["CreateModel"]["ModelName"])
    assert NAME_PATTERN.match(requests["CreateEndpointConfig"]["EndpointConfigName"])
    instance = requests["CreateEndpointConfig"]["ProductionVariants"][0]["InstanceType"]
    assert instance in SERVICE_MODEL.shape_for("ProductionVariantInstanceType").enum or instance == "local"
