"""Batched greedy generation: the hot loop of every evaluation, the server and the benchmark.

Speed on CPU comes from:
- a shared-prefix KV cache: every prompt of an evaluation starts with the same system prompt (~170 tokens
  of the case study's ~300), so its keys/values are computed ONCE and copied into every batch; the prefill
  then only covers each question;
- prompts sorted by token length (batches hold similar lengths, so little padding);
- padding placed between the shared prefix and the question (left padding when there is no shared
  prefix), so every row's last prompt token is adjacent to its first new token; position ids come from the
  attention mask, so a question's positions continue right after the prefix as if unpadded;
- the KV cache, a hard cap on new tokens, and the early stop of ``generate`` once every row produced eos.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

# Below this many shared tokens a prefix cache saves less than its bookkeeping costs.
MIN_PREFIX_TOKENS = 8


def shared_prefix_length(token_lists: list[list[int]]) -> int:
    """Length of the longest token prefix common to every list, leaving each list at least one own token.

    Token ids (not text) are compared, so a prefix that tokenizes differently at its border is never reused.
    """
    if not token_lists:
        return 0
    limit = min(len(tokens) for tokens in token_lists) - 1
    first = token_lists[0]
    length = 0
    while length < limit and all(tokens[length] == first[length] for tokens in token_lists):
        length += 1
    return max(length, 0)


def build_prefix_cache(model, prefix_ids: list[int]):
    """Run the model once over the shared prefix and return its KV cache (batch size 1)."""
    import torch
    from transformers import DynamicCache

    input_ids = torch.tensor([prefix_ids], dtype=torch.long, device=model.device)
    with torch.inference_mode():
        output = model(input_ids=input_ids, past_key_values=DynamicCache(config=model.config), use_cache=True)
    return output.past_key_values


def _batch_inputs(token_lists: list[list[int]], prefix_length: int, pad_id: int, device):
    """Pad a batch: [prefix][pads][question] with a shared prefix, [pads][prompt] (left padding) without."""
    import torch

    width = max(len(tokens) for tokens in token_lists)
    ids, mask = [], []
    for tokens in token_lists:
        pads = width - len(tokens)
        ids.append(tokens[:prefix_length] + [pad_id] * pads + tokens[prefix_length:])
        mask.append([1] * prefix_length + [0] * pads + [1] * (len(tokens) - prefix_length))
    return {
        "input_ids": torch.tensor(ids, dtype=torch.long, device=device),
        "attention_mask": torch.tensor(mask, dtype=torch.long, device=device),
    }


def generate_texts(
    model,
    tokenizer,
    prompts: list[str],
    *,
    max_new_tokens: int,
    batch_size: int,
    temperature: float = 0.0,
    prefix_cache: bool = True,
    on_batch: Callable[[int], None] | None = None,
    max_time: float | None = None,
) -> list[str]:
    """Generate one answer per prompt (chat-templated text), returned in the prompts' order.

    ``prefix_cache`` reuses the KV cache of the token prefix all prompts share (see the module doc); greedy
    answers are the same with and without it (tests/job_code_ml/test_generation.py). ``max_time`` (seconds,
    per batch) stops ``generate`` early: the server's request timeout.
    """
    import torch

    tokenizer.padding_side = "left"
    token_lists = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    order = sorted(range(len(prompts)), key=lambda index: len(token_lists[index]))
    prefix_length = shared_prefix_length(token_lists) if prefix_cache else 0
    if prefix_length < MIN_PREFIX_TOKENS:
        prefix_length = 0
    shared = build_prefix_cache(model, token_lists[0][:prefix_length]) if prefix_length else None

    answers: list[str] = [""] * len(prompts)
    sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
    timing = {"max_time": max_time} if max_time is not None else {}
    model.eval()
    done = 0
    for start in range(0, len(order), batch_size):
        batch_indices = order[start : start + batch_size]
        batch_tokens = [token_lists[index] for index in batch_indices]
        encoded = _batch_inputs(batch_tokens, prefix_length, tokenizer.pad_token_id, model.device)
        extra = {}
        if shared is not None:
            cache = copy.deepcopy(shared)  # generate() appends to the cache it is given
            cache.batch_repeat_interleave(len(batch_indices))
            extra["past_key_values"] = cache
        with torch.inference_mode():
            output = model.generate(
                **encoded,
                **extra,
                max_new_tokens=max_new_tokens,
                use_cache=True,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                top_p=None,
                top_k=None,
                **sampling,
                **timing,
            )
        new_tokens = output[:, encoded["input_ids"].shape[1] :]
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        for index, text in zip(batch_indices, texts, strict=True):
            answers[index] = text.strip()
        done += len(batch_indices)
        if on_batch is not None:
            on_batch(done)
    return answers
