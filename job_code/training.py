"""What SFT and RFT share: the run's head, LoRA and trainer arguments, and the resume → train →
save-merged → metrics tail.

Scale-out (both trainers): the scripts are plain transformers/TRL Trainer scripts, so the same code runs
data-parallel when started by torchrun. On SageMaker the launch handler asks the PyTorch training image to
start it that way by sending the hyperparameter ``sagemaker_torch_distributed_enabled: "true"`` (what the
SageMaker SDK sends for ``distribution={"torch_distributed": {"enabled": True}}``) together with
``InstanceCount`` > 1; the toolkit then runs ``torchrun --nnodes <instances> --nproc_per_node <gpus>``
with the rendezvous env vars set. ``per_device_batch_size`` is per GPU, so the global batch grows with the
number of processes. Only rank 0 writes the merged model and the metrics files.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path


def score_only_target_positions() -> None:
    """Make TRL's fused LM head project only the positions that have a label (the answer tokens) on CPU too.

    TRL (>= 1.x) never builds the full logits: its fused head scores hidden states in chunks of 32k positions.
    But it drops the positions whose label is -100 only on Triton devices (CUDA/XPU); elsewhere it scores
    EVERY position, to keep tile shapes static for compilers (Neuron). On CPU that means a 49k-vocab
    projection, log-softmax, entropy and their backward for all ~300 prompt positions of every row, when only
    the ~3 answer tokens count: ~0.5 GB of fp32 logits per chunk plus as many temporaries, and about a third
    of a step's FLOPs. Scoring only the labelled positions gives the same loss and gradients (the others are
    multiplied by a zero mask anyway). Eager CPU code has no compiler to keep static shapes for.
    """
    import trl.trainer.utils as trl_utils

    current = trl_utils._use_triton
    if getattr(current, "forge_cpu_compact", False):
        return

    def compact_positions(device) -> bool:
        return device.type == "cpu" or current(device)

    compact_positions.forge_cpu_compact = True
    trl_utils._use_triton = compact_positions


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def lora_config(r: int, alpha: int, dropout: float, target_modules: str, *, top_layers: int = 0, model=None):
    """LoRA on ``target_modules``; ``top_layers`` > 0 puts adapters in the last N decoder layers only.

    With adapters only in the top layers, nothing below them needs a gradient, so the backward pass stops
    there (about a third less compute per step with 10 of 30 layers), at some cost in what LoRA can learn.
    """
    from peft import LoraConfig

    from pipeline_core.job_hyperparameters import HyperparameterError

    targets: str | list[str] = target_modules
    if target_modules != "all-linear":
        targets = [name.strip() for name in target_modules.split(",") if name.strip()]
    layers = None
    if top_layers > 0:
        num_layers = model.config.num_hidden_layers
        if top_layers > num_layers:
            raise HyperparameterError(
                f"hyperparameter lora_layers={top_layers} exceeds the model's {num_layers} decoder layers"
            )
        layers = list(range(num_layers - top_layers, num_layers))
        if targets == "all-linear":  # PEFT takes layers_to_transform with explicit module names only
            targets = decoder_linear_names(model)
    return LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, task_type="CAUSAL_LM",
        layers_to_transform=layers,
    )


def decoder_linear_names(model) -> list[str]:
    """Names of the Linear modules inside the decoder layers (what PEFT's "all-linear" selects)."""
    import torch

    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
             if isinstance(module, torch.nn.Linear) and ".layers." in f".{name}"}
    return sorted(names)


def last_checkpoint(checkpoint_dir: Path) -> str | None:
    """The newest `checkpoint-<step>` folder a previous (interrupted) run left, or None."""
    if not checkpoint_dir.is_dir():
        return None
    steps = []
    for child in checkpoint_dir.glob("checkpoint-*"):
        suffix = child.name.removeprefix("checkpoint-")
        if suffix.isdigit() and (child / "trainer_state.json").is_file():
            steps.append((int(suffix), child))
    return str(max(steps)[1]) if steps else None


def save_merged(model, tokenizer, model_dir: Path, labels: list[str]) -> Path:
    """Merge LoRA adapters (if any) into the weights and save model + tokenizer as a plain HF directory.

    The directory also gets ``code/`` (job_code.serving_code): the serving code SageMaker hosting runs.
    """
    from job_code.chat import save_labels
    from job_code.serving_code import add_serving_code

    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    save_labels(model_dir, labels)
    add_serving_code(model_dir)
    return model_dir


