"""Issue 17, RFT that can be diagnosed and steered: the GRPO signal per step, the prompts seen, prompt
selection by uncertainty, and the SFT sampling order as a hyperparameter."""

from __future__ import annotations

import json
import math

import pytest

from job_code import prompt_selection as ps
from job_code.rft_signal import PROMPT_INDEX_COLUMN, PROMPTS_SEEN_FILE, PromptCounter, signal_summary
from job_code.sm_contract import parse_progress, trainer_progress_callback
from pipeline_core.job_hyperparameters import (
    HyperparameterError,
    RftHyperparameters,
    SftHyperparameters,
    parse_stage,
)

LABELS = ["HQ", "LQ_EDIT", "LQ_CLOSE"]


# ---------------------------------------------------------------- hyperparameters


def test_the_defaults_keep_todays_behaviour():
    assert RftHyperparameters().prompt_selection == "random"
    assert SftHyperparameters().sampling == "group_by_length"


@pytest.mark.parametrize(
    ("kind", "values", "field", "message"),
    [
        ("rft", {"prompt_selection": "entropy"}, "prompt_selection", "must be one of 'random', 'uncertain'"),
        ("rft", {"selection_pool": 0}, "selection_pool", "selection_pool=0 must be > 0"),
        ("rft", {"selection_pool": 10**6}, "selection_pool", "must be <= 100000"),
        ("rft", {"prompt_selection": "uncertain", "max_steps": 24, "prompts_per_step": 2,
                 "selection_pool": 40}, "selection_pool",
         "selection_pool=40 must be >= max_steps x prompts_per_step = 48"),
        ("sft", {"sampling": "sequential"}, "sampling", "sampling='sequential' must be one of"),
    ],
)
def test_bad_settings_name_the_field(kind, values, field, message):
    with pytest.raises(HyperparameterError, match=message) as caught:
        parse_stage(kind, values)
    assert caught.value.field == field


def test_uncertain_with_a_big_enough_pool_parses_from_strings():
    raw = {"prompt_selection": '"uncertain"', "selection_pool": "48", "max_steps": "24"}
    params = parse_stage("rft", raw)
    assert (params.prompt_selection, params.selection_pool, params.prompts_needed()) == ("uncertain", 48, 48)


# ---------------------------------------------------------------- signal summary and prompt counter


def test_signal_summary_weights_each_log_entry_by_the_steps_it_covers():
    # logging_steps=2: each entry averages two steps; the last covers one. 2 prompts per step.
    history = [
        {"step": 2, "loss": 0.1, "reward": 0.5, "reward_std": 0.2, "frac_reward_zero_std": 0.5},
        {"step": 4, "loss": 0.1, "reward": 0.5, "reward_std": 0.4, "frac_reward_zero_std": 1.0},
        {"step": 5, "loss": 0.1, "reward": 0.5, "reward_std": 0.1, "frac_reward_zero_std": 0.0},
        {"step": 5, "train_runtime": 3.0},  # the trainer's summary: not a step
    ]
    assert signal_summary(history, groups_per_step=2) == {
        "groups": 10, "zero_variance_groups": 6, "zero_variance_share": 0.6,
        "reward_std_mean": round((0.2 * 2 + 0.4 * 2 + 0.1) / 5, 4),
    }
    assert signal_summary([{"step": 3, "loss": 1.0}], 2) == {
        "groups": 0, "zero_variance_groups": 0, "zero_variance_share": None, "reward_std_mean": None,
    }


def test_the_counter_records_prompt_indices_hides_the_column_and_keeps_the_name(tmp_path):
    calls = []

    def label_reward(completions, reference_answer, **kwargs):
        calls.append(kwargs)
        return [1.0] * len(completions)

    counter = PromptCounter()
    wrapped = counter.wrap(label_reward)
    assert wrapped.__name__ == "label_reward"  # TRL names the reward's metrics by it
    assert wrapped(["a", "b", "c", "d"], ["HQ"] * 4, **{PROMPT_INDEX_COLUMN: [7, 7, 3, 3]}) == [1.0] * 4
    wrapped(["a", "b"], ["HQ"] * 2, **{PROMPT_INDEX_COLUMN: [3, 3]}, trainer_state=None)
    assert counter.seen == {3, 7}
    assert all(PROMPT_INDEX_COLUMN not in kwargs for kwargs in calls)
    checkpoint = tmp_path / "checkpoint-4"
    checkpoint.mkdir()
    counter.save(checkpoint)
    assert json.loads((checkpoint / PROMPTS_SEEN_FILE).read_text()) == [3, 7]
    assert PromptCounter.resumed(checkpoint).seen == {3, 7}
    assert PromptCounter.resumed(None).seen == set()
    assert PromptCounter.resumed(tmp_path).seen == set()  # a checkpoint of an older job code


