"""RFT prompt selection by uncertainty: train GRPO on the prompts the starting model is least sure of.

A prompt the SFT model already answers with certainty gives a group of identical completions, all rewarded
alike: zero advantage, no gradient. So with ``prompt_selection: uncertain`` the RFT job scores a random pool
of ``selection_pool`` prompts with the starting model's own label probabilities and keeps the
max_steps x prompts_per_step of highest entropy.

The probability of a label is that of the exact answer, ``label`` then the end of the turn (eos), which is
what the reward scores; normalized over the labels. Cost: one batched forward pass over each prompt's own
tokens (the shared system prompt's KV cache computed once, as in evaluation), then one short pass over
every label's tokens on top of the prompt's cache: about one question prefill per prompt whatever the number
of labels. No gradients.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Sequence
from typing import Any


def entropy(probabilities: Sequence[float]) -> float:
    """Shannon entropy in nats (at most ln(number of labels))."""
    return -sum(p * math.log(p) for p in probabilities if p > 0)


def pool_indices(rows: int, pool: int, seed: int) -> list[int]:
    """A seeded random pool of min(pool, rows) row indices, in row order."""
    if pool >= rows:
        return list(range(rows))
    return sorted(random.Random(seed).sample(range(rows), pool))


def select_uncertain(distributions: Sequence[Sequence[float]], keep: int) -> list[int]:
    """Positions of the ``keep`` distributions of highest entropy, in input order; equal entropies keep the
    earlier position (deterministic)."""
    ranked = sorted(range(len(distributions)), key=lambda i: (-entropy(distributions[i]), i))
    return sorted(ranked[:keep])


def selection_stats(distributions: Sequence[Sequence[float]], kept: Sequence[int]) -> dict[str, Any]:
    """The pool's and the kept prompts' label entropies (what train_metrics.json records)."""
    pool = [entropy(d) for d in distributions]
    chosen = [pool[i] for i in kept]
    labels = len(distributions[0]) if distributions else 0

    def mean(values: Sequence[float]) -> float | None:
        return round(sum(values) / len(values), 4) if values else None

    return {
        "pool": len(pool),
        "kept": len(chosen),
        "pool_entropy_mean": mean(pool),
        "pool_entropy_min": round(min(pool), 4) if pool else None,
        "pool_entropy_max": round(max(pool), 4) if pool else None,
        "kept_entropy_mean": mean(chosen),
        "kept_entropy_min": round(min(chosen), 4) if chosen else None,
        "max_entropy": round(math.log(labels), 4) if labels else None,
    }


def label_token_ids(tokenizer, labels: Sequence[str]) -> list[list[int]]:
    """Each label's tokens as the model would write it after the generation prompt, then eos if any."""
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    return [tokenizer(label, add_special_tokens=False)["input_ids"] + eos for label in labels]


def label_distributions(model, tokenizer, prompt_ids: Sequence[Sequence[int]], labels: Sequence[str],
                        batch_size: int = 8, prefix_cache: bool = True) -> list[list[float]]:
    """P(label | prompt) over ``labels`` for each tokenized prompt (the chat template applied), in order.

    As in evaluation (job_code.generation), the token prefix every prompt shares (the system prompt) is run
    once and its KV cache copied into each batch, and batches hold prompts of similar length."""
    import torch

    from job_code.generation import MIN_PREFIX_TOKENS, build_prefix_cache, shared_prefix_length

    candidates = label_token_ids(tokenizer, labels)
    prompts = [list(p) for p in prompt_ids]
    prefix = shared_prefix_length(prompts) if prefix_cache else 0
    prefix = prefix if prefix >= MIN_PREFIX_TOKENS else 0
    order = sorted(range(len(prompts)), key=lambda index: len(prompts[index]))
    was_training = model.training
    model.eval()
    out: list[list[float]] = [[] for _ in prompts]
    try:
        shared = build_prefix_cache(model, prompts[0][:prefix]) if prefix else None
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                batch = order[start:start + batch_size]
                scores = _label_log_probs(model, [prompts[i] for i in batch], candidates, prefix, shared)
                for index, row in zip(batch, torch.softmax(scores, dim=-1).tolist(), strict=True):
                    out[index] = row
    finally:
        model.train(was_training)
    return out