def write_train_metrics(path: Path, history: list[dict], extra: dict) -> dict:
    """Summarize the trainer's log history: first/last loss (and reward for RFT) plus run facts."""
    losses = [float(entry["loss"]) for entry in history if "loss" in entry]
    rewards = [float(entry["reward"]) for entry in history if "reward" in entry]
    summary = {
        "losses": losses,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "rewards": rewards,
        "first_reward": rewards[0] if rewards else None,
        "last_reward": rewards[-1] if rewards else None,
        **extra,
    }
    # GRPO's per-step signal as TRL logs it (job_code.rft_signal): reward std, share of zero-std groups.
    for key, name in (("reward_std", "reward_stds"), ("frac_reward_zero_std", "zero_std_shares")):
        values = [float(entry[key]) for entry in history if isinstance(entry.get(key), int | float)]
        if values:
            summary[name] = values
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def tracked_training(run_trainer, params, paths) -> dict:
    """Run ``run_trainer(params, paths)`` inside the stage's MLflow run (a no-op without tracking); log its
    ``train_metrics.json`` there. The per-step curves come from the trainer's own MLflow callback."""
    from job_code import tracking

    with tracking.stage_run(tracking.hyperparameters_of(params)) as run:
        summary = run_trainer(params, paths)
        if run is not None and summary:
            facts = {key: summary[key] for key in ("steps", "train_seconds", "first_loss", "last_loss",
                                                    "first_reward", "last_reward", "rft") if key in summary}
            run.log_metrics(tracking.numeric_metrics(facts))
            run.log_artifacts([paths.output_data_dir / "train_metrics.json"])
    return summary


def start_run(params, paths) -> tuple[list, list[str]]:
    """The head SFT and RFT share: CPU threads, the fused-head patch, the seed; then the train rows and the
    labels (the ``labels`` hyperparameter, else the data's)."""
    from transformers import set_seed

    from job_code.chat import labels_from_rows, parse_labels_hyperparameter, read_chat_rows
    from job_code.sm_contract import configure_cpu_threads

    configure_cpu_threads()
    score_only_target_positions()
    set_seed(params.seed)
    rows = read_chat_rows(paths.require_channel("train"), limit=params.max_samples)
    return rows, parse_labels_hyperparameter(params.labels) or labels_from_rows(rows)


def peft_config_of(params, model):
    """The LoRA config the hyperparameters ask for, or None (full fine-tuning)."""
    if not params.use_lora:
        return None
    return lora_config(
        params.lora_r, params.lora_alpha, params.lora_dropout, params.lora_target_modules,
        top_layers=params.lora_layers, model=model,
    )


def shared_trainer_args(params, paths) -> dict:
    """The TrainingArguments both trainers set alike: schedule, checkpoints (kept 2), logging, precision."""
    import torch

    from job_code.tracking import report_to

    return {
        "output_dir": str(paths.checkpoint_dir),
        "learning_rate": params.learning_rate,
        "max_steps": params.max_steps,
        "logging_steps": params.logging_steps,
        "save_strategy": "steps",
        "save_steps": params.save_steps,
        "save_total_limit": 2,
        "report_to": report_to(),  # "mlflow" inside the stage's tracked run (job_code/tracking.py)
        "seed": params.seed,
        "bf16": params.bf16 and torch.cuda.is_available(),
        "gradient_checkpointing": params.gradient_checkpointing,
        "disable_tqdm": True,
    }


def train_and_save(
    trainer, tokenizer, paths, labels: list[str], *, stage: str, rows: int, use_lora: bool,
    stage_facts: Callable[[list[dict]], dict] | None = None,
) -> dict:
    """Resume from the newest checkpoint, train, and (rank 0 only) save the merged model and
    ``train_metrics.json``. ``paths`` is the job's JobPaths. ``stage_facts(log_history)`` adds the stage's
    own facts after training (RFT: its signal), under the key ``stage`` in both train_metrics.json and
    training_log.json. Returns the summary, {} on other ranks."""
    resume_from = last_checkpoint(paths.checkpoint_dir)
    if resume_from:
        print(f"resuming {stage.upper()} from checkpoint {resume_from}", flush=True)
    started = time.monotonic()
    trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.monotonic() - started
    if not is_main_process():
        return {}
    save_merged(trainer.model, tokenizer, paths.model_dir, labels)
    facts = {
        "stage": stage,
        "rows": rows,
        "steps": trainer.state.global_step,
        "train_seconds": round(seconds, 2),
        "resumed_from": resume_from,
        "use_lora": use_lora,
    }
    history = trainer.state.log_history
    own = stage_facts(history) if stage_facts else None
    if own:
        facts[stage] = own
    summary = write_train_metrics(paths.output_data_dir / "train_metrics.json", history, facts)
    write_training_log(paths.output_data_dir, history, stage, own)
    return summary


def write_training_log(output_dir: Path, history: list[dict], stage: str, facts: dict | None = None) -> Path:
    """The trainer's per-step log (loss, learning_rate, reward, reward_std, frac_reward_zero_std, ...) as
    ``training_log.json`` (with the stage's own ``facts`` under its name: the report reads them there) and
    its curves as ``training_curves.png``, beside train_metrics.json (the job's output.tar.gz)."""
    from job_code.plots import plot_training_curves
    from pipeline_core.layout import TRAINING_CURVES_FILE, TRAINING_LOG_FILE

    output_dir.mkdir(parents=True, exist_ok=True)
    entries = [{k: v for k, v in entry.items() if isinstance(v, int | float | str)} for entry in history]
    path = output_dir / TRAINING_LOG_FILE
    document: dict = {"stage": stage, "log_history": entries}
    if facts:
        document[stage] = facts
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    plot_training_curves(entries, output_dir / TRAINING_CURVES_FILE, f"{stage}: training")
    return path
