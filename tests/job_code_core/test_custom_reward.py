"""A custom reward module (reward.module): the contract's checks, the loader and both adapters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from job_code.core import custom_reward, reward
from job_code.core.custom_reward import CustomRewardError, checked_result
from job_code.core.reward import output_problems

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "generation" / "reward.py"


def write(tmp_path: Path, body: str, name: str = "my_reward.py") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def nova_sample(sample_id: str, completion: str, reference: str = "42") -> dict:
    return {"id": sample_id, "reference_answer": reference,
            "messages": [{"role": "user", "content": "how many?"},
                         {"role": "assistant", "content": completion}]}


@pytest.mark.parametrize(("value", "expected"), [
    (1, (1.0, {})),
    (-0.25, (-0.25, {})),
    ({"total": 2, "f1": 0.5}, (2.0, {"f1": 0.5})),
    ({"total": 0.0}, (0.0, {})),
])
def test_results_within_the_contract(value, expected):
    assert checked_result(value, "r.py") == expected


@pytest.mark.parametrize(("value", "message"), [
    ("1.0", "r.py: score returned a str '1.0'"),
    (None, "r.py: score returned a NoneType None"),
    (True, "r.py: score returned a bool True"),
    (float("nan"), "r.py: score returned a non-finite number nan"),
    (float("inf"), "r.py: score returned a non-finite number inf"),
    ([1.0], "r.py: score returned a list [1.0]"),
    ({"f1": 1.0}, "r.py: score returned a dict without 'total'"),
    ({"total": "high"}, "r.py: score returned 'total' = 'high' (a str)"),
    ({"total": 1.0, "f1": float("nan")}, "r.py: score returned 'f1' = nan (a float)"),
])
def test_results_outside_the_contract_name_the_file_type_and_value(value, message):
    with pytest.raises(CustomRewardError) as raised:
        checked_result(value, "r.py")
    assert str(raised.value).startswith(message)


def test_load_reports_import_errors_a_missing_score_and_a_missing_file(tmp_path):
    broken = write(tmp_path, "import json\nraise RuntimeError('boom at import')\n", "broken.py")
    with pytest.raises(CustomRewardError, match=r"broken.py: importing it raised RuntimeError: boom at"):
        custom_reward.load(broken)
    syntax = write(tmp_path, "def score(:\n", "syntax.py")
    with pytest.raises(CustomRewardError, match=r"syntax.py: importing it raised SyntaxError"):
        custom_reward.load(syntax)
    no_score = write(tmp_path, "def reward(c, r, row):\n    return 1\n", "no_score.py")
    with pytest.raises(CustomRewardError, match=r"no_score.py: defines no function score"):
        custom_reward.load(no_score)
    with pytest.raises(CustomRewardError, match="does not exist"):
        custom_reward.load(tmp_path / "absent.py")


def test_an_exception_in_score_names_the_file_and_the_exception(tmp_path):
    loaded = custom_reward.load(write(tmp_path, "def score(c, r, row):\n    return 1 / 0\n", "div.py"))
    with pytest.raises(CustomRewardError, match=r"div.py: score raised ZeroDivisionError: division by zero"):
        loaded("a", "b", {})


def test_the_loader_sees_an_edited_file(tmp_path):
    path = write(tmp_path, "def score(c, r, row):\n    return 1.0\n")
    assert custom_reward.load(path)("a", "b", {}) == (1.0, {})
    path.write_text("def score(c, r, row):\n    return 2.0  # edited, longer\n", encoding="utf-8")
    assert custom_reward.load(path)("a", "b", {}) == (2.0, {})


def test_asset_path_is_the_file_name_under_the_package():
    assert custom_reward.asset_path("../examples/generation/reward.py") == "user_reward/reward.py"
    assert custom_reward.asset_path("rewards\\mine.py") == "user_reward/mine.py"
    assert custom_reward.asset_path("mine.py") == "user_reward/mine.py"


# ---------------------------------------------------------------- TRL adapter


def test_trl_adapter_calls_score_per_completion_with_reference_and_row(tmp_path):
    path = write(tmp_path, (
        "CALLS = []\n"
        "def score(completion, reference, row):\n"
        "    CALLS.append((completion, reference, row))\n"
        "    return {'total': float(completion == reference), 'length': float(len(completion))}\n"))
    loaded = custom_reward.load(path)
    logged = []
    function = custom_reward.make_trl_reward(loaded)
    rewards = function(
        prompts=[[{"role": "user", "content": "q1"}], [{"role": "user", "content": "q2"}]],
        completions=[[{"role": "assistant", "content": "42"}], "7"],
        completion_ids=[[1], [2]],
        reference_answer=["42", "8"],
        extra=["x", "y"],
        trainer_state=object(),
        log_metric=lambda name, value: logged.append((name, value)),
    )
    assert rewards == [1.0, 0.0]
    calls = loaded.function.__globals__["CALLS"]
    assert [(c, r) for c, r, _ in calls] == [("42", "42"), ("7", "8")]
    assert calls[0][2] == {"prompt": [{"role": "user", "content": "q1"}], "reference_answer": "42",
                           "extra": "x"}
    assert logged == [("reward/length", 1.5)]


def test_trl_adapter_refuses_a_batch_without_references(tmp_path):
    function = custom_reward.make_trl_reward(custom_reward.load(EXAMPLE))
    with pytest.raises(CustomRewardError, match="no reference_answer per completion"):
        function(completions=["a", "b"], prompts=["p", "p"])


# ---------------------------------------------------------------- Nova Lambda adapter


def test_nova_adapter_answers_the_shape_the_rft_container_accepts():
    samples = [nova_sample("p1#gold", "42"), nova_sample("p1#verbose", "I think it is 42 or so"),
               nova_sample("p1#empty", "")]
    outputs = custom_reward.lambda_handler(samples, EXAMPLE)
    assert output_problems(samples, outputs) == []
    assert [o["id"] for o in outputs] == ["p1#gold", "p1#verbose", "p1#empty"]
    assert outputs[0]["aggregate_reward_score"] == 1.5  # token F1 1 + number bonus 0.5
    assert outputs[2]["aggregate_reward_score"] == 0.0
    names = {m["name"] for m in outputs[0]["metrics_list"]}
    assert names == {"token_f1", "number_match", "length_penalty"}


def test_nova_adapter_flags_a_malformed_sample_like_the_built_in():
    (output,) = custom_reward.lambda_handler([{"id": "x", "messages": []}], EXAMPLE)
    assert output == {"id": "x", "aggregate_reward_score": 0.0,
                      "metrics_list": [{"name": "invalid_sample", "value": 1.0, "type": "Metric"}]}


def test_nova_adapter_raises_naming_file_and_sample(tmp_path):
    path = write(tmp_path, "def score(c, r, row):\n    return 'high'\n", "stringy.py")
    with pytest.raises(CustomRewardError, match=r"stringy.py: score returned a str 'high'.*sample 'a'"):
        custom_reward.lambda_handler([nova_sample("a", "42")], path)


def test_reward_lambda_handler_dispatches_on_the_module_file_env(tmp_path, monkeypatch):
    path = write(tmp_path, "def score(c, r, row):\n"
                           "    return {'total': 7.0, 'seen_id': float(len(row['id']))}\n")
    sample = nova_sample("abc", "42")
    monkeypatch.setenv(reward.MODULE_FILE_ENV, str(path))
    (output,) = reward.lambda_handler([sample], None)
    assert output["aggregate_reward_score"] == 7.0
    assert output["metrics_list"] == [{"name": "seen_id", "value": 3.0, "type": "Metric"}]
    monkeypatch.delenv(reward.MODULE_FILE_ENV)
    (builtin,) = reward.lambda_handler([{**sample, "reference_answer": "HQ",
                                          "messages": [{"role": "assistant", "content": "HQ"}]}], None)
    assert builtin["aggregate_reward_score"] == 1.5  # the built-in label reward, as before


def test_the_reward_block_carries_the_module_beside_the_weights():
    block = {"correct_label": 2.0, "module": "../examples/generation/reward.py", "requirements": []}
    assert reward.RewardWeights.from_mapping(block).correct_label == 2.0
    assert reward.module_of(block) == "../examples/generation/reward.py"
    assert reward.module_of({"correct_label": 1.0}) is None
    with pytest.raises(reward.RewardConfigError, match="module must be a file name"):
        reward.module_of({"module": 3})
    assert reward.module_from_env({reward.WEIGHTS_ENV: json.dumps(block)}) == block["module"]


# ---------------------------------------------------------------- the check before spending


@pytest.mark.parametrize(("body", "problem"), [
    ("def score(c, r, row):\n    raise ValueError('no parse')\n", "score raised ValueError: no parse"),
    ("def score(c, r, row):\n    return 'good'\n", "score returned a str 'good'"),
    ("def score(c, r, row):\n    return 0.5\n", "returns the same reward 0.5 for every one of 3 sample"),
])
def test_check_on_samples_rejects_raising_string_and_constant_rewards(tmp_path, body, problem):
    loaded = custom_reward.load(write(tmp_path, body, "bad_reward.py"))
    samples = [nova_sample("p#gold", "42"), nova_sample("p#wrong", "41"), nova_sample("p#empty", "")]
    (message,) = custom_reward.check_on_samples(loaded, samples)
    assert message.startswith("bad_reward.py: ") and problem in message


def test_check_on_samples_passes_the_example():
    samples = [nova_sample("p#gold", "42"), nova_sample("p#wrong", "41"), nova_sample("p#empty", "")]
    assert custom_reward.check_on_samples(custom_reward.load(EXAMPLE), samples) == []


def test_example_reward_table():
    loaded = custom_reward.load(EXAMPLE)
    assert loaded("42", "42", {})[0] == 1.5
    assert loaded("the cat sat", "the cat sat", {})[0] == 1.0
    assert loaded("the dog", "the cat", {})[0] == pytest.approx(0.5)
    assert loaded("", "the cat", {})[0] == 0.0
    assert loaded("43", "42", {})[0] == 0.0
