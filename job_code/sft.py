"""Supervised fine-tuning job: TRL SFTTrainer, LoRA by default, loss on the assistant turn only.

Inputs: channel `train` (chat JSONL, required), channel `model` (previous stage's HF dir / model.tar.gz;
absent → hyperparameter base_model). Outputs: the MERGED model + tokenizer (+ forge_labels.json) in
SM_MODEL_DIR; ``train_metrics.json`` (losses, timing) in SM_OUTPUT_DATA_DIR; checkpoints every
``save_steps`` in SM_CHECKPOINT_DIR, and a restarted job (spot interruption) resumes from the newest one.

Rows become conversational prompt/completion pairs (prompt = system + truncated question, completion = the
assistant answer or the label), so TRL masks the loss to the completion. Batches are grouped by length by
default (``sampling``: padding-free needs FlashAttention, which CPUs lack; ``random`` mixes labels better on
small data), and the system prompt all rows share is computed once per batch (``share_prefix``, exact:
job_code.prefix_training).

Progress lines every ``logging_steps``: ``progress stage=sft step=12/100 loss=1.2340 samples_per_s=3.10
eta_s=120`` (format in job_code.sm_contract). Scale-out: see job_code.training (torchrun).
"""

from __future__ import annotations

import json
import sys

from job_code.sm_contract import JobPaths, parse_hyperparameters, run_job
from job_code.training import tracked_training

# The typed, bounded hyperparameters (shared with the settings' check at synth).
from pipeline_core.job_hyperparameters import SftHyperparameters, check_room

__all__ = ["SftHyperparameters", "build_sft_dataset", "main", "run_sft"]


def build_sft_dataset(rows, tokenizer, max_query_tokens: int):
    from datasets import Dataset

    from job_code.chat import ChatDataError, prompt_messages

    records = []
    for row in rows:
        if not row.answer:
            raise ChatDataError(f"train row {row.id}: no assistant turn and no label to learn from")
        records.append(
            {
                "prompt": prompt_messages(row, tokenizer, max_query_tokens),
                "completion": [{"role": "assistant", "content": row.answer}],
            }
        )
    return Dataset.from_list(records)


def run_sft(params: SftHyperparameters, paths: JobPaths) -> dict:
    from trl import SFTConfig, SFTTrainer

    from job_code.models import load_model_and_tokenizer, resolve_model_dir
    from job_code.prefix_training import prefix_sharing_sft_trainer
    from job_code.sm_contract import trainer_progress_callback
    from job_code.training import peft_config_of, shared_trainer_args, start_run, train_and_save

    rows, labels = start_run(params, paths)
    # The data's longest system prompt and its labels must fit max_length: checked before the model loads.
    longest_system = max((row.system or "" for row in rows), key=len, default="")
    check_room(params, system_prompt=longest_system, labels=labels)
    model_dir = resolve_model_dir(paths.channel("model"), params.base_model, paths.scratch_dir())
    model, tokenizer = load_model_and_tokenizer(model_dir, padding_side="right")
    dataset = build_sft_dataset(rows, tokenizer, params.max_query_tokens)

    config = SFTConfig(
        **shared_trainer_args(params, paths),
        num_train_epochs=params.epochs,
        per_device_train_batch_size=params.per_device_batch_size,
        gradient_accumulation_steps=params.gradient_accumulation_steps,
        warmup_steps=params.warmup_ratio,
        lr_scheduler_type="linear",
        max_length=params.max_length,
        train_sampling_strategy=params.sampling,
        logging_first_step=True,
        dataloader_num_workers=0,
    )
    samples_per_step = params.per_device_batch_size * params.gradient_accumulation_steps
    trainer_class = prefix_sharing_sft_trainer(SFTTrainer) if params.share_prefix else SFTTrainer
    trainer = trainer_class(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config_of(params, model),
        callbacks=[trainer_progress_callback("sft", samples_per_step)],
    )
    return train_and_save(trainer, tokenizer, paths, labels, stage="sft", rows=len(rows),
                          use_lora=params.use_lora)


def main(argv: list[str] | None = None) -> int:
    def job(paths: JobPaths) -> None:
        params = parse_hyperparameters(SftHyperparameters, argv, paths)
        summary = tracked_training(run_sft, params, paths)
        print(json.dumps({key: summary.get(key) for key in ("first_loss", "last_loss", "steps")}), flush=True)

    return run_job(job)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
