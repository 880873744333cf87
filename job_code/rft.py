"""Reinforcement fine-tuning job: TRL GRPOTrainer with the project's reward (job_code.core.reward), LoRA.

Inputs: channel `train` (chat JSONL; the label / assistant turn is the reference answer, the assistant turn
itself is not shown to the model), channel `model` (normally the SFT output; absent → base_model).
Outputs: the MERGED model + tokenizer (+ forge_labels.json) in SM_MODEL_DIR; ``train_metrics.json``
(losses, mean rewards) in SM_OUTPUT_DATA_DIR; checkpoints in SM_CHECKPOINT_DIR, resumed after a restart.

Reward: ``make_grpo_reward(weights, labels)``; weights from the hyperparameter ``reward_weights`` (JSON with
RewardSettings' names) or else the env ``REWARD_WEIGHTS``; labels from ``labels`` or else the data.
A step uses ``prompts_per_step`` prompts x ``num_generations`` completions. ``beta`` = 0 skips the
reference model (half the forward passes).

Progress lines every ``logging_steps``: ``progress stage=rft step=3/20 loss=0.0012 reward=0.8125
samples_per_s=0.40 eta_s=85`` (format in job_code.sm_contract). Scale-out: see job_code.training.
"""

from __future__ import annotations

import json
import sys

from job_code.sm_contract import JobPaths, parse_hyperparameters, run_job
from job_code.training import tracked_training

# The typed, bounded hyperparameters (shared with the settings' check at synth).
from pipeline_core.job_hyperparameters import RftHyperparameters, check_room

__all__ = ["RftHyperparameters", "build_rft_dataset", "main", "reward_function", "run_rft"]


def build_rft_dataset(rows, tokenizer, max_query_tokens: int):
    from datasets import Dataset

    from job_code.chat import ChatDataError, prompt_messages

    records = []
    for row in rows:
        if not row.answer:
            raise ChatDataError(f"train row {row.id}: no label or assistant turn as reference_answer")
        records.append(
            {"prompt": prompt_messages(row, tokenizer, max_query_tokens), "reference_answer": row.answer}
        )
    return Dataset.from_list(records)


def reward_function(params: RftHyperparameters, labels: list[str]):
    """The built-in label reward, or the custom module the reward block names (reward.module), which the
    code channel holds as job_code.core.custom_reward.asset_path(module)."""
    from job_code.core import custom_reward
    from job_code.core.reward import (
        RewardWeights,
        make_grpo_reward,
        module_from_env,
        module_of,
        weights_from_env,
    )

    # validate() has checked that reward_weights, when set, is a JSON object.
    if params.reward_weights.strip():
        block = json.loads(params.reward_weights)
        weights, module = RewardWeights.from_mapping(block), module_of(block)
    else:
        weights, module = weights_from_env(), module_from_env()
    if module:
        return custom_reward.make_trl_reward(custom_reward.load(custom_reward.bundled_file(module)))
    return make_grpo_reward(weights, labels)


def run_rft(params: RftHyperparameters, paths: JobPaths) -> dict:
    from trl import GRPOConfig, GRPOTrainer

    from job_code.models import load_model_and_tokenizer, resolve_model_dir
    from job_code.sm_contract import trainer_progress_callback
    from job_code.training import peft_config_of, shared_trainer_args, start_run, train_and_save

    rows, labels = start_run(params, paths)
    check_room(params, labels=labels)  # the labels of the data, when no labels hyperparameter names them
    reward = reward_function(params, labels)
    model_dir = resolve_model_dir(paths.channel("model"), params.base_model, paths.scratch_dir())
    model, tokenizer = load_model_and_tokenizer(model_dir, padding_side="left")
    dataset = build_rft_dataset(rows, tokenizer, params.max_query_tokens)

    completions_per_step = params.prompts_per_step * params.num_generations
    config = GRPOConfig(
        **shared_trainer_args(params, paths),
        per_device_train_batch_size=completions_per_step,
        num_generations=params.num_generations,
        max_completion_length=params.max_completion_length,
        temperature=params.temperature,
        beta=params.beta,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config_of(params, model),
        callbacks=[trainer_progress_callback("rft", completions_per_step)],
    )
    return train_and_save(trainer, tokenizer, paths, labels, stage="rft", rows=len(rows),
                          use_lora=params.use_lora)


def main(argv: list[str] | None = None) -> int:
    def job(paths: JobPaths) -> None:
        params = parse_hyperparameters(RftHyperparameters, argv, paths)
        summary = tracked_training(run_rft, params, paths)
        keys = ("first_reward", "last_reward", "steps")
        print(json.dumps({key: summary.get(key) for key in keys}), flush=True)

    return run_job(job)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
