"""Broken inputs end a job the SageMaker way: a one-line reason in output/failure and exit code 1."""

from __future__ import annotations

import json

import pytest

from job_code import evaluate, rft, sft


def failure_of(base) -> str:
    text = (base / "output" / "failure").read_text()
    assert text.count("\n") == 1, "the failure reason is one line"
    return text.strip()


def test_missing_eval_channel(tmp_path, tiny_model_dir, job_runner):
    code = job_runner(evaluate.main, tmp_path, {}, ["--base_model", str(tiny_model_dir)])
    assert code == 1
    assert failure_of(tmp_path) == (
        f"ChannelError: required input channel 'eval' is missing (set SM_CHANNEL_EVAL or provide "
        f"{tmp_path / 'input' / 'data' / 'eval'})"
    )


@pytest.mark.parametrize(
    ("main", "channel", "argv", "reason"),
    [
        (evaluate.main, "eval", ["--batch_size", "many"],
         "HyperparameterError: hyperparameter batch_size='many' is not a valid int"),
        (sft.main, "train", ["--learning_rate", "-1"],
         "HyperparameterError: hyperparameter learning_rate=-1.0 must be > 0"),
        (rft.main, "train", ["--num_generations", "1"],
         "HyperparameterError: hyperparameter num_generations=1 must be >= 2 (GRPO compares a group)"),
    ],
)
def test_bad_hyperparameter(tmp_path, chat_channel, job_runner, main, channel, argv, reason):
    assert job_runner(main, tmp_path, {channel: chat_channel}, argv) == 1
    assert failure_of(tmp_path) == reason


def test_unknown_hyperparameter_in_the_sagemaker_file(tmp_path, chat_channel, job_runner):
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps({"epochs": "1", "lora_rnak": "8"}))
    assert job_runner(sft.main, tmp_path, {"train": chat_channel}, []) == 1
    expected = "HyperparameterError: unknown hyperparameter(s) lora_rnak; known: "
    assert failure_of(tmp_path).startswith(expected)


def test_corrupt_model_dir(tmp_path, chat_channel, job_runner):
    model = tmp_path / "broken-model"
    model.mkdir()
    (model / "config.json").write_text("{ this is not json")
    assert job_runner(evaluate.main, tmp_path / "job", {"eval": chat_channel, "model": model}, []) == 1
    reason = failure_of(tmp_path / "job")
    assert reason.startswith(f"ModelLoadError: cannot load model from {model}")


def test_model_dir_with_weights_missing(tmp_path, tiny_model_dir, chat_channel, job_runner):
    model = tmp_path / "no-weights"
    model.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (model / name).write_bytes((tiny_model_dir / name).read_bytes())
    (model / "model.safetensors").write_bytes(b"truncated")
    assert job_runner(evaluate.main, tmp_path / "job", {"eval": chat_channel, "model": model}, []) == 1
    assert failure_of(tmp_path / "job").startswith(f"ModelLoadError: cannot load model from {model}")


def test_bad_data_row_is_named(tmp_path, tiny_model_dir, job_runner):
    channel = tmp_path / "train"
    channel.mkdir()
    good_row = '{"id": "a", "messages": [{"role": "user", "content": "q"}]}'
    (channel / "train.jsonl").write_text(good_row + "\n[1, 2]\n")
    argv = ["--base_model", str(tiny_model_dir)]
    assert job_runner(sft.main, tmp_path / "job", {"train": channel}, argv) == 1
    expected = "ChatDataError: train.jsonl row 2: expected a JSON object, got list"
    assert failure_of(tmp_path / "job") == expected


def test_sft_resumes_from_its_checkpoint(tmp_path, tiny_model_dir, chat_channel, job_runner, capsys):
    """A restarted job (spot interruption) continues from the newest checkpoint instead of step 0."""
    argv = ["--base_model", str(tiny_model_dir), "--per_device_batch_size", "4", "--save_steps", "2",
            "--max_query_tokens", "16", "--logging_steps", "1"]
    assert job_runner(sft.main, tmp_path, {"train": chat_channel}, argv + ["--max_steps", "2"]) == 0
    capsys.readouterr()
    assert job_runner(sft.main, tmp_path, {"train": chat_channel}, argv + ["--max_steps", "3"]) == 0
    metrics = json.loads((tmp_path / "output" / "data" / "train_metrics.json").read_text())
    assert metrics["resumed_from"].endswith("checkpoint-2") and metrics["steps"] == 3
    progress = [line for line in capsys.readouterr().out.splitlines() if line.startswith("progress ")]
    assert [line.split()[2] for line in progress] == ["step=3/3"]  # steps 1-2 were not trained again


@pytest.mark.parametrize(
    ("main", "reason"),
    [
        (sft.main, "ChatDataError: train row a: no assistant turn and no label to learn from"),
        (rft.main, "ChatDataError: train row a: no label or assistant turn as reference_answer"),
    ],
)
def test_training_row_without_target(tmp_path, tiny_model_dir, job_runner, main, reason):
    channel = tmp_path / "train"
    channel.mkdir()
    (channel / "train.jsonl").write_text('{"id": "a", "messages": [{"role": "user", "content": "q"}]}\n')
    assert job_runner(main, tmp_path / "job", {"train": channel}, ["--base_model", str(tiny_model_dir)]) == 1
    assert failure_of(tmp_path / "job") == reason
