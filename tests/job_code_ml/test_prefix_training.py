"""Shared-prefix training gives the plain forward's loss and gradients, on a real TRL SFTTrainer batch."""

from __future__ import annotations

import pytest

from job_code.prefix_training import IGNORE_INDEX, share_prefix, shared_training_prefix


def _tensor(rows):
    import torch

    return torch.tensor(rows)


@pytest.mark.parametrize(
    ("ids", "mask", "labels", "expected"),
    [
        # two rows share 3 tokens; labels start at column 4
        ([[1, 2, 3, 4, 5, 6], [1, 2, 3, 7, 8, 0]], [[1] * 6, [1] * 5 + [0]],
         [[-100] * 4 + [5, 6], [-100] * 4 + [8, -100]], 3),
        # the label at column 2 stops the prefix one column earlier (its prediction comes from column 1)
        ([[1, 2, 3, 4], [1, 2, 3, 5]], [[1] * 4, [1] * 4], [[-100, -100, 3, 4], [-100, -100, 3, 5]], 1),
        # identical rows keep their last token as their own
        ([[1, 2, 3], [1, 2, 3]], [[1] * 3, [1] * 3], [[-100] * 3, [-100] * 3], 2),
        # one row alone: nothing to share
        ([[1, 2, 3]], [[1] * 3], [[-100] * 3], 0),
        # a padded column (mask 0) ends the prefix
        ([[1, 2, 3], [1, 2, 3]], [[1, 0, 1], [1, 1, 1]], [[-100] * 3, [-100] * 3], 1),
        ([[9, 2, 3], [1, 2, 3]], [[1] * 3, [1] * 3], [[-100] * 3, [-100] * 3], 0),
    ],
)
def test_shared_training_prefix(ids, mask, labels, expected):
    assert shared_training_prefix(_tensor(ids), _tensor(mask), _tensor(labels)) == expected


@pytest.fixture(scope="module")
def trainer_and_batch(tiny_model_dir, tmp_path_factory):
    import torch
    from trl import SFTConfig, SFTTrainer

    from job_code.chat import ChatRow
    from job_code.models import load_model_and_tokenizer
    from job_code.sft import build_sft_dataset
    from job_code.training import lora_config, score_only_target_positions

    score_only_target_positions()
    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer(tiny_model_dir, padding_side="right")
    system = "You classify questions into HQ, LQ_EDIT or LQ_CLOSE. Answer with the label only, nothing else."
    questions = ["why does my loop never end", "pandas merge drops rows on join", "segfault",
                 "how to join two tables in sql when keys differ in case and in type"]
    labels = ["HQ", "LQ_EDIT", "LQ_CLOSE", "HQ"]
    rows = [ChatRow(id=str(i), system=system, question=q, answer=a, label=a)
            for i, (q, a) in enumerate(zip(questions, labels, strict=True))]
    config = SFTConfig(output_dir=str(tmp_path_factory.mktemp("sft")), per_device_train_batch_size=4,
                       max_length=256, report_to="none", disable_tqdm=True, use_cpu=True)
    trainer = SFTTrainer(model=model, args=config, train_dataset=build_sft_dataset(rows, tokenizer, 64),
                         processing_class=tokenizer, peft_config=lora_config(8, 16, 0.0, "all-linear"))
    batch = next(iter(trainer.get_train_dataloader()))
    # Random LoRA B matrices (they start at zero) so the adapters' gradients are not trivially zero.
    with torch.no_grad():
        for name, parameter in trainer.model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.02)
    return trainer, batch


def _loss_and_grads(trainer, batch, shared: bool):
    model = trainer.model
    model.train()
    model.zero_grad()
    inputs = share_prefix(model, dict(batch)) if shared else dict(batch)
    if shared:
        assert inputs["input_ids"].shape[1] < batch["input_ids"].shape[1]  # the prefix really was shared
    loss = trainer.compute_loss(model, inputs)
    loss.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}
    return loss.detach(), grads


def test_shared_prefix_gives_the_same_loss_and_gradients(trainer_and_batch):
    import torch

    trainer, batch = trainer_and_batch
    prefix = shared_training_prefix(batch["input_ids"], batch["attention_mask"], batch["labels"])
    assert prefix >= 20  # the system prompt's tokens
    plain_loss, plain_grads = _loss_and_grads(trainer, batch, shared=False)
    shared_loss, shared_grads = _loss_and_grads(trainer, batch, shared=True)
    torch.testing.assert_close(shared_loss, plain_loss, rtol=1e-5, atol=1e-6)
    assert plain_grads.keys() == shared_grads.keys() and plain_grads
    assert any(grad.abs().sum() > 0 for grad in plain_grads.values())
    for name, grad in plain_grads.items():
        torch.testing.assert_close(shared_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_a_batch_without_a_shared_prefix_is_left_alone(trainer_and_batch):
    trainer, batch = trainer_and_batch
    unshared = dict(batch)
    unshared["input_ids"] = batch["input_ids"].clone()
    unshared["input_ids"][1, 0] = unshared["input_ids"][0, 0] + 1
    assert share_prefix(trainer.model, unshared) is unshared
    assert (batch["labels"] == IGNORE_INDEX).any()