def test_progress_lines_carry_the_reward_std_and_zero_std_share(capsys):
    from forge.local.training import parse_progress as parse_job_log

    class State:
        max_steps, global_step = 20, 3

    callback = trainer_progress_callback("rft", 8)
    callback.on_train_begin(None, State(), None)
    callback.on_log(None, State(), None, logs={"loss": 0.01, "reward": 0.8125, "reward_std": 0.25,
                                               "frac_reward_zero_std": 0.5})
    line = capsys.readouterr().out.strip()
    assert " reward=0.8125 reward_std=0.2500 zero_std=0.5000 " in line
    parsed = parse_progress(line)
    assert (parsed["reward_std"], parsed["zero_std"], parsed["step"]) == (0.25, 0.5, 3)
    assert parse_job_log("other output\n" + line + "\nmore\n")["zero_std"] == 0.5
    old = "progress stage=sft step=12/100 loss=1.2340 samples_per_s=3.10 eta_s=120"  # still parses
    assert parse_progress(old)["loss"] == pytest.approx(1.234) and "zero_std" not in parse_progress(old)


# ---------------------------------------------------------------- selection: pure parts


def test_select_uncertain_keeps_the_highest_entropy_prompts_in_pool_order():
    distributions = [
        [1.0, 0.0, 0.0],  # certain
        [1 / 3, 1 / 3, 1 / 3],  # most uncertain
        [0.5, 0.5, 0.0],
        [0.9, 0.05, 0.05],
        [0.4, 0.3, 0.3],
    ]
    assert ps.select_uncertain(distributions, 2) == [1, 4]
    assert ps.select_uncertain(distributions, 3) == [1, 2, 4]
    assert ps.select_uncertain([[0.5, 0.5]] * 4, 2) == [0, 1]  # ties: the earlier positions
    stats = ps.selection_stats(distributions, [1, 4])
    assert stats["max_entropy"] == round(math.log(3), 4) and stats["kept_entropy_min"] == pytest.approx(
        ps.entropy([0.4, 0.3, 0.3]), abs=1e-4)
    assert (stats["pool"], stats["kept"]) == (5, 2) and stats["pool_entropy_min"] == 0.0


def test_the_pool_is_seeded_and_in_row_order():
    first = ps.pool_indices(1000, 50, seed=42)
    assert first == ps.pool_indices(1000, 50, seed=42) != ps.pool_indices(1000, 50, seed=43)
    assert first == sorted(first) and len(set(first)) == 50 and all(0 <= i < 1000 for i in first)
    assert ps.pool_indices(10, 50, seed=1) == list(range(10))


# ---------------------------------------------------------------- selection on the tiny model


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from job_code.models import load_model_and_tokenizer

    return load_model_and_tokenizer(tiny_model_dir, padding_side="left")


def prompts(count: int) -> list[list[dict]]:
    return [[{"role": "system", "content": "Classify the question."},
             {"role": "user", "content": "how do i fix " + "this " * (index % 7) + f"error {index}"}]
            for index in range(count)]


@pytest.mark.parametrize("shared_prefix", [False, True])
def test_batched_label_log_probs_equal_one_unpadded_pass_per_label(tiny, shared_prefix):
    """Padding, explicit positions, the shared prefix's cache and the repeated KV cache change nothing."""
    import torch

    from job_code.generation import MIN_PREFIX_TOKENS, build_prefix_cache, shared_prefix_length

    model, tokenizer = tiny
    ids = ps.prompt_token_ids(tokenizer, prompts(5))
    assert len({len(i) for i in ids}) > 1  # prompts of different lengths: padding is exercised
    candidates = ps.label_token_ids(tokenizer, LABELS)
    prefix = shared_prefix_length(ids) if shared_prefix else 0
    assert prefix >= MIN_PREFIX_TOKENS or not shared_prefix
    shared = build_prefix_cache(model, ids[0][:prefix]) if prefix else None
    with torch.no_grad():
        batched = ps._label_log_probs(model, ids, candidates, prefix, shared)
        for row, prompt in enumerate(ids):
            for index, tokens in enumerate(candidates):
                logits = model(input_ids=torch.tensor([prompt + tokens])).logits[0]
                log_probs = torch.log_softmax(logits.float(), dim=-1)
                expected = sum(float(log_probs[len(prompt) - 1 + j, t]) for j, t in enumerate(tokens))
                assert float(batched[row, index]) == pytest.approx(expected, abs=1e-4), (row, index)
    model.train()
    distributions = ps.label_distributions(model, tokenizer, ids, LABELS, batch_size=2)
    assert model.training  # the trainer's mode is given back
    model.eval()
    assert all(sum(d) == pytest.approx(1.0) for d in distributions) and len(distributions) == 5
    other_batches = ps.label_distributions(model, tokenizer, ids, LABELS, batch_size=5, prefix_cache=False)
    assert all(a == pytest.approx(b, abs=1e-6) for a, b in zip(distributions, other_batches, strict=True))


