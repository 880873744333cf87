"""Reinforcement fine-tuning job: TRL GRPOTrainer with the project's reward (job_code.core.reward), LoRA.

Inputs: channel `train` (chat JSONL; the label / assistant turn is the reference answer, the assistant turn
itself is not shown to the model), channel `model` (normally the SFT output; absent → base_model).
Outputs: the MERGED model + tokenizer (+ forge_labels.json) in SM_MODEL_DIR; ``train_metrics.json``
(losses, mean rewards) in SM_OUTPUT_DATA_DIR; checkpoints in SM_CHECKPOINT_DIR, resumed after a restart.

Reward: ``make_grpo_reward(weights, labels)``; weights from the hyperparameter ``reward_weights`` (JSON with
RewardSettings' names) or else the env ``REWARD_WEIGHTS``; labels from ``labels`` or else the data.
A step uses ``prompts_per_step`` prompts x ``num_generations`` completions. ``beta`` = 0 skips the
reference model (half the forward passes).

Prompts: every row, shuffled (``prompt_selection: random``), or the max_steps x prompts_per_step the
starting model is least sure of, out of a seeded pool of ``selection_pool`` (``uncertain``:
job_code.prompt_selection). train_metrics.json's ``rft`` (also in training_log.json, for the report): prompts
seen of those available, the zero-variance groups and mean reward std (job_code.rft_signal), the selection.

Progress lines every ``logging_steps``: ``progress stage=rft step=3/20 loss=0.0012 reward=0.8125
reward_std=0.2500 zero_std=0.5000 samples_per_s=0.40 eta_s=85`` (format in job_code.sm_contract).
Scale-out: see job_code.training.
"""

from __future__ import annotations

import json
import os
import sys

from job_code.sm_contract import JobPaths, parse_hyperparameters, run_job
from job_code.training import tracked_training

# The typed, bounded hyperparameters (shared with the settings' check at synth).
from pipeline_core.job_hyperparameters import RftHyperparameters, check_room

__all__ = ["RftHyperparameters", "build_rft_dataset", "choose_records", "main", "reward_function",
           "rft_records", "run_rft"]


def rft_records(rows, tokenizer, max_query_tokens: int) -> list[dict]:
    """One GRPO record per row: the prompt, its reference answer, and the row's index (to count the prompts
    trained on: job_code.rft_signal)."""
    from job_code.chat import ChatDataError, prompt_messages
    from job_code.rft_signal import PROMPT_INDEX_COLUMN

    records = []
    for index, row in enumerate(rows):
        if not row.answer:
            raise ChatDataError(f"train row {row.id}: no label or assistant turn as reference_answer")
        records.append({"prompt": prompt_messages(row, tokenizer, max_query_tokens),
                        "reference_answer": row.answer, PROMPT_INDEX_COLUMN: index})
    return records


def build_rft_dataset(rows, tokenizer, max_query_tokens: int):
    from datasets import Dataset

    return Dataset.from_list(rft_records(rows, tokenizer, max_query_tokens))


def choose_records(records: list[dict], params: RftHyperparameters, model, tokenizer, labels: list[str]
                   ) -> tuple[list[dict], dict | None]:
    """The records GRPO trains on: all of them ("random": the trainer shuffles), or the most uncertain
    max_steps x prompts_per_step of a seeded pool ("uncertain"), with the pool's entropy stats."""
    if params.prompt_selection != "uncertain":
        return records, None
    from job_code.prompt_selection import select_prompts

    kept, stats = select_prompts(
        model, tokenizer, [record["prompt"] for record in records], labels,
        keep=params.prompts_needed(), pool=params.selection_pool, seed=params.seed,
    )
    print(f"prompt selection: kept {stats['kept']} of a pool of {stats['pool']} (of {len(records)} rows), "
          f"label entropy {stats['kept_entropy_mean']} (pool {stats['pool_entropy_mean']}, at most "
          f"{stats['max_entropy']}) in {stats['seconds']} s", flush=True)
    return [records[index] for index in kept], stats


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
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from job_code.models import load_model_and_tokenizer, resolve_model_dir
    from job_code.rft_signal import PromptCounter, signal_summary
    from job_code.sm_contract import trainer_progress_callback
    from job_code.training import (
        last_checkpoint,
        peft_config_of,
        shared_trainer_args,
        start_run,
        train_and_save,
    )

    rows, labels = start_run(params, paths)
    check_room(params, labels=labels)  # the labels of the data, when no labels hyperparameter names them
    counter = PromptCounter.resumed(last_checkpoint(paths.checkpoint_dir))
    reward = counter.wrap(reward_function(params, labels))
    model_dir = resolve_model_dir(paths.channel("model"), params.base_model, paths.scratch_dir())
    model, tokenizer = load_model_and_tokenizer(model_dir, padding_side="left")
    records, selection = choose_records(
        rft_records(rows, tokenizer, params.max_query_tokens), params, model, tokenizer, labels
    )
    dataset = Dataset.from_list(records)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))

    def rft_facts(history: list[dict]) -> dict:
        facts = {"prompts_seen": len(counter.seen), "prompts_available": len(rows),
                 "prompt_selection": params.prompt_selection,
                 **signal_summary(history, params.prompts_per_step * world_size)}
        if selection:
            facts["selection"] = selection
        return facts

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
        callbacks=[trainer_progress_callback("rft", completions_per_step), counter.callback()],
    )
    return train_and_save(trainer, tokenizer, paths, labels, stage="rft", rows=len(rows),
                          use_lora=params.use_lora, stage_facts=rft_facts)


def main(argv: list[str] | None = None) -> int:
    def job(paths: JobPaths) -> None:
        params = parse_hyperparameters(RftHyperparameters, argv, paths)
        summary = tracked_training(run_rft, params, paths)
        keys = ("first_reward", "last_reward", "steps")
        print(json.dumps({key: summary.get(key) for key in keys}), flush=True)

    return run_job(job)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
