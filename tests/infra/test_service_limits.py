"""pipeline_core/service_limits.py: the table, the request limits, and the settings that enforce them at
synth."""

from __future__ import annotations

import ast
from pathlib import Path

import botocore.session
import pytest

from pipeline_core import service_limits as limits
from pipeline_core.settings import ConfigError, Settings, load_settings, parse_settings

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
LITE_2 = "amazon.nova-2-lite-v1:0:256k"
NOVA_MODEL = {"family": "nova", "base_model": "nova-lite-2/prod", "model_type": LITE_2}
SERVICE_MODEL = botocore.session.get_session().get_service_model("sagemaker")


def _nova(**sections) -> Settings:
    return parse_settings({"model": NOVA_MODEL, **sections}, "test")


# -- the table -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "instance_type", "count", "ok"),
    [
        ("EVAL_GEN_QA", "ml.p5.48xlarge", 1, True),
        ("EVAL_GEN_QA", "ml.p4d.24xlarge", 16, True),
        ("EVAL_GEN_QA", "ml.g5.12xlarge", 1, False),  # issue 11, defect 3
        ("EVAL_GEN_QA", "ml.p5.48xlarge", 3, False),
        ("SFT_LORA", "ml.p5.48xlarge", 4, True),
        ("SFT_LORA", "ml.p5en.48xlarge", 16, True),
        ("SFT_LORA", "ml.p5.48xlarge", 1, False),
        ("SFT_FULL", "ml.p5en.48xlarge", 8, True),
        ("SFT_FULL", "ml.g5.48xlarge", 4, False),
        ("RFT_LORA", "ml.p5.48xlarge", 4, True),
        ("RFT_LORA", "ml.p5.48xlarge", 8, False),
        ("RFT_LORA", "ml.p4d.24xlarge", 4, False),
    ],
)
def test_nova_lite_2_job_instances(method: str, instance_type: str, count: int, ok: bool) -> None:
    if ok:
        limits.check_job_instance("nova", LITE_2, method, instance_type, count)
        return
    with pytest.raises(limits.ServiceLimitError) as raised:
        limits.check_job_instance("nova", LITE_2, method, instance_type, count, "stages.x.instance_type")
    message = str(raised.value)
    assert "stages.x.instance_type" in message
    assert (instance_type in message) or (str(count) in message)
    assert "ml.p5.48xlarge" in message  # the allowed values are named


def test_hf_jobs_have_no_table() -> None:
    limits.check_job_instance("hf", None, None, "ml.g5.2xlarge", 3)


@pytest.mark.parametrize(
    ("instance_type", "context", "concurrency", "expected"),
    [
        ("ml.g6.48xlarge", None, None, (8_000, 8)),
        ("ml.g6.48xlarge", 8_000, 8, (8_000, 8)),
        ("ml.g6.48xlarge", 4_000, 2, (4_000, 2)),
        ("ml.g6.48xlarge", 16_000, 2, None),  # the old hard-coded CONTEXT_LENGTH on this instance
        ("ml.g6.48xlarge", 8_000, 9, None),
        ("ml.p5.48xlarge", None, None, (16_000, 128)),
        ("ml.p5.48xlarge", 16_000, 2, (16_000, 2)),  # the old hard-coded pair fits p5
        ("ml.p5.48xlarge", 64_000, None, (64_000, 32)),
        ("ml.p5.48xlarge", None, 8, (16_000, 8)),
        ("ml.p5.48xlarge", 256_000, 2, (256_000, 2)),
        ("ml.p5.48xlarge", 256_000, 3, None),
        ("ml.p5.48xlarge", 300_000, 1, None),
        ("ml.g5.12xlarge", None, None, None),  # issue 11, defect 3
    ],
)
def test_nova_lite_2_endpoint_tiers(instance_type, context, concurrency, expected) -> None:
    if expected is None:
        with pytest.raises(limits.ServiceLimitError) as raised:
            limits.endpoint_tier(LITE_2, instance_type, context, concurrency)
        message = str(raised.value)
        assert instance_type in message and ("supported: ml.g6.48xlarge" in message or "tiers" in message)
    else:
        tier = limits.endpoint_tier(LITE_2, instance_type, context, concurrency)
        assert (tier.context_length, tier.max_concurrency) == expected


