"""Shared-prefix training: compute the system prompt once per batch, not once per row. Exact, not approximate.

Every SFT row of an experiment starts with the same system prompt (the case study's is 155 of ~280 tokens per
row). A causal model's keys and values over that prefix do not depend on what follows, so a batch of B rows
needs them once: run the backbone over the prefix with batch size 1 (gradients on), repeat its KV cache B
times, and run only each row's own tokens (question + answer) on top of it. Autograd carries every row's
gradient back through the repeated cache into the one prefix computation, so loss and gradients equal the
plain forward's (tests/job_code_ml/test_prefix_training.py checks both). At batch 8 this cuts the tokens a
step processes by about half.

Applies when the rows of a batch share >= MIN_PREFIX_TOKENS leading tokens that are unpadded and unlabelled
(no loss on them); otherwise, and with gradient checkpointing (which cannot keep a cache), the batch takes
the plain path.
"""

from __future__ import annotations

from typing import Any

from job_code.generation import MIN_PREFIX_TOKENS

IGNORE_INDEX = -100


def shared_training_prefix(input_ids, attention_mask, labels) -> int:
    """Length P of the leading columns every row shares: same token, unpadded, and no loss on them.

    The label at column P must be ignored too (its prediction would come from the prefix's last position,
    whose output the shared path does not score), and every row keeps at least one own token.
    """
    import torch

    if input_ids.shape[0] < 2:
        return 0
    same = (input_ids == input_ids[:1]).all(dim=0)
    usable = same & (attention_mask == 1).all(dim=0) & (labels == IGNORE_INDEX).all(dim=0)
    # Column P itself must carry no label: shift the "no label" test one column left.
    next_unlabelled = torch.ones_like(usable)
    next_unlabelled[:-1] = (labels[:, 1:] == IGNORE_INDEX).all(dim=0)
    usable &= next_unlabelled
    usable[-1] = False  # at least one own token per row
    bad = (~usable).nonzero()
    return int(bad[0]) if len(bad) else 0


def _backbone(model):
    """The decoder stack (no LM head) of a causal LM, through a PEFT wrapper if there is one."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return inner.base_model


def share_prefix(model, inputs: dict[str, Any], min_prefix: int = MIN_PREFIX_TOKENS) -> dict[str, Any]:
    """Return the batch with its shared prefix replaced by a KV cache (with gradients), or the batch as is."""
    from transformers import DynamicCache

    input_ids, attention_mask = inputs.get("input_ids"), inputs.get("attention_mask")
    labels = inputs.get("labels")
    if input_ids is None or attention_mask is None or labels is None or "position_ids" in inputs:
        return inputs
    prefix = shared_training_prefix(input_ids, attention_mask, labels)
    if prefix < min_prefix:
        return inputs
    backbone = _backbone(model)
    cache = DynamicCache(config=backbone.config)
    backbone(input_ids=input_ids[:1, :prefix], attention_mask=attention_mask[:1, :prefix],
             past_key_values=cache, use_cache=True)
    cache.batch_repeat_interleave(input_ids.shape[0])
    shared = dict(inputs)
    shared.update(
        input_ids=input_ids[:, prefix:],
        labels=labels[:, prefix:],
        attention_mask=attention_mask,  # the full mask: prefix columns are the cache's
        past_key_values=cache,
    )
    return shared


def prefix_sharing_sft_trainer(base_class):
    """An SFTTrainer subclass whose training loss uses share_prefix (built lazily: TRL imports are heavy)."""

    class PrefixSharingSFTTrainer(base_class):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if model.training and not return_outputs and not self.args.gradient_checkpointing:
                inputs = share_prefix(model, inputs)
            return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)

    return PrefixSharingSFTTrainer