def test_select_prompts_is_deterministic_and_keeps_the_most_uncertain_of_its_pool(tiny):
    model, tokenizer = tiny
    candidates = prompts(12)
    kept, stats = ps.select_prompts(model, tokenizer, candidates, LABELS, keep=3, pool=8, seed=5)
    again, _ = ps.select_prompts(model, tokenizer, candidates, LABELS, keep=3, pool=8, seed=5)
    assert kept == again and len(kept) == 3 and (stats["pool"], stats["kept"]) == (8, 3)
    pool = ps.pool_indices(12, 8, seed=5)
    assert set(kept) <= set(pool)
    ids = ps.prompt_token_ids(tokenizer, [candidates[i] for i in pool])
    entropies = dict(zip(pool, map(ps.entropy, ps.label_distributions(model, tokenizer, ids, LABELS)),
                         strict=True))
    assert min(entropies[i] for i in kept) >= max(entropies[i] for i in pool if i not in kept) - 1e-9
    assert stats["kept_entropy_mean"] >= stats["pool_entropy_mean"]


# ---------------------------------------------------------------- SFT sampling reaches the trainer


@pytest.mark.parametrize("sampling", ["group_by_length", "random"])
def test_the_sft_sampling_hyperparameter_reaches_the_trainer_args(
        sampling, tiny_model_dir, chat_channel, tmp_path, monkeypatch):
    import trl

    from job_code import sft
    from job_code.sm_contract import job_paths
    from tests.job_code_ml.conftest import sagemaker_job

    class Captured(Exception):
        pass

    class FakeTrainer:
        def __init__(self, *, args, **kwargs):
            raise Captured(args)

    monkeypatch.setattr(trl, "SFTTrainer", FakeTrainer)
    params = parse_stage("sft", {"base_model": str(tiny_model_dir), "sampling": sampling, "max_steps": 1,
                                 "max_query_tokens": 32, "max_length": 256})
    with sagemaker_job(tmp_path, {"train": chat_channel}), pytest.raises(Captured) as caught:
        sft.run_sft(params, job_paths())
    assert caught.value.args[0].train_sampling_strategy == sampling


# ---------------------------------------------------------------- one RFT job: train_metrics, log, MLflow


@pytest.mark.slow
def test_an_uncertain_rft_job_records_its_signal_everywhere(
        tiny_model_dir, chat_channel, job_runner, tmp_path, monkeypatch, capsys):
    mlflow = pytest.importorskip("mlflow")
    from job_code import rft
    from pipeline_core.tracking import ENV_EXPERIMENT, ENV_RUN_ID, ENV_STAGE, ENV_TRACKING_URI

    (tmp_path / "mlflow").mkdir()
    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    for name, value in {ENV_TRACKING_URI: uri, ENV_RUN_ID: "run-1", ENV_EXPERIMENT: "forge-test",
                        ENV_STAGE: "rft"}.items():
        monkeypatch.setenv(name, value)
    code = job_runner(
        rft.main, tmp_path / "rft", {"train": chat_channel},
        ["--base_model", str(tiny_model_dir), "--max_steps", "3", "--num_generations", "2",
         "--prompts_per_step", "2", "--max_completion_length", "4", "--beta", "0", "--max_query_tokens", "32",
         "--prompt_selection", "uncertain", "--selection_pool", "10", "--save_steps", "2"],
    )
    out = capsys.readouterr().out
    assert code == 0, (tmp_path / "rft" / "output" / "failure").read_text()
    data = tmp_path / "rft" / "output" / "data"
    metrics = json.loads((data / "train_metrics.json").read_text())
    assert len(metrics["reward_stds"]) == len(metrics["zero_std_shares"]) == 3  # one per logged step
    assert all(0.0 <= share <= 1.0 for share in metrics["zero_std_shares"])
    facts = metrics["rft"]
    assert (facts["prompts_available"], facts["prompt_selection"]) == (24, "uncertain")
    assert facts["prompts_seen"] == 6  # 3 steps x 2 prompts: one shuffled pass over the 6 kept
    assert (facts["selection"]["pool"], facts["selection"]["kept"]) == (10, 6)
    assert facts["groups"] == 6 and 0 <= facts["zero_variance_groups"] <= 6
    assert 0.0 <= facts["zero_variance_share"] <= 1.0 and facts["reward_std_mean"] >= 0.0
    log = json.loads((data / "training_log.json").read_text())
    assert log["rft"] == facts
    assert all("frac_reward_zero_std" in e for e in log["log_history"] if "reward" in e)
    assert "prompt selection: kept 6 of a pool of 10 (of 24 rows)" in out
    assert any(" zero_std=" in line and " reward_std=" in line for line in out.splitlines()
               if line.startswith("progress stage=rft"))
    # The checkpoint at step 2 holds what had been seen by then (a resumed job starts from it).
    assert PromptCounter.resumed(tmp_path / "rft" / "checkpoints" / "checkpoint-2").seen
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("forge-test").experiment_id
    (run,) = client.search_runs([experiment], "tags.`forge.level` = 'stage'")
    for key in ("frac_reward_zero_std", "reward_std"):
        assert len(client.get_metric_history(run.info.run_id, key)) == 3, key
    assert run.data.metrics["rft.prompts_seen"] == facts["prompts_seen"]
    assert run.data.metrics["rft.zero_variance_share"] == facts["zero_variance_share"]