def test_every_table_instance_type_is_a_sagemaker_instance_type() -> None:
    training = set(SERVICE_MODEL.shape_for("TrainingInstanceType").enum)
    serving = set(SERVICE_MODEL.shape_for("ProductionVariantInstanceType").enum)
    for model in limits.NOVA_MODELS.values():
        for rule in model.jobs.values():
            assert set(rule.instance_types) <= training
        assert set(model.endpoint) <= serving
        for tiers in model.endpoint.values():
            assert list(tiers) == sorted(tiers, key=lambda t: t.context_length)


def test_request_limits_are_botocores() -> None:
    """The module's numbers and patterns are the service model's (a botocore upgrade that moves one fails)."""
    create_job = SERVICE_MODEL.operation_model("CreateTrainingJob").input_shape.members
    hyper = create_job["HyperParameters"]
    assert hyper.metadata["max"] == limits.MAX_HYPERPARAMETERS
    assert hyper.key.metadata["max"] == limits.MAX_HYPERPARAMETER_KEY_CHARS
    assert hyper.value.metadata["max"] == limits.MAX_HYPERPARAMETER_VALUE_CHARS
    for operation, member in [
        ("CreateTrainingJob", "TrainingJobName"),
        ("CreateModel", "ModelName"),
        ("CreateEndpointConfig", "EndpointConfigName"),
        ("CreateEndpoint", "EndpointName"),
    ]:
        shape = SERVICE_MODEL.operation_model(operation).input_shape.members[member]
        assert shape.metadata["max"] == limits.MAX_NAME_CHARS
        assert "^" + shape.metadata["pattern"] == limits.NAME_PATTERNS[member]


@pytest.mark.parametrize(
    ("member", "name", "ok"),
    [
        ("TrainingJobName", "forge-run-1-sft-a1", True),
        ("TrainingJobName", "a" * 63, True),
        ("TrainingJobName", "a" * 64, False),
        ("TrainingJobName", "run_1", False),
        ("TrainingJobName", "-run", False),
        ("TrainingJobName", "run-", False),
        ("ModelName", "forge-run-1-model", True),
        ("ModelName", "m" * 64, False),
        ("EndpointName", "forge.endpoint", False),
    ],
)
def test_names(member: str, name: str, ok: bool) -> None:
    if ok:
        limits.check_name(member, name)
    else:
        with pytest.raises(limits.ServiceLimitError, match="failed to satisfy constraint"):
            limits.check_name(member, name)


@pytest.mark.parametrize(
    ("hyper", "fragment"),
    [
        ({f"k{i}": "v" for i in range(101)}, "Value of 101 entries"),
        ({"labels": "x" * 2_501}, "2501 characters for key 'labels'"),
        ({"k" * 257: "v"}, "Map key must have length"),
    ],
)
def test_hyperparameter_limits(hyper: dict, fragment: str) -> None:
    with pytest.raises(limits.ServiceLimitError, match=fragment):
        limits.check_hyperparameters(hyper)
    limits.check_hyperparameters({f"k{i}": "v" * 2_500 for i in range(100)})  # the limits themselves pass


@pytest.mark.parametrize(
    ("image", "kind"),
    [
        ("708977205387.dkr.ecr.us-east-1.amazonaws.com/nova-fine-tune-repo:SM-TJ-SFT-V2-latest", "sft"),
        ("708977205387.dkr.ecr.us-east-1.amazonaws.com/nova-fine-tune-repo:SM-TJ-RFT-V2-latest", "rft"),
        ("708977205387.dkr.ecr.us-east-1.amazonaws.com/nova-evaluation-repo:SM-TJ-Eval-V2-latest", "eval"),
        ("708977205387.dkr.ecr.us-east-1.amazonaws.com/nova-inference-repo:SM-Inference-latest", "inference"),
        ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.8.0-gpu", None),
    ],
)
def test_nova_image_kinds(image: str, kind: str | None) -> None:
    assert limits.nova_image_kind(image) == kind


def test_module_is_pure() -> None:
    """It ships in the Lambda bundle: standard library only, and the neutral core shipped beside it."""
    tree = ast.parse(Path(limits.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"__future__", "dataclasses", "re", "collections", "pipeline_core"}, imported


# -- settings enforce the table at synth ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sections", "field"),
    [
        ({"stages": {"baseline_eval": {"method": "EVAL_GEN_QA", "instance_type": "ml.g5.12xlarge"}}},
         "stages.baseline_eval.instance_type"),
        ({"stages": {"eval": {"method": "EVAL_GEN_QA", "instance_type": "ml.g5.12xlarge"}}},
         "stages.eval.instance_type"),
        ({"stages": {"sft": {"method": "SFT_LORA", "instance_count": 2}}}, "stages.sft.instance_type"),
        ({"deploy": {"instance_type": "ml.g5.12xlarge"}}, "deploy.instance_type"),
    ],
)
def test_nova_settings_outside_the_table_are_a_config_error(sections: dict, field: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _nova(**sections)
    message = str(raised.value)
    assert field in message and "ml.p5.48xlarge" in message, message


def test_a_nova_method_in_the_wrong_stage_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="stages.sft.method: EVAL_GEN_QA .* SFT_LORA, SFT_FULL"):
        _nova(stages={"sft": {"method": "EVAL_GEN_QA"}})


