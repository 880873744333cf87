"""Batched generation with the shared-prefix KV cache gives the same greedy answers as the plain path."""

from __future__ import annotations

import pytest

from job_code.generation import MIN_PREFIX_TOKENS, generate_texts, shared_prefix_length

SYSTEM = "You classify questions. Answer with only HQ, LQ_EDIT or LQ_CLOSE. Do not explain anything at all."
QUESTIONS = ["why does my loop never end", "pandas merge drops rows", "react state not updating after fetch",
             "segfault", "how to join two tables in sql when keys differ in case and type", "css flex gap"]


@pytest.mark.parametrize(
    ("lists", "expected"),
    [
        ([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]], 2),
        ([[1, 2, 3], [1, 2, 3]], 2),  # identical prompts keep one own token each
        ([[7, 1], [8, 1]], 0),
        ([[1, 2, 3]], 2),
        ([], 0),
    ],
)
def test_shared_prefix_length(lists, expected):
    assert shared_prefix_length(lists) == expected


@pytest.fixture(scope="module")
def model_and_prompts(tiny_model_dir):
    import torch

    from job_code.chat import prompt_text
    from job_code.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(tiny_model_dir)
    # The tiny model's small init greedily repeats one token whatever the input; larger random weights make
    # every answer depend on its prompt, so equal answers really mean equal computations.
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.5)
    prompts = [prompt_text([{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
                           tokenizer) for question in QUESTIONS]
    return model, tokenizer, prompts


def test_prompts_share_a_prefix_long_enough_to_cache(model_and_prompts):
    _, tokenizer, prompts = model_and_prompts
    token_lists = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    assert shared_prefix_length(token_lists) >= MIN_PREFIX_TOKENS


def test_prefix_cache_gives_identical_greedy_answers(model_and_prompts):
    import torch

    model, tokenizer, prompts = model_and_prompts
    # The naive path: one plain generate() per prompt, no padding, no shared cache.
    naive = []
    for prompt in prompts:
        encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            output = model.generate(**encoded, max_new_tokens=8, do_sample=False, top_p=None, top_k=None,
                                    pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        new_tokens = output[0, encoded["input_ids"].shape[1]:]
        naive.append(tokenizer.decode(new_tokens, skip_special_tokens=True).strip())
    cached = generate_texts(model, tokenizer, prompts, max_new_tokens=8, batch_size=4, prefix_cache=True)
    uncached = generate_texts(model, tokenizer, prompts, max_new_tokens=8, batch_size=4, prefix_cache=False)
    assert len(set(naive)) == len(prompts) and all(naive)  # prompt-dependent answers: not a vacuous check
    assert cached == naive
    assert uncached == naive


def test_prefix_cache_is_not_consumed_across_batches(model_and_prompts):
    model, tokenizer, prompts = model_and_prompts
    one_batch = generate_texts(model, tokenizer, prompts, max_new_tokens=6, batch_size=len(prompts))
    many_batches = generate_texts(model, tokenizer, prompts, max_new_tokens=6, batch_size=1)
    assert one_batch == many_batches
