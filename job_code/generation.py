"""Batched greedy generation: the hot loop of every evaluation, the server and the benchmark.

Speed on CPU comes from: prompts sorted by token length (batches hold similar lengths, so little padding),
left padding (every row's last prompt token is adjacent to its first new token), the KV cache, a hard cap on
new tokens, and early stop once every row produced eos.
"""

from __future__ import annotations

from collections.abc import Callable


def generate_texts(
    model,
    tokenizer,
    prompts: list[str],
    *,
    max_new_tokens: int,
    batch_size: int,
    temperature: float = 0.0,
    on_batch: Callable[[int], None] | None = None,
) -> list[str]:
    """Generate one answer per prompt (chat-templated text), returned in the prompts' order."""
    import torch

    tokenizer.padding_side = "left"
    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]
    order = sorted(range(len(prompts)), key=lambda index: lengths[index])
    answers: list[str] = [""] * len(prompts)
    sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
    model.eval()
    done = 0
    for start in range(0, len(order), batch_size):
        batch_indices = order[start : start + batch_size]
        encoded = tokenizer(
            [prompts[index] for index in batch_indices],
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        ).to(model.device)
        with torch.inference_mode():
            output = model.generate(
                **encoded,
                max_new_tokens=max_new_tokens,
                use_cache=True,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                top_p=None,
                top_k=None,
                **sampling,
            )
        new_tokens = output[:, encoded["input_ids"].shape[1] :]
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        for index, text in zip(batch_indices, texts, strict=True):
            answers[index] = text.strip()
        done += len(batch_indices)
        if on_batch is not None:
            on_batch(done)
    return answers