def test_nova_endpoint_outside_its_tiers_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"deploy: CONTEXT_LENGTH=16000 .*8000/8"):
        _nova(deploy={"instance_type": "ml.g6.48xlarge", "context_length": 16_000, "max_concurrency": 2})


def test_nova_defaults_come_from_the_table() -> None:
    settings = _nova()
    assert settings.stages.baseline_eval.instance_type == "ml.p5.48xlarge"
    assert settings.stages.baseline_eval.instance_count == 1
    assert (settings.stages.sft.instance_type, settings.stages.sft.instance_count) == ("ml.p5.48xlarge", 4)
    assert (settings.stages.rft.instance_type, settings.stages.rft.instance_count) == ("ml.p5.48xlarge", 4)
    assert settings.stages.sft.method == "SFT_LORA"
    deploy = settings.deploy
    assert (deploy.instance_type, deploy.context_length) == ("ml.g6.48xlarge", 8_000)
    assert deploy.max_concurrency == 8
    p5 = _nova(deploy={"instance_type": "ml.p5.48xlarge", "context_length": 64_000})
    assert p5.deploy.max_concurrency == 32
    # settings.json (what the handlers load) round-trips to the same settings
    assert parse_settings(settings.model_dump(mode="json")) == settings


def test_hf_settings_keep_their_defaults_and_take_no_endpoint_tier() -> None:
    hf = {"family": "hf", "base_model": "x"}
    settings = parse_settings({"model": hf})
    assert settings.deploy.context_length is None and settings.stages.sft.instance_type == "ml.g5.12xlarge"
    with pytest.raises(ConfigError, match="deploy.context_length"):
        parse_settings({"model": hf, "deploy": {"context_length": 8_000}})


@pytest.mark.parametrize(
    ("hyperparameters", "fragment"),
    [
        ({f"h{i}": 1 for i in range(101)}, "stages.sft.hyperparameters"),
        # 92 of the stage's own + the pipeline's 9 > 100
        ({f"h{i}": 1 for i in range(92)}, "Value of 101 entries"),
        ({"note": "x" * 2_501}, "2501 characters for key 'note'"),
    ],
)
def test_hf_hyperparameters_over_the_request_limits_are_a_config_error(hyperparameters, fragment) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_settings({"model": {"family": "hf", "base_model": "x"}, "stages": {"sft": {
            "hyperparameters": hyperparameters}}})


def test_a_label_set_longer_than_a_hyperparameter_value_is_a_config_error() -> None:
    labels = [f"label-{i:04d}-" + "x" * 40 for i in range(60)]  # json.dumps > 2,500 characters
    with pytest.raises(ConfigError, match="key 'labels'"):
        parse_settings({"model": {"family": "hf", "base_model": "x"}, "data": {"labels": labels}})


def test_a_pipeline_name_too_long_for_sagemaker_names_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="name"):
        _nova(name="a-pipeline-name-far-too-long-for-the-63-character-job-names")


@pytest.mark.parametrize("config", sorted(path.stem for path in CONFIG_DIR.glob("*.yaml")))
def test_every_shipped_config_loads(config: str) -> None:
    load_settings(CONFIG_DIR / f"{config}.yaml")


def test_nova_yaml_runs_evals_and_endpoint_where_nova_lite_2_runs() -> None:
    settings = load_settings(CONFIG_DIR / "nova.yaml")
    for slot in ("baseline_eval", "eval"):
        assert getattr(settings.stages, slot).instance_type == "ml.p5.48xlarge"
    tier = limits.endpoint_tier(LITE_2, settings.deploy.instance_type, settings.deploy.context_length,
                                settings.deploy.max_concurrency)
    assert (tier.context_length, tier.max_concurrency) == (settings.deploy.context_length,
                                                           settings.deploy.max_concurrency)
