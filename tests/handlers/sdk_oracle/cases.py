"""The Nova cases compared with the SageMaker Python SDK v3: our requests and the SDK's inputs for them.

Each case is one Nova stage of config/nova.yaml (plus SFT_FULL). Both sides get the same resolved recipe
(as a local YAML file for the SDK), image, instances, data channel, output path, role and runtime.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from forge_handlers.config import Environment
from forge_handlers.training_requests import ModelSource, build_training_job

from pipeline_core import stages as stage_table
from pipeline_core.settings import Settings, load_settings, parse_settings

PROJECT_ROOT = Path(__file__).resolve().parents[3]
ENV = Environment(
    data_bucket="forge-data",
    artifacts_bucket="forge-artifacts",
    sagemaker_role_arn="arn:aws:iam::123456789012:role/forge-sagemaker",
    reward_lambda_arn="arn:aws:lambda:us-east-1:123456789012:function:forge-nova-reward-SageMaker",
    region="us-east-1",
)
RUN = {
    "run_id": "run-1",
    "datasets": {
        "sft": "s3://forge-artifacts/runs/run-1/data/sft/sft.jsonl",
        "rft": "s3://forge-artifacts/runs/run-1/data/rft/rft.jsonl",
        "eval": "s3://forge-artifacts/runs/run-1/data/eval/gen_qa.jsonl",
    },
}
CHECKPOINT = "s3://customer-escrow-123456789012-smtj-abcd/forge-nova--run-1-sft-a1/step-200/"


def _settings() -> dict[str, Settings]:
    nova = load_settings(PROJECT_ROOT / "config" / "nova.yaml")
    raw = nova.model_dump(mode="json")
    raw["stages"]["sft"].update(method="SFT_FULL", recipe_overrides={"training_config.max_steps": 50})
    return {"nova": nova, "nova-sft-full": parse_settings(raw, "sft-full")}


def our_requests() -> dict[str, dict[str, Any]]:
    """case id -> {"request": CreateTrainingJob dict, "recipe": resolved recipe}."""
    cases = {}
    for name, settings in _settings().items():
        stages = ["sft"] if name == "nova-sft-full" else settings.enabled_job_stages()
        for stage in stages:
            source = ModelSource(uri=settings.model.base_model)
            if stage in ("eval_sft", "rft"):
                source = ModelSource(uri=CHECKPOINT, from_stage="sft")
            elif stage == "eval_rft":
                source = ModelSource(uri=CHECKPOINT.replace("sft", "rft"), from_stage="rft")
            elif stage_table.stage(stage).measures_champion:  # an earlier run's deployed checkpoint
                source = ModelSource(uri=CHECKPOINT.replace("run-1", "run-0"),
                                     from_stage=stage_table.CHAMPION)
            job = f"forge-nova--run-1-{stage.replace('_', '')}-a1"
            built = build_training_job(settings, ENV, RUN, stage, job, source)
            (recipe,) = (json.loads(body) for body in built.uploads.values())
            cases[f"{name}-{stage}"] = {"request": built.request, "recipe": recipe}
    return cases


def sdk_inputs(case: dict[str, Any]) -> dict[str, Any]:
    """What the SDK needs to build the same job with ModelTrainer.from_recipe (see sdk_run.SdkRecorder)."""
    request = case["request"]
    train = next(c for c in request["InputDataConfig"] if c["ChannelName"] == "train")
    return {
        "recipe": case["recipe"],
        "training_image": request["AlgorithmSpecification"]["TrainingImage"],
        "instance_type": request["ResourceConfig"]["InstanceType"],
        "instance_count": request["ResourceConfig"]["InstanceCount"],
        "volume_size_in_gb": request["ResourceConfig"]["VolumeSizeInGB"],
        "train_uri": train["DataSource"]["S3DataSource"]["S3Uri"],
        "output_path": request["OutputDataConfig"]["S3OutputPath"],
        "role": request["RoleArn"],
        "max_runtime": request["StoppingCondition"]["MaxRuntimeInSeconds"],
        "base_job_name": request["TrainingJobName"],
    }
