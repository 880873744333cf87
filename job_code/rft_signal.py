"""What an RFT run's GRPO signal was: the share of prompt groups with no gradient, the reward std, and how
many distinct prompts it trained on.

TRL's GRPOTrainer already logs per step ``reward_std`` (the std of a step's rewards) and
``frac_reward_zero_std`` (with the default ``scale_rewards="group"``: the share of prompt groups whose
completions all got the same reward, so their advantages are zero and they teach nothing); they reach the
log history, MLflow (its MLflowCallback) and the training log as they are. This module only sums them up and
counts the prompts, which TRL does not: the reward function is wrapped to record each batch's prompt index.

The counts survive a restart: the seen indices are written into each checkpoint and read back on resume.
With several processes each counts its own prompts; rank 0's count is the one recorded.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

ZERO_STD_KEY = "frac_reward_zero_std"
REWARD_STD_KEY = "reward_std"
PROMPT_INDEX_COLUMN = "prompt_index"
PROMPTS_SEEN_FILE = "forge_prompts_seen.json"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def signal_summary(history: Sequence[dict[str, Any]], groups_per_step: int) -> dict[str, Any]:
    """Zero-variance groups and mean reward std over the logged steps of a GRPO log history.

    A log entry averages the steps since the previous one (``logging_steps``), so each is weighted by the
    steps it covers; ``groups_per_step`` is prompts_per_step x processes.
    """
    previous_step, steps, zero, std_sum, std_steps = 0, 0, 0.0, 0.0, 0
    for entry in history:
        if not (_number(entry.get(ZERO_STD_KEY)) and _number(entry.get("step"))):
            continue
        covered = max(int(entry["step"]) - previous_step, 1)
        previous_step = int(entry["step"])
        steps += covered
        zero += float(entry[ZERO_STD_KEY]) * covered
        if _number(entry.get(REWARD_STD_KEY)):
            std_sum += float(entry[REWARD_STD_KEY]) * covered
            std_steps += covered
    groups = steps * groups_per_step
    return {
        "groups": groups,
        "zero_variance_groups": round(zero * groups_per_step),
        "zero_variance_share": round(zero / steps, 4) if steps else None,
        "reward_std_mean": round(std_sum / std_steps, 4) if std_steps else None,
    }


class PromptCounter:
    """Counts the distinct prompts a GRPO run scores (= trains on), through its reward function."""

    def __init__(self, seen: Iterable[int] = ()) -> None:
        self.seen: set[int] = set(seen)

    @classmethod
    def resumed(cls, checkpoint: str | Path | None) -> PromptCounter:
        """A counter holding what the checkpoint a run resumes from had seen (empty without one)."""
        if checkpoint is None:
            return cls()
        path = Path(checkpoint) / PROMPTS_SEEN_FILE
        if not path.is_file():
            return cls()
        return cls(int(index) for index in json.loads(path.read_text(encoding="utf-8")))

    def wrap(self, reward: Callable[..., Any]) -> Callable[..., Any]:
        """``reward`` that first records the batch's prompt indices; the inner function never sees the column
        (a custom reward need not accept it). Keeps ``__name__``: TRL names the reward's metrics by it."""

        @functools.wraps(reward)
        def counted(*args: Any, **kwargs: Any) -> Any:
            indices = kwargs.pop(PROMPT_INDEX_COLUMN, None)
            if indices is not None:
                self.seen.update(int(index) for index in indices)
            return reward(*args, **kwargs)

        return counted

    def save(self, checkpoint: Path) -> None:
        if checkpoint.is_dir():
            (checkpoint / PROMPTS_SEEN_FILE).write_text(json.dumps(sorted(self.seen)), encoding="utf-8")

    def callback(self):
        """A TrainerCallback that writes the seen indices into each checkpoint the trainer saves."""
        from transformers import TrainerCallback

        counter = self

        class _SaveSeen(TrainerCallback):
            def on_save(self, args, state, control, **kwargs):
                counter.save(Path(args.output_dir) / f"checkpoint-{state.global_step}")

        return _SaveSeen()
