"""The SageMaker contract helpers, prompt truncation and request parsing: fast, no model training."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from job_code.chat import (
    ChatDataError,
    parse_labels_hyperparameter,
    prompt_messages,
    read_chat_rows,
    truncate_question,
)
from job_code.models import ModelLoadError, load_model_and_tokenizer, resolve_model_dir
from job_code.serve import InvocationError, parse_invocation
from job_code.sm_contract import (
    HyperparameterError,
    ProgressLog,
    job_paths,
    parse_hyperparameters,
    parse_progress,
)
from job_code.training import last_checkpoint, train_and_save


@dataclass
class Params:
    batch_size: int = 8
    learning_rate: float = 1e-4
    use_lora: bool = True
    base_model: str = "x"
    seed: int | None = None


@pytest.fixture
def paths(tmp_path, monkeypatch):
    for name in ("SM_INPUT_DIR", "SM_INPUT_CONFIG_DIR", "SM_INPUT_DATA_DIR", "SM_OUTPUT_DIR", "SM_MODEL_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SM_BASE_DIR", str(tmp_path))
    return job_paths()


def write_hyperparameters(paths, values: dict) -> None:
    paths.hyperparameters_file.parent.mkdir(parents=True, exist_ok=True)
    paths.hyperparameters_file.write_text(json.dumps(values))


def test_hyperparameters_file_strings_are_parsed_by_type(paths):
    # What SageMaker writes: every value a string, string values sometimes JSON-quoted.
    write_hyperparameters(paths, {"batch_size": "16", "learning_rate": "2e-4", "use_lora": "false",
                                  "base_model": '"smollm2-135m-instruct"', "sagemaker_program": '"sft.py"'})
    params = parse_hyperparameters(Params, None, paths)
    expected = Params(batch_size=16, learning_rate=2e-4, use_lora=False, base_model="smollm2-135m-instruct")
    assert params == expected


def test_cli_flags_override_the_file_and_accept_dashes(paths):
    write_hyperparameters(paths, {"batch_size": "16"})
    params = parse_hyperparameters(Params, ["--batch-size", "4", "--seed", "7"], paths)
    assert (params.batch_size, params.seed) == (4, 7)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"batch_size": "eight"}, "hyperparameter batch_size='eight' is not a valid int"),
        ({"batch_size": "8.5"}, "hyperparameter batch_size='8.5' is not a valid int"),
        ({"use_lora": "maybe"}, "hyperparameter use_lora='maybe' is not a valid bool"),
        ({"learning_rate": "nan"}, "hyperparameter learning_rate='nan' is not a valid float"),
        ({"lora_rank": "8"}, "unknown hyperparameter(s) lora_rank"),
    ],
)
def test_bad_hyperparameters_are_named(paths, values, message):
    write_hyperparameters(paths, values)
    with pytest.raises(HyperparameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_hyperparameters(Params, None, paths)


def test_integral_floats_are_accepted_for_ints(paths):
    assert parse_hyperparameters(Params, ["--batch_size", "8.0"], paths).batch_size == 8


def test_unknown_cli_flag_is_rejected(paths):
    with pytest.raises(HyperparameterError, match="unknown command-line arguments: --epochs"):
        parse_hyperparameters(Params, ["--epochs", "2"], paths)


def test_progress_line_round_trip(capsys):
    log = ProgressLog("sft", 100, every_s=0.0, samples_per_step=8)
    line = log.update(12, loss=1.234, reward=None)
    parsed = parse_progress(line)
    assert parsed["stage"] == "sft" and (parsed["step"], parsed["total"]) == (12, 100)
    assert parsed["loss"] == pytest.approx(1.234) and "reward" not in parsed
    assert parsed["samples_per_s"] > 0 and parsed["eta_s"] >= 0
    assert capsys.readouterr().out.strip() == line
    rft_line = "progress stage=rft step=3/20 loss=0.5000 reward=0.8125 samples_per_s=0.40 eta_s=85"
    assert parse_progress(rft_line) == {
        "stage": "rft", "step": 3, "total": 20, "loss": 0.5, "reward": 0.8125,
        "samples_per_s": 0.4, "eta_s": 85.0,
    }
    assert parse_progress("{'loss': 1.0}") is None


def test_truncation_cuts_the_question_only(tiny_model_dir, make_rows, rows_writer, tmp_path):
    _, tokenizer = load_model_and_tokenizer(tiny_model_dir)
    row = make_rows(1)[0]
    row["messages"][1]["content"] = "why python error " * 50
    rows = read_chat_rows(rows_writer(tmp_path / "rows.jsonl", [row]))
    messages = prompt_messages(rows[0], tokenizer, max_query_tokens=10)
    assert messages[0] == row["messages"][0]  # the system prompt is never cut
    question_ids = tokenizer(messages[1]["content"], add_special_tokens=False)["input_ids"]
    assert 0 < len(question_ids) <= 11  # decode/re-encode may merge at most one boundary token
    assert row["messages"][1]["content"].startswith(messages[1]["content"].strip())
    assert truncate_question(tokenizer, "short", 10) == "short"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "rows.jsonl row 1: not valid JSON"),
        ('{"messages": []}', "rows.jsonl row 1: field 'messages' must be a non-empty list"),
        ('{"messages": [{"role": "bot", "content": "x"}]}', r"messages\[0\].role='bot'"),
        ('{"messages": [{"role": "system", "content": "x"}]}', "has no user turn"),
        ('{"messages": [{"role": "user", "content": "x"}], "label": 3}', "field 'label' must be a string"),
    ],
)
def test_bad_chat_rows_name_the_row_and_field(tmp_path, line, message):
    (tmp_path / "rows.jsonl").write_text(line + "\n")
    with pytest.raises(ChatDataError, match=message):
        read_chat_rows(tmp_path)


def test_labels_hyperparameter_forms():
    assert parse_labels_hyperparameter('["HQ", "LQ_EDIT"]') == ["HQ", "LQ_EDIT"]
    assert parse_labels_hyperparameter(" HQ, LQ_EDIT ,") == ["HQ", "LQ_EDIT"]
    assert parse_labels_hyperparameter("") == []


def test_model_resolution_errors_are_clear(tmp_path):
    with pytest.raises(ModelLoadError, match="neither a local Hugging Face directory"):
        resolve_model_dir(None, "org/some-hub-model", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="no config.json found"):
        resolve_model_dir(tmp_path / "empty", "", tmp_path)
    (tmp_path / "bad" ).mkdir()
    (tmp_path / "bad" / "model.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(ModelLoadError, match="cannot extract model archive"):
        resolve_model_dir(tmp_path / "bad", "", tmp_path)


def test_smollm2_gguf_is_found_in_its_package():
    from job_code.models import _smollm2_gguf_file

    assert _smollm2_gguf_file().suffix == ".gguf"


def test_last_checkpoint_picks_the_newest_complete_one(tmp_path):
    assert last_checkpoint(tmp_path / "missing") is None
    for step in (5, 10, 20):
        (tmp_path / f"checkpoint-{step}").mkdir()
    for step in (5, 10):
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert Path(last_checkpoint(tmp_path)).name == "checkpoint-10"  # 20 was cut off mid-save


class _Saved:
    def save_pretrained(self, folder):
        (Path(folder) / f"{type(self).__name__}.saved").write_text("x")


class _FakeTrainer:
    """What train_and_save uses of a transformers Trainer: train(), model, state."""

    def __init__(self):
        self.model, self.resumed_from = _Saved(), "not called"
        self.state = type("State", (), {"global_step": 7, "log_history": [{"loss": 2.0}, {"loss": 1.5}]})()

    def train(self, resume_from_checkpoint=None):
        self.resumed_from = resume_from_checkpoint


def test_train_and_save_resumes_trains_and_writes_model_and_metrics_on_rank_0(paths, monkeypatch):
    """The tail SFT and RFT share (issue 13): one function, so both resume and save the same way."""
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("SM_CHECKPOINT_DIR", raising=False)
    (paths.checkpoint_dir / "checkpoint-4").mkdir(parents=True)
    (paths.checkpoint_dir / "checkpoint-4" / "trainer_state.json").write_text("{}")
    trainer = _FakeTrainer()
    summary = train_and_save(trainer, _Saved(), paths, ["HQ", "LQ"], stage="rft", rows=3, use_lora=True)
    assert Path(trainer.resumed_from).name == "checkpoint-4"
    written = json.loads((paths.output_data_dir / "train_metrics.json").read_text())
    assert written == summary
    assert (summary["stage"], summary["rows"], summary["steps"], summary["use_lora"]) == ("rft", 3, 7, True)
    assert (summary["first_loss"], summary["last_loss"]) == (2.0, 1.5)
    assert summary["resumed_from"] == trainer.resumed_from
    assert (paths.model_dir / "_Saved.saved").is_file() and (paths.model_dir / "forge_labels.json").is_file()
    # The per-step log for the report's curves (issue 14), beside train_metrics.json.
    log = json.loads((paths.output_data_dir / "training_log.json").read_text())
    assert log == {"stage": "rft", "log_history": [{"loss": 2.0}, {"loss": 1.5}]}
    assert (paths.output_data_dir / "training_curves.png").read_bytes().startswith(b"\x89PNG")


def test_train_and_save_writes_nothing_on_other_ranks(paths, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    trainer = _FakeTrainer()
    assert train_and_save(trainer, _Saved(), paths, ["HQ"], stage="sft", rows=1, use_lora=False) == {}
    assert trainer.resumed_from is None
    assert not (paths.output_data_dir / "train_metrics.json").exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[]", "JSON object"),
        (b'{"messages": "hi"}', "'messages' must be a non-empty list"),
        (b'{"messages": [{"role": "user"}]}', r"messages\[0\].content must be a string"),
        (b'{"messages": [{"role": "user", "content": "q"}], "max_tokens": 0}', "'max_tokens' must be an int"),
        (b'{"messages": [{"role": "user", "content": "q"}], "temperature": "hot"}', "'temperature' must be"),
    ],
)
def test_bad_invocations_are_named(body, message):
    with pytest.raises(InvocationError, match=message):
        parse_invocation(body, default_max_tokens=16)


def test_invocation_accepts_converse_style_content():
    body = b'{"messages": [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]}], "max_tokens": 3}'
    invocation = parse_invocation(body, default_max_tokens=16)
    assert invocation.messages == [{"role": "user", "content": "ab"}] and invocation.max_tokens == 3
