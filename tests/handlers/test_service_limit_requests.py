"""The request builders honour pipeline_core/service_limits.py: endpoint tiers in CreateModel, request limits
in CreateTrainingJob, and the pipeline's own hyperparameters as the settings count them."""

from __future__ import annotations

import pytest
from forge_handlers import deploy
from forge_handlers.errors import ConfigError
from forge_handlers.training_requests import ModelSource, build_training_job

from pipeline_core import service_limits as limits
from pipeline_core.settings import load_settings
from tests.handlers.conftest import CONFIG_FILES, a_run, derive
from tests.handlers.test_training_requests import ENV, VARIANTS, _source

NOVA = load_settings(CONFIG_FILES[0].parent / "nova.yaml")
HF = load_settings(CONFIG_FILES[0].parent / "open-weights.yaml")


def _nova_environment(settings) -> dict[str, str]:
    request = deploy.model_request(settings, ENV, "run-1", "s3://escrow/ckpt/")
    return request["PrimaryContainer"]["Environment"]


@pytest.mark.parametrize(
    ("deploy", "expected"),
    [
        ({}, {"CONTEXT_LENGTH": "8000", "MAX_CONCURRENCY": "8"}),  # config/nova.yaml: ml.g6.48xlarge
        ({"instance_type": "ml.p5.48xlarge", "context_length": 64_000, "max_concurrency": 32},
         {"CONTEXT_LENGTH": "64000", "MAX_CONCURRENCY": "32"}),
        ({"instance_type": "ml.p5.48xlarge", "context_length": 256_000, "max_concurrency": 2},
         {"CONTEXT_LENGTH": "256000", "MAX_CONCURRENCY": "2"}),
    ],
)
def test_nova_container_gets_the_settings_tier(deploy: dict, expected: dict) -> None:
    """It was CONTEXT_LENGTH=16000, MAX_CONCURRENCY=2 whatever the instance (outside ml.g6.48xlarge's)."""
    settings = derive(NOVA, **{f"deploy__{key}": value for key, value in deploy.items()})
    assert _nova_environment(settings) == expected


def test_nova_settings_written_without_a_tier_still_get_one() -> None:
    """Settings without context_length / max_concurrency (an older settings.json) get the first tier."""
    raw = NOVA.model_dump(mode="json")
    raw["deploy"].update(context_length=None, max_concurrency=None)
    unresolved = NOVA.model_copy(update={"deploy": NOVA.deploy.model_copy(update=raw["deploy"])})
    assert _nova_environment(unresolved) == {"CONTEXT_LENGTH": "8000", "MAX_CONCURRENCY": "8"}


def test_hf_container_has_no_nova_tier() -> None:
    request = deploy.model_request(HF, ENV, "run-1", "s3://a/m/model.tar.gz")
    assert "CONTEXT_LENGTH" not in request["PrimaryContainer"]["Environment"]


@pytest.mark.parametrize(("name", "settings"), VARIANTS, ids=[name for name, _ in VARIANTS])
def test_pipeline_hyperparameters_are_the_ones_settings_count(name, settings) -> None:
    """Every key a builder adds beyond the stage's own is in limits.PIPELINE_HYPERPARAMETER_KEYS (which the
    settings count against the 100 at synth)."""
    family = settings.model.family
    for stage in settings.enabled_job_stages():
        run = a_run(family=family)
        built = build_training_job(settings, ENV, run, stage, "j-1", _source(settings, stage))
        own = set(settings.stages.for_stage(stage).hyperparameters) if family == "hf" else set()
        added = set(built.request["HyperParameters"]) - own
        assert added <= set(limits.PIPELINE_HYPERPARAMETER_KEYS[family]), (stage, added)


def test_a_request_over_the_hyperparameter_limits_is_a_config_error() -> None:
    """Values only known at launch (a checkpoint URI) are checked on the built request."""
    source = ModelSource(uri="s3://artifacts/" + "x" * 2_500 + "/model.tar.gz", from_stage="sft")
    with pytest.raises(ConfigError, match="stages.eval_sft: .*2500"):
        build_training_job(NOVA, ENV, a_run(family="nova"), "eval_sft", "j-1", source)


def test_a_job_name_sagemaker_rejects_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="trainingJobName.*63"):
        build_training_job(HF, ENV, a_run(family="hf"), "sft", "j" * 64, ModelSource(uri="x"))