def _label_log_probs(model, prompts: Sequence[Sequence[int]], candidates: list[list[int]], prefix: int = 0,
                     shared=None):
    """[prompts, labels] summed log-probabilities of each label's tokens after each prompt.

    Rows are [prefix][pads][own tokens] (the prefix as the copied cache ``shared``, of ``prefix`` tokens) or,
    without one, left padded; positions count real tokens only, so every row is scored as if unpadded."""
    import torch

    device = next(model.parameters()).device
    pad = 0
    rows, labels = len(prompts), len(candidates)
    own = [list(p[prefix:]) for p in prompts]
    width = max(len(p) for p in own)
    ids = torch.full((rows, width), pad, dtype=torch.long)
    mask = torch.zeros((rows, width), dtype=torch.long)
    for row, tokens in enumerate(own):  # every prompt ends in the last column
        ids[row, width - len(tokens):] = torch.tensor(tokens)
        mask[row, width - len(tokens):] = 1
    positions = prefix + (mask.cumsum(-1) - 1).clamp(min=0)
    full = torch.cat([torch.ones((rows, prefix), dtype=torch.long), mask], dim=-1)
    ids, full, positions = ids.to(device), full.to(device), positions.to(device)
    extra = {}
    if shared is not None:
        cache = copy.deepcopy(shared)  # the forward pass appends to the cache it is given
        cache.batch_repeat_interleave(rows)
        extra["past_key_values"] = cache
    first = model(input_ids=ids, attention_mask=full, position_ids=positions, use_cache=True, **extra)
    first_log_probs = torch.log_softmax(first.logits[:, -1].float(), dim=-1)  # [rows, vocab]
    cache = first.past_key_values

    # Every label's tokens after every prompt: rows x labels sequences on the repeated cache.
    span = max(len(c) for c in candidates)
    cont = torch.full((labels, span), pad, dtype=torch.long)
    cont_mask = torch.zeros((labels, span), dtype=torch.long)
    for index, tokens in enumerate(candidates):
        cont[index, :len(tokens)] = torch.tensor(tokens)
        cont_mask[index, :len(tokens)] = 1
    cont, cont_mask = cont.repeat(rows, 1).to(device), cont_mask.repeat(rows, 1).to(device)
    cache.batch_repeat_interleave(labels)
    lengths = (prefix + mask.sum(-1)).repeat_interleave(labels).to(device)  # [rows * labels]
    cont_positions = lengths[:, None] + torch.arange(span, device=device)[None, :]
    cont_full = torch.cat([full.repeat_interleave(labels, dim=0), cont_mask], dim=-1)
    second = model(input_ids=cont, attention_mask=cont_full, position_ids=cont_positions,
                   past_key_values=cache, use_cache=False)
    later_log_probs = torch.log_softmax(second.logits.float(), dim=-1)  # [rows*labels, span, vocab]

    scores = torch.zeros((rows, labels), device=device)
    for row in range(rows):
        for index, tokens in enumerate(candidates):
            flat = row * labels + index
            total = first_log_probs[row, tokens[0]]
            for position in range(1, len(tokens)):  # token j is predicted at position j-1 of the pass
                total = total + later_log_probs[flat, position - 1, tokens[position]]
            scores[row, index] = total
    return scores


def prompt_token_ids(tokenizer, prompts: Sequence[Any]) -> list[list[int]]:
    """The tokens GRPO generates after: each conversational prompt with the chat template's generation
    prompt (as TRL renders it)."""
    texts = [tokenizer.apply_chat_template(list(prompt), add_generation_prompt=True, tokenize=False)
             for prompt in prompts]
    return [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]


def select_prompts(model, tokenizer, prompts: Sequence[Any], labels: Sequence[str], *, keep: int, pool: int,
                   seed: int, batch_size: int = 8) -> tuple[list[int], dict[str, Any]]:
    """Indices (into ``prompts``) of the ``keep`` most uncertain of a seeded pool, and the pool's stats."""
    import time

    started = time.monotonic()
    candidates = pool_indices(len(prompts), pool, seed)
    distributions = label_distributions(
        model, tokenizer, prompt_token_ids(tokenizer, [prompts[i] for i in candidates]), labels, batch_size
    )
    kept = select_uncertain(distributions, min(keep, len(candidates)))
    stats = selection_stats(distributions, kept)
    stats["seconds"] = round(time.monotonic() - started, 2)
    return [candidates[i] for i in kept], stats
